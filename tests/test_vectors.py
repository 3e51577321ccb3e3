"""The in-process vector index against a brute-force scan, and reciprocal rank fusion."""

from __future__ import annotations

import numpy as np

from memstrata.retrieve.fusion import rrf
from memstrata.store.sqlite_vectors import VectorIndex, VectorRow


def _rows(vectors: np.ndarray, users: list[str], status: str = "active") -> list[VectorRow]:
    return [
        VectorRow(
            rowid=i + 1,
            vector=v,
            status=status,
            namespace="ns",
            user_id=u,
            agent_id=None,
            session_id=None,
            kind="event",
            occurred=float(i),
        )
        for i, (v, u) in enumerate(zip(vectors, users))
    ]


def _unit(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    v = rng.standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_search_equals_brute_force_per_scope_after_growth() -> None:
    rng = np.random.default_rng(0)
    vectors = _unit(rng, 5000, 24)
    users = [f"u{i % 3}" for i in range(5000)]
    index = VectorIndex(24, capacity=16)  # forces many doublings
    index.upsert(_rows(vectors, users))
    query = _unit(rng, 1, 24)[0]
    for user in ("u0", "u2", None):
        got = index.search(query, 20, namespace="ns", user_id=user)
        mask = np.array([user is None or u == user for u in users])
        scores = np.where(mask, vectors @ query, -np.inf)
        expected = np.argsort(-scores)[:20] + 1
        assert [g[0] for g in got] == expected.tolist()
    assert index.search(query, 5, namespace="other") == []
    assert index.search(query, 5, namespace="ns", user_id="nobody") == []


def test_a_search_repeated_after_a_change_sees_the_change() -> None:
    rng = np.random.default_rng(1)
    vectors = _unit(rng, 300, 16)
    index = VectorIndex(16)
    index.upsert(_rows(vectors, ["u0"] * 300))
    query = _unit(rng, 1, 16)[0]
    before = index.search(query, 3, namespace="ns", user_id="u0", kinds=["event"])
    assert before == index.search(query, 3, namespace="ns", user_id="u0", kinds=["event"])
    [row] = _rows(query[None, :], ["u0"])
    row.rowid = 1000  # a new row, at a rowid past any the index has seen
    index.upsert([row])
    after = index.search(query, 3, namespace="ns", user_id="u0", kinds=["event"])
    assert after[0][0] == 1000 and after[1:] == before[:2]
    index.upsert([VectorRow(**{**row.__dict__, "status": "deleted"})])
    assert index.search(query, 3, namespace="ns", user_id="u0", kinds=["event"]) == before


def test_upsert_moves_status_and_vector_and_time_filters() -> None:
    rng = np.random.default_rng(1)
    vectors = _unit(rng, 10, 8)
    index = VectorIndex(8)
    index.upsert(_rows(vectors, ["a"] * 10))
    target = vectors[3]
    assert index.search(target, 1, namespace="ns")[0][0] == 4
    index.upsert([VectorRow(4, target, "deleted", "ns", "a", None, None, "event", 3.0)])
    assert 4 not in [g[0] for g in index.search(target, 10, namespace="ns")]
    assert index.search(target, 1, namespace="ns", statuses=("deleted",))[0][0] == 4
    index.upsert([VectorRow(5, None, "purged", "ns", "a", None, None, "event", 4.0)])
    assert 5 not in [g[0] for g in index.search(target, 10, namespace="ns", statuses=("purged",))]
    timed = index.search(target, 10, namespace="ns", since=2.0, until=6.0)
    assert sorted(g[0] for g in timed) == [3, 6]  # rows 3..6 minus deleted 4 and purged 5
    assert len(index) == 9


def test_rrf_fuses_ranks_and_keeps_the_breakdown() -> None:
    fused = rrf({"bm25": [("a", 9.0), ("b", 5.0)], "dense": [("b", 0.9), ("c", 0.8)]})
    assert [f[0] for f in fused] == ["b", "a", "c"]
    assert fused[0][1] == 1 / 62 + 1 / 61
    assert fused[0][2] == {"bm25": {"rank": 2, "score": 5.0}, "dense": {"rank": 1, "score": 0.9}}
    weighted = rrf({"bm25": [("a", 1.0)], "dense": [("c", 1.0)]}, weights={"dense": 2.0})
    assert [f[0] for f in weighted] == ["c", "a"]
