"""Is a store file whole? Checks of its structure, and an online backup.

`check_file` reads a file as SQLite and as memstrata: the page structure
(`quick_check` at open, the full `integrity_check` for `memstrata check`), the
tables a store has, and the full-text index against the records it indexes.
`backup_file` copies a live store, with SQLite's online backup, to a new file that
is checked before it is kept. `backend_error` turns a SQLite error into the
`BackendError` a caller sees, saying what to do.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
from pathlib import Path

from memstrata.errors import BackendError, ConfigError
from memstrata.store.fts import FTS_TOKENIZE
from memstrata.store.schema import FTS_TABLES, tables_at

_REPORTED = 20  # problems listed at most


def check_file(path: str | os.PathLike[str], *, full: bool = True) -> list[str]:
    """The problems found in the store at `path`, none if it is whole. `full` runs
    SQLite's `integrity_check` (every page and index; time grows with the file) and
    the full-text index's own check; otherwise `quick_check`, which reads every page
    but skips the index-content comparison."""
    path = Path(path)
    if not path.is_file():
        return [f"{path} does not exist or is not a file"]
    try:
        conn = sqlite3.connect(path, isolation_level=None)
    except sqlite3.Error as exc:
        return [f"cannot open {path}: {exc}"]
    try:
        return _problems(conn, full)
    except sqlite3.Error as exc:
        return [f"{path} cannot be read as SQLite: {exc}"]
    finally:
        conn.close()


def _problems(conn: sqlite3.Connection, full: bool) -> list[str]:
    problems = page_problems(conn, full=full)
    if problems:
        return problems  # the rest would read damaged pages
    problems = shape_problems(conn)
    if full and not problems:
        problems = fts_problems(conn)
    return problems


def page_problems(conn: sqlite3.Connection, *, full: bool) -> list[str]:
    """What SQLite's own check finds wrong with the file's pages (and, `full`, its
    indexes against their tables)."""
    rows = conn.execute(f"PRAGMA {'integrity_check' if full else 'quick_check'}({_REPORTED})")
    return [r[0] for r in rows.fetchall() if r[0] != "ok"]


def shape_problems(conn: sqlite3.Connection, version: int | None = None) -> list[str]:
    """What a store of schema `version` (default: the one it records) lacks: its
    tables and the keys of `meta`."""
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "meta" not in tables:
        return ["no meta table: not a memstrata store"]
    if version is None:
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if row is None or not str(row[0]).isdigit():
            return ["meta has no valid 'schema_version'"]
        version = int(row[0])
    missing = sorted(tables_at(version) - tables)
    if missing:
        return [f"tables missing: {', '.join(missing)}"]
    return [
        f"meta has no {key!r}"
        for key in ("schema_version", "seq", "store_id")
        if conn.execute("SELECT 1 FROM meta WHERE key = ?", (key,)).fetchone() is None
    ]


def fts_problems(conn: sqlite3.Connection) -> list[str]:
    """Each full-text index against the records it indexes: its own structure check,
    then the index built again from the records (in a temporary table, nothing in
    the file changes) must hold the same terms, each in as many records, as often."""
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    problems: list[str] = []
    for table, indexed in FTS_TABLES.items():
        if table in tables:  # derived_fts came with schema 5
            problems += _fts_table_problems(conn, table, indexed)
    return problems


def _fts_table_problems(conn: sqlite3.Connection, table: str, indexed: str) -> list[str]:
    name = "full-text index" if table == "records_fts" else "full-text index of facts"
    vocab = table.replace("_fts", "_vocab")
    try:
        conn.execute(f"INSERT INTO {table} ({table}) VALUES ('integrity-check')")
    except sqlite3.Error as exc:
        return [f"the {name} is damaged: {exc}"]
    conn.execute("CREATE VIRTUAL TABLE temp.fts_check USING fts5 "
                 f"(text, speaker, scope_terms, tokenize='{FTS_TOKENIZE}')")  # fmt: skip
    try:
        conn.execute(
            "INSERT INTO temp.fts_check (rowid, text, speaker, scope_terms) "
            f"SELECT rowid, text, speaker, scope_terms FROM records r WHERE {indexed.format(r='r')}"
        )
        conn.execute(
            "CREATE VIRTUAL TABLE temp.fts_check_vocab USING fts5vocab(temp, fts_check, row)"
        )
        terms = "SELECT term, doc, cnt FROM {}"
        differ = [
            conn.execute(f"SELECT count(*) FROM ({terms.format(a)} EXCEPT {terms.format(b)})")
            .fetchone()[0]
            for a, b in ((f"main.{vocab}", "temp.fts_check_vocab"),
                         ("temp.fts_check_vocab", f"main.{vocab}"))
        ]  # fmt: skip
    except sqlite3.Error as exc:
        return [f"the {name} cannot be read: {exc}"]
    finally:
        conn.execute("DROP TABLE IF EXISTS temp.fts_check_vocab")
        conn.execute("DROP TABLE IF EXISTS temp.fts_check")
    if any(differ):
        return [f"the {name} does not match the records: {differ[0]} terms it holds "
                f"and {differ[1]} terms of the records differ"]  # fmt: skip
    return []


def backup_file(conn: sqlite3.Connection, dest: str | os.PathLike[str]) -> None:
    """Copy the database `conn` is open on to `dest`, a new file, while others keep
    reading and writing it (SQLite's online backup: a consistent snapshot). The copy
    is checked before it is kept; on any failure nothing is left at `dest`."""
    dest = Path(dest)
    if dest.exists():
        raise ConfigError(f"{dest} exists already; choose a new path for the backup")
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        target = sqlite3.connect(dest)
        try:
            conn.backup(target)
            target.execute("PRAGMA journal_mode = WAL")  # as a store file is kept
        finally:
            target.close()
        problems = check_file(dest, full=False)
        if problems:
            raise BackendError(f"the backup at {dest} did not check out: {'; '.join(problems)}")
    except BaseException as exc:
        for leftover in (dest, Path(f"{dest}-wal"), Path(f"{dest}-shm")):
            with contextlib.suppress(OSError):
                leftover.unlink()
        if isinstance(exc, sqlite3.Error):
            raise backend_error(dest, exc, "the backup failed") from exc
        raise


def backend_error(path: Path, exc: sqlite3.Error, doing: str = "") -> BackendError:
    """The BackendError for a SQLite error on `path`: what happened and what to do."""
    text = str(exc)
    lowered = text.lower()
    where = f"{path}: {doing + ': ' if doing else ''}{text}"
    if "malformed" in lowered or "not a database" in lowered or "corrupt" in lowered:
        hint = (f"the file is damaged; run `memstrata check --db {path}` to see where, and "
                "restore it from a backup (`memstrata backup` makes one)")  # fmt: skip
    elif "disk is full" in lowered or "database or disk is full" in lowered:
        hint = "the disk is full; free some space and try again"
    elif "readonly" in lowered or "read-only" in lowered:
        hint = "the file or its folder is read-only; open a writable copy"
    elif "locked" in lowered or "busy" in lowered:
        hint = "another process holds the file's lock; try again"
    elif "disk i/o" in lowered and _writing(exc):
        hint = ("the disk refused a write: it may be full, over a quota or a file size limit, "
                f"or failing{_free_space(path)}; free some space or check the device, and try "
                "again")  # fmt: skip
    elif "disk i/o" in lowered:
        hint = "the disk failed to read; check the device and try again"
    elif "unable to open" in lowered:
        hint = ("the file or its folder cannot be opened: check that it exists, is "
                "readable and writable (not on read-only media), and try again")  # fmt: skip
    else:
        hint = ""
    return BackendError(f"{where}{'; ' + hint if hint else ''}")


def _writing(exc: sqlite3.Error) -> bool:
    """Whether SQLite failed writing (or syncing) rather than reading."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    return not name.startswith("SQLITE_IOERR_READ") and not name.startswith(
        "SQLITE_IOERR_SHORT_READ"
    )


def _free_space(path: Path) -> str:
    try:
        free = shutil.disk_usage(path.parent).free
    except OSError:
        return ""
    return f" ({free / 2**20:,.0f} MiB free there)"
