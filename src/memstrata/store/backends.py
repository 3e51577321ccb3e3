"""Which backend a store target names: a `postgresql://` (or `postgres://`) DSN is a
PostgreSQL database; anything else is the path of a SQLite file (the default).

A DSN may carry the PostgreSQL store's own options as query parameters, so that they
reach it from anywhere a DSN goes (`Memory`, `serve --db`, `migrate --to`):
`pool_size` (connections opened at most, default 10) and `vector_index` ("vector" or
"halfvec"). They are taken out before the DSN reaches the driver."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

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
        dsn, options = _store_options(target)
        return PostgresStore(dsn, migrate=migrate, **options)
    from memstrata.store.sqlite import SQLiteStore

    return SQLiteStore(Path(target), migrate=migrate)


def _store_options(dsn: str) -> tuple[str, dict[str, Any]]:
    """The DSN without the store's own query parameters, and those parameters."""
    parts = urlsplit(dsn)
    query = parse_qsl(parts.query, keep_blank_values=True)
    options: dict[str, Any] = {}
    kept = []
    for name, value in query:
        if name == "pool_size":
            if not value.isdigit() or not 1 <= int(value) <= 1000:
                raise ConfigError(f"pool_size in the DSN must be a whole number from 1 to 1000, "
                                  f"not {value!r}")  # fmt: skip
            options["pool_size"] = int(value)
        elif name == "vector_index":
            options["vector_index"] = value
        else:
            kept.append((name, value))
    if not options:
        return dsn, options
    return urlunsplit(parts._replace(query=urlencode(kept))), options
