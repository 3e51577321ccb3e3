"""The store files a benchmark makes: where they live, fresh paths, removal, and what
they weigh on disk.

This is the one place the benchmarks read a store's file behind the engine's back
(with `sqlite3`): to checkpoint the WAL before weighing it, to read per-table sizes,
and to read the stored vectors for an exact check that must not trust the engine's
own index.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np


@contextmanager
def store_dir(out: Path, *, keep: bool, prefix: str) -> Iterator[Path]:
    """Where a benchmark puts its stores: `out/db` when they are kept, else a temporary
    folder removed afterwards."""
    if keep:
        folder = out / "db"
        folder.mkdir(parents=True, exist_ok=True)
        yield folder
        return
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def fresh_store(folder: Path, name: str) -> Path:
    """A path `folder/<name>.db` with no store file (nor its companions) left from an
    earlier run; `name` is made safe for a file name."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:80] or "store"
    path = folder / f"{safe}.db"
    remove_store(path)
    return path


def remove_store(path: Path) -> None:
    """Delete a store file and every file beside it that starts with its name (WAL,
    shared memory, vector-graph cache)."""
    for item in path.parent.glob(f"{path.name}*"):
        item.unlink(missing_ok=True)


def storage_figures(path: Path, records: int) -> dict[str, Any]:
    """Bytes per record on disk: the SQLite file after a WAL checkpoint plus the
    files the store keeps beside it (such as a vector-graph cache); per-table bytes
    where SQLite has dbstat."""
    before = _file_sizes(path)
    checkpointed = _checkpoint(path)
    after = _file_sizes(path)
    total = sum(after.values())
    sqlite_bytes = after.get("db", 0) + after.get("-wal", 0)
    return {
        "file_bytes": total,
        "bytes_per_record": total / records if records else None,
        "sqlite_bytes_per_record": sqlite_bytes / records if records else None,
        "files": after,
        "checkpointed": checkpointed,
        "file_bytes_before_checkpoint": sum(before.values()),
        "tables": _table_bytes(path),
    }


def _file_sizes(path: Path) -> dict[str, int]:
    """The store file and its companions (WAL, caches), by suffix; the shared-memory
    index and temporary files are left out."""
    sizes = {}
    for item in sorted(path.parent.glob(f"{path.name}*")):
        suffix = item.name[len(path.name) :] or "db"
        if item.is_file() and suffix != "-shm" and not suffix.endswith(".tmp"):
            sizes[suffix] = item.stat().st_size
    return sizes


def _checkpoint(path: Path) -> bool:
    """Copy the WAL into the database file and truncate it, from a second connection
    (the engine's own checkpoint is private to the store; its connection is idle
    while a benchmark weighs the file)."""
    try:
        conn = sqlite3.connect(path)
        try:
            busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return False
    return busy == 0


def _table_bytes(path: Path) -> dict[str, int]:
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows = conn.execute(
                "SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC"
            ).fetchall()
        finally:
            conn.close()
    except sqlite3.Error:
        return {}
    return {str(name): int(size) for name, size in rows}


def read_vectors(path: Path, namespace: str = "default") -> tuple[list[str], np.ndarray]:
    """Ids and vectors of the active events (turns) of a namespace, read straight
    from the SQLite file (independently of the engine's index)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT id, embedding FROM records WHERE namespace = ? AND status = 'active' "
            "AND embedding IS NOT NULL AND kind = 'event' ORDER BY rowid",
            (namespace,),
        ).fetchall()
    finally:
        conn.close()
    if not rows:
        return [], np.zeros((0, 0), dtype=np.float32)
    matrix = np.frombuffer(b"".join(r[1] for r in rows), dtype="<f4").reshape(len(rows), -1)
    return [r[0] for r in rows], np.ascontiguousarray(matrix, dtype=np.float32)
