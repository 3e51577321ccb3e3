"""Topics: online spherical k-means over unit vectors, and its on-disk form.

A new vector joins the topic whose centroid is nearest (highest cosine) if that
cosine is at least `join`; the topic's running mean moves toward it and its centroid
is the mean re-normalised. Otherwise it starts a new topic, until there are
`max_topics`; from then on it joins the nearest topic whatever the cosine. One pass,
no reassignment: a topic's members are the vectors it was given, so the result
depends on the order of the inputs and on nothing else.

`JOIN` was chosen by measurement with the packaged minilm model on 120 hand-written
chat turns, twelve on each of ten clearly different subjects, streamed in 20 shuffled
orders. Chat turns are short and loosely worded: a turn's cosine to the centroid of
the rest of its subject has a median of 0.43 (10th percentile 0.25), and to the
nearest other subject's centroid a median of 0.26 (90th percentile 0.36). By join
(topics made, adjusted Rand index, purity): 0.20 -> 15, 0.41, 0.67; 0.25 -> 25, 0.47,
0.78; 0.30 -> 37, 0.46, 0.89; 0.35 -> 54, 0.34, 0.94; 0.40 -> 72, 0.21, 0.97. We take
0.30: as good as 0.25 by Rand index, and a subject split over two topics costs less
than two subjects mixed in one. Caveats, measured too: in one long conversation
between two friends (LoCoMo dev, 370-660 turns) the shared small talk pulls 51-65%
of turns into one topic at 0.30 (about 20% at 0.40); and vectors that average
several turns (episode centroids of four turns) are far tighter, best at 0.45-0.55
(Rand index 0.97-0.98); pass `join` accordingly.

`add` scores a chunk of rows against all centroids with one matrix product and
rescores a row only against the centroids that moved earlier in its chunk, which
gives the same assignments as a row-by-row pass (checked on random and minilm
vectors) at a quarter of the cost: 1,000 vectors into 256 topics take about 20 ms
on one core. Float rounding can differ from the row-by-row pass only for a cosine
within about 1e-7 of `join` or of a tie.
"""

from __future__ import annotations

import math
import struct

import numpy as np

JOIN = 0.30
_CHUNK = 32  # rows scored per matrix product
_MAGIC = b"MSTOPICS"
_VERSION = 1
# magic, format version, dim, join, max_topics, topics; then float32 means
# [topics, dim] and int64 counts [topics], all little-endian.
_HEADER = struct.Struct("<8sHIdII")


