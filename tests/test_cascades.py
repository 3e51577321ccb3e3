"""A change to a turn and the change of what was derived from it are one: killed at
any statement of a delete, purge or update, the store holds the turn and its
derived memories as they were before, or as they are after, never half of each; a
retried delete finishes what an older one left; purge erases the names its turn
spoke of."""

from __future__ import annotations

import importlib.util
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from memstrata import Memory, NotFound, Scope

HELPER = Path(__file__).with_name("helpers_proc.py")
_spec = importlib.util.spec_from_file_location("memstrata_test_helpers_cascade", HELPER)
assert _spec is not None and _spec.loader is not None
hp = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(hp)

KILL_POINTS = 6  # statements of each op at which a child is killed


def _template(tmp_path: Path) -> tuple[Path, str, set[str]]:
    """A store holding the cascade turn, what formation derived from it (facts and
    profiles), and another user's turn; the turn's id and the derived ids."""
    path = tmp_path / "template.db"
    with Memory(path, embedder="hash") as m:
        m.add({"name": "Otto", "content": "Otto grows tomatoes on the balcony."}, user_id="v")
        [turn] = m.add(hp.CASCADE_TURN, user_id="u", session_id="s")
        derived = _derived(m, turn.id)
    kinds = {row[0] for row in _rows(path, derived, "kind")}
    assert {"fact", "profile"} <= kinds, kinds
    return path, turn.id, derived


def _derived(m: Memory, record_id: str) -> set[str]:
    todo, seen = [record_id], set()
    while todo:
        found = m.store.linked(todo, "evidence", reverse=True)
        todo = [d for ds in found.values() for d in ds if d not in seen]
        seen.update(todo)
    return seen


def _rows(path: Path, ids: set[str], columns: str) -> list[tuple]:
    """Columns of records as stored, whatever their status (read from the file, so
    that the check needs nothing of the engine it checks)."""
    conn = sqlite3.connect(path)
    try:
        return [conn.execute(f"SELECT {columns} FROM records WHERE id = ?", (i,)).fetchone()
                for i in ids]  # fmt: skip
    finally:
        conn.close()


def _run(path: Path, op: str, record_id: str, kill_at: int) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(HELPER), "cascade_kill", str(path), op, record_id, str(kill_at)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def _check(path: Path, op: str, turn_id: str, derived: set[str]) -> str:
    """The state the store is in after a killed op: "before" or "after"; fails the
    test on any mixture."""
    with Memory(path, embedder="hash") as m:  # forms what a killed process owed
        [(status, version, text)] = _rows(path, {turn_id}, "status, version, text")
        states = {row[0] for row in _rows(path, derived, "status")}
        active_texts = [r.text for r in m.list(kinds=["fact", "episode", "profile"],
                                               limit=1000).records]  # fmt: skip
        if op == "update":
            if version == 1:
                assert states == {"active"}, states
                return "before"
            assert text == hp.CASCADE_UPDATE
            assert not [t for t in active_texts if "Zorblix" in t], active_texts
            assert [t for t in active_texts if "Pemberly" in t], active_texts
            assert m.stats()["pending_formation"] == 0
            return "after"
        if status == "active":
            assert states == {"active"}, states
            return "before"
        assert status == ("deleted" if op == "delete" else "purged")
        assert states <= {"deleted", "purged"} if op == "delete" else states == {"purged"}
        assert not [t for t in active_texts if "Zorblix" in t or "Mirelda" in t], active_texts
    if op == "purge":
        data = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
        for word in (b"Zorblix", b"Mirelda", b"Quenby", b"zorblix", b"mirelda", b"quenby"):
            assert word not in data, word
    return "after"


@pytest.mark.parametrize("op", ["delete", "purge", "update"])
def test_an_op_killed_at_any_statement_leaves_its_cascade_whole(tmp_path: Path, op: str) -> None:
    template, turn_id, derived = _template(tmp_path)
    dry = tmp_path / "dry.db"
    shutil.copy(template, dry)
    done = _run(dry, op, turn_id, 0)
    assert done.returncode == 0, done.stderr
    total = int(done.stdout.split('"statements": ')[1].split("}")[0])
    assert _check(dry, op, turn_id, derived) == "after"
    seen = []
    for kill_at in sorted({1 + round(i * (total - 1) / (KILL_POINTS - 1))
                           for i in range(KILL_POINTS)}):  # fmt: skip
        path = tmp_path / f"kill{kill_at}.db"
        shutil.copy(template, path)
        killed = _run(path, op, turn_id, kill_at)
        assert killed.returncode == -9, (kill_at, killed.stderr[-2000:])
        seen.append(_check(path, op, turn_id, derived))
    assert seen[0] == "before" and "before" in seen


