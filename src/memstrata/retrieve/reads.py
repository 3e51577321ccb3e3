"""What one search reads from the store, each thing read once.

The steps of a layered search ask for the same things: the turns before and after
the best matches (the windows, then the neighbours that share their score), the
vectors of the best matches (their windows, then feedback), the records that come up
through facts, neighbours and successors. Each is one store call, and on a server
one round trip. `SearchReads` keeps what one search has read and asks the store only
for the rest; it lives as long as the search, so nothing it keeps goes stale.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from memstrata.store.base import Filters, Store
from memstrata.types import Page, Record, Scope


class SearchReads:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._records: dict[tuple[Scope, str], Record | None] = {}
        self._links: dict[tuple[str, bool], dict[str, list[str]]] = {}
        self._vectors: dict[str, np.ndarray | None] = {}

    def get_many(self, record_ids: Sequence[str], scope: Scope) -> list[Record]:
        """Those of `record_ids` visible in `scope`, in the order given (the store's
        shared records: read them, never change them)."""
        missing = [i for i in dict.fromkeys(record_ids) if (scope, i) not in self._records]
        if missing:
            found = {r.id: r for r in self._store.get_many(missing, scope, shared=True)}
            for i in missing:
                self._records[(scope, i)] = found.get(i)
        out = [self._records[(scope, i)] for i in record_ids]
        return [r for r in out if r is not None]

    def linked(
        self, ids: Sequence[str], type: str, *, reverse: bool = False
    ) -> dict[str, list[str]]:
        """`Store.linked`, in the order of `ids`."""
        known = self._links.setdefault((type, reverse), {})
        missing = [i for i in dict.fromkeys(ids) if i not in known]
        if missing:
            found = self._store.linked(missing, type, reverse=reverse)
            for i in missing:
                known[i] = found.get(i, [])
        return {i: known[i] for i in dict.fromkeys(ids) if known[i]}

    def vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        missing = [i for i in dict.fromkeys(ids) if i not in self._vectors]
        if missing:
            found = self._store.vectors(missing)
            for i in missing:
                self._vectors[i] = found.get(i)
        out = {i: self._vectors[i] for i in dict.fromkeys(ids)}
        return {i: v for i, v in out.items() if v is not None}

    def text_search(
        self, query: str, scope: Scope, filters: Filters, k: int
    ) -> list[tuple[str, float]]:
        return self._store.text_search(query, scope, filters, k)

    def vector_search(
        self, vector: np.ndarray, scope: Scope, filters: Filters, k: int
    ) -> list[tuple[str, float]]:
        return self._store.vector_search(vector, scope, filters, k)

    def list_records(
        self, scope: Scope, filters: Filters, *, limit: int, cursor: str | None
    ) -> Page:
        return self._store.list_records(scope, filters, limit=limit, cursor=cursor)

    def valid_between(self, scope: Scope, since: str, until: str, limit: int) -> list[str]:
        return self._store.valid_between(scope, since, until, limit)

    def get_state(self, key: str) -> bytes | None:
        return self._store.get_state(key)
