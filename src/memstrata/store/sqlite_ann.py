"""An approximate (HNSW) index for large stores, kept as a rebuildable cache file.

Exact search reads every vector of the scope: at 100,000 vectors of 384 floats that
is 150 MB of memory traffic, about 20 ms here. Past a size, an HNSW graph (usearch)
finds the neighbourhood in well under a millisecond; the exact vectors then re-rank
what it found. The graph holds int8 vectors (a quarter of the memory); recall comes
back from the exact re-ranking of an oversampled candidate list.

The file beside the store is only a cache: it records the change counter (`seq`) it
reflects, and a missing, stale or damaged file is rebuilt from the store.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from pathlib import Path

import numpy as np
from usearch.index import Index

CONNECTIVITY = 16
EXPANSION_ADD = 128
EXPANSION_SEARCH = 64


class AnnIndex:
    def __init__(self, dim: int, index: Index | None = None) -> None:
        self.dim = dim
        self._index = index or Index(
            ndim=dim,
            metric="ip",
            dtype="i8",
            connectivity=CONNECTIVITY,
            expansion_add=EXPANSION_ADD,
            expansion_search=EXPANSION_SEARCH,
        )

    def __len__(self) -> int:
        return len(self._index)

    def add(self, keys: np.ndarray, vectors: np.ndarray, *, new: bool = False) -> None:
        """Add (or replace) the vectors of `keys`; `new`: none of them is in the graph
        yet, so none is looked for. The vectors are not copied when they are float32
        already."""
        if len(keys):
            if not new:
                self.remove(keys)
            vectors = np.ascontiguousarray(vectors, dtype=np.float32)
            self._index.add(keys.astype(np.uint64), vectors, threads=0)

    def remove(self, keys: np.ndarray) -> None:
        present = [int(k) for k in keys if self._index.contains(int(k))]
        if present:
            self._index.remove(present)

    def search(self, query: np.ndarray, count: int) -> np.ndarray:
        count = min(count, len(self._index))
        if count <= 0:
            return np.zeros(0, dtype=np.int64)
        if count > EXPANSION_SEARCH:
            self._index.expansion_search = count  # type: ignore[misc]
        try:
            matches = self._index.search(query.astype(np.float32), count)
        finally:
            self._index.expansion_search = EXPANSION_SEARCH  # type: ignore[misc]
        return np.asarray(matches.keys, dtype=np.int64)

    def save(self, path: Path, *, seq: int, fingerprint: str) -> None:
        """Write one file atomically: a header line (what the graph reflects) and the
        graph. Each writer uses its own temporary name, so two processes saving at
        once leave one whole file or the other, never a mix."""
        blob = bytes(self._index.save() or b"")
        header = json.dumps({"seq": seq, "fingerprint": fingerprint, "n": len(self),
                             "digest": hashlib.blake2b(blob).hexdigest()})  # fmt: skip
        tmp = path.with_name(f"{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
        try:
            with open(tmp, "wb") as out:
                out.write(header.encode() + b"\n")
                out.write(blob)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

    @classmethod
    def load(cls, path: Path, *, dim: int, fingerprint: str) -> tuple[AnnIndex, int] | None:
        """The cached graph and the seq it reflects, or None if there is no usable file."""
        try:
            data = path.read_bytes()
            newline = data.index(b"\n")
            meta = json.loads(data[:newline])
            blob = data[newline + 1 :]
            # A torn or foreign file is never handed to the native loader.
            if meta.get("fingerprint") != fingerprint:
                return None
            if meta.get("digest") != hashlib.blake2b(blob).hexdigest():
                return None
            index = Index.restore(blob)
        except (OSError, ValueError, RuntimeError, TypeError):
            return None
        if index is None or index.ndim != dim or len(index) != meta.get("n"):
            return None
        return cls(dim, index), int(meta["seq"])

    @staticmethod
    def discard(path: Path) -> None:
        path.unlink(missing_ok=True)
