"""The PostgreSQL backend: a store in one database, for memory that outgrows one
machine or is shared by several.

Records, history, links, named state, counters and API keys are tables (in the
first schema of the connection's search path). Full text is a `tsvector` column of
the terms SQLite's tokenizer finds in text and speaker (`fts.index_terms`, so both
backends match the same words) with a GIN index; vectors are a pgvector column with
an HNSW index for cosine distance, made when the embedding model (and so its
dimension) is bound. Connections come from a pool; each write method is one
transaction, and `atomic()` groups the writes of one thread into one.

Needs PostgreSQL 13 or later with pgvector (`CREATE EXTENSION vector`; 0.8 or later
for filtered HNSW scans that never come up short).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import psycopg
from pgvector.psycopg import register_vector
from psycopg_pool import ConnectionPool

from memstrata.errors import BackendError, ConfigError, Conflict, NotFound
from memstrata.ids import now
from memstrata.store.base import EmbedderInfo, Filters, Link
from memstrata.store.guard import backend_errors
from memstrata.store.postgres_rows import (
    COLUMNS,
    INSERT,
    SELECT,
    SETS,
    as_array,
    filter_sql,
    record_params,
    row_to_record,
    scope_sql,
    scrub,
    vector_param,
    where,
)
from memstrata.store.postgres_schema import (
    SCHEMA_VERSION,
    SETUP_LOCK,
    TABLES,
    VECTOR_INDEXES,
    open_schema,
    vector_ddl,
    vector_index_ddl,
)
from memstrata.store.postgres_search import EF_SEARCH, PostgresSearch
from memstrata.store.postgres_state import Entry, PostgresState
from memstrata.store.rows import clone, redact
from memstrata.types import HistoryEntry, Page, Record, Scope

_CONNECT_TIMEOUT_S = 10
_POOL_SIZE = 10
_POOL_WAIT_S = 30.0  # a caller waits this long for a free connection
_SPEAKERS_TTL_S = 5.0
_CACHE_RECORDS = 20_000  # decoded records kept for get_many (as SQLite's store keeps)


def _backend_error(place: str, exc: psycopg.Error, doing: str | None = None) -> BackendError:
    first = scrub((str(exc).strip().splitlines() or [type(exc).__name__])[0])
    what = f"{place}: {doing + ': ' if doing else ''}{first}"
    if isinstance(exc, psycopg.OperationalError):
        what += "; check that the server is up and reachable from here"
    return BackendError(what)


_backend_errors = backend_errors(psycopg.Error, lambda store, exc: _backend_error(store.where, exc))


@_backend_errors
class PostgresStore(PostgresSearch, PostgresState):
    """`PostgresStore("postgresql://user:password@host/db")`: open (or create) a
    memstrata store in a PostgreSQL database.

    `vector_index`: what the HNSW index holds, made when the embedding model is first
    bound: "vector" (float32, the default) or "halfvec" (float16, half the index's
    size and memory; candidates are ranked again by the stored float32 vectors, so
    scores stay exact). None takes what the store has. `pool_size`: connections
    this store opens at most."""

    def __init__(
        self,
        dsn: str,
        *,
        migrate: bool = False,
        pool_size: int = _POOL_SIZE,
        vector_index: str | None = None,
    ) -> None:
        if vector_index is not None and vector_index not in VECTOR_INDEXES:
            raise ConfigError(
                f"vector_index must be one of {', '.join(VECTOR_INDEXES)}; got {vector_index!r}"
            )
        self.dsn = dsn
        self.where = where(dsn)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._cache_lock = threading.Lock()
        self._cache: OrderedDict[str, tuple[str, Record]] = OrderedDict()
        self._embedder: EmbedderInfo | None = None
        self._speakers: tuple[Scope | None, float, list[str]] = (None, 0.0, [])
        self._closed = False
        self._init_owners()
        self._init_search()
        kwargs: dict[str, Any] = {}
        try:
            if "connect_timeout" not in psycopg.conninfo.conninfo_to_dict(dsn):
                kwargs["connect_timeout"] = _CONNECT_TIMEOUT_S
        except psycopg.ProgrammingError as exc:
            raise ConfigError(f"not a PostgreSQL DSN ({scrub(str(exc))}); give one such as "
                              "postgresql://user:password@host:5432/dbname") from None  # fmt: skip
        self._connect_kwargs = kwargs
        try:
            conn = psycopg.connect(dsn, autocommit=True, **kwargs)
        except psycopg.Error as exc:
            reason = scrub((str(exc).strip().splitlines() or [type(exc).__name__])[0])
            raise BackendError(
                f"cannot connect to {self.where}: {reason}; check that the server runs and is "
                "reachable from here, and the user name, password and database name (the "
                "database must exist)"
            ) from None
        try:
            with conn:
                self._setup(conn, migrate, vector_index)
        except psycopg.Error as exc:
            raise _backend_error(self.where, exc, "cannot open the store") from exc
        self._pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
            dsn,
            min_size=1,
            max_size=max(1, pool_size),
            kwargs={"autocommit": True, **kwargs},
            configure=self._configure,
            timeout=_POOL_WAIT_S,
            open=False,
            name="memstrata",
        )
        try:
            self._pool.open(wait=True, timeout=_CONNECT_TIMEOUT_S * 3)
        except psycopg.Error as exc:
            self._pool.close()
            raise _backend_error(self.where, exc, "cannot open a connection pool") from exc

    # ----------------------------------------------------------------- setup

    def _setup(
        self, conn: psycopg.Connection[Any], migrate: bool, vector_index: str | None
    ) -> None:
        meta, vector_version = open_schema(conn, self.where, migrate)
        made = meta.get("vector_index")
        if made is not None and vector_index not in (None, made):
            raise ConfigError(
                f"{self.where} indexes its vectors as {made}, not {vector_index}; open it with "
                f"vector_index={made!r} (or None)"
            )
        self._vector_index = made or vector_index or "vector"
        self._store_id = meta.get("store_id")
        self._created_by = meta.get("created_by")
        self._iterative = vector_version >= (0, 8)
        try:
            raw = meta.get("embedder")
            self._embedder = EmbedderInfo(**json.loads(raw)) if raw else None
        except (ValueError, TypeError) as exc:
            raise BackendError(f"{self.where}: the embedder it records is unreadable ({exc}); "
                               "restore it from a backup") from None  # fmt: skip
        index = conn.execute("SELECT to_regclass('records_embedding')").fetchone()
        if self._embedder is not None and (index is None or index[0] is None):
            # A copy into this store (`bulk_load`) stopped before it built the index.
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", [SETUP_LOCK])
                conn.execute("SET LOCAL maintenance_work_mem = '512MB'")
                conn.execute(vector_index_ddl(self._embedder.dim, self._vector_index))

    def _configure(self, conn: psycopg.Connection[Any]) -> None:
        """A new pool connection: settings first (a prepared plan keeps the settings
        it was planned under), then pgvector's types."""
        conn.execute("SET jit = off")  # compiling costs more than short queries take
        # Statements are prepared after a few runs (psycopg's prepare_threshold), and a
        # generic plan of "id = ANY($1)" guesses the array's size: planned for the
        # values given, a search's reads of a few hundred ids took a third the time.
        conn.execute("SET plan_cache_mode = force_custom_plan")
        conn.execute(f"SET hnsw.ef_search = {EF_SEARCH}")
        if self._iterative:
            conn.execute("SET hnsw.iterative_scan = strict_order")
        register_vector(conn)

    # ----------------------------------------------------------- connections

    @contextlib.contextmanager
    def _read(self) -> Iterator[psycopg.Connection[Any]]:
        """The connection for a read: this thread's write transaction's (to see what
        it wrote so far), else one from the pool."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            yield conn
            return
        with self._pool.connection() as conn:
            yield conn

    @contextlib.contextmanager
    def _write(self) -> Iterator[psycopg.Connection[Any]]:
        """One write transaction. Inside `atomic()` (or another `_write` of this
        thread) it joins the transaction under way, as a savepoint: a write that
        fails leaves nothing of itself, and the block's writes commit together."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            with conn.transaction():
                yield conn
            return
        committing = False
        try:
            with self._pool.connection() as conn:
                self._local.conn = conn
                try:
                    with conn.transaction():
                        yield conn
                        committing = True
                finally:
                    self._local.conn = None
        except psycopg.Error as exc:
            outcome = "nothing was written"
            if committing and isinstance(exc, psycopg.OperationalError):
                outcome = "the connection failed while committing: the write may have been stored"
            raise _backend_error(self.where, exc, outcome) from exc

    @contextlib.contextmanager
    def atomic(self) -> Iterator[None]:
        """Every write of this thread inside the block in one transaction: a change
        and the changes that follow from it commit together, or none does. Reads
        inside see the writes so far."""
        with self._write():
            yield

    def _log(
        self,
        conn: psycopg.Connection[Any],
        entries: Sequence[Entry],
    ) -> None:
        """History entries (record id, namespace, op, before, after, actor, at); an
        `add` keeps no `after` (see history_entries)."""
        if not entries:
            return
        at = now()
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO history (record_id, namespace, op, at, actor, before, after) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s)",
                [
                    (rid, ns, op, when or at, actor, _json(before),
                     None if op == "add" else _json(after))
                    for rid, ns, op, before, after, actor, when in entries
                ],
            )  # fmt: skip

    # --------------------------------------------------------------- embedder

    def embedder_info(self) -> EmbedderInfo | None:
        return self._embedder

    def bind_embedder(self, info: EmbedderInfo) -> None:
        bound = self._embedder
        if bound is None:
            with self._write() as conn:
                conn.execute("SELECT pg_advisory_xact_lock(%s)", [SETUP_LOCK])
                row = conn.execute("SELECT value FROM meta WHERE key = 'embedder'").fetchone()
                if row is None:
                    conn.execute("INSERT INTO meta (key, value) VALUES ('embedder', %s)",
                                 [json.dumps(info.__dict__)])  # fmt: skip
                    for statement in vector_ddl(info.dim, self._vector_index):
                        conn.execute(statement)
                    bound = info
                else:
                    bound = EmbedderInfo(**json.loads(row[0]))
            self._embedder = bound
        if bound != info:
            raise ConfigError(
                f"embedding model '{info.name}' ({info.dim}-d, {info.fingerprint}) differs from "
                f"the model {self.where} was built with ('{bound.name}', {bound.dim}-d, "
                f"{bound.fingerprint}); open it with that model, or reindex it "
                "(Memory.open_for_reindex, then reindex()) to re-embed every record"
            )

    @contextlib.contextmanager
    def bulk_load(self) -> Iterator[None]:
        """Many records written at once (a copy into this store): the HNSW index is
        dropped first and built once at the end, ~6x faster than keeping it up to
        date row by row (100k turns: 153 s against 1,010 s). Searches meanwhile scan
        exactly. If the process dies before the end, the next open builds it."""
        with self._write() as conn:
            conn.execute("DROP INDEX IF EXISTS records_embedding")
        try:
            yield
        finally:
            self._ensure_vector_index()

    def _ensure_vector_index(self) -> None:
        if self._embedder is None:
            return
        with self._write() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", [SETUP_LOCK])
            conn.execute("SET LOCAL maintenance_work_mem = '512MB'")  # the build's memory
            conn.execute(vector_index_ddl(self._embedder.dim, self._vector_index))

    def rebind_embedder(self, info: EmbedderInfo) -> None:
        """Switch the store to another model: drop every vector and the index, and
        fix the column to the new dimension (reindex calls this before re-embedding)."""
        with self._write() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", [SETUP_LOCK])
            conn.execute("DROP INDEX IF EXISTS records_embedding")
            conn.execute("UPDATE records SET embedding = NULL WHERE embedding IS NOT NULL")
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('embedder', %s) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [json.dumps(info.__dict__)],
            )
            for statement in vector_ddl(info.dim, self._vector_index):
                conn.execute(statement)
        self._embedder = info
        self._pool.drain()  # statements prepared for the old column type

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
        rows: list[list[Any]] = []
        entries: list[Entry] = []
        for records, vectors, actor, _ in batches:
            if any(r.speaker and r.speaker not in self._speakers[2] for r in records):
                self._speakers = (None, 0.0, [])
            for i, record in enumerate(records):
                vector = None if vectors is None else vectors[i]
                rows.append([*record_params(record), vector_param(vector)])
                entries.append((record.id, record.scope.namespace, "add", None, None, actor,
                                record.recorded_at))  # fmt: skip
        with self._write() as conn:
            if state:
                self._set_state(conn, state)
            for _, _, _, links in batches:
                self._add_links(conn, links)
            if rows:
                with conn.cursor() as cur:
                    cur.executemany(INSERT, rows)
            self._log(conn, entries)
        self._written += len(rows)

    def touch(self, ids: Sequence[str]) -> None:
        """Count one more hit for each live record (usage, not content: no new
        version, no history entry). Rows are locked in one order, so that touches
        running side by side never deadlock."""
        if not ids:
            return
        with self._write() as conn:
            conn.execute(
                "UPDATE records SET hits = hits + 1, last_hit_at = %s WHERE pos IN ("
                "SELECT pos FROM records WHERE id = ANY(%b) AND status = 'active' "
                "ORDER BY pos FOR UPDATE)",
                [now(), list(ids)],
            )

    def set_vectors(self, ids: Sequence[str], vectors: np.ndarray) -> None:
        pairs = sorted(zip(ids, vectors), key=lambda p: p[0])
        with self._write() as conn, conn.cursor() as cur:
            cur.executemany(
                "UPDATE records SET embedding = %b WHERE id = %s AND status <> 'purged'",
                [(vector_param(v), i) for i, v in pairs],
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
            current = self._get(conn, record_id, scope, include_gone=False, lock=True)
            if expected_version is not None and current.version != expected_version:
                raise Conflict(
                    f"record {record_id} is at version {current.version}, not "
                    f"{expected_version}; read it again and retry"
                )
            fields = {**current.__dict__, **change(current)}
            if bump_version:
                fields.update(version=current.version + 1, updated_at=now())
            record = Record(**fields)
            self._update(conn, record, vector)
            self._log(conn, [(record_id, record.scope.namespace, op, current.to_dict(),
                              record.to_dict(), actor, None)])  # fmt: skip
        return record

    def _update(
        self, conn: psycopg.Connection[Any], record: Record, vector: np.ndarray | None
    ) -> None:
        sets, params = SETS, record_params(record)[1:]
        if vector is not None:
            sets += ", embedding = %b"
            params.append(vector_param(vector))
        conn.execute(f"UPDATE records SET {sets} WHERE id = %s", [*params, record.id])

    def purge(self, record_id: str, scope: Scope, *, actor: str | None) -> None:
        """Erase a record's content (text, speaker, metadata, entities, tags, vector)
        in its row and in every snapshot of its history, and the links it names
        others by (an entity's name lives in its key); keep its id, kind, scope and
        times as a tombstone, and record the erasure.

        The old row versions (and the text and vector index entries that point at
        them) stay in the table's files until VACUUM removes them: run `VACUUM
        records, history` (autovacuum does it in time) for the bytes to be gone."""
        with self._write() as conn:
            current = self._get(conn, record_id, scope, include_gone=True, lock=True)
            conn.execute(
                "UPDATE records SET text = '', speaker = NULL, embedding = NULL, tsv = '', "
                "doc_length = 0, "
                "metadata = '{}', entities = '[]', tags = '[]', status = 'purged', "
                "version = version + 1, updated_at = %s WHERE id = %s",
                [now(), record_id],
            )
            rows = conn.execute(
                "SELECT seq, before::text, after::text FROM history WHERE record_id = %s",
                [record_id],
            ).fetchall()
            with conn.cursor() as cur:
                cur.executemany(
                    "UPDATE history SET before = %s, after = %s WHERE seq = %s",
                    [(redact(before), redact(after), seq) for seq, before, after in rows],
                )
            # What it links to by name (`about` and `profile` links end at entity keys)
            # or as evidence; the session's `next` chain stays, it holds only ids.
            conn.execute("DELETE FROM links WHERE src = %s AND type <> 'next'", [record_id])
            self._log(conn, [(record_id, current.scope.namespace, "purge", None, None, actor,
                              None)])  # fmt: skip

    def import_records(
        self,
        items: Sequence[tuple[Record, np.ndarray | None, Sequence[HistoryEntry]]],
        *,
        actor: str | None,
        log_import: bool = True,
    ) -> int:
        with self._write() as conn:
            ids = [record.id for record, _, _ in items]
            seen = {r[0] for r in conn.execute("SELECT id FROM records WHERE id = ANY(%b)", [ids])}
            rows: list[list[Any]] = []
            entries: list[Entry] = []
            for record, vector, history in items:
                if record.id in seen:
                    continue
                seen.add(record.id)
                rows.append([*record_params(record), vector_param(vector)])
                ns = record.scope.namespace
                entries += [(record.id, ns, e.op, e.before, e.after, e.actor, e.at)
                            for e in history]  # fmt: skip
                if log_import:
                    entries.append((record.id, ns, "import", None, None, actor, None))
            if rows:
                with conn.cursor() as cur:
                    cur.executemany(INSERT, rows)
            self._log(conn, entries)
        self._written += len(rows)
        return len(rows)

    # ------------------------------------------------------------------ reads

    def _get(
        self,
        conn: psycopg.Connection[Any],
        record_id: str,
        scope: Scope,
        *,
        include_gone: bool,
        lock: bool = False,
    ) -> Record:
        where_sql, params = scope_sql(scope)
        row = conn.execute(
            f"SELECT {SELECT} FROM records WHERE id = %s AND {where_sql}"
            + (" FOR UPDATE" if lock else ""),
            [record_id, *params],
        ).fetchone()
        if row is None:
            raise NotFound(f"no record {record_id} in this scope")
        record = row_to_record(row)
        if not include_gone and record.status in ("deleted", "purged"):
            raise NotFound(f"record {record_id} was {record.status}")
        return record

    def get(self, record_id: str, scope: Scope, *, include_gone: bool = False) -> Record:
        with self._read() as conn:
            return self._get(conn, record_id, scope, include_gone=include_gone)

    def get_many(
        self, record_ids: Sequence[str], scope: Scope, *, shared: bool = False
    ) -> list[Record]:
        """Those of `record_ids` visible in `scope`, in the order given. A search reads
        hundreds of candidates, and decoding a row costs more than finding it, so the
        rows read are kept decoded with the row version that holds them (`xmin`, which
        any write of the row changes, from any connection), and a row whose version is
        the one kept is not read again. With `shared`, the records are the cache's
        own: read them, never change them."""
        if not record_ids:
            return []
        ids = list(dict.fromkeys(record_ids))
        where_sql, params = scope_sql(scope, "r")
        if getattr(self._local, "conn", None) is not None:
            # Inside a write transaction: what it wrote is not committed, and the
            # cache holds committed rows only.
            return self._uncached(record_ids, ids, where_sql, params)
        with self._read() as conn:
            versions = conn.execute(
                f"SELECT id, xmin::text FROM records r WHERE id = ANY(%b) AND {where_sql}",
                [ids, *params],
            ).fetchall()
            give = (lambda r: r) if shared else clone
            found: dict[str, Record] = {}
            with self._cache_lock:
                for record_id, version in versions:
                    entry = self._cache.get(record_id)
                    if entry is not None and entry[0] == version:
                        self._cache.move_to_end(record_id)
                        found[record_id] = give(entry[1])
            todo = [i for i, _ in versions if i not in found]
            rows = []
            if todo:
                rows = conn.execute(
                    f"SELECT xmin::text, {SELECT} FROM records r "
                    f"WHERE id = ANY(%b) AND {where_sql}",
                    [todo, *params],
                ).fetchall()
        fresh = [(version, row_to_record(row)) for version, *row in rows]
        with self._cache_lock:
            for version, record in fresh:
                self._cache[record.id] = (version, record)
                found[record.id] = give(record)
            while len(self._cache) > _CACHE_RECORDS:
                self._cache.popitem(last=False)
        return [found[i] for i in record_ids if i in found]

    def _uncached(
        self, record_ids: Sequence[str], ids: list[str], where_sql: str, params: list[Any]
    ) -> list[Record]:
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT {SELECT} FROM records r WHERE id = ANY(%b) AND {where_sql}",
                [ids, *params],
            ).fetchall()
        found = {r.id: r for r in map(row_to_record, rows)}
        return [found[i] for i in record_ids if i in found]

    def list_records(
        self, scope: Scope, filters: Filters, *, limit: int, cursor: str | None
    ) -> Page:
        where_sql, params = scope_sql(scope)
        fwhere, fparams = filter_sql(filters)
        sql = f"SELECT {SELECT} FROM records WHERE {where_sql} AND {fwhere}"
        args = [*params, *fparams]
        if cursor is not None:
            sql += " AND id < %s"
            args.append(cursor)
        sql += " ORDER BY id DESC LIMIT %s"
        args.append(limit + 1)
        with self._read() as conn:
            rows = conn.execute(sql, args).fetchall()
        records = [row_to_record(r) for r in rows[:limit]]
        next_cursor = records[-1].id if len(rows) > limit else None
        return Page(records=records, next_cursor=next_cursor)

    def history(self, record_id: str, scope: Scope) -> list[HistoryEntry]:
        with self._read() as conn:
            self._get(conn, record_id, scope, include_gone=True)
        return self.history_entries(record_id)

    def history_entries(self, record_id: str) -> list[HistoryEntry]:
        """Every history entry of a record, whatever its scope (for export).

        An `add` entry is stored without its `after` snapshot, which would repeat the
        record: it is the `before` of the next change, or, when there is none, the
        record as it stands."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT seq, record_id, op, at, actor, before, after FROM history "
                "WHERE record_id = %s ORDER BY seq",
                [record_id],
            ).fetchall()
            entries = [HistoryEntry(*r) for r in rows]
            current: Any = None
            for i, entry in enumerate(entries):
                if entry.op == "add" and entry.after is None:
                    later = (e.before for e in entries[i + 1 :] if e.before is not None)
                    entry.after = next(later, None)
                    if entry.after is None:
                        if current is None:
                            row = conn.execute(
                                f"SELECT {SELECT} FROM records WHERE id = %s", [record_id]
                            ).fetchone()
                            current = row_to_record(row).to_dict() if row else {}
                        entry.after = current or None
        return entries

    def iter_records(self, scope: Scope) -> Iterator[tuple[Record, np.ndarray | None]]:
        """Every record in scope, any status, by id (ids are time-ordered), with its
        vector; read in pages, so no connection is held between them."""
        where_sql, params = scope_sql(scope)
        last = ""
        while True:
            with self._read() as conn:
                rows = conn.execute(
                    f"SELECT {SELECT}, embedding FROM records WHERE {where_sql} "
                    "AND id > %s ORDER BY id LIMIT 500",
                    [*params, last],
                    binary=True,
                ).fetchall()
            if not rows:
                return
            for row in rows:
                yield row_to_record(row[:-1]), as_array(row[-1])
            last = rows[-1][0]

    def missing_vectors(self, limit: int) -> list[Record]:
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT {SELECT} FROM records WHERE embedding IS NULL "
                "AND status NOT IN ('deleted', 'purged') ORDER BY pos LIMIT %s",
                [limit],
            ).fetchall()
        return [row_to_record(r) for r in rows]

    def latest(self, scope: Scope, until: str | None = None) -> str | None:
        """When the newest active event in scope occurred (at or before `until`, when
        given), stored form; None when there is none."""
        where_sql, params = scope_sql(scope)
        if until is not None:
            where_sql += " AND occurred_at <= %s"
            params.append(until)
        with self._read() as conn:
            row = conn.execute(
                f"SELECT occurred_at FROM records WHERE {where_sql} AND kind = 'event' "
                "AND status = 'active' ORDER BY occurred_at DESC LIMIT 1",
                params,
            ).fetchone()
        return None if row is None else str(row[0])

    def speakers(self, scope: Scope) -> list[str]:
        """The distinct speakers of the events in scope: read again after an insert
        brings a new one, and at most every `_SPEAKERS_TTL_S` (another process may
        add some; searches are many)."""
        cached_scope, at, found = self._speakers
        if cached_scope == scope and time.monotonic() - at < _SPEAKERS_TTL_S:
            return found
        where_sql, params = scope_sql(scope)
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT DISTINCT speaker FROM records WHERE {where_sql} AND kind = 'event' "
                "AND speaker IS NOT NULL LIMIT 1000",
                params,
            ).fetchall()
        found = [r[0] for r in rows]
        self._speakers = (scope, time.monotonic(), found)
        return found

    def stats(self, scope: Scope) -> dict[str, Any]:
        where_sql, params = scope_sql(scope)
        with self._read() as conn:
            by_kind = conn.execute(
                f"SELECT kind, status, count(*) FROM records WHERE {where_sql} "
                "GROUP BY kind, status",
                params,
            ).fetchall()
            pending = conn.execute(
                f"SELECT count(*) FROM records WHERE {where_sql} AND embedding IS NULL "
                "AND status NOT IN ('deleted', 'purged')",
                params,
            ).fetchone()
            counters = dict(conn.execute("SELECT name, value FROM counters").fetchall())
            size = conn.execute(
                "SELECT sum(pg_total_relation_size(to_regclass(t))) FROM unnest(%s::text[]) t",
                [list(TABLES)],
            ).fetchone()
            server = conn.info.parameter_status("server_version")
        counts: dict[str, dict[str, int]] = {}
        for kind, status, n in by_kind:
            counts.setdefault(kind, {})[status] = n
        return {
            "backend": "postgresql",
            "dsn": self.where,
            "server_version": server,
            "schema_version": SCHEMA_VERSION,
            "vector_index": self._vector_index,
            "created_by": self._created_by,
            "embedder": self._embedder.__dict__ if self._embedder else None,
            "records": sum(n for kinds in counts.values() for n in kinds.values()),
            "by_kind": counts,
            "pending_vectors": int(pending[0]) if pending else 0,
            "counters": counters,
            "bytes": None if size is None or size[0] is None else int(size[0]),
        }

    def close(self) -> None:
        """Close the pool and the connection that holds this store's owner leases
        (which frees them). Closing twice does nothing."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        try:
            self._pool.close()
        finally:
            self._close_owners()


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False)


__all__ = ["COLUMNS", "PostgresStore"]
