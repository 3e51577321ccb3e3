"""The HNSW path for large scopes: same answers as exact search (up to HNSW
recall), filters never shorten the answer, and the graph cache file is reused,
caught up and dropped as it should be."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from memstrata import Memory
from memstrata.store import sqlite
from memstrata.store import sqlite_vectors as vectors

TOPICS = ["garden", "engine", "violin", "harbour", "glacier", "bakery", "comet", "orchid"]


@pytest.fixture(autouse=True)
def small_thresholds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vectors, "ANN_MIN", 300)
    monkeypatch.setattr(vectors, "EXACT_MAX", 300)
    monkeypatch.setattr(sqlite, "GRAPH_IN_BACKGROUND", False)


def _fill(m: Memory, n: int, **scope: str) -> list[str]:
    texts = [f"{TOPICS[i % 8]} note {i} about {TOPICS[(i * 3) % 8]} w{i % 97}" for i in range(n)]
    return [r.id for r in m.add(texts, **scope)]


def _exact(m: Memory, query: str, k: int, **scope: str) -> list[str]:
    vec = m.embedder.embed([query])[0]
    items = [(r, v) for r, v in m.store.iter_records(m.store_scope(**scope))
             if v is not None and r.status == "active"]  # fmt: skip
    scores = np.array([v @ vec for _, v in items])
    return [items[i][0].id for i in np.argsort(-scores)[:k]]


def test_graph_is_built_and_agrees_with_exact(db_path: Path) -> None:
    with Memory(db_path, embedder="hash") as m:
        _fill(m, 1200)
        m.search("warmup", strategy="dense")
        assert m.store._index.ann is not None and len(m.store._index.ann) == 1200
        recall = []
        for query in ("garden violin", "comet harbour note", "orchid w5", "engine bakery"):
            got = [h.record.id for h in m.search(query, strategy="dense", k=10)]
            recall.append(len(set(got) & set(_exact(m, query, 10))) / 10)
        assert np.mean(recall) >= 0.9


def test_narrow_filters_fall_back_to_exact(db_path: Path) -> None:
    with Memory(db_path, embedder="hash") as m:
        _fill(m, 1000, user_id="big")
        small = _fill(m, 5, user_id="small")
        m.search("warmup", strategy="dense")
        assert m.store._index.ann is not None
        hits = m.search("garden", user_id="small", strategy="dense", k=10)
        assert sorted(h.record.id for h in hits) == sorted(small)


def test_deletes_leave_the_graph(db_path: Path) -> None:
    with Memory(db_path, embedder="hash") as m:
        ids = _fill(m, 600)
        top = m.search("glacier note 4", strategy="dense", k=1)[0].record.id
        m.delete(top)
        assert top not in [h.record.id for h in m.search("glacier note 4", strategy="dense")]
        assert ids


def test_cache_file_is_reused_and_caught_up(db_path: Path, monkeypatch) -> None:
    with Memory(db_path, embedder="hash") as m:
        _fill(m, 800)
        m.search("warmup", strategy="dense")
    cache = db_path.with_name(db_path.name + ".ann")
    assert cache.exists()
    # Another process adds records while no graph is loaded: the next load catches up.
    with Memory(db_path, embedder="hash") as m:
        [late] = m.add("zeppelin zeppelin zeppelin")
    built = []
    monkeypatch.setattr(vectors.VectorIndex, "graph_snapshot", lambda self: built.append(1))
    with Memory(db_path, embedder="hash") as m:
        hits = m.search("zeppelin", strategy="dense", k=1)
        assert hits[0].record.id == late.id
        assert m.store._index.ann is not None and len(m.store._index.ann) == 801
    assert built == []  # the cached graph was used: nothing was rebuilt


def test_damaged_cache_is_rebuilt(db_path: Path) -> None:
    with Memory(db_path, embedder="hash") as m:
        _fill(m, 500)
        m.search("warmup", strategy="dense")
    cache = db_path.with_name(db_path.name + ".ann")
    cache.write_bytes(b"garbage" * 10)
    with Memory(db_path, embedder="hash") as m:
        assert len(m.search("garden note", strategy="dense", k=5)) == 5
        assert len(m.store._index.ann) == 500


def test_purge_drops_the_cache(db_path: Path) -> None:
    with Memory(db_path, embedder="hash") as m:
        ids = _fill(m, 500)
        m.search("warmup", strategy="dense")
        m.purge(ids[0])
        assert len(m.store._index.ann) == 499


def test_truncated_cache_is_ignored(db_path: Path) -> None:
    with Memory(db_path, embedder="hash") as m:
        _fill(m, 400)
        m.search("warmup", strategy="dense")
    cache = db_path.with_name(db_path.name + ".ann")
    cache.write_bytes(cache.read_bytes()[:-100])
    with Memory(db_path, embedder="hash") as m:
        assert len(m.search("garden note", strategy="dense", k=5)) == 5
        assert len(m.store._index.ann) == 400


def test_background_build_serves_exact_meanwhile_and_replays_later_changes(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite, "GRAPH_IN_BACKGROUND", True)
    with Memory(db_path, embedder="hash") as m:
        _fill(m, 600)
        hits = m.search("garden violin", strategy="dense", k=10)  # exact until ready
        assert [h.record.id for h in hits] == _exact(m, "garden violin", 10)
        m.store.wait_for_graph()
        assert m.store._index.ann is not None and len(m.store._index.ann) == 600


def test_graph_built_from_an_old_snapshot_replays_what_changed_since() -> None:
    rng = np.random.default_rng(3)
    index = vectors.VectorIndex(16)

    def rows(start: int, n: int, seq: int, status: str = "active") -> list[vectors.VectorRow]:
        vs = rng.standard_normal((n, 16)).astype(np.float32)
        vs /= np.linalg.norm(vs, axis=1, keepdims=True)
        return [vectors.VectorRow(start + i, vs[i], status, "ns", None, None, None, "event",
                                  0.0, seq) for i in range(n)]  # fmt: skip

    index.upsert(rows(1, 400, seq=1))
    source = index.graph_snapshot()  # taken at seq 1
    index.upsert(rows(401, 50, seq=2))  # added while the graph was building
    index.upsert(rows(1, 10, seq=3, status="deleted"))  # deleted meanwhile
    ann = source.build(16)
    assert index.install_ann(ann, 1, source.generation)
    assert len(ann) == 440
    # A snapshot taken before a purge is never installed.
    index.drop_ann()
    source = index.graph_snapshot()
    index.upsert(rows(500, 1, seq=4, status="purged"))
    assert not index.install_ann(source.build(16), 3, source.generation)


def test_a_search_of_the_past_uses_the_graph_and_finds_superseded_rows_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(vectors, "ANN_MIN", 100)
    monkeypatch.setattr(vectors, "EXACT_MAX", 100)
    rng = np.random.default_rng(5)
    vs = rng.standard_normal((600, 16)).astype(np.float32)
    vs /= np.linalg.norm(vs, axis=1, keepdims=True)
    index = vectors.VectorIndex(16)
    statuses = ["superseded" if i < 20 else "active" for i in range(600)]
    index.upsert([vectors.VectorRow(i + 1, vs[i], statuses[i], "ns", None, None, None, "fact",
                                    0.0, 1) for i in range(600)])  # fmt: skip
    assert index.build_ann(1)
    searched = []
    real = vectors.VectorIndex._search_ann
    monkeypatch.setattr(vectors.VectorIndex, "_search_ann",
                        lambda self, *a: searched.append(1) or real(self, *a))  # fmt: skip
    old = index.search(vs[3], 5, namespace="ns", statuses=("active", "superseded"))
    assert old[0][0] == 4 and searched  # the superseded row itself, with the graph used
    now = index.search(vs[3], 5, namespace="ns")
    assert all(rowid > 20 for rowid, _ in now)
    exact = np.argsort(-(vs @ vs[30]))[:5] + 1
    both = index.search(vs[30], 5, namespace="ns", statuses=("active", "superseded"))
    assert [r for r, _ in both][:3] == exact[:3].tolist()
