"""The default backend: one SQLite file in WAL mode.

Records, their FTS5 index, vectors (float32 BLOBs), links and history share one file
and one transaction. Vectors are searched in process by an exact index
(`VectorIndex`) that is loaded from the file on first use and kept in step with it
through a change counter: every write stamps the rows it touches with the next
`seq`, so catching up with another process's writes reads only those rows.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import sqlite3
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from readerwriterlock import rwlock

from memstrata._version import __version__
from memstrata.errors import BackendError, ConfigError, Conflict, NotFound
from memstrata.ids import new_id, now, parse_stored_time
from memstrata.store import fts, sqlite_owners
from memstrata.store.base import EmbedderInfo, Filters, Link
from memstrata.store.derived_state import DerivedState
from memstrata.store.guard import backend_errors
from memstrata.store.integrity import backend_error, backup_file, page_problems, shape_problems
from memstrata.store.rows import (
    COLUMNS,
    INSERT,
    SELECT,
    blob,
    clone,
    epoch,
    filter_sql,
    in_scope,
    loads,
    record_values,
    redact,
    row_to_record,
    scope_sql,
    snapshot,
)
from memstrata.store.schema import MIGRATIONS, SCHEMA_VERSION, index_only
from memstrata.store.sqlite_ann import AnnIndex
from memstrata.store.sqlite_keys import KeyTable
from memstrata.store.sqlite_vectors import VectorIndex, VectorRow
from memstrata.types import HistoryEntry, Page, Record, Scope

_BUSY_TIMEOUT_S = 60.0
_FTS_TERMS = 8
_FTS_OVERSAMPLE = 3
_FTS_MIN_DEPTH = 200
_VOCAB = {"records_fts": "records_vocab", "derived_fts": "derived_vocab"}
_ANN_SAVE_EVERY = 10_000  # graph changes between saves of its cache file
_CHECKPOINT_RETRY_S = 0.2  # between tries to empty the WAL after a purge
_CLOSE_CHECKPOINT_WAIT_MS = 2_000  # close waits this long for readers of old snapshots
_CACHE_RECORDS = 20_000  # decoded records kept for get_many
_SPEAKERS_TTL_S = 5.0  # speakers read again after this long (another process may add)
_TIME_COLUMNS = {
    "records": ("occurred_at", "recorded_at", "valid_from", "valid_to", "updated_at",
                "last_hit_at"),
    "history": ("at",),
}  # fmt: skip
# Files up to these sizes are checked at every open: every page and index, or pages.
FULL_CHECK_MAX_BYTES = 8 * 2**20
QUICK_CHECK_MAX_BYTES = 32 * 2**20
GRAPH_IN_BACKGROUND = True  # tests switch it off to make builds deterministic


def _file_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())


@dataclasses.dataclass
class _Txn:
    """What a write transaction did that needs work at its end."""

    purged: bool = False  # erased content: rewrite the FTS index, checkpoint the WAL


def _occurred(stored: Any) -> float:
    """A row's time for the index's time filters. NaN if it cannot be read: the row
    then falls outside every time filter but is still found by the others, so one
    unreadable row never stops the index for the rows (and tenants) beside it."""
    try:
        return parse_stored_time(stored).timestamp()
    except (ValueError, TypeError, AttributeError, OverflowError):
        return math.nan


_backend_errors = backend_errors(sqlite3.Error, lambda store, exc: backend_error(store.path, exc))


@_backend_errors
class SQLiteStore(DerivedState, KeyTable):
    """`SQLiteStore(path)`: open (or create) a memstrata file."""

    def __init__(self, path: str | os.PathLike[str], *, migrate: bool = False) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise ConfigError(f"{self.path} is a directory; give the path of a .db file")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BackendError(f"cannot make the folder of {self.path}: {exc}") from exc
        try:
            self._conn = sqlite3.connect(
                self.path, timeout=_BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise BackendError(f"cannot open {self.path}: {exc}") from exc
        self._lock = threading.RLock()  # the writer's connection and its transactions
        # Reads run on a connection of their own thread's (WAL lets readers run beside
        # the writer and each other), so a search never queues behind a write.
        self._local = threading.local()
        self._readers: dict[threading.Thread, sqlite3.Connection] = {}
        # The in-process vector index: searches share it, syncs change it (after _lock).
        self._index_lock = rwlock.RWLockWriteD()
        self._cache_lock = threading.Lock()  # the decoded-record cache
        self._index: VectorIndex | None = None
        self._index_seq = 0
        self._cache: OrderedDict[str, Record] = OrderedDict()
        self._cache_seq = 0
        self._speakers: tuple[Scope | None, float, list[str]] = (None, 0.0, [])
        self._embedder: EmbedderInfo | None = None
        self._wal_dirty = False  # a purge could not empty the -wal file yet
        self._graph_thread: threading.Thread | None = None
        self._index_failures = 0  # syncs after a commit that failed (see _write)
        self._checkpointer: threading.Thread | None = None  # retries after a purge
        self._closed = False
        try:
            self._setup(migrate)
        except BaseException:
            self._conn.close()
            raise

    # ----------------------------------------------------------------- setup

    def _setup(self, migrate: bool) -> None:
        try:
            with open(self.path, "rb") as handle:
                header = handle.read(16)
        except OSError:
            header = b""
        if header and header != b"SQLite format 3\x00":
            raise ConfigError(f"{self.path} is not a SQLite file; choose another path")
        try:
            self._open_file(migrate, exists=bool(header))
        except sqlite3.Error as exc:
            raise backend_error(self.path, exc, "cannot open the store") from exc

    def _open_file(self, migrate: bool, *, exists: bool) -> None:
        size = _file_bytes(self.path) if exists else 0
        if exists and size <= QUICK_CHECK_MAX_BYTES:
            # A damaged file is refused before it takes a write. Cheap at these sizes
            # (the full check ~4 ms a MiB, the quick one, pages only, ~2 ms); larger
            # files are checked by `memstrata check`.
            problems = page_problems(self._conn, full=size <= FULL_CHECK_MAX_BYTES)
            if problems:
                raise BackendError(
                    f"{self.path} is damaged ({'; '.join(problems[:3])}); run `memstrata "
                    f"check --db {self.path}` for the full report, and restore it from a "
                    "backup (`memstrata backup` makes one)"
                )
        self._retry_locked(lambda: self._conn.execute("PRAGMA journal_mode = WAL"))
        self._conn.execute("PRAGMA synchronous = FULL")
        with self._write() as conn:
            version = self._schema_version(conn)
            if version > SCHEMA_VERSION:
                raise ConfigError(
                    f"{self.path} has schema version {version}, newer than this memstrata "
                    f"({__version__}, schema {SCHEMA_VERSION}); upgrade memstrata"
                )
            if 0 < version < SCHEMA_VERSION and not migrate and not index_only(version):
                raise ConfigError(
                    f"{self.path} has schema version {version}; this memstrata needs "
                    f"{SCHEMA_VERSION}. Back the file up, then run `memstrata migrate --db "
                    f"{self.path}` (or open it with migrate=True)"
                )
            for step in range(version, SCHEMA_VERSION):
                for statement in MIGRATIONS[step]:
                    conn.execute(statement)
            if version == 0:
                conn.executemany(
                    "INSERT INTO meta (key, value) VALUES (?, ?)",
                    [
                        ("created_by", f"memstrata {__version__}"),
                        ("created_at", now()),
                        ("seq", "0"),
                        ("store_id", new_id()),
                    ],
                )
            if version != SCHEMA_VERSION:
                conn.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
                    (str(SCHEMA_VERSION),),
                )
            if self._meta("times_padded", conn) is None:
                self._pad_years(conn)
        problems = shape_problems(self._conn, SCHEMA_VERSION)
        if problems:
            raise BackendError(
                f"{self.path} is not a whole memstrata store ({'; '.join(problems)}); "
                "restore it from a backup"
            )
        raw = self._meta("embedder")
        try:
            self._embedder = EmbedderInfo(**json.loads(raw)) if raw else None
        except (ValueError, TypeError) as exc:
            raise BackendError(f"{self.path}: the embedder it records is unreadable ({exc}); "
                               "restore it from a backup") from None  # fmt: skip
        self._store_id = self._meta("store_id")

    def _pad_years(self, conn: sqlite3.Connection) -> None:
        """Files written before `format_time` padded years below 1000 may hold times
        such as `999-12-31T…`, which sort wrong: pad them, once per file."""
        seq = self._next_seq(conn)
        for table, columns in _TIME_COLUMNS.items():
            for column in columns:
                unpadded = " OR ".join(f"{column} GLOB '{'[0-9]' * n}-*'" for n in (1, 2, 3))
                extra = ", seq = ?" if table == "records" else ""
                conn.execute(
                    f"UPDATE {table} SET {column} = substr('000' || {column}, -27){extra} "
                    f"WHERE {unpadded}",
                    (seq,) if extra else (),
                )
        conn.execute("INSERT INTO meta (key, value) VALUES ('times_padded', '1')")

    def _schema_version(self, conn: sqlite3.Connection) -> int:
        has_meta = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
        ).fetchone()
        if not has_meta:
            other = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
            if other:
                raise ConfigError(f"{self.path} is a SQLite file, but not a memstrata store")
            return 0
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if row is None or not row[0].isdigit() or int(row[0]) < 1:
            raise ConfigError(
                f"{self.path} has no valid schema version; it is not a memstrata store, or "
                "its creation was interrupted"
            )
        return int(row[0])

    def _retry_locked(self, action: Any) -> Any:
        deadline = time.monotonic() + _BUSY_TIMEOUT_S
        while True:
            try:
                return action()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise backend_error(self.path, exc) from exc
                time.sleep(0.05)

    def _meta(self, key: str, conn: sqlite3.Connection | None = None) -> str | None:
        row = (
            (conn or self._conn).execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        )
        return row[0] if row else None

    def _reader(self) -> sqlite3.Connection:
        """The connection for a read on this thread: the writer's inside this thread's
        write transaction (to see what it wrote so far), else the thread's own
        read-only connection, opened on first use. Threads come and go (a server's
        pool retires idle ones): the connections of threads that ended are closed
        when a new one opens."""
        if self._writing:
            return self._conn
        conn: sqlite3.Connection | None = getattr(self._local, "reader", None)
        if conn is None:
            try:
                conn = sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT_S, isolation_level=None,
                                       check_same_thread=False)  # fmt: skip
                conn.execute("PRAGMA query_only = ON")
            except sqlite3.Error as exc:
                raise BackendError(f"cannot open {self.path} for reading: {exc}") from exc
            with self._lock:
                if self._closed:
                    conn.close()
                    raise BackendError(f"{self.path} is closed")
                for thread in [t for t in self._readers if not t.is_alive()]:
                    self._readers.pop(thread).close()
                self._readers[threading.current_thread()] = conn
            self._local.reader = conn
        return conn

    @contextlib.contextmanager
    def _snapshot(self) -> Iterator[sqlite3.Connection]:
        """A reader whose statements all see one state of the file (one read
        transaction), for reads that must agree with each other."""
        conn = self._reader()
        if conn is self._conn:
            yield conn
            return
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction. BEGIN IMMEDIATE takes the write lock up front, so
        two writers queue on the busy timeout instead of failing on upgrade. Inside
        `atomic()` (or another `_write` of this thread) it joins the transaction
        under way: everything commits together, or nothing does."""
        with self._lock:
            txn: _Txn | None = getattr(self._local, "txn", None)
            if txn is not None:
                yield self._conn
                return
            self._retry_locked(lambda: self._conn.execute("BEGIN IMMEDIATE"))
            txn = self._local.txn = _Txn()
            try:
                yield self._conn
                if txn.purged:
                    # Rewrites the full-text index so that no segment keeps erased terms.
                    for table in _VOCAB:
                        self._conn.execute(f"INSERT INTO {table} ({table}) VALUES ('optimize')")
            except BaseException as exc:
                with contextlib.suppress(sqlite3.Error):
                    self._conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise backend_error(self.path, exc, "nothing was written") from exc
                raise
            finally:
                self._local.txn = None
                if txn.purged:
                    with contextlib.suppress(sqlite3.Error):
                        self._conn.execute("PRAGMA secure_delete = OFF")
            try:
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                with contextlib.suppress(sqlite3.Error):
                    self._conn.execute("ROLLBACK")
                raise backend_error(self.path, exc, "commit failed, nothing was written") from exc
            # The write is committed: nothing below may report it as failed (a caller
            # would retry and store it twice).
            if txn.purged:
                self._checkpoint_soon()
            if self._index is not None:
                # Keep a loaded index current now, so that writers pay for indexing
                # and the next search does not. A sync that fails is counted and
                # warned about, and the next search syncs again.
                try:
                    self._sync_index()
                except Exception as exc:
                    self._index_failures += 1
                    warnings.warn(
                        f"{self.path}: the vector index could not take the last write "
                        f"({exc!r}); it is stored, and the next search catches up",
                        stacklevel=3,
                    )

    @contextlib.contextmanager
    def atomic(self) -> Iterator[None]:
        """Every write of this thread inside the block in one transaction: a change
        and the changes that follow from it (a turn's delete and its facts') commit
        together, or none does. Reads inside see the writes so far."""
        with self._write():
            yield

    @property
    def _writing(self) -> bool:
        return getattr(self._local, "txn", None) is not None

    def _next_seq(self, conn: sqlite3.Connection) -> int:
        row = conn.execute(
            "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'seq' RETURNING value"
        ).fetchone()
        return int(row[0])

    def _log(
        self,
        conn: sqlite3.Connection,
        record_id: str,
        namespace: str,
        op: str,
        before: str | None,
        after: str | None,
        actor: str | None,
        at: str | None = None,
    ) -> None:
        if op == "add":
            after = None  # derivable: see history_entries
        conn.execute(
            "INSERT INTO history (record_id, namespace, op, at, actor, before, after) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (record_id, namespace, op, at or now(), actor, before, after),
        )

    # --------------------------------------------------------------- embedder

    def embedder_info(self) -> EmbedderInfo | None:
        return self._embedder

    def bind_embedder(self, info: EmbedderInfo) -> None:
        bound = self._embedder
        if bound is None:
            with self._write() as conn:
                raw = conn.execute("SELECT value FROM meta WHERE key = 'embedder'").fetchone()
                if raw is None:
                    conn.execute(
                        "INSERT INTO meta (key, value) VALUES ('embedder', ?)",
                        (json.dumps(info.__dict__),),
                    )
                    bound = info
                else:
                    bound = EmbedderInfo(**json.loads(raw[0]))
            self._embedder = bound
        if bound != info:
            raise ConfigError(
                f"embedding model '{info.name}' ({info.dim}-d, {info.fingerprint}) differs from "
                f"the model {self.path} was built with ('{bound.name}', {bound.dim}-d, "
                f"{bound.fingerprint}); open it with that model, or run "
                f"`memstrata reindex --db {self.path}` to re-embed every record with the new one"
            )

    def rebind_embedder(self, info: EmbedderInfo) -> None:
        """Switch the store to another model (reindex calls this before re-embedding)."""
        with self._write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('embedder', ?)",
                (json.dumps(info.__dict__),),
            )
            seq = self._next_seq(conn)
            conn.execute("UPDATE records SET embedding = NULL, seq = ?", (seq,))
        self._embedder = info
        with self._index_lock.gen_wlock():
            self._index = None

    # ----------------------------------------------------------------- writes

    def insert(
        self,
        records: Sequence[Record],
        vectors: np.ndarray | None,
        *,
        actor: str | None,
        links: Sequence[Link] = (),
    ) -> None:
        self.insert_many([(records, vectors, actor, links)])

    def insert_many(
        self,
        batches: Sequence[tuple[Sequence[Record], np.ndarray | None, str | None, Sequence[Link]]],
        *,
        state: Mapping[str, bytes] | None = None,
    ) -> None:
        """`insert` for several adds (records, vectors, actor, links) in one
        transaction, with named `state`: all of them are stored, or none."""
        with self._write() as conn:
            seq = self._next_seq(conn)
            if state:
                conn.executemany(
                    "INSERT OR REPLACE INTO state (key, value) VALUES (?, ?)", state.items()
                )
            for records, vectors, actor, links in batches:
                self._add_links(conn, links)
                if any(r.speaker and r.speaker not in self._speakers[2] for r in records):
                    self._speakers = (None, 0.0, [])
                for i, record in enumerate(records):
                    vector = None if vectors is None else vectors[i]
                    conn.execute(INSERT, [*record_values(record), blob(vector), seq])
                    self._log(
                        conn,
                        record.id,
                        record.scope.namespace,
                        "add",
                        None,
                        snapshot(record),
                        actor,
                        record.recorded_at,
                    )

    def touch(self, ids: Sequence[str]) -> None:
        """Count one more hit for each record (usage, not content: no new version,
        no history entry)."""
        if not ids:
            return
        with self._write() as conn:
            seq = self._next_seq(conn)
            conn.execute(
                f"UPDATE records SET hits = hits + 1, last_hit_at = ?, seq = ? "
                f"WHERE id IN ({','.join('?' * len(ids))}) AND status = 'active'",
                [now(), seq, *ids],
            )

    def set_vectors(self, ids: Sequence[str], vectors: np.ndarray) -> None:
        with self._write() as conn:
            seq = self._next_seq(conn)
            conn.executemany(
                "UPDATE records SET embedding = ?, seq = ? WHERE id = ? AND status != 'purged'",
                [(blob(v), seq, i) for i, v in zip(ids, vectors)],
            )

    def revise(
        self,
        record_id: str,
        scope: Scope,
        change: Callable[[Record], dict[str, Any]],
        vector: np.ndarray | None,
        *,
        op: str,
        expected_version: int | None,
        actor: str | None,
        bump_version: bool = True,
    ) -> Record:
        with self._write() as conn:
            current = self._get(conn, record_id, scope, include_gone=False)
            if expected_version is not None and current.version != expected_version:
                raise Conflict(
                    f"record {record_id} is at version {current.version}, not "
                    f"{expected_version}; read it again and retry"
                )
            fields = {**current.__dict__, **change(current)}
            if bump_version:
                fields.update(version=current.version + 1, updated_at=now())
            record = Record(**fields)
            seq = self._next_seq(conn)
            sets = ", ".join(f"{c} = ?" for c in COLUMNS[1:])
            params = [*record_values(record)[1:], seq]
            vector_sql = ""
            if vector is not None:
                vector_sql = ", embedding = ?"
                params.append(blob(vector))
            conn.execute(
                f"UPDATE records SET {sets}, seq = ?{vector_sql} WHERE id = ?",
                [*params, record_id],
            )
            self._log(
                conn,
                record_id,
                record.scope.namespace,
                op,
                snapshot(current),
                snapshot(record),
                actor,
            )
        return record

    def purge(self, record_id: str, scope: Scope, *, actor: str | None) -> None:
        """Erase a record's content (text, speaker, metadata, entities, tags, vector)
        here and in its history, and the links it names others by (an entity's name
        lives in its key); keep its id, kind, scope and times as a tombstone, and
        record the erasure. Inside `atomic()`, the full-text index is rewritten and
        the WAL emptied once, when the transaction commits."""
        with self._lock:
            self._get(self._conn, record_id, scope, include_gone=True)
            # The graph and its cache file may hold the erased vector: drop both; the
            # sync after the commit rebuilds the graph from the remaining vectors.
            with self._index_lock.gen_wlock():
                try:
                    AnnIndex.discard(self._ann_path)
                except OSError as exc:
                    raise BackendError(f"cannot remove the graph cache {self._ann_path} "
                                       f"({exc}); nothing was purged") from exc  # fmt: skip
                if self._index is not None:
                    self._index.drop_ann()
        with self._write() as conn:
            current = self._get(conn, record_id, scope, include_gone=True)
            txn: _Txn = self._local.txn
            if not txn.purged:
                conn.execute("PRAGMA secure_delete = ON")  # freed bytes are zeroed
                txn.purged = True
            seq = self._next_seq(conn)
            conn.execute(
                "UPDATE records SET text = '', speaker = NULL, embedding = NULL, "
                "metadata = '{}', entities = '[]', tags = '[]', status = 'purged', "
                "version = version + 1, updated_at = ?, seq = ? WHERE id = ?",
                (now(), seq, record_id),
            )
            rows = conn.execute(
                "SELECT seq, before, after FROM history WHERE record_id = ?", (record_id,)
            ).fetchall()
            for hseq, before, after in rows:
                conn.execute(
                    "UPDATE history SET before = ?, after = ? WHERE seq = ?",
                    (redact(before), redact(after), hseq),
                )
            # What it links to by name (`about` and `profile` links end at entity keys)
            # or as evidence; the session's `next` chain stays, it holds only ids.
            conn.execute("DELETE FROM links WHERE src = ? AND type != 'next'", (record_id,))
            self._log(conn, record_id, current.scope.namespace, "purge", None, None, actor)

    def _checkpoint_soon(self) -> None:
        """Empty the WAL now if no reader holds an older snapshot, else retry in the
        background until one can: erased bytes leave the -wal file as soon as the
        readers move on, and no writer ever waits for them."""
        if self._checkpoint():
            return
        if self._checkpointer is not None and self._checkpointer.is_alive():
            return

        def retry() -> None:
            while not self._closed:
                time.sleep(_CHECKPOINT_RETRY_S)
                with self._lock:
                    if self._closed or self._checkpoint():
                        return

        self._checkpointer = threading.Thread(target=retry, name="memstrata-checkpoint",
                                              daemon=True)  # fmt: skip
        self._checkpointer.start()

    def _checkpoint(self, wait_ms: int = 0) -> bool:
        """Copy the WAL into the database and truncate it, so erased bytes leave the
        -wal file. By default without waiting: a reader holding an old snapshot makes
        it fail at once, and other writers never queue behind it. Returns whether the
        WAL was emptied."""
        with self._lock:
            self._conn.execute(f"PRAGMA busy_timeout = {wait_ms}")
            try:
                busy, _, _ = self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            except sqlite3.Error:
                busy = 1
            finally:
                self._conn.execute(f"PRAGMA busy_timeout = {int(_BUSY_TIMEOUT_S * 1000)}")
            self._wal_dirty = bool(busy)
            return not busy

    def import_records(
        self,
        items: Sequence[tuple[Record, np.ndarray | None, Sequence[HistoryEntry]]],
        *,
        actor: str | None,
        log_import: bool = True,
    ) -> int:
        inserted = 0
        with self._write() as conn:
            seq = self._next_seq(conn)
            for record, vector, entries in items:
                exists = conn.execute("SELECT 1 FROM records WHERE id = ?", (record.id,))
                if exists.fetchone():
                    continue
                conn.execute(INSERT, [*record_values(record), blob(vector), seq])
                ns = record.scope.namespace
                for e in entries:
                    self._log(
                        conn,
                        record.id,
                        ns,
                        e.op,
                        None if e.before is None else json.dumps(e.before, ensure_ascii=False),
                        None if e.after is None else json.dumps(e.after, ensure_ascii=False),
                        e.actor,
                        e.at,
                    )
                if log_import:
                    self._log(conn, record.id, ns, "import", None, None, actor)
                inserted += 1
        return inserted

    # ------------------------------------------------------------------ reads

    def _get(
        self, conn: sqlite3.Connection, record_id: str, scope: Scope, *, include_gone: bool
    ) -> Record:
        where, params = scope_sql(scope, by_id=True)
        row = conn.execute(
            f"SELECT {SELECT} FROM records WHERE id = ? AND {where}", [record_id, *params]
        ).fetchone()
        if row is None:
            raise NotFound(f"no record {record_id} in this scope")
        record = row_to_record(row)
        if not include_gone and record.status in ("deleted", "purged"):
            raise NotFound(f"record {record_id} was {record.status}")
        return record

    def get(self, record_id: str, scope: Scope, *, include_gone: bool = False) -> Record:
        with self._lock:
            return self._get(self._conn, record_id, scope, include_gone=include_gone)

    def get_many(
        self, record_ids: Sequence[str], scope: Scope, *, shared: bool = False
    ) -> list[Record]:
        """Served from a cache of decoded records where it can be: a search reads
        hundreds of candidates, and decoding a row costs ~35 µs. The cache drops every
        record whose `seq` moved since it last looked (any process's writes). With
        `shared`, the records are the cache's own: read them, never change them."""
        give = (lambda r: r) if shared else clone
        if not record_ids:
            return []
        where, params = scope_sql(scope, by_id=True)
        found: dict[str, Record] = {}
        if self._writing:
            # Inside a write transaction: what it changed is not committed, and the
            # cache holds committed states only.
            with self._lock:
                rows = self._conn.execute(
                    f"SELECT {SELECT} FROM records WHERE id IN "
                    f"({','.join('?' * len(record_ids))}) AND {where}",
                    [*record_ids, *params],
                ).fetchall()
            found = {r.id: r for r in map(row_to_record, rows)}
            return [found[i] for i in record_ids if i in found]
        with self._snapshot() as conn:
            seq = self._refresh_cache(conn)
            with self._cache_lock:
                todo = []
                for i in dict.fromkeys(record_ids):
                    cached = self._cache.get(i)
                    if cached is None:
                        todo.append(i)
                    elif in_scope(cached, scope):
                        found[i] = give(cached)
            read = []
            for start in range(0, len(todo), 500):
                chunk = todo[start : start + 500]
                read += conn.execute(
                    f"SELECT {SELECT} FROM records WHERE id IN ({','.join('?' * len(chunk))}) "
                    f"AND {where}",
                    [*chunk, *params],
                ).fetchall()
        records = [row_to_record(row) for row in read]
        with self._cache_lock:
            # Rows read at an older state than the cache is at now may be stale there.
            if seq == self._cache_seq:
                for record in records:
                    self._cache[record.id] = record
                while len(self._cache) > _CACHE_RECORDS:
                    self._cache.popitem(last=False)
        for record in records:
            found[record.id] = give(record)
        return [found[i] for i in record_ids if i in found]

    def _refresh_cache(self, conn: sqlite3.Connection) -> int:
        """Drop the cached records changed since the cache last looked, as `conn`
        sees the file; the file's seq as `conn` sees it."""
        seq = int(self._meta("seq", conn) or 0)
        with self._cache_lock:
            since = self._cache_seq
            if seq > since and not self._cache:  # nothing cached that could be stale
                self._cache_seq = seq
                return seq
        if seq <= since:
            return seq
        changed = conn.execute("SELECT id FROM records WHERE seq > ?", (since,)).fetchall()
        with self._cache_lock:
            for (record_id,) in changed:
                self._cache.pop(record_id, None)
            self._cache_seq = max(self._cache_seq, seq)
        return seq

    def list_records(
        self, scope: Scope, filters: Filters, *, limit: int, cursor: str | None
    ) -> Page:
        where, params = scope_sql(scope)
        fwhere, fparams = filter_sql(filters)
        sql = f"SELECT {SELECT} FROM records WHERE {where} AND {fwhere}"
        args = [*params, *fparams]
        if cursor is not None:
            sql += " AND id < ?"
            args.append(cursor)
        sql += " ORDER BY id DESC LIMIT ?"
        args.append(limit + 1)
        rows = self._reader().execute(sql, args).fetchall()
        records = [row_to_record(r) for r in rows[:limit]]
        next_cursor = records[-1].id if len(rows) > limit else None
        return Page(records=records, next_cursor=next_cursor)

    def history(self, record_id: str, scope: Scope) -> list[HistoryEntry]:
        with self._lock:
            self._get(self._conn, record_id, scope, include_gone=True)
            return self.history_entries(record_id)

    def iter_records(self, scope: Scope) -> Iterator[tuple[Record, np.ndarray | None]]:
        where, params = scope_sql(scope)
        last = ""
        while True:
            with self._lock:
                rows = self._conn.execute(
                    f"SELECT {SELECT}, embedding FROM records WHERE {where} AND id > ? "
                    "ORDER BY id LIMIT 500",
                    [*params, last],
                ).fetchall()
            if not rows:
                return
            for row in rows:
                blob = row[-1]
                vector = np.frombuffer(blob, dtype="<f4").copy() if blob is not None else None
                yield row_to_record(row[:-1]), vector
            last = rows[-1][0]

    def history_entries(self, record_id: str) -> list[HistoryEntry]:
        """Every history entry of a record, whatever its scope (for export).

        An `add` entry is stored without its `after` snapshot, which would repeat the
        record (half the file): it is the `before` of the next change, or, when there
        is none, the record as it stands."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT seq, record_id, op, at, actor, before, after FROM history "
                "WHERE record_id = ? ORDER BY seq",
                (record_id,),
            ).fetchall()
            entries = [
                HistoryEntry(r[0], r[1], r[2], r[3], r[4], loads(r[5]), loads(r[6])) for r in rows
            ]
            for i, entry in enumerate(entries):
                if entry.op == "add" and entry.after is None:
                    later = (e.before for e in entries[i + 1 :] if e.before is not None)
                    entry.after = next(later, None) or self._snapshot_of(record_id)
        return entries

    def _snapshot_of(self, record_id: str) -> dict[str, Any] | None:
        row = self._conn.execute(
            f"SELECT {SELECT} FROM records WHERE id = ?", (record_id,)
        ).fetchone()
        return None if row is None else row_to_record(row).to_dict()

    def missing_vectors(self, limit: int) -> list[Record]:
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {SELECT} FROM records WHERE embedding IS NULL "
                "AND status NOT IN ('deleted', 'purged') ORDER BY rowid LIMIT ?",
                (limit,),
            ).fetchall()
        return [row_to_record(r) for r in rows]

    def stats(self, scope: Scope) -> dict[str, Any]:
        where, params = scope_sql(scope)
        with self._lock:
            by_kind = self._conn.execute(
                f"SELECT kind, status, count(*) FROM records WHERE {where} GROUP BY kind, status",
                params,
            ).fetchall()
            pending = self._conn.execute(
                f"SELECT count(*) FROM records WHERE {where} AND embedding IS NULL "
                "AND status NOT IN ('deleted', 'purged')",
                params,
            ).fetchone()[0]
            counters = self._counters()
        if self._index_failures:
            counters["index_sync_failures"] = counters.get("index_sync_failures", 0) + (
                self._index_failures
            )
        counts: dict[str, dict[str, int]] = {}
        for kind, status, n in by_kind:
            counts.setdefault(kind, {})[status] = n
        size = _file_bytes(self.path)
        return {
            "backend": "sqlite",
            "path": str(self.path),
            "schema_version": SCHEMA_VERSION,
            "created_by": self._meta("created_by"),
            "embedder": self._embedder.__dict__ if self._embedder else None,
            "records": sum(n for kinds in counts.values() for n in kinds.values()),
            "by_kind": counts,
            "pending_vectors": pending,
            "counters": counters,
            "bytes": size,
            "file_bytes": size,
        }

    # ----------------------------------------------------------------- search

    def text_search(
        self, query: str, scope: Scope, filters: Filters, k: int
    ) -> list[tuple[str, float]]:
        terms = fts.query_terms(query)
        if not terms:
            return []
        conn = self._reader()
        tables: tuple[str, ...] = tuple(_VOCAB)  # both: as stored, then derived
        if filters.derived is not None:
            tables = ("derived_fts",) if filters.derived else ("records_fts",)
        hits = [h for t in tables for h in self._text_search(conn, t, terms, scope, filters, k)]
        return sorted(hits, key=lambda h: -h[1])[:k] if len(tables) > 1 else hits

    def _text_search(
        self, conn: sqlite3.Connection, table: str, terms: list[str], scope: Scope,
        filters: Filters, k: int,
    ) -> list[tuple[str, float]]:  # fmt: skip
        terms = self._rarest(conn, table, terms, _FTS_TERMS)
        scope_terms = fts.scope_terms(
            scope.namespace,
            user_id=scope.user_id,
            agent_id=scope.agent_id,
            session_id=scope.session_id,
        )
        where, params = scope_sql(scope, "r", by_id=True)
        fwhere, fparams = filter_sql(filters, "r")
        # First pass: rank in the full-text index alone, narrowed by the user, agent
        # and session terms (the namespace term usually holds most rows, and ANDing
        # it costs more than it saves), then keep the rows that pass the scope and
        # filters. Joining every match to its record would cost ~3.5 ms per 1,000
        # matches. When too few survive a full first page, rank again with every
        # scope term and the filters inside the query, so that nothing is lost.
        depth = max(k * _FTS_OVERSAMPLE, _FTS_MIN_DEPTH)
        ranked = conn.execute(
            f"SELECT rowid, bm25({table}, 1.0, 0.3, 0.0) AS s FROM {table} "
            f"WHERE {table} MATCH ? ORDER BY s LIMIT ?",
            [fts.scoped_match(terms, scope_terms[1:]), depth],
        ).fetchall()
        if not ranked:
            return []
        kept = dict(
            conn.execute(
                f"SELECT r.rowid, r.id FROM records r WHERE r.rowid IN "
                f"({','.join('?' * len(ranked))}) AND {where} AND {fwhere}",
                [*(row[0] for row in ranked), *params, *fparams],
            ).fetchall()
        )
        if len(kept) >= k or len(ranked) < depth:
            hits = [(kept[rowid], -float(s)) for rowid, s in ranked if rowid in kept]
            return hits[:k]
        rows = conn.execute(
            f"SELECT r.id, bm25({table}, 1.0, 0.3, 0.0) AS s FROM {table} "
            f"JOIN records r ON r.rowid = {table}.rowid "
            f"WHERE {table} MATCH ? AND {where} AND {fwhere} ORDER BY s LIMIT ?",
            [fts.scoped_match(terms, scope_terms), *params, *fparams, k],
        ).fetchall()
        return [(r[0], -float(r[1])) for r in rows]

    def _rarest(
        self, conn: sqlite3.Connection, table: str, terms: list[str], keep: int
    ) -> list[str]:
        if len(terms) <= keep:
            return terms
        stems = {t: (found or [t])[0] for t, found in zip(terms, fts.index_terms(terms))}
        unique = sorted(set(stems.values()))
        rows = conn.execute(
            f"SELECT term, doc FROM {_VOCAB[table]} WHERE term IN ({','.join('?' * len(unique))})",
            unique,
        ).fetchall()
        freq = dict(rows)
        present = [t for t in terms if freq.get(stems[t], 0) > 0]
        ranked = sorted(present or terms, key=lambda t: freq.get(stems[t], 0))
        return ranked[:keep]

    def vector_search(
        self, vector: np.ndarray, scope: Scope, filters: Filters, k: int
    ) -> list[tuple[str, float]]:
        conn = self._reader()
        index = self._current_index(conn)
        if index is None:
            return []
        allowed = None
        if filters.metadata:
            where, params = scope_sql(scope)
            fwhere, fparams = filter_sql(filters)
            allowed = [
                r[0]
                for r in conn.execute(
                    f"SELECT rowid FROM records WHERE {where} AND {fwhere}",
                    [*params, *fparams],
                )
            ]
        with self._index_lock.gen_rlock():
            hits = index.search(
                np.asarray(vector, dtype=np.float32),
                k,
                namespace=scope.namespace,
                user_id=scope.user_id,
                agent_id=scope.agent_id,
                session_id=scope.session_id,
                kinds=filters.kinds,
                statuses=filters.statuses,
                since=epoch(filters.since),
                until=epoch(filters.until),
                allowed_rowids=allowed,
                derived=filters.derived,
            )
            # Every row the store loads carries its record id: no lookup by rowid.
            return list(zip(index.record_ids([h[0] for h in hits]), (h[1] for h in hits)))

    def speakers(self, scope: Scope) -> list[str]:
        """The distinct speakers of the events in scope: read again after a write,
        at most every `_SPEAKERS_TTL_S` (new speakers are rare; searches are many)."""
        cached_scope, at, found = self._speakers
        if cached_scope == scope and time.monotonic() - at < _SPEAKERS_TTL_S:
            return found
        where, params = scope_sql(scope)
        with self._snapshot() as conn:
            rows = conn.execute(
                f"SELECT DISTINCT speaker FROM records WHERE {where} AND kind = 'event' "
                "AND speaker IS NOT NULL LIMIT 1000",
                params,
            ).fetchall()
        found = [r[0] for r in rows]
        self._speakers = (scope, time.monotonic(), found)
        return found

    def latest(self, scope: Scope, until: str | None = None) -> str | None:
        """When the newest active event in scope occurred (at or before `until`, when
        given), stored form; None when there is none."""
        where, params = scope_sql(scope)
        if until is not None:
            where += " AND occurred_at <= ?"
            params.append(until)
        with self._snapshot() as conn:
            row = conn.execute(
                f"SELECT occurred_at FROM records WHERE {where} AND kind = 'event' "
                "AND status = 'active' ORDER BY occurred_at DESC LIMIT 1",
                params,
            ).fetchone()
        return row[0] if row else None

    def vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """The vector of each of `ids` that has one (the caller has already checked
        the ids' scope), read from the in-process index."""
        if not ids:
            return {}
        index = self._current_index(self._reader())
        if index is None:
            return {}
        with self._index_lock.gen_rlock():
            return index.vectors(ids)

    def _current_index(self, conn: sqlite3.Connection) -> VectorIndex | None:
        """The index, synced first if `conn` sees changes it does not have yet. Read
        it under the read lock."""
        index = self._index
        if index is not None and int(self._meta("seq", conn) or 0) <= self._index_seq:
            return index
        return self._sync_index(conn)

    def _sync_index(self, conn: sqlite3.Connection | None = None) -> VectorIndex | None:
        """Bring the in-process index up to date with the file as `conn` (default: the
        writer's) sees it: load it whole the first time, then apply only rows whose
        seq moved (ours or another process's)."""
        with self._index_lock.gen_wlock():
            return self._sync_index_locked(conn or self._conn)

    def _sync_index_locked(self, conn: sqlite3.Connection) -> VectorIndex | None:
        if self._embedder is None:
            return None
        seq = int(self._meta("seq", conn) or 0)
        if self._index is not None and seq <= self._index_seq:
            return self._index  # a reader may see an older state than the index has
        if self._index is None:
            # Sized for every row with a vector, so that loading never doubles the
            # matrix (at 200k rows a doubling held 1.5x the vectors twice over).
            count = conn.execute("SELECT count(*) FROM records WHERE embedding IS NOT NULL")
            self._index = VectorIndex(self._embedder.dim, capacity=max(1024, count.fetchone()[0]))
            self._index_seq = 0
            cached = AnnIndex.load(
                self._ann_path, dim=self._embedder.dim, fingerprint=self._ann_fingerprint
            )
            if cached is not None and cached[1] <= seq:
                self._index.ann, self._index.ann_seq = cached
        had_graph = self._index.ann is not None
        cursor = conn.execute(
            "SELECT rowid, embedding, status, namespace, user_id, agent_id, session_id, kind, "
            "occurred_at, seq, source_ids != '[]', id FROM records WHERE seq > ?",
            (self._index_seq,),
        )
        dim = self._embedder.dim
        while True:
            rows = cursor.fetchmany(4096)
            if not rows:
                break
            self._index.upsert(
                VectorRow(
                    rowid=r[0],
                    vector=np.frombuffer(r[1], dtype="<f4")
                    if r[1] and len(r[1]) == dim * 4
                    else None,
                    status=r[2],
                    namespace=r[3],
                    user_id=r[4],
                    agent_id=r[5],
                    session_id=r[6],
                    kind=r[7],
                    occurred=_occurred(r[8]),
                    seq=r[9],
                    derived=bool(r[10]),
                    record_id=r[11],
                )
                for r in rows
            )
        self._index_seq = seq
        if self._index.ann is not None:
            self._index.ann_seq = seq
        elif had_graph:
            AnnIndex.discard(self._ann_path)  # a purge dropped the graph: drop its file too
        if self._index.ann is None:
            self._start_graph_build(self._index, seq)
        elif self._index.ann_dirty >= _ANN_SAVE_EVERY:
            self._save_ann()
        return self._index

    def _start_graph_build(self, index: VectorIndex, seq: int) -> None:
        """Build the HNSW graph once the store is large enough. In the background by
        default: queries keep the exact scan until the graph is ready, then the rows
        that changed meanwhile are replayed into it."""
        if self._closed or (self._graph_thread is not None and self._graph_thread.is_alive()):
            return
        graph = index.graph_snapshot()
        if graph is None:
            return

        def install(ann: AnnIndex) -> None:
            if index is self._index and index.install_ann(ann, seq, graph.generation):
                self._save_ann()

        def build() -> None:
            ann = graph.build(index.dim)
            with self._index_lock.gen_wlock():
                # close() waits for this thread before it closes the connection.
                install(ann)

        if not GRAPH_IN_BACKGROUND:  # here, under the sync's write lock already
            install(graph.build(index.dim))
            return
        # Not a daemon: interpreter exit waits for a build rather than killing native
        # code mid-write (which aborts the process) when a Memory was never closed.
        self._graph_thread = threading.Thread(target=build, name="memstrata-graph", daemon=False)
        self._graph_thread.start()

    def new_owner(self) -> str:
        return sqlite_owners.new_owner()

    def owner_gone(self, owner: str) -> bool:
        return sqlite_owners.owner_gone(owner)

    def load_index(self) -> None:
        """Load the vector index now rather than on the first search."""
        self._sync_index()

    def wait_for_graph(self, timeout: float | None = None) -> None:
        """Block until a graph build under way (if any) has finished."""
        thread = self._graph_thread
        if thread is not None:
            thread.join(timeout)

    def _save_ann(self) -> None:
        index = self._index
        if index is None or index.ann is None or self._embedder is None:
            return
        try:
            index.ann.save(self._ann_path, seq=index.ann_seq, fingerprint=self._ann_fingerprint)
        except OSError as exc:  # a cache: a failed save costs a rebuild at the next open
            with contextlib.suppress(OSError):
                AnnIndex.discard(self._ann_path)  # never a half-written one
            warnings.warn(f"{self._ann_path}: graph cache not saved ({exc})", stacklevel=2)
        index.ann_dirty = 0

    @property
    def _ann_fingerprint(self) -> str:
        """Which store and model a graph cache belongs to."""
        assert self._embedder is not None
        return f"{self._store_id}|{self._embedder.fingerprint}"

    @property
    def _ann_path(self) -> Path:
        return self.path.with_name(self.path.name + ".ann")

    def backup(self, dest: str | os.PathLike[str]) -> None:
        """Copy the store to `dest` (a new file) while it stays in use: a consistent
        snapshot, checked before it is kept."""
        source = sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT_S)
        try:
            backup_file(source, dest)
        finally:
            source.close()

    def close(self) -> None:
        """Save the graph cache, empty the WAL if a purge left it full, and close
        every connection; what cannot be done is warned about, and the connections
        are closed all the same."""
        # A graph build cannot be interrupted; let it finish so that no native code
        # still runs while the interpreter shuts down.
        with self._lock:
            self._closed = True
        self.wait_for_graph()
        with self._lock:
            try:
                self._close_index()
                if self._wal_dirty and not self._checkpoint(wait_ms=_CLOSE_CHECKPOINT_WAIT_MS):
                    warnings.warn(
                        f"{self.path}: another connection still reads a snapshot older than "
                        "a purge, so the erased bytes stay in the -wal file until the next "
                        "checkpoint (the next memstrata to open or write the file tries again)",
                        stacklevel=3,
                    )
                with contextlib.suppress(sqlite3.Error):
                    self._conn.execute("PRAGMA optimize")  # refreshes planner statistics
            finally:
                for reader in self._readers.values():
                    reader.close()
                self._readers.clear()
                self._conn.close()

    def _close_index(self) -> None:
        if self._index is None:
            return
        try:
            # Catch up first, so that a purge made elsewhere drops the graph rather than
            # being written back into the cache file.
            self._sync_index()
        except Exception as exc:
            AnnIndex.discard(self._ann_path)  # a cache: the next open rebuilds it
            warnings.warn(f"{self.path}: graph cache dropped on close ({exc!r})", stacklevel=4)
            return
        if self._index.ann_dirty:
            self._save_ann()