class Topics:
    """Online (streaming) spherical k-means over unit vectors.

    >>> t = Topics(2, join=0.9, max_topics=2)
    >>> t.add(np.array([[1.0, 0.0], [0.0, 1.0], [0.99, 0.14], [0.8, -0.6]])).tolist()
    [0, 1, 0, 0]
    >>> t.counts.tolist()
    [3, 1]
    """

    def __init__(self, dim: int, *, join: float = JOIN, max_topics: int = 256) -> None:
        if dim < 1 or max_topics < 1:
            raise ValueError(f"dim and max_topics must be at least 1, got {dim} and {max_topics}")
        if not -1.0 <= join <= 1.0:
            raise ValueError(f"join is a cosine and must be within [-1, 1], got {join}")
        self.dim = dim
        self.join = float(join)
        self.max_topics = max_topics
        self._n = 0
        capacity = min(max_topics, 64)
        self._means = np.zeros((capacity, dim), dtype=np.float32)
        self._unit = np.zeros((capacity, dim), dtype=np.float32)
        self._counts = np.zeros(capacity, dtype=np.int64)

    def __len__(self) -> int:
        return self._n

    @property
    def centroids(self) -> np.ndarray:
        """Unit-norm centroids, float32, shape [topics, dim] (a copy)."""
        return self._unit[: self._n].copy()

    @property
    def counts(self) -> np.ndarray:
        """Vectors added to each topic, int64, shape [topics] (a copy)."""
        return self._counts[: self._n].copy()

    def add(self, vectors: np.ndarray) -> np.ndarray:
        """Add rows (or one vector) in order; return each row's topic index (int64).

        Rows are normalised; a zero or non-finite row raises ValueError, since it has
        no direction to place it by (an empty text embeds to zeros: leave it out).
        """
        x = self._check(vectors)
        out = np.empty(len(x), dtype=np.int64)
        for lo in range(0, len(x), _CHUNK):
            chunk = x[lo : lo + _CHUNK]
            out[lo : lo + len(chunk)] = self._add_chunk(chunk)
        return out

    def _add_chunk(self, chunk: np.ndarray) -> np.ndarray:
        known = self._n
        # Cosines to the centroids as they were; a column is voided once its topic
        # moves, and the moved (or new) centroids are kept in `local` instead.
        stale = chunk @ self._unit[:known].T
        local = np.empty_like(chunk)
        local_topics: list[int] = []
        slot: dict[int, int] = {}
        out = np.empty(len(chunk), dtype=np.int64)
        for j, v in enumerate(chunk):
            best, score = -1, -np.inf
            if known:
                best = int(np.argmax(stale[j]))
                score = float(stale[j, best])
            if local_topics:
                sims = local[: len(local_topics)] @ v
                i = int(np.argmax(sims))
                if sims[i] > score or (sims[i] == score and local_topics[i] < best):
                    best, score = local_topics[i], float(sims[i])
            if best < 0 or (score < self.join and self._n < self.max_topics):
                best = self._start(v)
            else:
                self._move(best, v)
            out[j] = best
            if best not in slot:
                slot[best] = len(local_topics)
                local_topics.append(best)
                if best < known:
                    stale[j + 1 :, best] = -np.inf
            local[slot[best]] = self._unit[best]
        return out

    def nearest(self, vector: np.ndarray, n: int = 3) -> list[tuple[int, float]]:
        """The `n` topics nearest to `vector` as (topic, cosine), best first; ties go to
        the lower index. Empty when there are no topics (emptied ones do not count)."""
        v = self._check(vector)
        if len(v) != 1:
            raise ValueError(f"nearest() takes one vector, got {len(v)} rows")
        sims = self._unit[: self._n] @ v[0]
        live = np.flatnonzero(self._counts[: self._n] > 0)  # an emptied topic nears nothing
        order = live[np.argsort(-sims[live], kind="stable")][: max(n, 0)]
        return [(int(i), float(sims[i])) for i in order]

    def remove(self, topic: int, vector: np.ndarray) -> None:
        """Take back one vector that was added to `topic` (its memory was purged): the
        topic's mean is as if it had never come. A topic emptied so keeps its index
        (links name topics by index) with no centroid, and nothing nears it."""
        if not 0 <= topic < self._n:
            raise ValueError(f"no topic {topic}; there are {self._n}")
        v = self._check(vector)[0]
        n = int(self._counts[topic])
        mean = self._means[topic]
        if n <= 1:
            mean[:] = 0.0
            self._counts[topic] = 0
        else:
            mean[:] = (mean * np.float32(n) - v) / np.float32(n - 1)
            self._counts[topic] = n - 1
        _normalize_into(mean, self._unit[topic])

    def to_bytes(self) -> bytes:
        """A self-describing little-endian encoding (no pickle); see `from_bytes`."""
        k = self._n
        header = _HEADER.pack(_MAGIC, _VERSION, self.dim, self.join, self.max_topics, k)
        means = self._means[:k].astype("<f4").tobytes()
        counts = self._counts[:k].astype("<i8").tobytes()
        return header + means + counts

    @classmethod
    def from_bytes(cls, data: bytes) -> Topics:
        """Rebuild a `Topics` from `to_bytes()` output; raise ValueError if the data is
        not that, is truncated, or holds impossible values."""
        data = bytes(data)
        if len(data) < _HEADER.size:
            raise ValueError(
                f"topic data is {len(data)} bytes, shorter than its {_HEADER.size}-byte header; "
                "it is truncated or not from Topics.to_bytes()"
            )
        magic, version, dim, join, max_topics, k = _HEADER.unpack_from(data)
        if magic != _MAGIC:
            raise ValueError(f"not topic data: starts with {magic!r}, expected {_MAGIC!r}")
        if version != _VERSION:
            raise ValueError(
                f"topic data has format version {version}; this memstrata reads version "
                f"{_VERSION}, so upgrade memstrata or rebuild the topics"
            )
        if dim < 1 or max_topics < 1 or k > max_topics or not -1.0 <= join <= 1.0:
            raise ValueError(
                f"topic data header is corrupt: dim={dim}, join={join}, "
                f"max_topics={max_topics}, topics={k}"
            )
        expected = _HEADER.size + k * dim * 4 + k * 8
        if len(data) != expected:
            raise ValueError(
                f"topic data is {len(data)} bytes but its header ({k} topics of {dim} "
                f"dimensions) needs {expected}; it is truncated or corrupt"
            )
        means = np.frombuffer(data, dtype="<f4", count=k * dim, offset=_HEADER.size)
        counts = np.frombuffer(data, dtype="<i8", count=k, offset=_HEADER.size + k * dim * 4)
        if not np.isfinite(means).all() or (counts < 0).any():
            raise ValueError("topic data is corrupt: non-finite centroids or negative counts")
        if ((counts == 0) & means.reshape(k, dim).any(axis=1)).any():
            raise ValueError("topic data is corrupt: empty topics with a centroid")
        topics = cls(dim, join=join, max_topics=max_topics)
        topics._grow(k)
        topics._n = k
        topics._means[:k] = means.reshape(k, dim)
        topics._counts[:k] = counts
        for t in range(k):
            _normalize_into(topics._means[t], topics._unit[t])
        return topics

    def _start(self, v: np.ndarray) -> int:
        k = self._n
        self._grow(k + 1)
        self._means[k] = v
        self._unit[k] = v
        self._counts[k] = 1
        self._n = k + 1
        return k

    def _move(self, t: int, v: np.ndarray) -> None:
        self._counts[t] += 1
        mean = self._means[t]
        mean += (v - mean) / np.float32(self._counts[t])
        _normalize_into(mean, self._unit[t])

    def _grow(self, size: int) -> None:
        capacity = len(self._counts)
        if size <= capacity:
            return
        capacity = min(max(size, 2 * capacity), self.max_topics)
        for name in ("_means", "_unit"):
            old = getattr(self, name)
            new = np.zeros((capacity, self.dim), dtype=np.float32)
            new[: len(old)] = old
            setattr(self, name, new)
        counts = np.zeros(capacity, dtype=np.int64)
        counts[: len(self._counts)] = self._counts
        self._counts = counts

    def _check(self, vectors: np.ndarray) -> np.ndarray:
        x = np.asarray(vectors, dtype=np.float32)
        if x.ndim == 1:
            x = x[None, :]
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"expected vectors of dimension {self.dim}, got shape {x.shape}")
        norms = np.linalg.norm(x, axis=1)
        bad = np.flatnonzero(~np.isfinite(norms) | (norms == 0))
        if len(bad):
            raise ValueError(f"row {int(bad[0])} is zero or not finite; it has no direction")
        return x / norms[:, None]


def _normalize_into(mean: np.ndarray, unit: np.ndarray) -> None:
    """Write mean / |mean| into `unit` (zeros for a zero mean). `add` and `from_bytes`
    both use this, so a restored model scores exactly as the original did."""
    norm = math.sqrt(float(mean @ mean))
    if norm > 0.0:
        np.multiply(mean, np.float32(1.0 / norm), out=unit)
    else:
        unit[:] = 0.0


__all__ = ["JOIN", "Topics"]
