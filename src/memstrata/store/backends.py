"""Which backend a store target names: a `postgresql://` (or `postgres://`) DSN is a
PostgreSQL database; anything else is the path of a SQLite file (the default)."""

from __future__ import annotations

import os
from pathlib import Path

from memstrata.errors import ConfigError
from memstrata.store.base import Store

_POSTGRES_SCHEMES = ("postgresql://", "postgres://")
_POSTGRES_MODULES = {"psycopg", "psycopg_pool", "pgvector"}


def is_postgres(target: str | os.PathLike[str]) -> bool:
    """Whether `target` is a PostgreSQL DSN (a URL of the postgresql scheme)."""
    return isinstance(target, str) and target.lower().startswith(_POSTGRES_SCHEMES)


def open_store(target: str | os.PathLike[str], *, migrate: bool = False) -> Store:
    """The store at `target`: a PostgreSQL database for a `postgresql://` DSN, else a
    SQLite file at a path.

    >>> open_store("memory.db")
    >>> open_store("postgresql://memstrata:secret@db.internal:5432/memstrata")
    """
    if is_postgres(target):
        assert isinstance(target, str)
        try:
            from memstrata.store.postgres import PostgresStore
        except ImportError as exc:
            if (exc.name or "").partition(".")[0] not in _POSTGRES_MODULES:
                raise
            raise ConfigError(
                f"a PostgreSQL store needs {exc.name}, which is not installed: "
                "pip install 'memstrata[postgres]'"
            ) from None
        return PostgresStore(target, migrate=migrate)
    from memstrata.store.sqlite import SQLiteStore

    return SQLiteStore(Path(target), migrate=migrate)
