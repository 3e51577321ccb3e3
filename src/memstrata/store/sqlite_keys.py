"""The SQLite store's API-key table (`Keys`): a mixin of `SQLiteStore`, on its
connection, lock and write transaction. Only a key's hash is stored."""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from memstrata.store.base import ApiKeyRow

_COLUMNS = "id, namespace, label, created_at, revoked_at"


class KeyTable:
    _conn: sqlite3.Connection
    _lock: Any

    if TYPE_CHECKING:  # provided by SQLiteStore

        def _write(self) -> AbstractContextManager[sqlite3.Connection]: ...

        def _reader(self) -> sqlite3.Connection: ...

    def add_key(self, key: ApiKeyRow, hashed: str) -> None:
        with self._write() as conn:
            conn.execute(
                "INSERT INTO api_keys (id, namespace, hash, label, created_at, revoked_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (key.id, key.namespace, hashed, key.label, key.created_at, key.revoked_at),
            )

    def api_keys(self) -> list[ApiKeyRow]:
        rows = (
            self._reader()
            .execute(f"SELECT {_COLUMNS} FROM api_keys ORDER BY created_at, id")
            .fetchall()
        )
        return [ApiKeyRow(*row) for row in rows]

    def revoke_key(self, key_id: str, at: str) -> ApiKeyRow | None:
        with self._write() as conn:
            conn.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                (at, key_id),
            )
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM api_keys WHERE id = ?", (key_id,)
            ).fetchone()
        return None if row is None else ApiKeyRow(*row)

    def key_hash(self, key_id: str) -> tuple[str, str] | None:
        row = (
            self._reader()
            .execute(
                "SELECT namespace, hash FROM api_keys WHERE id = ? AND revoked_at IS NULL",
                (key_id,),
            )
            .fetchone()
        )
        return None if row is None else (str(row[0]), str(row[1]))

    def key_hashes(self) -> dict[str, str]:
        rows = self._reader().execute("SELECT id, hash FROM api_keys").fetchall()
        return {str(i): str(h) for i, h in rows}
