"""The storage protocols every backend implements, and the filters they understand.

The engine reaches a store only through these protocols (mypy checks it): records
and their history (`Records`), full-text search (`TextIndex`), vectors
(`VectorIndex`), links and sessions (`Links`), named state, counters and leases
(`State`), and API keys (`Keys`). `Store` is all of them. The shared contract tests
in tests/test_store_contract.py run every backend through the same steps.

What the contract promises, beyond each method's docstring:

- **Scope.** Every read that takes a `Scope` returns only records in it; an id of
  another scope is treated as absent (NotFound, or left out), never an error that
  tells it exists.
- **Order.** "Insertion order" is the order records were inserted in (one `add`
  keeps the order of its items); "oldest first" in `iter_records` is insertion
  by id (ids are time-ordered). Ties in scores are broken by nothing: callers sort
  on (score, id).
- **Full text.** `text_search` finds live records by their `text` and `speaker`:
  records as stored and derived ones (facts) alike; `Filters.derived` narrows it.
  Deleted and purged records are never found.
- **Atomicity.** Each write method commits whole or not at all; `atomic()` groups
  several on one thread.
- **`stats` keys.** `backend`, `schema_version`, `created_by`, `embedder`,
  `records`, `by_kind` ({kind: {status: n}}), `pending_vectors`, `counters`, and
  `bytes` (what the store takes on disk, or None when the backend cannot tell);
  a backend may add its own keys (SQLite: `path`, `file_bytes`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
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


Change = tuple[str, dict[str, Any], str, str]
"""(record id, new field values, history op, the status the record must have)."""


@dataclass(frozen=True)
class ApiKeyRow:
    """What a store keeps of an API key besides its hash."""

    id: str
    namespace: str
    label: str | None
    created_at: str
    revoked_at: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class EmbedderInfo:
    name: str
    dim: int
    fingerprint: str


class Records(Protocol):
    """Durable, versioned records and their history."""

    def bind_embedder(self, info: EmbedderInfo) -> None:
        """Record the store's embedding model on first use; raise ConfigError when a
        different one is bound already."""

    def rebind_embedder(self, info: EmbedderInfo) -> None:
        """Bind another embedding model and drop every stored vector (a reindex)."""

    def embedder_info(self) -> EmbedderInfo | None: ...

    def insert(
        self,
        records: Sequence[Record],
        vectors: np.ndarray | None,
        *,
        actor: str | None,
        links: Sequence[Link] = (),
    ) -> None:
        """Store new records (and their vectors, row for row, if given) in one
        transaction, with an `add` history entry each."""

    def insert_many(
        self,
        batches: Sequence[tuple[Sequence[Record], np.ndarray | None, str | None, Sequence[Link]]],
        *,
        state: Mapping[str, bytes] | None = None,
    ) -> None:
        """`insert` for several adds (records, vectors, actor, links) in one
        transaction, with named `state`: all of them are stored, or none."""

    def save_derived(
        self,
        records: Sequence[Record],
        vectors: np.ndarray | None,
        *,
        links: Sequence[Link] = (),
        revised: Sequence[tuple[Record, np.ndarray | None]] = (),
        state: dict[str, bytes] | None = None,
        forget: Sequence[str] = (),
        actor: str | None = None,
        changes: Sequence[Change] = (),
        counts: Mapping[str, int] | None = None,
    ) -> None:
        """Formation's output in one transaction: new derived records, new versions
        of derived records (each logged in history; one no longer active is left
        alone), `changes` to records in place (left alone unless the record has the
        status given), links, state set and `forget` deleted, counter additions."""

    def set_vectors(self, ids: Sequence[str], vectors: np.ndarray) -> None: ...

    def touch(self, ids: Sequence[str]) -> None:
        """Count one more hit for each live record (no new version, no history)."""

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

    def purge(self, record_id: str, scope: Scope, *, actor: str | None) -> None:
        """Erase the record's content everywhere the store keeps it (its row, its
        history's snapshots, its text and vector indexes), keeping a tombstone."""

    def history(self, record_id: str, scope: Scope) -> list[HistoryEntry]: ...

    def history_entries(self, record_id: str) -> list[HistoryEntry]:
        """Every history entry of a record (for export)."""

    def iter_records(self, scope: Scope) -> Iterator[tuple[Record, np.ndarray | None]]:
        """Every record in scope, any status, oldest first, with its vector."""

    def import_records(
        self,
        items: Sequence[tuple[Record, np.ndarray | None, Sequence[HistoryEntry]]],
        *,
        actor: str | None,
        log_import: bool = True,
    ) -> int:
        """Insert records exactly as given (ids, versions, times) with their history
        entries, and an `import` entry unless `log_import` is false (a copy of a whole
        store); skip ids already present. Returns the number inserted."""

    def missing_vectors(self, limit: int) -> list[Record]:
        """Live records that have no vector yet, oldest first."""

    def latest(self, scope: Scope, until: str | None = None) -> str | None:
        """When the newest active event in scope occurred (at or before `until`)."""

    def speakers(self, scope: Scope) -> list[str]:
        """The distinct speakers of the events in scope (may lag a write by a second)."""

    def namespaces(self) -> list[str]:
        """Every namespace that holds a record."""

    def stats(self, scope: Scope) -> dict[str, Any]:
        """Counts in scope and facts of the store (the keys are in the module doc)."""

    def close(self) -> None: ...


