"""Damaged store files: what a caller sees when the file under them is corrupt.

A healthy store (a few hundred turns with what formation made of them) is copied
and damaged in many ways: bytes flipped in random pages, the header zeroed, the
page size in the header wrong, the schema page damaged, a page of the records
table, of the full-text index or of an index zeroed, the file truncated (to half,
mid-page), garbage appended. A second store, written by a process that did not
close it, keeps its recent writes in the -wal file; that file is truncated (to
nothing, to its header, mid-frame, to half), has bytes flipped, or a garbage header.

For each, `PRAGMA quick_check` says whether the file is damaged; then `Memory(path)`
is opened and every verb run (battery.py), and `memstrata check --db PATH` is run.
The contract (issue 10): no raw exception reaches the caller; a damaged file
(failing quick_check) under 64 MiB is refused at open (BackendError or
ConfigError) or fails each verb with BackendError, and never takes a write;
`memstrata check` exits 1 on a damaged store and 0 on a healthy one, and
`memstrata backup --db PATH DEST` writes a copy that opens with the same records.
"""

from __future__ import annotations

import contextlib
import io
import json
import random
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from memstrata.bench.reliability import battery

PAGE = 4096
SMALL = 64 * 1024 * 1024  # under this a damaged file must never take a write
_TURN = "note {i} about the weather and the {topic} garden; Marta said the {topic} bed needs water"

Damage = Callable[[bytes, random.Random, dict[str, list[int]]], bytes]


def build_store(path: Path, turns: int = 300) -> str:
    """A healthy, closed store; the id of one of its turns."""
    from memstrata.memory import Memory

    with Memory(path, embedder="hash") as memory:
        first = None
        for start in range(0, turns, 50):
            texts = [_TURN.format(i=i, topic=("rose", "herb", "tulip")[i % 3])
                     for i in range(start, min(turns, start + 50))]  # fmt: skip
            added = memory.add(texts, user_id="u1", session_id=f"s{start // 50}")
            first = first or added[0].id
    assert first is not None
    return first


def pages_of(path: Path) -> dict[str, list[int]]:
    """The pages each table and index uses (dbstat, where SQLite has it; else the
    root pages from the schema)."""
    out: dict[str, list[int]] = {}
    with contextlib.closing(sqlite3.connect(path)) as conn:
        try:
            for name, page in conn.execute("SELECT name, pageno FROM dbstat"):
                out.setdefault(name, []).append(int(page))
        except sqlite3.Error:
            for name, root in conn.execute(
                "SELECT name, rootpage FROM sqlite_master WHERE rootpage > 0"
            ):
                out[name] = [int(root)]
    return out


