from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from memstrata import Memory

pytest_plugins = ["helpers_pg"]  # pg_server, pg_dsn: a throwaway PostgreSQL + pgvector

BACKENDS = ("sqlite", "postgres")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "every_backend: run the test's `memory` on SQLite and on PostgreSQL"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marked = metafunc.definition.get_closest_marker("every_backend") is not None
    if marked and "memory" in metafunc.fixturenames:
        metafunc.parametrize("backend", BACKENDS)


@pytest.fixture
def backend() -> str:
    """The store the `memory` fixture opens (a test marked `every_backend` gets both)."""
    return "sqlite"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "memory.db"


@pytest.fixture
def memory(request: pytest.FixtureRequest, db_path: Path, backend: str) -> Iterator[Memory]:
    target = str(request.getfixturevalue("pg_dsn")) if backend == "postgres" else db_path
    m = Memory(target, embedder="hash")
    yield m
    m.close()
