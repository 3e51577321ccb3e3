"""The storage protocol every backend implements, and the filters it understands.

The engine talks only to this protocol; the shared contract tests in
tests/test_store_contract.py run every backend through the same steps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from memstrata.types import HistoryEntry, Page, Record, Scope


@dataclass(frozen=True)
class Filters:
    """Narrowing on top of the scope. Times compare against `occurred_at`
    (stored form); `since` is inclusive, `until` exclusive; `metadata` matches
    top-level keys by equality; `derived` tells records formation made (those
    with `source_ids`) from records as stored."""

    kinds: tuple[str, ...] | None = None
    statuses: tuple[str, ...] = ("active",)
    since: str | None = None
    until: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    derived: bool | None = None  # False: records as stored; True: derived ones only
    # The memory as it stood at this time (stored form): facts superseded after it
    # count as current. `until` already stops at it.
    as_of: str | None = None


Link = tuple[str, str, str, float]
"""(src, dst, type, weight): `evidence` (a derived record to a record it carries),
`part_of` (an event to its episode), `next` (an event to the one after it in its
session), `about` (a fact to an entity key, "entity:<key>")."""


@dataclass(frozen=True)
class EmbedderInfo:
    name: str
    dim: int
    fingerprint: str


class Store(Protocol):
    """Durable records, their full-text and vector indexes, links and history."""

    def bind_embedder(self, info: EmbedderInfo) -> None:
        """Record the store's embedding model on first use; raise ConfigError when a
        different one is bound already."""

    def embedder_info(self) -> EmbedderInfo | None: ...

    def insert(
        self, records: Sequence[Record], vectors: np.ndarray | None, *, actor: str | None
    ) -> None:
        """Store new records (and their vectors, row for row, if given) in one
        transaction, with an `add` history entry each."""

    def set_vectors(self, ids: Sequence[str], vectors: np.ndarray) -> None: ...

    def get(self, record_id: str, scope: Scope, *, include_gone: bool = False) -> Record:
        """The live record if it is in `scope` (deleted and purged ones too with
        `include_gone`); NotFound otherwise, whether it does not exist or belongs to
        another scope."""

    def atomic(self) -> AbstractContextManager[None]:
        """A block whose writes (on this thread) commit together or not at all."""

    def get_many(
        self, record_ids: Sequence[str], scope: Scope, *, shared: bool = False
    ) -> list[Record]:
        """Those of `record_ids` visible in `scope`, in the order given. With
        `shared`, the records may be shared with a cache: the caller must not change
        them."""

    def list_records(
        self, scope: Scope, filters: Filters, *, limit: int, cursor: str | None
    ) -> Page: ...

    def revise(
        self,
        record_id: str,
        scope: Scope,
        change: Callable[[Record], dict[str, Any]],
        vector: np.ndarray | None,
        *,
        op: str,
        expected_version: int | None,
        actor: str | None,
        bump_version: bool = True,
    ) -> Record:
        """Atomically read the live record, apply `change(current)` (a dict of new
        field values), and write it back with `vector` if given, logging `op` with
        before and after. NotFound if it is not live in `scope`; Conflict when its
        version is not `expected_version`."""

    def purge(self, record_id: str, scope: Scope, *, actor: str | None) -> None: ...

    def history(self, record_id: str, scope: Scope) -> list[HistoryEntry]: ...

    def text_search(
        self, query: str, scope: Scope, filters: Filters, k: int
    ) -> list[tuple[str, float]]:
        """Best-first (record id, score) by BM25 (higher is better)."""

    def vector_search(
        self, vector: np.ndarray, scope: Scope, filters: Filters, k: int
    ) -> list[tuple[str, float]]:
        """Best-first (record id, cosine)."""

    def latest(self, scope: Scope, until: str | None = None) -> str | None:
        """When the newest active event in scope occurred (at or before `until`)."""

    def vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """The vector of each of `ids` that has one (their scope already checked)."""

    def iter_records(self, scope: Scope) -> Iterator[tuple[Record, np.ndarray | None]]:
        """Every record in scope, any status, oldest first, with its vector."""

    def import_records(
        self,
        items: Sequence[tuple[Record, np.ndarray | None, Sequence[HistoryEntry]]],
        *,
        actor: str | None,
    ) -> int:
        """Insert records exactly as given (ids, versions, times) with their history
        entries and an `import` entry; skip ids already present. Returns the number
        inserted."""

    def history_entries(self, record_id: str) -> list[HistoryEntry]:
        """Every history entry of a record (for export)."""

    def missing_vectors(self, limit: int) -> list[Record]:
        """Live records that have no vector yet, oldest first."""

    def stats(self, scope: Scope) -> dict[str, Any]: ...

    def close(self) -> None: ...
