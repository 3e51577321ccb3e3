"""The part of the SQLite store that formation uses: links between records, the
records of a session in order, named state (topic centroids) and counters, and
saving formation's output in one transaction.

A mixin of `SQLiteStore`: it works on the store's connection, lock and write
transaction.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from memstrata.ids import now
from memstrata.store.base import Change, Link
from memstrata.store.rows import (
    COLUMNS,
    INSERT,
    SELECT,
    blob,
    record_values,
    row_to_record,
    scope_sql,
    snapshot,
)
from memstrata.types import Record, Scope

_COUNT = (
    "INSERT INTO state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE "
    "SET value = CAST(value AS INTEGER) + excluded.value"
)


class DerivedState:
    _conn: sqlite3.Connection
    _lock: Any

    if TYPE_CHECKING:  # provided by SQLiteStore

        def _write(self) -> AbstractContextManager[sqlite3.Connection]: ...

        def _reader(self) -> sqlite3.Connection: ...

        def _next_seq(self, conn: sqlite3.Connection) -> int: ...

        def _log(self, *args: Any) -> None: ...

    def _add_links(self, conn: sqlite3.Connection, links: Sequence[Link]) -> None:
        if links:
            at = now()
            conn.executemany(
                "INSERT OR REPLACE INTO links (src, dst, type, weight, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
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
        out: dict[str, list[str]] = {}
        conn = self._reader()
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            rows = conn.execute(
                f"SELECT {mine}, {other} FROM links WHERE {mine} IN "
                f"({','.join('?' * len(chunk))}) AND type = ? ORDER BY weight DESC, {other}",
                [*chunk, type],
            ).fetchall()
            for key, value in rows:
                out.setdefault(key, []).append(value)
        return out

    def link_counts(self, dsts: Sequence[str], type: str) -> dict[str, int]:
        """How many records link to each of `dsts` with `type` (an index count: no
        ids are read, so it stays cheap for an entity with thousands of facts)."""
        out: dict[str, int] = {}
        conn = self._reader()
        for dst in dsts:
            row = conn.execute(
                "SELECT count(*) FROM links WHERE dst = ? AND type = ?", (dst, type)
            ).fetchone()
            out[dst] = int(row[0])
        return out

    def last_of_session(self, scope: Scope, kind: str) -> Record | None:
        """The newest live record of `kind` in `scope`'s session (by insertion)."""
        if scope.session_id is None:
            return None
        where, params = scope_sql(scope)
        row = (
            self._reader()
            .execute(
                f"SELECT {SELECT} FROM records WHERE {where} AND kind = ? AND status = 'active' "
                "ORDER BY rowid DESC LIMIT 1",
                [*params, kind],
            )
            .fetchone()
        )
        return None if row is None else row_to_record(row)

    def session_records(
        self, scope: Scope, kind: str, *, after: str | None = None
    ) -> list[tuple[Record, np.ndarray | None]]:
        """Live records of `kind` in `scope`'s session in insertion order, from the
        record `after` (inclusive) when given, with their vectors."""
        where, params = scope_sql(scope)
        sql = f"SELECT {SELECT}, embedding FROM records WHERE {where} AND kind = ? "
        args = [*params, kind]
        if after is not None:
            sql += "AND rowid >= (SELECT rowid FROM records WHERE id = ?) "
            args.append(after)
        rows = self._reader().execute(sql + "AND status = 'active' ORDER BY rowid", args).fetchall()
        return [
            (row_to_record(r[:-1]), None if r[-1] is None else np.frombuffer(r[-1], "<f4"))
            for r in rows
        ]

    def vectors_of(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """The stored vectors of those of `ids` that have one (the caller has already
        checked the ids' scope)."""
        if not ids:
            return {}
        rows = (
            self._reader()
            .execute(
                f"SELECT id, embedding FROM records WHERE id IN ({','.join('?' * len(ids))}) "
                "AND embedding IS NOT NULL",
                list(ids),
            )
            .fetchall()
        )
        return {r[0]: np.frombuffer(r[1], "<f4") for r in rows}

    def valid_between(self, scope: Scope, since: str, until: str, limit: int) -> list[str]:
        """Ids of the turns whose facts hold at some time in [since, until): the
        facts' `source_ids`, newest valid time first."""
        where, params = scope_sql(scope)
        rows = (
            self._reader()
            .execute(
                f"SELECT source_ids FROM records WHERE {where} AND valid_from IS NOT NULL "
                "AND valid_from < ? AND valid_to > ? AND status = 'active' "
                "ORDER BY valid_from DESC LIMIT ?",
                [*params, until, since, limit],
            )
            .fetchall()
        )
        out: dict[str, None] = {}
        for (raw,) in rows:
            out.update(dict.fromkeys(json.loads(raw)))
        return list(out)

    def iter_links(self) -> Iterator[Link]:
        last = ("", "", "")
        while True:
            rows = (
                self._reader()
                .execute(
                    "SELECT src, dst, type, weight FROM links WHERE (src, dst, type) > (?, ?, ?) "
                    "ORDER BY src, dst, type LIMIT 1000",
                    last,
                )
                .fetchall()
            )
            if not rows:
                return
            for src, dst, type_, weight in rows:
                yield (src, dst, type_, float(weight))
            last = rows[-1][:3]

    def namespaces(self) -> list[str]:
        with self._lock:
            return [r[0] for r in self._conn.execute("SELECT DISTINCT namespace FROM records")]

    def get_state(self, key: str) -> bytes | None:
        row = self._reader().execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return None if row is None else bytes(row[0])

    def state_items(self, prefix: str) -> list[tuple[str, bytes]]:
        """The named state whose keys start with `prefix`, by key."""
        rows = self._reader().execute(
            "SELECT key, value FROM state WHERE key >= ? AND key < ? ORDER BY key",
            (prefix, prefix + "\U0010ffff"),
        )
        return [(k, bytes(v)) for k, v in rows.fetchall()]

    def take_state(self, key: str, new_key: str) -> bool:
        """Move the state at `key` to `new_key`; False if `key` is gone (another
        process took it first)."""
        with self._write() as conn:
            return (
                conn.execute("UPDATE state SET key = ? WHERE key = ?", (new_key, key)).rowcount == 1
            )

    def set_state(self, items: Mapping[str, bytes]) -> None:
        with self._write() as conn:
            conn.executemany("INSERT OR REPLACE INTO state (key, value) VALUES (?, ?)",
                             list(items.items()))  # fmt: skip

    def forget_state(self, keys: Sequence[str]) -> None:
        if keys:
            with self._write() as conn:
                self._forget(conn, keys)

    def _forget(self, conn: sqlite3.Connection, keys: Sequence[str]) -> None:
        if keys:
            conn.executemany("DELETE FROM state WHERE key = ?", [(k,) for k in keys])

    def count(self, name: str, n: int = 1) -> None:
        """Add `n` to the counter `name` (shown by `stats`)."""
        with self._write() as conn:
            conn.execute(_COUNT, (f"count:{name}", n))

    def _counters(self) -> dict[str, int]:
        rows = self._conn.execute(
            "SELECT substr(key, 7), CAST(value AS INTEGER) FROM state WHERE key LIKE 'count:%'"
        ).fetchall()
        return dict(rows)

    def _change(
        self, conn: sqlite3.Connection, record_id: str, fields: dict[str, Any], op: str,
        expected: str, seq: int, actor: str | None,
    ) -> bool:  # fmt: skip
        found = conn.execute(f"SELECT {SELECT} FROM records WHERE id = ?", (record_id,))
        row = found.fetchone()
        if row is None:
            return False
        current = row_to_record(row)
        if current.status != expected:
            return False
        record = replace(current, **fields, version=current.version + 1, updated_at=now())
        sets = ", ".join(f"{c} = ?" for c in COLUMNS[1:])
        conn.execute(f"UPDATE records SET {sets}, seq = ? WHERE id = ?",
                     [*record_values(record)[1:], seq, record_id])  # fmt: skip
        self._log(conn, record_id, record.scope.namespace, op, snapshot(current),
                  snapshot(record), actor)  # fmt: skip
        return True

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
        of derived records (each logged in history), links and state; the state at
        the keys in `forget` is deleted. `changes`: (record id, new field values,
        history op, the status the record must have) for records that change in
        place (a fact superseded); one whose status is not that is left alone.
        `counts`: additions to counters (see `count`)."""
        with self._write() as conn:
            seq = self._next_seq(conn)
            for i, record in enumerate(records):
                vector = None if vectors is None else vectors[i]
                conn.execute(INSERT, [*record_values(record), blob(vector), seq])
                self._log(conn, record.id, record.scope.namespace, "add", None, None, actor,
                          record.recorded_at)  # fmt: skip
            for record, vector in revised:
                row = conn.execute(f"SELECT {SELECT} FROM records WHERE id = ?", (record.id,))
                found = row.fetchone()
                if found is None:
                    continue
                current = row_to_record(found)
                if current.status != "active":
                    continue  # deleted or purged meanwhile: never resurrect it
                record = replace(record, version=current.version + 1, updated_at=now())
                sets = ", ".join(f"{c} = ?" for c in COLUMNS[1:])
                params = [*record_values(record)[1:], seq]
                if vector is not None:
                    sets += ", seq = ?, embedding = ?"
                    params.append(blob(vector))
                else:
                    sets += ", seq = ?"
                conn.execute(f"UPDATE records SET {sets} WHERE id = ?", [*params, record.id])
                self._log(conn, record.id, record.scope.namespace, "form", snapshot(current),
                          snapshot(record), actor)  # fmt: skip
            for record_id, fields, op, expected in changes:
                self._change(conn, record_id, fields, op, expected, seq, actor)
            for name, n in (counts or {}).items():
                conn.execute(_COUNT, (f"count:{name}", n))
            self._add_links(conn, links)
            for key, value in (state or {}).items():
                conn.execute(
                    "INSERT OR REPLACE INTO state (key, value) VALUES (?, ?)", (key, value)
                )
            self._forget(conn, forget)
