"""Where a serving run keeps its store: a fresh SQLite file, a fresh schema in a
PostgreSQL database the caller names, or a database in a throwaway PostgreSQL server
started for the run (and killed mid-run by `--kill database`)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from memstrata.bench.pg_server import PgServer, throwaway_server
from memstrata.bench.serve.plan import ServeConfig, redact_dsn
from memstrata.errors import BackendError


@dataclass
class StoreTarget:
    """What the server opens (`target`: a path or a DSN), how to name it in results
    (`shown`), and the throwaway PostgreSQL server when there is one."""

    target: str
    shown: str
    backend: str
    pg: PgServer | None = None


@contextmanager
def store_target(config: ServeConfig, folder: Path) -> Iterator[StoreTarget]:
    """The run's store, removed afterwards: a file in `folder`; a schema of its own in
    `config.db` (dropped at the end); or a throwaway server's database."""
    if config.store_backend == "sqlite":
        path = folder / "serve.db"
        yield StoreTarget(str(path), str(path), "sqlite")
    elif config.db is not None:
        with own_schema(config.db) as dsn:
            yield StoreTarget(dsn, redact_dsn(config.db), "postgres")
    else:
        with throwaway_server() as server:
            dsn = server.create_database("memstrata_bench")
            yield StoreTarget(dsn, f"throwaway PostgreSQL in {server.root}", "postgres", server)


@contextmanager
def own_schema(dsn: str) -> Iterator[str]:
    """A new schema in the database of `dsn`, first on the search path of the DSN
    yielded (so the store's tables are made there), dropped with all it holds on
    exit: a fresh store in a database that may hold others."""
    import psycopg

    name = f"memstrata_bench_{secrets.token_hex(4)}"
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            path = str(conn.execute("SHOW search_path").fetchone()[0])  # type: ignore[index]
            conn.execute(f'CREATE SCHEMA "{name}"')
    except psycopg.Error as exc:
        raise BackendError(
            f"cannot make a schema for the run in {redact_dsn(dsn)}: {redact_dsn(str(exc))}"
        ) from None
    try:
        yield with_search_path(dsn, f'"{name}",{path.replace(" ", "")}')
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{name}" CASCADE')


def with_search_path(dsn: str, search_path: str) -> str:
    """`dsn` with `-c search_path=...` added to its `options` parameter."""
    parts = urlsplit(dsn)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    query["options"] = f"{query.get('options', '')} -csearch_path={search_path}".strip()
    return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote, safe="/")))
