"""The part of the PostgreSQL store that formation and the server use: links, the
records of a session in order, named state and counters, owner leases, API keys,
and saving formation's output in one transaction.

A mixin of `PostgresStore`: it works on the store's pool and write transaction.

Owner leases are PostgreSQL advisory locks, so they hold across hosts: `new_owner`
takes a session-level lock (keyed by a hash of the owner's name) on a connection
the store keeps open until it closes. When the process dies its connection drops
and the server frees the lock at once; a host that vanishes is noticed by TCP
keepalives (that connection asks the server to probe after 30 s idle).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
import psycopg

from memstrata.errors import BackendError
from memstrata.ids import now
from memstrata.store.base import ApiKeyRow, Change, Link
from memstrata.store.postgres_rows import (
    INSERT,
    SELECT,
    as_array,
    record_params,
    row_to_record,
    scope_sql,
    vector_param,
)
from memstrata.types import Record, Scope

if TYPE_CHECKING:
    from psycopg_pool import ConnectionPool

_OWNER = re.compile(r"pg-[0-9a-f]{16}")
_LEASE_TRIES = 8
_KEY_COLUMNS = "id, namespace, label, created_at, revoked_at"
_COUNT = (
    "INSERT INTO counters (name, value) VALUES (%s, %s) ON CONFLICT (name) DO UPDATE "
    "SET value = counters.value + excluded.value"
)
_SET_STATE = (
    "INSERT INTO state (key, value) VALUES (%s, %s) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)
# Server-side TCP keepalives of the lease connection (ignored on a Unix socket).
_KEEPALIVES = (
    "SET tcp_keepalives_idle = 30",
    "SET tcp_keepalives_interval = 10",
    "SET tcp_keepalives_count = 3",
)

Entry = tuple[str, str, str, Any, Any, str | None, str | None]
"""A history entry to write: record id, namespace, op, before, after, actor, time."""


def _lease_key(owner: str) -> int:
    """The advisory lock key of an owner name: 64 bits of its hash, signed."""
    digest = hashlib.blake2b(owner.encode(), digest_size=8, person=b"memstrata").digest()
    return int.from_bytes(digest, "big", signed=True)


class PostgresState:
    dsn: str
    where: str
    _pool: ConnectionPool[psycopg.Connection[Any]]
    _connect_kwargs: dict[str, Any]
    _closed: bool
    _written: int

    if TYPE_CHECKING:  # provided by PostgresStore

        def _write(self) -> AbstractContextManager[psycopg.Connection[Any]]: ...

        def _read(self) -> AbstractContextManager[psycopg.Connection[Any]]: ...

        def _log(self, conn: psycopg.Connection[Any], entries: Sequence[Entry]) -> None: ...

        def _update(
            self, conn: psycopg.Connection[Any], record: Record, vector: np.ndarray | None
        ) -> None: ...

    # ----------------------------------------------------------------- owners

    def _init_owners(self) -> None:
        self._owners: set[str] = set()
        self._lease: psycopg.Connection[Any] | None = None
        self._lease_lock = threading.Lock()

    def new_owner(self) -> str:
        """A name no other open store holds, leased until this store closes (or its
        process dies, or its connection to the server is lost)."""
        with self._lease_lock:
            if self._closed:
                raise BackendError(f"{self.where}: the store is closed")
            conn = self._lease_connection()
            for _ in range(_LEASE_TRIES):
                name = f"pg-{secrets.token_hex(8)}"
                row = conn.execute("SELECT pg_try_advisory_lock(%s)", [_lease_key(name)]).fetchone()
                if row is not None and row[0]:
                    self._owners.add(name)
                    return name
        raise BackendError(f"{self.where}: no owner lease could be taken in {_LEASE_TRIES} tries")

    def owner_gone(self, owner: str) -> bool:
        """Whether no open store holds `owner`'s lease: its lock can be taken (it is
        let go at once). A name of another backend's form (marks copied from a
        SQLite file) is gone: no store open on this database can hold it."""
        if owner in self._owners:
            return False
        if not _OWNER.fullmatch(owner):
            return True
        if self._owners:
            with self._lease_lock:
                if not self._closed:
                    self._lease_connection()  # ours first, should that connection have dropped
        # A pool connection, outside any transaction of this thread: the lock is a
        # transaction's, released when the check commits.
        with self._pool.connection() as conn, conn.transaction():
            row = conn.execute("SELECT pg_try_advisory_xact_lock(%s)", [_lease_key(owner)])
            got = row.fetchone()
        return bool(got and got[0])

    def _lease_connection(self) -> psycopg.Connection[Any]:
        """The connection that holds the leases; opened again, and the leases taken
        again, when the old one was lost (under `_lease_lock`)."""
        conn = self._lease
        if conn is not None and not conn.closed and not conn.broken:
            try:
                conn.execute("SELECT 1")
                return conn
            except psycopg.OperationalError:
                conn.close()
        conn = psycopg.connect(self.dsn, autocommit=True, **self._connect_kwargs)
        for statement in _KEEPALIVES:
            conn.execute(statement)
        for name in self._owners:
            row = conn.execute("SELECT pg_try_advisory_lock(%s)", [_lease_key(name)]).fetchone()
            if not (row and row[0]):
                warnings.warn(
                    f"{self.where}: the connection holding owner {name} was lost and another "
                    "store took its lease meanwhile; work it owed may be done twice",
                    stacklevel=4,
                )
        self._lease = conn
        return conn

    def _close_owners(self) -> None:
        with self._lease_lock:
            if self._lease is not None:
                self._lease.close()  # the server frees the leases with the session
                self._lease = None
            self._owners.clear()

    # ------------------------------------------------------------------ links

    def _add_links(self, conn: psycopg.Connection[Any], links: Sequence[Link]) -> None:
        if links:
            at = now()
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO links (src, dst, type, weight, created_at) "
                    "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (src, dst, type) DO UPDATE "
                    "SET weight = excluded.weight, created_at = excluded.created_at",
                    [(*link, at) for link in links],
                )

    def add_links(self, links: Sequence[Link]) -> None:
        with self._write() as conn:
            self._add_links(conn, links)

    def linked(
        self, ids: Sequence[str], type: str, *, reverse: bool = False
    ) -> dict[str, list[str]]:
        """For each of `ids`, the records it links to with `type` (its sources when
        `reverse`: the records that link to it), heaviest first."""
        if not ids:
            return {}
        mine, other = ("dst", "src") if reverse else ("src", "dst")
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT {mine}, {other} FROM links WHERE {mine} = ANY(%b) AND type = %s "
                f"ORDER BY weight DESC, {other}",
                [list(ids), type],
            ).fetchall()
        out: dict[str, list[str]] = {}
        for key, value in rows:
            out.setdefault(key, []).append(value)
        return out

    def link_counts(self, dsts: Sequence[str], type: str) -> dict[str, int]:
        """How many records link to each of `dsts` with `type`."""
        if not dsts:
            return {}
        with self._read() as conn:
            rows = conn.execute(
                "SELECT dst, count(*) FROM links WHERE dst = ANY(%b) AND type = %s GROUP BY dst",
                [list(dsts), type],
            ).fetchall()
        counts = {dst: int(n) for dst, n in rows}
        return {dst: counts.get(dst, 0) for dst in dsts}

    # --------------------------------------------------------------- sessions

    def last_of_session(self, scope: Scope, kind: str) -> Record | None:
        """The newest live record of `kind` in `scope`'s session (by insertion)."""
        if scope.session_id is None:
            return None
        where, params = scope_sql(scope)
        with self._read() as conn:
            row = conn.execute(
                f"SELECT {SELECT} FROM records WHERE {where} AND kind = %s "
                "AND status = 'active' ORDER BY pos DESC LIMIT 1",
                [*params, kind],
            ).fetchone()
        return None if row is None else row_to_record(row)

    def session_records(
        self, scope: Scope, kind: str, *, after: str | None = None
    ) -> list[tuple[Record, np.ndarray | None]]:
        """Live records of `kind` in `scope`'s session in insertion order, from the
        record `after` (inclusive) when given, with their vectors."""
        where, params = scope_sql(scope)
        sql = f"SELECT {SELECT}, embedding FROM records WHERE {where} AND kind = %s "
        args: list[Any] = [*params, kind]
        if after is not None:
            sql += "AND pos >= (SELECT pos FROM records WHERE id = %s) "
            args.append(after)
        with self._read() as conn:
            rows = conn.execute(
                sql + "AND status = 'active' ORDER BY pos", args, binary=True
            ).fetchall()
        return [(row_to_record(r[:-1]), as_array(r[-1])) for r in rows]

    def valid_between(self, scope: Scope, since: str, until: str, limit: int) -> list[str]:
        """Ids of the turns whose facts hold at some time in [since, until): the
        facts' `source_ids`, newest valid time first."""
        where, params = scope_sql(scope)
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT source_ids FROM records WHERE {where} AND valid_from IS NOT NULL "
                "AND valid_from < %s AND valid_to > %s AND status = 'active' "
                "ORDER BY valid_from DESC LIMIT %s",
                [*params, until, since, limit],
            ).fetchall()
        out: dict[str, None] = {}
        for (ids,) in rows:
            out.update(dict.fromkeys(ids))
        return list(out)

    def iter_links(self) -> Iterator[Link]:
        """Every link, in (src, dst, type) order, read in pages."""
        last = ("", "", "")
        while True:
            with self._read() as conn:
                rows = conn.execute(
                    "SELECT src, dst, type, weight FROM links WHERE (src, dst, type) > "
                    "(%s, %s, %s) ORDER BY src, dst, type LIMIT 1000",
                    list(last),
                ).fetchall()
            if not rows:
                return
            for src, dst, type_, weight in rows:
                yield (src, dst, type_, float(weight))
            last = rows[-1][:3]

    def namespaces(self) -> list[str]:
        with self._read() as conn:
            return [r[0] for r in conn.execute("SELECT DISTINCT namespace FROM records")]

    # ----------------------------------------------------------------- state

    def get_state(self, key: str) -> bytes | None:
        with self._read() as conn:
            row = conn.execute("SELECT value FROM state WHERE key = %s", [key]).fetchone()
        return None if row is None else bytes(row[0])

    def state_items(self, prefix: str) -> list[tuple[str, bytes]]:
        """The named state whose keys start with `prefix`, by key."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT key, value FROM state WHERE key >= %s AND key < %s ORDER BY key",
                [prefix, prefix + "\U0010ffff"],
            ).fetchall()
        return [(k, bytes(v)) for k, v in rows]

    def take_state(self, key: str, new_key: str) -> bool:
        """Move the state at `key` to `new_key`; False if `key` is gone (another
        store, on any host, took it first: the row lock makes the second mover
        find nothing)."""
        with self._write() as conn:
            cur = conn.execute("UPDATE state SET key = %s WHERE key = %s", [new_key, key])
            return cur.rowcount == 1

    def _set_state(self, conn: psycopg.Connection[Any], items: Mapping[str, bytes]) -> None:
        if items:
            with conn.cursor() as cur:
                cur.executemany(_SET_STATE, list(items.items()))

    def set_state(self, items: Mapping[str, bytes]) -> None:
        with self._write() as conn:
            self._set_state(conn, items)

    def _forget(self, conn: psycopg.Connection[Any], keys: Sequence[str]) -> None:
        if keys:
            conn.execute("DELETE FROM state WHERE key = ANY(%s)", [list(keys)])

    def forget_state(self, keys: Sequence[str]) -> None:
        if keys:
            with self._write() as conn:
                self._forget(conn, keys)

    def count(self, name: str, n: int = 1) -> None:
        """Add `n` to the counter `name` (shown by `stats`)."""
        with self._write() as conn:
            conn.execute(_COUNT, [name, n])

    # -------------------------------------------------------------- formation

    def _locked(self, conn: psycopg.Connection[Any], record_id: str) -> Record | None:
        row = conn.execute(
            f"SELECT {SELECT} FROM records WHERE id = %s FOR UPDATE", [record_id]
        ).fetchone()
        return None if row is None else row_to_record(row)

    def save_derived(
        self,
        records: Sequence[Record],
        vectors: np.ndarray | None,
        *,
        links: Sequence[Link] = (),
        revised: Sequence[tuple[Record, np.ndarray | None]] = (),
        state: dict[str, bytes] | None = None,
        forget: Sequence[str] = (),
        actor: str | None = None,
        changes: Sequence[Change] = (),
        counts: Mapping[str, int] | None = None,
    ) -> None:
        """Formation's output in one transaction: new derived records, new versions
        of derived records (each logged in history; one no longer active is left
        alone, never resurrected), `changes` to records in place (left alone unless
        the record has the status given), links, state set and `forget` deleted,
        counter additions."""
        entries: list[Entry] = []
        with self._write() as conn:
            if records:
                rows = [
                    [*record_params(r), vector_param(None if vectors is None else vectors[i])]
                    for i, r in enumerate(records)
                ]
                with conn.cursor() as cur:
                    cur.executemany(INSERT, rows)
                entries += [(r.id, r.scope.namespace, "add", None, None, actor, r.recorded_at)
                            for r in records]  # fmt: skip
            for record, vector in revised:
                current = self._locked(conn, record.id)
                if current is None or current.status != "active":
                    continue  # deleted or purged meanwhile: never resurrect it
                record = replace(record, version=current.version + 1, updated_at=now())
                self._update(conn, record, vector)
                entries.append((record.id, record.scope.namespace, "form", current.to_dict(),
                                record.to_dict(), actor, None))  # fmt: skip
            for record_id, fields, op, expected in changes:
                current = self._locked(conn, record_id)
                if current is None or current.status != expected:
                    continue
                record = replace(current, **fields, version=current.version + 1, updated_at=now())
                self._update(conn, record, None)
                entries.append((record_id, record.scope.namespace, op, current.to_dict(),
                                record.to_dict(), actor, None))  # fmt: skip
            for name, n in (counts or {}).items():
                conn.execute(_COUNT, [name, n])
            self._add_links(conn, links)
            self._set_state(conn, state or {})
            self._forget(conn, forget)
            self._log(conn, entries)
        self._written += len(records)

    # ------------------------------------------------------------------- keys

    def add_key(self, key: ApiKeyRow, hashed: str) -> None:
        with self._write() as conn:
            conn.execute(
                "INSERT INTO api_keys (id, namespace, hash, label, created_at, revoked_at) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
                [key.id, key.namespace, hashed, key.label, key.created_at, key.revoked_at],
            )

    def api_keys(self) -> list[ApiKeyRow]:
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT {_KEY_COLUMNS} FROM api_keys ORDER BY created_at, id"
            ).fetchall()
        return [ApiKeyRow(*row) for row in rows]

    def revoke_key(self, key_id: str, at: str) -> ApiKeyRow | None:
        with self._write() as conn:
            conn.execute(
                "UPDATE api_keys SET revoked_at = %s WHERE id = %s AND revoked_at IS NULL",
                [at, key_id],
            )
            row = conn.execute(
                f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE id = %s", [key_id]
            ).fetchone()
        return None if row is None else ApiKeyRow(*row)

    def key_hash(self, key_id: str) -> tuple[str, str] | None:
        with self._read() as conn:
            row = conn.execute(
                "SELECT namespace, hash FROM api_keys WHERE id = %s AND revoked_at IS NULL",
                [key_id],
            ).fetchone()
        return None if row is None else (str(row[0]), str(row[1]))

    def key_hashes(self) -> dict[str, str]:
        with self._read() as conn:
            rows = conn.execute("SELECT id, hash FROM api_keys").fetchall()
        return {str(i): str(h) for i, h in rows}
