"""The in-process vector index: exact search with scope masks, and an HNSW graph
for large scopes.

Vectors live in one float32 matrix that grows by doubling; beside it, small integer
arrays hold each row's namespace, user, agent, session, kind and status, so a query
masks out every row outside the caller's scope *before* ranking: a scope never sees
another's rows and never loses its own to another's better matches.

When the rows a query may see are many (over `EXACT_MAX`), an HNSW graph over the
active rows proposes an oversampled candidate list, the mask drops what is out of
scope, and the exact vectors re-rank the rest; if too few survive, the query falls
back to the exact scan, so a filter never silently shortens the answer.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from threadpoolctl import ThreadpoolController

from memstrata.store.sqlite_ann import AnnIndex

_SCOPE_FIELDS = ("namespace", "user_id", "agent_id", "session_id", "kind", "status")
EXACT_MAX = 20_000  # rows a query may see before the HNSW graph is used
ANN_MIN = 20_000  # active rows before the graph is built
_OVERSAMPLE = 4
_GRAPH_CHUNK = 8192  # rows whose vectors are read at once to build a graph


_blas = ThreadpoolController()


def single_thread() -> Any:
    """BLAS on one thread for a query's matrix-vector product. With the cores busy
    (an embedding, another process), OpenBLAS's worker threads wait on each other:
    measured here, 2,300 x 384 took 7-8 ms with two threads under load against
    0.06 ms on one; at 20,000 rows one thread costs ~2.6 ms instead of ~1.2."""
    return _blas.limit(limits=1, user_api="blas")


@dataclass
class VectorRow:
    """What the index needs to know about one record."""

    rowid: int
    vector: np.ndarray | None  # None: the record has no embedding (or it was erased)
    status: str
    namespace: str
    user_id: str | None
    agent_id: str | None
    session_id: str | None
    kind: str
    occurred: float  # seconds since the epoch, for time filters
    seq: int = 0  # the store's change counter when this row last changed
    derived: bool = False  # formation made it from other records (it has source_ids)
    record_id: str = ""  # the record's id, so that hits need no lookup ("" unknown)


@dataclass
class GraphSource:
    """The rows a graph is built from. Their vectors are read from the index's matrix
    a chunk at a time, not copied whole first (at 200k rows of 384 floats a copy is
    300 MB more at the peak). A row changed while the graph is built is replayed
    into it when it is installed (`install_ann`), so reading it mid-change is safe."""

    keys: np.ndarray
    positions: np.ndarray
    matrix: np.ndarray
    generation: int

    def build(self, dim: int) -> AnnIndex:
        ann = AnnIndex(dim)
        for start in range(0, len(self.keys), _GRAPH_CHUNK):
            part = slice(start, start + _GRAPH_CHUNK)
            ann.add(self.keys[part], self.matrix[self.positions[part]], new=True)
        return ann


class VectorIndex:
    def __init__(self, dim: int, capacity: int = 1024) -> None:
        self.dim = dim
        self.ann: AnnIndex | None = None
        self.ann_seq = 0  # rows changed at or before this seq are already in `ann`
        self.ann_dirty = 0  # changes applied to `ann` since it was last saved
        self.ann_generation = 0  # bumped when a graph is dropped: stale builds are discarded
        self._matrix = np.zeros((capacity, dim), dtype=np.float32)
        self._rowids = np.zeros(capacity, dtype=np.int64)
        self._live = np.zeros(capacity, dtype=bool)
        self._occurred = np.zeros(capacity, dtype=np.float64)
        self._derived = np.zeros(capacity, dtype=bool)
        self._seqs = np.zeros(capacity, dtype=np.int64)
        self._codes = {f: np.zeros(capacity, dtype=np.int32) for f in _SCOPE_FIELDS}
        self._vocab: dict[str, dict[str | None, int]] = {f: {None: 0} for f in _SCOPE_FIELDS}
        self._position: dict[int, int] = {}
        self._at = np.full(capacity, -1, dtype=np.int64)  # rowid -> position, -1 none
        self._record_ids: list[str] = []  # by position
        self._by_record: dict[str, int] = {}  # record id -> position
        self._size = 0
        # Masks of recent searches' scopes and filters, while nothing changed since:
        # a mask costs ~1.5 ms at 200k rows, and a session asks in one scope.
        self._changes = 0
        self._masks: dict[tuple[Any, ...], tuple[int, np.ndarray, np.ndarray]] = {}

    def __len__(self) -> int:
        return int(self._live[: self._size].sum())

    def _code(self, field: str, value: str | None) -> int:
        vocab = self._vocab[field]
        code = vocab.get(value)
        if code is None:
            code = vocab[value] = len(vocab)
        return code

    def _grow(self, needed: int) -> None:
        capacity = len(self._rowids)
        if needed <= capacity:
            return
        while capacity < needed:
            capacity *= 2
        matrix = np.zeros((capacity, self.dim), dtype=np.float32)
        matrix[: self._size] = self._matrix[: self._size]
        self._matrix = matrix
        for name in ("_rowids", "_live", "_occurred", "_seqs", "_derived"):
            old = getattr(self, name)
            new = np.zeros(capacity, dtype=old.dtype)
            new[: self._size] = old[: self._size]
            setattr(self, name, new)
        for field, old in self._codes.items():
            new = np.zeros(capacity, dtype=np.int32)
            new[: self._size] = old[: self._size]
            self._codes[field] = new

    def upsert(self, rows: Iterable[VectorRow]) -> None:
        self._changes += 1
        active = self._vocab["status"].get("active")
        ann_add: list[int] = []
        ann_remove: list[int] = []
        for row in rows:
            pos = self._position.get(row.rowid)
            if pos is None:
                if row.vector is None:
                    continue
                self._grow(self._size + 1)
                pos = self._size
                self._size += 1
                self._position[row.rowid] = pos
                if row.rowid >= len(self._at):
                    at = np.full(max(2 * len(self._at), row.rowid + 1), -1, dtype=np.int64)
                    at[: len(self._at)] = self._at
                    self._at = at
                self._at[row.rowid] = pos
                self._rowids[pos] = row.rowid
                self._record_ids.append(row.record_id)
                if row.record_id:
                    self._by_record[row.record_id] = pos
            if row.vector is None:
                self._live[pos] = False
                self._matrix[pos] = 0.0  # an erased vector leaves no copy in memory
            else:
                self._matrix[pos] = row.vector
                self._live[pos] = True
                self._occurred[pos] = row.occurred
                self._derived[pos] = row.derived
                for field in _SCOPE_FIELDS:
                    self._codes[field][pos] = self._code(field, getattr(row, field))
                active = self._vocab["status"].get("active")
            self._seqs[pos] = row.seq
            if row.status == "purged":
                self.drop_ann()
            if self.ann is not None and row.seq > self.ann_seq:
                in_graph = self._live[pos] and self._codes["status"][pos] == active
                (ann_add if in_graph else ann_remove).append(row.rowid)
        if self.ann is not None and (ann_add or ann_remove):
            self.ann.remove(np.asarray(ann_remove, dtype=np.int64))
            keys = np.asarray(ann_add, dtype=np.int64)
            self.ann.add(keys, self._matrix[[self._position[k] for k in ann_add]])
            self.ann_dirty += len(ann_add) + len(ann_remove)

    def _active_positions(self) -> np.ndarray:
        n = self._size
        active = self._vocab["status"].get("active", -1)
        return np.flatnonzero(self._live[:n] & (self._codes["status"][:n] == active))

    def drop_ann(self) -> None:
        """Forget the graph (it keeps removed vectors' bytes, so an erasure drops it
        whole) and invalidate any build under way."""
        self.ann = None
        self.ann_generation += 1

    def graph_snapshot(self) -> GraphSource | None:
        """What to build a graph from, once there are enough active rows and no graph
        yet: the rows' keys and positions, and the matrix they are read from."""
        if self.ann is not None:
            return None
        positions = self._active_positions()
        if positions.size < ANN_MIN:
            return None
        return GraphSource(self._rowids[positions], positions, self._matrix, self.ann_generation)

    def install_ann(self, ann: AnnIndex, seq: int, generation: int) -> bool:
        """Adopt a graph built from a snapshot taken at `seq`, then replay the rows
        that changed since. False (and nothing changes) if the snapshot went stale."""
        if self.ann is not None or generation != self.ann_generation:
            return False
        self.ann, self.ann_seq = ann, seq
        changed = np.flatnonzero(self._seqs[: self._size] > seq)
        active = self._vocab["status"].get("active", -1)
        moved = self._rowids[changed]
        keep = self._live[changed] & (self._codes["status"][changed] == active)
        ann.remove(moved[~keep])
        ann.add(moved[keep], self._matrix[changed[keep]])
        self.ann_dirty = len(ann) + len(changed)
        return True

    def build_ann(self, seq: int) -> bool:
        """Build the graph here and now (see graph_snapshot for when)."""
        snapshot = self.graph_snapshot()
        if snapshot is None:
            return False
        return self.install_ann(snapshot.build(self.dim), seq, snapshot.generation)

    def search(
        self,
        query: np.ndarray,
        k: int,
        *,
        namespace: str,
        user_id: str | None = None,
        agent_id: str | None = None,
        session_id: str | None = None,
        kinds: Iterable[str] | None = None,
        statuses: Iterable[str] = ("active",),
        since: float | None = None,
        until: float | None = None,
        allowed_rowids: Iterable[int] | None = None,
        derived: bool | None = None,
    ) -> list[tuple[int, float]]:
        """Top-k (rowid, cosine) among rows in scope with a vector, best first;
        `derived` False keeps only records as stored, True only derived ones."""
        if self._size == 0 or k <= 0:
            return []
        statuses = tuple(statuses)
        kinds = None if kinds is None else tuple(kinds)
        key = (namespace, user_id, agent_id, session_id, kinds, statuses, derived)
        cached = self._masks.get(key)
        if cached is not None and cached[0] == self._changes and since is None and until is None \
                and allowed_rowids is None:  # fmt: skip
            _, mask, candidates = cached
        else:
            found = self._mask(
                namespace, user_id, agent_id, session_id, kinds, statuses, since, until,
                allowed_rowids, derived,
            )  # fmt: skip
            if found is None:
                return []
            mask, candidates = found, np.flatnonzero(found)
            if since is None and until is None and allowed_rowids is None:
                if len(self._masks) >= 32:
                    self._masks.clear()
                self._masks[key] = (self._changes, mask, candidates)
        if candidates.size == 0:
            return []
        if self.ann is not None and candidates.size > EXACT_MAX and "active" in statuses:
            # The graph holds the active rows; others asked for too (what was true
            # then: superseded facts) are few, and scored exactly beside it.
            others = candidates[:0]
            if statuses != ("active",):
                active = self._vocab["status"].get("active", -1)
                others = candidates[self._codes["status"][candidates] != active]
            if others.size <= EXACT_MAX:
                hits = self._search_ann(query, k, mask, candidates.size - others.size)
                if hits is not None and others.size:
                    hits = sorted([*hits, *self._search_exact(query, k, others)],
                                  key=lambda h: -h[1])[:k]  # fmt: skip
                if hits is not None:
                    return hits
        return self._search_exact(query, k, candidates)

    def record_ids(self, rowids: Iterable[int]) -> list[str]:
        """The record id of each given row ("" where the index was not told it)."""
        return [self._record_ids[self._position[r]] if r in self._position else ""
                for r in rowids]  # fmt: skip

    def vectors(self, record_ids: Iterable[str]) -> dict[str, np.ndarray]:
        """A copy of the live vector of each given record the index knows by id."""
        wanted = [(r, self._by_record[r]) for r in record_ids if r in self._by_record]
        wanted = [(r, p) for r, p in wanted if self._live[p]]
        if not wanted:
            return {}
        rows = self._matrix[[p for _, p in wanted]]
        return {r: rows[i] for i, (r, _) in enumerate(wanted)}

    def _mask(
        self,
        namespace: str,
        user_id: str | None,
        agent_id: str | None,
        session_id: str | None,
        kinds: Iterable[str] | None,
        statuses: Iterable[str],
        since: float | None,
        until: float | None,
        allowed_rowids: Iterable[int] | None,
        derived: bool | None = None,
    ) -> np.ndarray | None:
        """Which rows a search may return (None: none can)."""
        n = self._size
        ns_code = self._vocab["namespace"].get(namespace)
        if ns_code is None:
            return None
        mask = self._live[:n] & (self._codes["namespace"][:n] == ns_code)
        scope = (("user_id", user_id), ("agent_id", agent_id), ("session_id", session_id))
        for field, value in scope:
            if value is not None:
                code = self._vocab[field].get(value)
                if code is None:
                    return None
                mask &= self._codes[field][:n] == code
        for field, values in (("kind", kinds), ("status", statuses)):
            if values is not None:
                codes = [self._vocab[field][v] for v in values if v in self._vocab[field]]
                mask &= np.isin(self._codes[field][:n], codes)
        if since is not None:
            mask &= self._occurred[:n] >= since
        if until is not None:
            mask &= self._occurred[:n] < until
        if allowed_rowids is not None:
            positions = [self._position[r] for r in allowed_rowids if r in self._position]
            allowed = np.zeros(n, dtype=bool)
            allowed[positions] = True
            mask &= allowed
        if derived is not None:
            mask &= self._derived[:n] == derived
        return mask

    def _search_exact(self, query: np.ndarray, k: int, candidates: np.ndarray) -> list:
        n = self._size
        with single_thread():
            if candidates.size > n // 4:
                scores = (self._matrix[:n] @ query)[candidates]
            else:
                scores = self._matrix[candidates] @ query
        return self._top(scores, candidates, k)

    def _search_ann(
        self, query: np.ndarray, k: int, mask: np.ndarray, visible: int
    ) -> list[tuple[int, float]] | None:
        assert self.ann is not None
        share = len(self.ann) / visible  # how much of the graph this query may see
        count = min(len(self.ann), math.ceil(max(k, 16) * _OVERSAMPLE * share))
        keys = np.asarray(self.ann.search(query, count), dtype=np.int64)
        keys = keys[(keys >= 0) & (keys < len(self._at))]
        positions = self._at[keys]
        positions = positions[(positions >= 0) & (positions < mask.size)]
        positions = positions[mask[positions]]
        if positions.size < min(k, visible):
            return None
        with single_thread():
            scores = self._matrix[positions] @ query
        return self._top(scores, positions, k)

    def _top(self, scores: np.ndarray, positions: np.ndarray, k: int) -> list[tuple[int, float]]:
        k = min(k, positions.size)
        top = np.argpartition(-scores, k - 1)[:k] if k < positions.size else np.arange(k)
        top = top[np.argsort(-scores[top], kind="stable")]
        return list(zip(self._rowids[positions[top]].tolist(), scores[top].tolist()))
