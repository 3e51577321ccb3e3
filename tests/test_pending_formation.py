"""Formation owed to stored turns survives the process: a killed process's backlog
is formed by the next process that opens the file, and never by two."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest

from memstrata import Memory
from memstrata.form import formation, pending
from memstrata.store.sqlite import SQLiteStore

TURNS = [
    {"name": "Caroline", "content": "I adopted a greyhound called Biscuit last week."},
    {"name": "Melanie", "content": "I started pottery classes in Leeds."},
]
DAY = "2023-05-08T13:56:00Z"

# A child that stores turns with background formation stuck, says so, and waits to die.
CHILD = textwrap.dedent(
    """
    import sys, time
    from memstrata import Memory
    from memstrata.form import formation

    formation.Former.run = lambda *args, **kwargs: time.sleep(3600)
    m = Memory(sys.argv[1], embedder="hash", background_formation=True)
    for session in ("s1", "s2"):
        m.add({turns!r}, user_id="u", session_id=session, occurred_at={day!r})
    print("stored", flush=True)
    time.sleep(3600)
    """
).format(turns=TURNS, day=DAY)


def _marks(db_path: Path) -> list[str]:
    with sqlite3.connect(db_path) as conn:
        rows = conn.execute("SELECT key FROM state WHERE key LIKE 'formation:pending:%'")
        return [r[0] for r in rows]


def _facts(m: Memory) -> list[str]:
    return sorted(f.text for f in m.list(user_id="u", kinds=["fact"], limit=100).records)


@pytest.fixture
def stuck_child(db_path: Path) -> Any:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(db_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "stored"
        yield child
    finally:
        child.kill()
        child.wait(30)


@pytest.mark.skipif(os.name != "posix", reason="needs POSIX process signals")
def test_a_killed_processs_unformed_turns_are_formed_by_the_next_one(
    db_path: Path, stuck_child: subprocess.Popen[str]
) -> None:
    assert len(_marks(db_path)) == 2  # one per add, written with its turns
    # While the child lives, its backlog is its own: another process leaves it alone.
    with Memory(db_path, embedder="hash") as m:
        assert _facts(m) == []
        assert m.stats(namespace="default")["pending_formation"] == 4
        assert m.stats(namespace="other")["pending_formation"] == 0
    stuck_child.send_signal(signal.SIGKILL)
    stuck_child.wait(30)
    # (dedup off: both sessions say the same, and each is to be formed once)
    with Memory(db_path, embedder="hash", background_formation=True, dedup=False,
                episodes=True) as m:  # fmt: skip
        assert m.flush(timeout=30)
        facts = _facts(m)
        episodes = m.list(user_id="u", kinds=["episode"]).records
        assert m.stats()["pending_formation"] == 0
    adopted = "Caroline adopted a greyhound called Biscuit last week (the week of 1 May 2023)."
    assert adopted in facts
    assert len(facts) == 4  # each turn formed once: 2 facts a session, 2 sessions
    assert sorted(e.scope.session_id for e in episodes) == ["s1", "s2"]
    assert _marks(db_path) == []


@pytest.mark.skipif(os.name != "posix", reason="needs POSIX process signals")
def test_two_processes_opening_at_once_form_a_dead_backlog_once(
    db_path: Path, stuck_child: subprocess.Popen[str]
) -> None:
    stuck_child.send_signal(signal.SIGKILL)
    stuck_child.wait(30)
    opened: list[Memory] = []
    # (dedup off, as above: a backlog formed twice would show as eight facts)
    threads = [
        threading.Thread(
            target=lambda: opened.append(Memory(db_path, embedder="hash", dedup=False))
        )
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for m in opened:
        m.close()
    with Memory(db_path, embedder="hash", dedup=False) as m:
        assert len(_facts(m)) == 4
    assert _marks(db_path) == []


def test_marks_last_until_formation_is_saved(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run, release = formation.Former.run, threading.Event()

    def held_run(self: Any, *args: Any) -> Any:
        release.wait(30)
        return run(self, *args)

    monkeypatch.setattr(formation.Former, "run", held_run)
    with Memory(db_path, embedder="hash", background_formation=True) as m:
        m.add(TURNS, user_id="u", session_id="s1", occurred_at=DAY)
        assert m.stats()["pending_formation"] == 2
        assert len(_marks(db_path)) == 1
        release.set()
        assert m.flush(timeout=30)
        assert m.stats()["pending_formation"] == 0
        assert len(_facts(m)) == 2
    assert _marks(db_path) == []


def test_inline_formation_leaves_no_marks_and_a_purged_turn_clears_its_own(
    db_path: Path,
) -> None:
    with Memory(db_path, embedder="hash") as m:
        m.add(TURNS, user_id="u", session_id="s1", occurred_at=DAY)
        assert _marks(db_path) == []
    # A dead process's mark for a turn purged since: dropped, nothing formed from it.
    with Memory(db_path, embedder="hash") as m:
        [turn] = m.add(TURNS[:1], user_id="u", session_id="s2", occurred_at=DAY)
        m.purge(turn.id, user_id="u")
        dead = pending.key("999999999.1.dead", turn.id)
        m.store.insert_many([], state={dead: pending.value("default", [turn.id])})
    with Memory(db_path, embedder="hash") as m:
        assert not any(f.scope.session_id == "s2" for f in m.list(kinds=["fact"]).records)
    assert _marks(db_path) == []


def test_an_unreadable_mark_is_dropped_with_a_warning(db_path: Path) -> None:
    with Memory(db_path, embedder="hash") as m:
        m.store.insert_many([], state={f"{pending.PREFIX}1.1.x:abc": b"not json"})
    with pytest.warns(UserWarning, match="unreadable formation mark"):
        Memory(db_path, embedder="hash").close()
    assert _marks(db_path) == []


def test_only_an_ended_process_counts_as_gone(db_path: Path) -> None:
    store = SQLiteStore(db_path)
    try:
        assert not store.owner_gone(store.new_owner())  # this process, another Memory
        assert store.new_owner() != store.new_owner()
        child = subprocess.Popen([sys.executable, "-c", "pass"])
        child.wait(30)
        owner = f"{child.pid}.-.x"
        assert store.owner_gone(owner) == (os.name == "posix")
        if Path("/proc/self/stat").exists():  # a restarted container reuses the pid
            assert store.owner_gone(f"{os.getpid()}.1.x")
    finally:
        store.close()


def test_a_turn_updated_while_its_add_is_owed_keeps_the_rest_of_the_add_owed(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An update marks the formation it owes beside the add's own mark, never over
    it: killed before either ran, the next process forms every turn of the add."""
    m = Memory(db_path, embedder="hash")
    monkeypatch.setattr(m._formations, "form", lambda job: None)  # as if killed first
    first, second = m.add(TURNS, user_id="u", session_id="s1", occurred_at=DAY)
    m.update(first.id, text="I adopted a whippet called Biscuit last week.", user_id="u")
    owed = [(key, pending.parse(key, raw).ids) for key, raw in
            m.store.state_items(pending.PREFIX)]  # fmt: skip
    assert len(owed) == 2 and sorted(ids for _, ids in owed) == sorted(
        [[first.id], [first.id, second.id]]
    )
    for key, _ in m.store.state_items(pending.PREFIX):  # as if their process had ended
        m.store.take_state(key, key.replace(key.split(":")[2], "999999999.1.dead"))
    m.close()
    with Memory(db_path, embedder="hash") as again:
        facts = _facts(again)
    assert any("whippet" in f for f in facts) and any("pottery" in f for f in facts)
    assert not any("greyhound" in f for f in facts)
