"""A damaged store file is refused or reported, never used as if whole: a small file
that fails SQLite's check is refused at open, damage found later is a BackendError
that says what to do, and `memstrata check` and `memstrata backup` let users see
and save what they have."""

from __future__ import annotations

import json
import random
import sqlite3
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from memstrata import BackendError, ConfigError, Memory, MemstrataError
from memstrata.store.integrity import check_file

PAGE = 4096


@pytest.fixture(scope="module")
def whole(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The bytes of a healthy store (WAL checkpointed into the file on close)."""
    path = tmp_path_factory.mktemp("whole") / "whole.db"
    with Memory(path, embedder="hash") as m:
        for i in range(12):
            m.add([f"turn {i}-{j} about lakes and mountains, number {j}" for j in range(10)],
                  user_id="u", session_id=f"s{i}")  # fmt: skip
    return path.read_bytes()


def _damaged(whole: bytes, seed: int) -> bytes:
    rng = random.Random(seed)
    data = bytearray(whole)
    kind = seed % 4
    if kind == 0:  # bytes flipped in one page
        page = rng.randrange(len(data) // PAGE)
        for _ in range(24):
            data[page * PAGE + rng.randrange(PAGE)] ^= rng.randrange(1, 256)
    elif kind == 1:  # one page zeroed
        page = rng.randrange(1, len(data) // PAGE)
        data[page * PAGE : (page + 1) * PAGE] = bytes(PAGE)
    elif kind == 2:  # cut short
        del data[rng.randrange(PAGE, len(data) - PAGE) // PAGE * PAGE :]
    else:  # the schema page overwritten after its header
        data[100:PAGE] = rng.randbytes(PAGE - 100)
    return bytes(data)


def _verbs(m: Memory, out: Path) -> list[str]:
    """Every verb once; what each answered."""
    seen = []
    calls = [
        lambda: m.add("a new turn about rivers", user_id="u"),
        lambda: m.search("lakes mountains", user_id="u"),
        lambda: m.search("lakes", user_id="u", strategy="bm25"),
        lambda: m.list(user_id="u", limit=500),
        lambda: m.context("lakes", user_id="u"),
        lambda: m.stats(),
        lambda: m.export(out),
    ]
    for call in calls:
        try:
            call()
            seen.append("ok")
        except MemstrataError as exc:
            seen.append(type(exc).__name__)
    return seen


@pytest.mark.parametrize("seed", range(24))
def test_a_damaged_store_is_refused_or_answers_with_backend_errors(
    tmp_path: Path, whole: bytes, seed: int
) -> None:
    path = tmp_path / "damaged.db"
    path.write_bytes(_damaged(whole, seed))
    problems = check_file(path, full=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            m = Memory(path, embedder="hash")
        except (BackendError, ConfigError) as exc:
            assert str(path) in str(exc)
            return
        assert not problems, f"opened a file with problems: {problems}"  # small: fully checked
        try:
            answers = _verbs(m, tmp_path / "out.jsonl")  # raw exceptions fail the test
        finally:
            m.close()
    assert set(answers) <= {"ok", "BackendError"}


def test_damage_found_after_open_says_what_to_do(tmp_path: Path, whole: bytes) -> None:
    path = tmp_path / "store.db"
    path.write_bytes(whole)
    m = Memory(path, embedder="hash")
    conn = sqlite3.connect(path)
    [(page,)] = conn.execute(
        "SELECT pageno FROM dbstat WHERE name = 'records_fts_data' ORDER BY pageno DESC LIMIT 1"
    ).fetchall()
    conn.close()
    with open(path, "r+b") as handle:  # the full-text index garbled under the open store
        handle.seek((page - 1) * PAGE + 200)
        handle.write(bytes(range(256)) * 8)
    try:
        with pytest.raises(BackendError, match=r"damaged.*memstrata check --db .*backup"):
            m.search("lakes", user_id="u", strategy="bm25")
    finally:
        m.close()
    assert check_file(path)  # and `memstrata check` reports it


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "memstrata.cli", *args], capture_output=True,
                          text=True, timeout=120)  # fmt: skip


def test_check_and_backup_on_the_command_line(tmp_path: Path, whole: bytes) -> None:
    path = tmp_path / "store.db"
    path.write_bytes(whole)
    ok = _cli("--db", str(path), "check")
    assert ok.returncode == 0 and json.loads(ok.stdout) == {
        "path": str(path), "ok": True, "problems": [],
    }  # fmt: skip
    copy = tmp_path / "copies" / "backup.db"
    with Memory(path, embedder="hash") as m:  # in use while it is copied
        m.add("written before the backup", user_id="u")
        done = _cli("--db", str(path), "backup", str(copy))
        assert done.returncode == 0, done.stderr
        m.add("written after the backup", user_id="u")
    with Memory(copy, embedder="hash") as b, Memory(path, embedder="hash") as m:
        assert b.stats()["records"] == m.stats()["records"] - 1
        assert b.search("written before the backup", user_id="u", k=1)[0].record.text == (
            "written before the backup"
        )
    again = _cli("--db", str(path), "backup", str(copy))
    assert again.returncode != 0 and "exists already" in again.stderr
    missing = _cli("--db", str(tmp_path / "nope.db"), "backup", str(tmp_path / "x.db"))
    assert missing.returncode != 0 and not (tmp_path / "nope.db").exists()

    data = bytearray(whole)
    data[3 * PAGE : 4 * PAGE] = bytes(PAGE)
    path.write_bytes(bytes(data))
    bad = _cli("--db", str(path), "check")
    report = json.loads(bad.stdout)
    assert bad.returncode == 1 and not report["ok"] and report["problems"]
