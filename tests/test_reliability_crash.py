"""The crash loop (memstrata.bench.reliability): SIGKILLs of a writer, library and
server, and the store held to the ledger after each one; and the verifier itself,
on defects planted by hand, so that a checker that sees nothing cannot pass."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from memstrata import Memory
from memstrata.bench.reliability import ledger, verify, workload
from memstrata.bench.reliability.crashloop import CrashConfig, run_crash

ZERO = {
    "lost_acked_writes": 0,
    "torn_adds": 0,
    "half_applied_cascades": 0,
    "turns_left_unformed": 0,
    "cascades_left_after_retry": 0,
    "integrity_failures": 0,
    "pending_after_flush": 0,
    "raw_exceptions": 0,
    "workload_errors": 0,
}


def _figures(result: dict[str, Any]) -> dict[str, int]:
    return {name: result[name] for name in ZERO}


def _examples(result: dict[str, Any]) -> dict[str, Any]:
    return {mode: m["examples"] for mode, m in result["by_mode"].items() if m["examples"]}


def test_library_kills_lose_nothing_and_leave_no_half_cascade(tmp_path: Path) -> None:
    # Most rounds stop the child at the start of a chosen write transaction of a
    # delete, purge, update or add, so the kill lands between a turn's change and
    # the clean-up of what was derived from it.
    config = CrashConfig(kills=4, seed=3, modes=("library", "library-bg"), break_share=0.75,
                         round_seconds=1.0, work=tmp_path)  # fmt: skip
    result = run_crash(config)
    assert result["kills"] == 4
    acked = result["acked"]
    assert acked["add"] and acked["delete"] + acked["purge"] + acked["update"], acked
    assert _figures(result) == ZERO, _examples(result)


def test_server_kills_lose_nothing_and_leave_no_half_cascade(tmp_path: Path) -> None:
    pytest.importorskip("fastapi")
    config = CrashConfig(kills=2, seed=4, modes=("server",), round_seconds=1.5, work=tmp_path)
    result = run_crash(config)
    assert result["kills"] == 2 and result["acked"]["add"], result["acked"]
    assert _figures(result) == ZERO, _examples(result)


# ------------------------------------------------------- the verifier itself


@pytest.fixture
def worked(tmp_path: Path) -> tuple[Path, Path, ledger.Replay]:
    """A store and its ledger after 40 operations, every one acked."""
    db, book_path = tmp_path / "store.db", tmp_path / "ledger.jsonl"
    book = ledger.Ledger(book_path)
    with Memory(db, embedder="hash") as memory:
        store = memory.store

        def carriers(record_id: str) -> int:
            return len(store.linked([record_id], "evidence", reverse=True))

        workload.run(memory, book, random.Random(11), ops=40, carriers=carriers)
    book.close()
    return db, book_path, ledger.replay(ledger.read(book_path))


def _problems(db: Path, book: Path) -> dict[str, dict[str, str]]:
    return verify.check(db, book)["problems"]  # type: ignore[no-any-return]


def test_verifier_passes_a_store_that_kept_its_word(worked: Any) -> None:
    db, book, _ = worked
    assert all(not found for found in _problems(db, book).values())


def test_verifier_counts_lost_and_changed_writes(worked: Any) -> None:
    db, book, state = worked
    live = [t for t in state.turns.values() if t.status_ok == {"active"}]
    gone, changed = live[0].id, live[1].id
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM records WHERE id = ?", (gone,))
        conn.execute("UPDATE records SET text = 'not what was acked' WHERE id = ?", (changed,))
    lost = _problems(db, book)["lost"]
    assert f"missing:{gone}" in lost and f"text:{changed}" in lost


def test_verifier_counts_a_delete_whose_clean_up_never_ran(worked: Any) -> None:
    db, book, state = worked
    # A turn tombstoned by hand, as a kill after the turn's own transaction leaves
    # it: its facts, episode and profiles still hold its words.
    target = next(
        t for t in state.turns.values()
        if t.status_ok == {"active"} and _carriers(db, t.id)
    )  # fmt: skip
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE records SET status = 'deleted' WHERE id = ?", (target.id,))
    ledger.Ledger(book).write({"n": 10_000, "s": "sent", "op": "delete", "id": target.id})
    problems = _problems(db, book)
    assert any(key.startswith(f"{target.id}:") for key in problems["cascades"])
    assert not problems["lost"]  # an unacked delete may be applied


def test_verifier_counts_a_torn_add(worked: Any) -> None:
    db, book, state = worked
    turn = next(t for t in state.turns.values() if t.status_ok == {"active"} and t.last_op == "add")
    stored = {"content": turn.texts[-1], "metadata": turn.metadata}
    never = {"content": "a turn never stored", "metadata": {"tok": "zqnotstoredz"}}
    entry = {"n": 10_001, "s": "sent", "op": "add", "messages": [stored, never]}
    ledger.Ledger(book).write(entry)
    assert _problems(db, book)["torn_adds"]


def _carriers(db: Path, record_id: str | None) -> int:
    with sqlite3.connect(db) as conn:
        row = conn.execute(
            "SELECT count(*) FROM links WHERE dst = ? AND type = 'evidence'", (record_id,)
        ).fetchone()
    return int(row[0])
