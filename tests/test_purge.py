"""Purge erases for good, even while other connections and processes hold the file."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from memstrata import Memory, Scope
from memstrata.store import sqlite
from memstrata.store import sqlite_vectors as vectors


def _bytes_on_disk(db_path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in db_path.parent.iterdir() if p.is_file())


def test_purge_with_a_reader_holding_a_snapshot_wipes_once_the_reader_moves_on(
    db_path: Path,
) -> None:
    m = Memory(db_path, embedder="hash")
    [r] = m.add("hunter2zebra is my password")
    m.add("something else")
    reader = sqlite3.connect(db_path)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM records").fetchone()
    m.purge(r.id)  # returns although the reader still holds its old snapshot
    m.add("a write right after the purge")
    assert b"hunter2zebra" in _bytes_on_disk(db_path)  # the WAL still holds it
    reader.rollback()
    reader.close()
    deadline = time.monotonic() + 10
    while b"hunter2zebra" in _bytes_on_disk(db_path) and time.monotonic() < deadline:
        time.sleep(0.05)  # the store retries in the background, without a close
    assert b"hunter2zebra" not in _bytes_on_disk(db_path)
    m.close()


def test_a_reader_that_never_moves_on_is_warned_about_on_close(db_path: Path) -> None:
    m = Memory(db_path, embedder="hash")
    [r] = m.add("hunter2zebra is my password")
    reader = sqlite3.connect(db_path)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM records").fetchone()
    m.purge(r.id)
    with pytest.warns(UserWarning, match="stay in the -wal file"):
        m.close()
    reader.rollback()
    reader.close()
    with Memory(db_path, embedder="hash"):
        pass  # the next process to open and close the file empties the WAL
    assert b"hunter2zebra" not in _bytes_on_disk(db_path)


def test_a_purge_and_its_cascade_empty_the_wal_once(
    memory: Memory, monkeypatch: pytest.MonkeyPatch
) -> None:
    [turn] = memory.add(
        {"name": "Quenby", "content": "I adopted a dog. I live in Porto. I work at a bakery."},
        user_id="u", session_id="s",
    )  # fmt: skip
    derived = memory.store.linked([turn.id], "evidence", reverse=True)[turn.id]
    assert len(derived) >= 3
    calls: list[int] = []
    checkpoint = memory.store._checkpoint
    monkeypatch.setattr(memory.store, "_checkpoint",
                        lambda **kw: calls.append(1) or checkpoint(**kw))  # fmt: skip
    memory.purge(turn.id, user_id="u")
    assert calls == [1]
    assert all(memory.store.get(i, Scope(), include_gone=True).status == "purged" for i in derived)


def test_purge_seen_by_another_memory_drops_its_graph(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(vectors, "ANN_MIN", 300)
    monkeypatch.setattr(vectors, "EXACT_MAX", 300)
    monkeypatch.setattr(sqlite, "GRAPH_IN_BACKGROUND", False)
    a = Memory(db_path, embedder="hash")
    ids = [r.id for r in a.add([f"note {i} on topic {i % 13}" for i in range(400)])]
    b = Memory(db_path, embedder="hash")
    b.search("note", strategy="dense")
    old_graph = b.store._index.ann
    assert old_graph is not None
    a.purge(ids[7])
    b.search("note", strategy="dense")
    # b rebuilt its graph instead of removing one key (which would keep the bytes).
    assert b.store._index.ann is not None and b.store._index.ann is not old_graph
    assert len(b.store._index.ann) == 399
    b.close()
    a.close()


def test_store_errors_inside_a_write_are_backend_errors(memory: Memory) -> None:
    from memstrata import BackendError

    [r] = memory.add("first")
    with pytest.raises(BackendError, match="nothing was written"):
        memory.store.insert([r], None, actor=None)  # the same id again
    assert memory.stats()["records"] == 1
