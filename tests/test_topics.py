"""Online topic clusters: assignment rules, determinism, capacity and the byte format."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from memstrata.evolve.topics import JOIN, Topics

DIM = 32


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def clustered(n: int, k: int, seed: int, noise: float = 0.8) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = unit(rng.standard_normal((k, DIM)))
    labels = rng.integers(0, k, n)
    return unit(centres[labels] + noise * unit(rng.standard_normal((n, DIM)))), labels


def reference(x: np.ndarray, join: float, max_topics: int) -> list[int]:
    """The rule as stated, one row at a time, for comparison with the vectorised add."""
    means: list[np.ndarray] = []
    counts: list[int] = []
    out = []
    for v in x:
        if means:
            sims = unit(np.stack(means)) @ v
            best = int(np.argmax(sims))
        if not means or (sims[best] < join and len(means) < max_topics):
            means.append(v.copy())
            counts.append(1)
            best = len(means) - 1
        else:
            counts[best] += 1
            means[best] = means[best] + (v - means[best]) / np.float32(counts[best])
        out.append(best)
    return out


def test_assignments_match_the_row_by_row_rule() -> None:
    for seed, (join, cap) in enumerate([(0.5, 256), (0.3, 8), (0.9, 40), (-1.0, 5)]):
        x, _ = clustered(300, 12, seed)
        assert Topics(DIM, join=join, max_topics=cap).add(x).tolist() == reference(x, join, cap)


def test_add_is_deterministic_and_independent_of_batching() -> None:
    x, _ = clustered(500, 20, seed=1)
    a, b, c = Topics(DIM, join=0.5), Topics(DIM, join=0.5), Topics(DIM, join=0.5)
    ids = a.add(x)
    assert ids.dtype == np.int64
    assert np.array_equal(ids, b.add(x))
    one_by_one = np.concatenate([c.add(row) for row in x])
    assert np.array_equal(ids, one_by_one)
    assert np.array_equal(a.centroids, c.centroids) and np.array_equal(a.counts, c.counts)


def test_separated_clusters_become_one_topic_each() -> None:
    x, labels = clustered(400, 6, seed=2, noise=0.5)
    t = Topics(DIM, join=0.6)
    ids = t.add(x)
    assert len(t) == 6
    for topic in range(6):  # each topic holds exactly one planted cluster
        assert len(set(labels[ids == topic])) == 1


def test_join_moves_the_centroid_to_the_normalised_running_mean() -> None:
    t = Topics(2, join=0.5)
    a, b = np.array([1.0, 0.0]), unit(np.array([1.0, 1.0]))
    assert t.add(np.stack([a, b])).tolist() == [0, 0]  # cosine 0.707 >= 0.5
    np.testing.assert_allclose(t.centroids[0], unit((a + b) / 2), rtol=1e-6)
    assert t.counts.tolist() == [2]
    assert t.add(np.array([0.0, -1.0])).tolist() == [1]  # far below join: a new topic
    assert t.add(np.array([1.0, 0.0])).tolist() == [0]


def test_a_cosine_equal_to_join_joins() -> None:
    t = Topics(2, join=0.0)
    assert t.add(np.array([[1.0, 0.0], [0.0, 1.0]])).tolist() == [0, 0]


def test_when_full_a_vector_joins_the_nearest_topic() -> None:
    t = Topics(6, join=0.99, max_topics=3)
    ids = t.add(np.eye(6, dtype=np.float32))
    assert ids.tolist()[:3] == [0, 1, 2]
    assert len(t) == 3 and int(t.counts.sum()) == 6
    t2 = Topics(2, join=0.99, max_topics=2)
    t2.add(np.array([[1.0, 0.0], [0.0, 1.0]]))
    assert t2.add(unit(np.array([0.2, 1.0]))).tolist() == [1]


def test_capacity_grows_past_the_initial_allocation() -> None:
    rng = np.random.default_rng(3)
    x = unit(rng.standard_normal((400, 256)))
    t = Topics(256, join=0.9, max_topics=300)
    ids = t.add(x)
    assert len(t) == 300 and ids.max() == 299
    assert t.centroids.shape == (300, 256) and t.centroids.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(t.centroids, axis=1), 1.0, rtol=1e-5)


def test_nearest_ranks_topics_by_cosine() -> None:
    t = Topics(3, join=0.9)
    assert t.nearest(np.array([1.0, 0.0, 0.0])) == []
    t.add(np.eye(3, dtype=np.float32))
    got = t.nearest(unit(np.array([0.1, 0.9, 0.3])), n=2)
    assert [topic for topic, _ in got] == [1, 2]
    assert got[0][1] == pytest.approx(0.9 / np.linalg.norm([0.1, 0.9, 0.3]), rel=1e-6)
    assert len(t.nearest(np.array([1.0, 0.0, 0.0]), n=10)) == 3
    with pytest.raises(ValueError, match="one vector"):
        t.nearest(np.eye(3))


def test_inputs_are_checked_and_normalised() -> None:
    t = Topics(3)
    with pytest.raises(ValueError, match="dimension 3"):
        t.add(np.ones((2, 4)))
    with pytest.raises(ValueError, match="row 1 is zero"):
        t.add(np.array([[1.0, 0, 0], [0, 0, 0]]))
    with pytest.raises(ValueError, match="row 0"):
        t.add(np.array([[np.nan, 0, 0]]))
    assert len(t) == 0  # a rejected batch adds nothing
    t.add(np.array([[5.0, 0.0, 0.0]]))
    np.testing.assert_allclose(t.centroids[0], [1.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="join"):
        Topics(3, join=1.5)
    with pytest.raises(ValueError, match="at least 1"):
        Topics(3, max_topics=0)
    assert Topics(3).join == JOIN


# to_bytes / from_bytes --------------------------------------------------------


def test_bytes_round_trip_restores_the_model_exactly() -> None:
    x, _ = clustered(300, 10, seed=4)
    t = Topics(DIM, join=0.55, max_topics=50)
    t.add(x[:200])
    u = Topics.from_bytes(t.to_bytes())
    assert (u.dim, u.join, u.max_topics, len(u)) == (DIM, 0.55, 50, len(t))
    assert np.array_equal(u.centroids, t.centroids) and np.array_equal(u.counts, t.counts)
    # ... and keeps learning exactly as the original would have.
    assert np.array_equal(u.add(x[200:]), t.add(x[200:]))
    assert u.to_bytes() == t.to_bytes()
    empty = Topics.from_bytes(Topics(7).to_bytes())
    assert len(empty) == 0 and empty.dim == 7


def test_bytes_are_not_pickle_and_have_the_documented_size() -> None:
    t = Topics(DIM)
    t.add(clustered(50, 5, seed=5)[0])
    data = t.to_bytes()
    assert data.startswith(b"MSTOPICS") and b"numpy" not in data
    header = struct.calcsize("<8sHIdII")
    assert len(data) == header + len(t) * DIM * 4 + len(t) * 8


def corrupt_cases() -> list[tuple[bytes, str]]:
    t = Topics(4, max_topics=10)
    t.add(np.eye(4, dtype=np.float32))
    good = t.to_bytes()
    head = struct.Struct("<8sHIdII")
    magic, version, dim, join, cap, k = head.unpack_from(good)
    body = good[head.size :]
    nan_means = np.frombuffer(body, dtype="<f4", count=16).copy()
    nan_means[0] = np.nan
    zero_counts = np.zeros(4, dtype="<i8").tobytes()
    return [
        (b"", "shorter than its"),
        (good[:10], "shorter than its"),
        (b"NOTTOPIC" + good[8:], "not topic data"),
        (head.pack(magic, 99, dim, join, cap, k) + body, "format version 99"),
        (head.pack(magic, version, dim, join, 2, k) + body, "header is corrupt"),
        (head.pack(magic, version, 0, join, cap, k) + body, "header is corrupt"),
        (head.pack(magic, version, dim, 7.0, cap, k) + body, "header is corrupt"),
        (good[:-1], "truncated or corrupt"),
        (good + b"\0", "truncated or corrupt"),
        (
            head.pack(magic, version, dim, join, cap, k) + nan_means.tobytes() + body[64:],
            "non-finite",
        ),
        (good[: head.size + 64] + zero_counts, "empty topics"),
    ]


@pytest.mark.parametrize(("data", "message"), corrupt_cases())
def test_from_bytes_rejects_corrupt_data_clearly(data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Topics.from_bytes(data)


def test_a_removed_vector_leaves_the_topic_as_if_it_never_came() -> None:
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(6, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    with_it, without = Topics(8, join=-1.0), Topics(8, join=-1.0)  # one topic for all
    with_it.add(vectors)
    without.add(np.delete(vectors, 2, axis=0))
    with_it.remove(0, vectors[2])
    assert with_it.counts.tolist() == without.counts.tolist() == [5]
    assert np.allclose(with_it.centroids, without.centroids, atol=1e-6)
    lone = Topics(8, join=1.0)  # every vector its own topic
    lone.add(vectors[:2])
    lone.remove(1, vectors[1])
    assert lone.counts.tolist() == [1, 0] and not lone.centroids[1].any()
    restored = Topics.from_bytes(lone.to_bytes())
    assert restored.counts.tolist() == [1, 0]
    assert restored.nearest(vectors[1], 2)[0][0] == 0  # nothing nears the emptied topic
    assert restored.add(vectors[1:2]).tolist() == [2]  # a new topic; the index stays taken
