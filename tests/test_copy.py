"""A whole store copied into another (`memstrata migrate --from --to`): lossless,
resumable, verified."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from memstrata import Memory, Scope
from memstrata.errors import BackendError
from memstrata.server import keys as api_keys
from memstrata.store.backends import open_store
from memstrata.store.copy import copy_store, verify
from memstrata.store.sqlite import SQLiteStore

TURNS = [
    ("alice", "I moved to Lisbon in March, the light there is wonderful."),
    ("bob", "I just adopted a greyhound called Pixel."),
    ("alice", "My sister Clara visits next weekend."),
    ("bob", "Pixel loves the beach at Carcavelos."),
    ("alice", "I started learning Portuguese on Tuesdays."),
]


def _filled(path: Path) -> list[str]:
    """A store with facts, links, topics, a deleted and a purged turn, and keys."""
    with Memory(path, embedder="hash") as m:
        ids = []
        for i, (who, text) in enumerate(TURNS):
            [r] = m.add([{"role": "user", "name": who, "content": text}],
                        user_id=who, session_id="s1",
                        occurred_at=f"2024-04-0{i + 1}T10:00:00Z")  # fmt: skip
            ids.append(r.id)
        m.add("a note in another tenant", namespace="acme")
        m.delete(ids[3], user_id="bob")
        m.purge(ids[4], user_id="alice")
    api_keys.create_key(path, "default", label="bot")
    revoked, _ = api_keys.create_key(path, "acme")
    api_keys.revoke_key(path, revoked)
    return ids


def test_a_copy_holds_everything_and_answers_the_same(tmp_path: Path) -> None:
    src_path, dst_path = tmp_path / "a.db", tmp_path / "b.db"
    _filled(src_path)
    source, target = SQLiteStore(src_path), SQLiteStore(dst_path)
    try:
        copied = copy_store(source, target)
        assert verify(source, target) == []
        assert copied.records == sum(1 for ns in source.namespaces()
                                     for _ in source.iter_records(Scope(ns)))  # fmt: skip
        assert copied.links > 0 and copied.keys == 2
        assert target.api_keys() == source.api_keys()
        again = copy_store(source, target)  # resumable: nothing left to copy
        assert again.records == 0 and again.skipped == copied.records
        assert verify(source, target) == []
    finally:
        source.close()
        target.close()
    with Memory(src_path, embedder="hash") as a, Memory(dst_path, embedder="hash") as b:
        for query in ("where does alice live?", "what is the dog called", "Clara"):
            for user in ("alice", "bob"):
                got_a = [h.record.id for h in a.search(query, user_id=user, k=10)]
                got_b = [h.record.id for h in b.search(query, user_id=user, k=10)]
                assert got_a == got_b
        for some in a.list(user_id="alice", kinds=["event", "fact"]).records:
            before = [(e.op, e.at, e.actor, e.before, e.after) for e in
                      a.history(some.id, user_id="alice")]  # fmt: skip
            after = [(e.op, e.at, e.actor, e.before, e.after) for e in
                     b.history(some.id, user_id="alice")]  # fmt: skip
            assert after == before


def test_a_copy_stopped_half_way_is_finished_by_running_it_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src_path, dst_path = tmp_path / "a.db", tmp_path / "b.db"
    _filled(src_path)
    source, target = SQLiteStore(src_path), SQLiteStore(dst_path)
    real = target.import_records
    calls = {"n": 0}

    def failing(*args: object, **kwargs: object) -> int:
        calls["n"] += 1
        if calls["n"] == 3:
            raise BackendError("the disk is full")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    try:
        with monkeypatch.context() as patch:
            patch.setattr(target, "import_records", failing)
            with pytest.raises(BackendError):
                copy_store(source, target, batch=2)
        assert verify(source, target) != []
        copy_store(source, target, batch=2)
        assert verify(source, target) == []
    finally:
        source.close()
        target.close()


def test_verify_names_a_record_that_differs(tmp_path: Path) -> None:
    src_path, dst_path = tmp_path / "a.db", tmp_path / "b.db"
    ids = _filled(src_path)
    source, target = SQLiteStore(src_path), SQLiteStore(dst_path)
    try:
        copy_store(source, target)
        target.touch([ids[0]])
        assert any("checksums differ" in p for p in verify(source, target))
    finally:
        source.close()
        target.close()


def test_migrate_on_the_command_line_copies_and_verifies(tmp_path: Path) -> None:
    src_path, dst_path = tmp_path / "a.db", tmp_path / "b.db"
    _filled(src_path)
    cli = [sys.executable, "-m", "memstrata.cli", "--json", "migrate"]
    done = subprocess.run([*cli, "--from", f"sqlite:{src_path}", "--to", str(dst_path)],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["problems"] == [] and report["copied"] > 0 and report["keys"] == 2
    missing = subprocess.run([*cli, "--from", str(tmp_path / "none.db"), "--to", str(dst_path)],
                             capture_output=True, text=True, timeout=120)  # fmt: skip
    assert missing.returncode == 2 and "no store at" in missing.stderr


def test_a_sqlite_store_copied_to_postgresql_is_whole_and_answers_alike(
    tmp_path: Path, pg_dsn: str
) -> None:
    src_path = tmp_path / "a.db"
    _filled(src_path)
    source, target = SQLiteStore(src_path), open_store(pg_dsn)
    try:
        copy_store(source, target)
        assert verify(source, target) == []
    finally:
        source.close()
        target.close()
    with Memory(src_path, embedder="hash") as a, Memory(pg_dsn, embedder="hash") as b:
        for query in ("where does alice live?", "what is the dog called", "Clara"):
            got_a = [h.record.id for h in a.search(query, user_id="alice", k=10)]
            got_b = [h.record.id for h in b.search(query, user_id="alice", k=10)]
            assert set(got_b) == set(got_a) and got_b[0] == got_a[0]
        assert b.stats()["backend"] == "postgresql"
