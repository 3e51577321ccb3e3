"""The vector-index check of a scale run: the engine's dense search, and its index
asked directly, against an exact brute-force scan of the vectors read back from the
store file (`stores.read_vectors`, independent of the engine's index)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from memstrata.bench.gen import Query
from memstrata.bench.measure import latency_summary
from memstrata.bench.scale.plan import DEPTH, K
from memstrata.bench.stores import read_vectors
from memstrata.embed import Embedder
from memstrata.memory import Memory
from memstrata.store.base import Filters
from memstrata.types import Scope

_SCORE_TOLERANCE = 1e-5


def brute_force_top(matrix: np.ndarray, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k rows by dot product (cosine for unit vectors): (rows best first,
    all scores)."""
    scores = matrix @ query
    k = min(k, scores.size)
    top = np.argpartition(-scores, k - 1)[:k] if k < scores.size else np.arange(scores.size)
    return top[np.argsort(-scores[top], kind="stable")], scores


class _Recall:
    """Recall@10 of ranked (id, score) lists against the exact scores."""

    def __init__(self, ids: Sequence[str]) -> None:
        self.ids = list(ids)
        self.position = {rid: i for i, rid in enumerate(ids)}
        self.tie: list[float] = []
        self.strict: list[float] = []
        self.score_diff = 0.0

    def add(self, got: Sequence[tuple[str, float]], top: np.ndarray, scores: np.ndarray) -> None:
        """Score one query: `top` and `scores` are the exact answer (rows, all scores)."""
        want = min(K, len(self.position))
        kth = float(scores[top[want - 1]])
        found = [(rid, s) for rid, s in got[:K] if rid in self.position]
        exact = {self.ids[i] for i in top[:want]}
        self.tie.append(
            sum(scores[self.position[r]] >= kth - _SCORE_TOLERANCE for r, _ in found) / want
        )
        self.strict.append(len({r for r, _ in found} & exact) / want)
        diffs = [abs(float(scores[self.position[r]]) - s) for r, s in found]
        self.score_diff = max([self.score_diff, *diffs])

    def mean(self, strict: bool = False) -> float | None:
        """Mean recall over the queries so far (tie-aware unless `strict`)."""
        values = self.strict if strict else self.tie
        return float(np.mean(values)) if values else None


def vector_check(
    memory: Memory,
    embedder: Embedder,
    path: Path,
    queries: Sequence[Query],
    engine_hits: Sequence[Sequence[tuple[str, float]]],
) -> dict[str, Any]:
    """Recall@10 of the engine's dense search against an exact scan of the stored
    vectors, and the latency of the engine's index next to that scan's.

    `recall_at_10` scores `Memory.search(strategy="dense")` hits, counting a hit as
    right when its exact score reaches the exact 10th-best score (so equal-score ties
    may be broken either way); `recall_at_10_strict` compares ids only;
    `index_recall_at_10_k10` asks the store's index for 10 rows directly (the engine
    asks for DEPTH). `engine_index` times the store's index at DEPTH rows,
    `brute_force` a numpy scan for the top DEPTH."""
    ids, matrix = read_vectors(path)
    if not ids:
        return {"vectors": 0}
    search_recall, index_recall = _Recall(ids), _Recall(ids)
    brute_times, index_times = [], []
    scope, filters = Scope(), Filters(kinds=("event",))  # the turns: what read_vectors reads
    for query, hits in zip(queries, engine_hits):
        vector = embedder.embed([query.text])[0]
        start = time.perf_counter()
        top, scores = brute_force_top(matrix, vector, DEPTH)
        brute_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        memory.store.vector_search(vector, scope, filters, DEPTH)
        index_times.append(time.perf_counter() - start)
        search_recall.add(hits, top, scores)
        index_recall.add(memory.store.vector_search(vector, scope, filters, K), top, scores)
    brute, index = latency_summary(brute_times), latency_summary(index_times)
    return {
        "vectors": len(ids),
        "dim": int(matrix.shape[1]),
        "queries": len(queries),
        "depth": DEPTH,
        "recall_at_10": search_recall.mean(),
        "recall_at_10_strict": search_recall.mean(strict=True),
        "index_recall_at_10_k10": index_recall.mean(),
        "max_score_diff": search_recall.score_diff,
        "engine_index": index,
        "brute_force": brute,
        "latency_ratio_p50": index["p50_ms"] / brute["p50_ms"] if brute["p50_ms"] else None,
    }