class TextIndex(Protocol):
    def text_search(
        self, query: str, scope: Scope, filters: Filters, k: int
    ) -> list[tuple[str, float]]:
        """Best-first (record id, score) by BM25 or the backend's nearest ranking
        (higher is better; scores compare only within one answer)."""


class VectorIndex(Protocol):
    def vector_search(
        self, vector: np.ndarray, scope: Scope, filters: Filters, k: int
    ) -> list[tuple[str, float]]:
        """Best-first (record id, cosine)."""

    def vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """The vector of each of `ids` that has one, as search sees them (the caller
        has already checked the ids' scope)."""

    def vectors_of(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """The stored vector of each of `ids` that has one, as of the last commit
        (the caller has already checked the ids' scope)."""

    def load_index(self) -> None:
        """Make the first search fast (load what search needs now); may do nothing."""

    def wait_for_graph(self, timeout: float | None = None) -> None:
        """Block until index work under way in the background (if any) is done."""


class Links(Protocol):
    def add_links(self, links: Sequence[Link]) -> None: ...

    def linked(
        self, ids: Sequence[str], type: str, *, reverse: bool = False
    ) -> dict[str, list[str]]:
        """For each of `ids`, the records it links to with `type` (its sources when
        `reverse`: the records that link to it), heaviest first."""

    def link_counts(self, dsts: Sequence[str], type: str) -> dict[str, int]:
        """How many records link to each of `dsts` with `type`."""

    def last_of_session(self, scope: Scope, kind: str) -> Record | None:
        """The newest live record of `kind` in `scope`'s session (by insertion)."""

    def session_records(
        self, scope: Scope, kind: str, *, after: str | None = None
    ) -> list[tuple[Record, np.ndarray | None]]:
        """Live records of `kind` in `scope`'s session in insertion order, from the
        record `after` (inclusive) when given, with their vectors."""

    def valid_between(self, scope: Scope, since: str, until: str, limit: int) -> list[str]:
        """Ids of the turns whose facts hold at some time in [since, until): the
        facts' `source_ids`, newest valid time first."""

    def iter_links(self) -> Iterator[Link]:
        """Every link, in (src, dst, type) order (for a copy of the store)."""


class State(Protocol):
    """Named bytes (topic centroids, formation marks) and counters."""

    def get_state(self, key: str) -> bytes | None: ...

    def state_items(self, prefix: str) -> list[tuple[str, bytes]]:
        """The named state whose keys start with `prefix`, by key."""

    def take_state(self, key: str, new_key: str) -> bool:
        """Move the state at `key` to `new_key`; False if `key` is gone (another
        process took it first). Atomic across processes and hosts."""

    def set_state(self, items: Mapping[str, bytes]) -> None: ...

    def forget_state(self, keys: Sequence[str]) -> None: ...

    def count(self, name: str, n: int = 1) -> None:
        """Add `n` to the counter `name` (shown by `stats`)."""

    def new_owner(self) -> str:
        """A name for work this open store takes on (formation owed to an add), held
        until it closes or its process dies; no other open store gets the same."""

    def owner_gone(self, owner: str) -> bool:
        """Whether the holder of `owner` has closed or died, so that its work may be
        taken (`take_state`). Never true for an owner still held; where the backend
        cannot tell, false."""


class Keys(Protocol):
    """API keys: only a key's hash is stored."""

    def add_key(self, key: ApiKeyRow, hashed: str) -> None: ...

    def api_keys(self) -> list[ApiKeyRow]:
        """Every key, oldest first, revoked ones included."""

    def revoke_key(self, key_id: str, at: str) -> ApiKeyRow | None:
        """Revoke a key (keeping an earlier revocation's time); None for no such id."""

    def key_hash(self, key_id: str) -> tuple[str, str] | None:
        """(namespace, hash) of a live key; None if it is unknown or revoked."""

    def key_hashes(self) -> dict[str, str]:
        """The hash of every key, revoked ones too, by id (for a copy of the store)."""


class Store(Records, TextIndex, VectorIndex, Links, State, Keys, Protocol):
    """Everything the engine uses of a store."""