def _flip_pages(count: int) -> Damage:
    def damage(data: bytes, rng: random.Random, pages: dict[str, list[int]]) -> bytes:
        out = bytearray(data)
        for page in rng.sample(range(2, len(data) // PAGE + 1), min(count, len(data) // PAGE - 1)):
            base = (page - 1) * PAGE
            for _ in range(16):
                out[base + rng.randrange(PAGE)] ^= 1 << rng.randrange(8)
        return bytes(out)

    return damage


def _zero_page_of(table: str) -> Damage:
    def damage(data: bytes, rng: random.Random, pages: dict[str, list[int]]) -> bytes:
        candidates = [p for p in pages.get(table, []) if p > 1] or [2]
        page = rng.choice(candidates)
        start = (page - 1) * PAGE
        return data[:start] + bytes(PAGE) + data[start + PAGE :]

    return damage


def _schema_page(data: bytes, rng: random.Random, pages: dict[str, list[int]]) -> bytes:
    noise = bytes(rng.randrange(256) for _ in range(PAGE - 100))
    return data[:100] + noise + data[PAGE:]


CORRUPTIONS: dict[str, Damage] = {
    "bytes flipped in 3 random pages (a)": _flip_pages(3),
    "bytes flipped in 3 random pages (b)": _flip_pages(3),
    "bytes flipped in 12 random pages": _flip_pages(12),
    "header zeroed": lambda d, r, p: bytes(100) + d[100:],
    "page size in header wrong": lambda d, r, p: d[:16] + b"\x00\x03" + d[18:],
    "schema page damaged": _schema_page,
    "records table page zeroed": _zero_page_of("records"),
    "full-text index page zeroed": _zero_page_of("records_fts_data"),
    "records index page zeroed": _zero_page_of("records_scope"),
    "truncated to half": lambda d, r, p: d[: (len(d) // PAGE // 2) * PAGE],
    "truncated mid-page": lambda d, r, p: d[: len(d) - 1500],
    "garbage appended": lambda d, r, p: d + bytes(r.randrange(256) for _ in range(64 * 1024)),
}


def build_crashed_store(path: Path, adds: int = 40) -> tuple[str, int]:
    """A store whose recent writes are only in its -wal file, as a killed process
    leaves it: made and closed with one turn, then written by a Memory that is
    still open when the files are copied. Returns the first turn's id and how many
    turns were written in all."""
    from memstrata.memory import Memory

    live = path.with_name("live-" + path.name)
    settings = {"facts": False, "episodes": False}
    with Memory(live, embedder="hash", settings=settings) as memory:
        first = memory.add([_TURN.format(i=0, topic="rose")], user_id="u1")[0].id
    memory = Memory(live, embedder="hash", settings=settings)
    try:
        for i in range(1, adds):
            memory.add([_TURN.format(i=i, topic="herb")], user_id="u1", session_id="s1")
        for suffix in ("", "-wal"):
            shutil.copyfile(f"{live}{suffix}", f"{path}{suffix}")
    finally:
        memory.close()
    for old in live.parent.glob(live.name + "*"):
        old.unlink()
    return first, adds


WAL_DAMAGE: dict[str, Callable[[bytes, random.Random], bytes]] = {
    "-wal truncated to nothing": lambda d, r: b"",
    "-wal truncated to its header": lambda d, r: d[:32],
    "-wal truncated mid-frame": lambda d, r: d[: len(d) - 1000],
    "-wal truncated to half": lambda d, r: d[: len(d) // 2],
    "-wal bytes flipped mid-file": lambda d, r: (
        d[: len(d) // 2]
        + bytes(b ^ 0xFF for b in d[len(d) // 2 : len(d) // 2 + 64])
        + d[len(d) // 2 + 64 :]
    ),
    "-wal header garbage": lambda d, r: bytes(r.randrange(256) for _ in range(32)) + d[32:],
}


def check_command(path: Path) -> dict[str, Any]:
    """`memstrata check --db PATH`: its exit code and output."""
    return _cli(["check", "--db", str(path)])


def backup_command(path: Path, dest: Path) -> dict[str, Any]:
    return _cli(["backup", "--db", str(path), str(dest)])


def _cli(args: list[str]) -> dict[str, Any]:
    from typer.testing import CliRunner

    from memstrata.cli import app

    done = CliRunner().invoke(app, args)
    text = (done.output or "") + (str(done.exception) if done.exception else "")
    return {"exit": done.exit_code, "output": text.strip()[-400:]}


def run_case(name: str, path: Path, record_id: str, *, damaged_by: str) -> dict[str, Any]:
    quick = battery.pragma_check(path)
    size = path.stat().st_size if path.exists() else 0
    result = battery.open_and_exercise(path, record_id)
    damaged = quick != "ok"
    check = check_command(path)
    taken = battery.writes_taken(result)
    return {
        "case": name,
        "damage": damaged_by,
        "quick_check": quick,
        "damaged": damaged,
        "bytes": size,
        "opened": result["open"]["ok"],
        "open_error": result["open"]["error"],
        "open_message": result["open"]["message"],
        "verbs": {k: (v["error"] or "ok") for k, v in result["verbs"].items()},
        "raw": battery.raw_errors(result),
        "writes_taken_while_damaged": taken if damaged and size < SMALL else [],
        "refused_cleanly": battery.refused_cleanly(result),
        "integrity_after": battery.pragma_check(path, "integrity_check"),
        "check_exit": check["exit"],
        "check_output": check["output"],
    }


def run_corrupt(work: Path, seed: int = 0, log: Any = lambda m: None) -> dict[str, Any]:
    rng = random.Random(f"memstrata-corrupt-{seed}")
    work.mkdir(parents=True, exist_ok=True)
    base = work / "healthy.db"
    for old in work.glob("*.db*"):
        old.unlink()
    record_id = build_store(base)
    pages = pages_of(base)
    data = base.read_bytes()
    cases = []
    for number, (name, damage) in enumerate(CORRUPTIONS.items()):
        target = work / f"damaged-{number:02d}.db"
        target.write_bytes(damage(data, rng, pages))
        cases.append(run_case(name, target, record_id, damaged_by="file"))
        log(f"corrupt: {name}: quick_check {cases[-1]['quick_check'][:40]!r}, "
            f"open {cases[-1]['open_error'] or 'ok'}, raw {len(cases[-1]['raw'])}")  # fmt: skip
    crashed = work / "crashed.db"
    wal_id, written = build_crashed_store(crashed)
    wal = Path(f"{crashed}-wal").read_bytes()
    for number, (name, cut) in enumerate(WAL_DAMAGE.items()):
        target = work / f"wal-{number:02d}.db"
        shutil.copyfile(crashed, target)
        Path(f"{target}-wal").write_bytes(cut(wal, rng))
        # The turns a next process finds: a cut -wal loses the commits after the cut.
        found = battery.sql_value(target, "SELECT count(*) FROM records WHERE kind = 'event'")
        case = run_case(name, target, wal_id, damaged_by="wal")
        case["turns_written"], case["turns_found"] = written, found
        cases.append(case)
        log(f"corrupt: {name}: open {case['open_error'] or 'ok'}, turns "
            f"{case['turns_found']}/{written}, raw {len(case['raw'])}")  # fmt: skip
    healthy = check_command(base)
    backup = _backup(base, work / "backup" / "copy.db")
    return _summary(cases, healthy, backup)


def _backup(base: Path, dest: Path) -> dict[str, Any]:
    """`memstrata backup`, then: does the copy open as a healthy store with the same
    records?"""
    from memstrata.memory import Memory

    dest.parent.mkdir(parents=True, exist_ok=True)
    done = backup_command(base, dest)
    result: dict[str, Any] = {**done, "copy_ok": False}
    if done["exit"] != 0 or not dest.exists():
        return result
    result["quick_check"] = battery.pragma_check(dest)

    def records(path: Path) -> list[dict[str, Any]]:
        with Memory(path, embedder="hash") as memory:
            buffer = io.StringIO()
            memory.export(buffer, namespace="default")
        items = [json.loads(line) for line in buffer.getvalue().splitlines()]
        return [i["record"] for i in items if i["type"] == "record"]

    copy, _ = battery.attempt(lambda: records(dest))
    result["same_records"] = copy is not None and copy == records(base)
    result["copy_ok"] = result["quick_check"] == "ok" and result["same_records"]
    return result


def _summary(cases: list[dict[str, Any]], healthy: dict[str, Any], backup: dict[str, Any]
             ) -> dict[str, Any]:  # fmt: skip
    damaged = [c for c in cases if c["damaged"]]
    return {
        "cases": len(cases),
        "damaged": len(damaged),
        "raw_exceptions": sum(len(c["raw"]) for c in cases),
        "cases_with_raw_exceptions": sum(1 for c in cases if c["raw"]),
        "damaged_opened": sum(1 for c in damaged if c["opened"]),
        "damaged_took_writes": sum(1 for c in damaged if c["writes_taken_while_damaged"]),
        "damaged_not_refused": sum(1 for c in damaged if not c["refused_cleanly"]),
        "integrity_failed_after": sum(1 for c in cases if c["integrity_after"] != "ok"),
        "check_healthy_exit": healthy["exit"],
        "check_damaged_wrong_exit": sum(1 for c in damaged if c["check_exit"] != 1),
        "check_healthy_output": healthy["output"],
        "backup": backup,
        "by_case": cases,
    }