def test_a_retried_delete_finishes_what_an_older_one_left(memory: Memory) -> None:
    [turn] = memory.add(hp.CASCADE_TURN, user_id="u", session_id="s")
    derived = _derived(memory, turn.id)
    # What an older memstrata could leave after a kill: the turn deleted, its
    # facts not.
    memory.store.revise(turn.id, Scope(), lambda _: {"status": "deleted"}, None, op="delete",
                        expected_version=None, actor=None)  # fmt: skip
    assert memory.search("Zorblix", user_id="u", kinds=["fact"], strategy="dense")
    tomb = memory.delete(turn.id, user_id="u")
    assert tomb.status == "deleted" and tomb.id == turn.id
    assert {row[0] for row in _rows(memory.store.path, derived, "status")} == {"deleted"}
    assert not memory.search("Zorblix", user_id="u", kinds=["fact"], strategy="dense")
    assert [e.op for e in memory.history(turn.id, user_id="u")] == ["add", "delete"]
    with pytest.raises(NotFound):
        memory.delete(turn.id, user_id="someone else")
    with pytest.raises(NotFound):
        memory.delete("no-such-id")


def test_purge_leaves_no_name_it_erased_in_the_file(db_path: Path) -> None:
    with Memory(db_path, embedder="hash") as m:
        [keep] = m.add({"name": "Otto", "content": "Otto grows tomatoes on the balcony."},
                       user_id="u")  # fmt: skip
        turns = m.add([
            {"name": "Quenby", "content": "My friend Vasquith Orbelline lives in Tromso."},
            {"name": "Quenby", "content": "I bought kayaks from Vasquith Orbelline."},
            {"name": "Quenby", "content": "I sailed to Svalbard with Vasquith Orbelline."},
        ], user_id="u", session_id="s")  # fmt: skip
        profiles = m.list(kinds=["profile"], user_id="u").records
        assert any("Vasquith" in p.text for p in profiles)
        for turn in turns:
            m.purge(turn.id, user_id="u")
        assert m.get(keep.id, user_id="u").text == keep.text
        exported = tmp_export(m, db_path)
    data = b"".join(p.read_bytes() for p in db_path.parent.glob(db_path.name + "*"))
    for name in ("Vasquith", "Orbelline", "Quenby", "Tromso", "kayaks"):
        for form in (name, name.lower()):
            assert form.encode() not in data, form
            assert form not in exported, form
    assert b"tomatoes" in data


def tmp_export(m: Memory, db_path: Path) -> str:
    out = db_path.with_name("export.jsonl")
    m.export(out)
    text = out.read_text()
    out.unlink()
    return text


def test_purge_takes_its_vector_out_of_the_episodes_and_topics_it_joined(db_path: Path) -> None:
    import numpy as np

    from memstrata.form.episodes import centroid

    with Memory(db_path, embedder="hash", episodes=True) as memory:
        turns = memory.add([f"we talked about the lake and the boats, part {n}" for n in range(6)],
                           user_id="u", session_id="s")  # fmt: skip
        [episode] = memory.list(kinds=["episode"], user_id="u").records
        unquoted = [t for t in turns if t.id not in episode.source_ids]
        assert unquoted
        gone = unquoted[0]
        members = memory.store.linked([episode.id], "part_of", reverse=True)[episode.id]
        memory.purge(gone.id, user_id="u")
        others = memory.store.vectors_of([m for m in members if m != gone.id])
        assert len(others) == len(members) - 1
        stored = memory.store.vectors_of([episode.id])[episode.id]
        assert np.allclose(stored, centroid(np.stack(list(others.values()))), atol=1e-6)
        assert memory.get(episode.id, user_id="u").text == episode.text
        topics = memory._former._load_topics("default\x1fu\x1f", len(stored))
        assert int(topics.counts.sum()) == len(turns) - 1
