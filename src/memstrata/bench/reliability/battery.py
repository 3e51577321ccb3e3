"""What a caller sees: every verb run once against a store under a fault, each
outcome recorded as the caller would meet it (ok, a `MemstrataError`, or a raw
exception that should never have reached them)."""

from __future__ import annotations

import functools
import io
import shutil
import sqlite3
import tempfile
import warnings
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from memstrata.errors import BackendError, ConfigError, MemstrataError

Call = Callable[[Any, str], Any]

READS: tuple[tuple[str, Call], ...] = (
    ("stats", lambda m, rid: m.stats()),
    ("list", lambda m, rid: m.list(limit=20)),
    ("get", lambda m, rid: m.get(rid)),
    ("search bm25", lambda m, rid: m.search("garden weather", strategy="bm25")),
    ("search dense", lambda m, rid: m.search("garden weather", strategy="dense")),
    ("search layered", lambda m, rid: m.search("what about the garden")),
    ("context", lambda m, rid: m.context("what about the garden", budget_tokens=300)),
    ("history", lambda m, rid: m.history(rid)),
    ("export", lambda m, rid: m.export(io.StringIO())),
)
WRITES: tuple[tuple[str, Call], ...] = (
    ("add", lambda m, rid: m.add("a write after the fault", user_id="u1", session_id="s1")),
    ("update", lambda m, rid: m.update(rid, text="changed after the fault")),
    ("feedback", lambda m, rid: m.feedback(rid, True)),
    ("delete", lambda m, rid: m.delete(rid)),
)
WRITE_VERBS = frozenset(name for name, _ in WRITES)


def outcome(exc: BaseException | None) -> dict[str, Any]:
    """One call's outcome: `ok`, the error's class and message, and whether it was
    raw (not a MemstrataError)."""
    if exc is None:
        return {"ok": True, "error": None, "raw": False, "message": ""}
    return {
        "ok": False,
        "error": type(exc).__name__,
        "raw": not isinstance(exc, MemstrataError),
        "message": str(exc)[:300],
    }


def attempt(call: Callable[[], Any]) -> tuple[Any, dict[str, Any]]:
    """Run `call`; its value (None if it raised) and its outcome. Warnings are
    recorded, not shown."""
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        try:
            value = call()
        except Exception as exc:
            result = outcome(exc)
            result["warnings"] = [str(w.message)[:200] for w in seen]
            return None, result
    result = outcome(None)
    result["warnings"] = [str(w.message)[:200] for w in seen]
    return value, result


def exercise(memory: Any, record_id: str, *, writes: bool = True) -> dict[str, dict[str, Any]]:
    """Every read verb, then (with `writes`) every write verb, once each."""
    calls = READS + (WRITES if writes else ())
    return {name: attempt(functools.partial(call, memory, record_id))[1] for name, call in calls}


def open_and_exercise(path: Path, record_id: str, **memory_args: Any) -> dict[str, Any]:
    """Open `Memory(path)`, run the battery, close: every outcome on the way."""
    from memstrata.memory import Memory

    memory, opened = attempt(lambda: Memory(path, embedder="hash", **memory_args))
    result: dict[str, Any] = {"open": opened, "verbs": {}, "close": None}
    if memory is not None:
        result["verbs"] = exercise(memory, record_id)
        result["close"] = attempt(memory.close)[1]
    return result


def raw_errors(result: dict[str, Any]) -> list[str]:
    """The calls of `open_and_exercise`'s result that raised a raw exception."""
    calls = {"open": result["open"], "close": result["close"], **result["verbs"]}
    return [f"{name}: {o['error']}: {o['message'][:120]}" for name, o in calls.items()
            if o is not None and o["raw"]]  # fmt: skip


def writes_taken(result: dict[str, Any]) -> list[str]:
    return [name for name, o in result["verbs"].items() if name in WRITE_VERBS and o["ok"]]


def refused_cleanly(result: dict[str, Any]) -> bool:
    """Whether the store was refused the way a damaged one must be: at open with
    BackendError or ConfigError, or with BackendError on every verb."""
    opened = result["open"]
    if not opened["ok"]:
        return opened["error"] in (BackendError.__name__, ConfigError.__name__)
    return all(o["error"] == BackendError.__name__ for o in result["verbs"].values())


@contextmanager
def copied(path: Path) -> Iterator[Path]:
    """A copy of a store file and its -wal, for the block: reading a file with SQLite
    may checkpoint its WAL into it on close, which would change what is tested."""
    with tempfile.TemporaryDirectory(prefix="memstrata-copy-") as folder:
        copy = Path(folder) / path.name
        for suffix in ("", "-wal"):
            source = Path(f"{path}{suffix}")
            if source.exists():
                shutil.copyfile(source, f"{copy}{suffix}")
        yield copy


def sql_value(path: Path, sql: str) -> Any:
    """The first value `sql` reads from a copy of the store (None if it fails)."""
    with copied(path) as copy, closing(sqlite3.connect(copy)) as conn:
        try:
            row = conn.execute(sql).fetchone()
        except sqlite3.Error:
            return None
    return row[0] if row else None


def pragma_check(path: Path, pragma: str = "quick_check") -> str:
    """`PRAGMA quick_check` (or integrity_check) of a copy of the store, as one
    string ("ok" when healthy)."""
    with copied(path) as copy:
        try:
            with closing(sqlite3.connect(copy)) as conn:
                rows = conn.execute(f"PRAGMA {pragma}").fetchall()
        except sqlite3.Error as exc:
            return f"{type(exc).__name__}: {exc}"
    return "; ".join(str(r[0]) for r in rows)[:300]
