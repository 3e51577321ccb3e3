"""The throwaway PostgreSQL + pgvector server of tests/helpers_pg.py: it starts, has
pgvector, isolates the per-test databases, and cleans up after itself."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import psycopg
import pytest
from helpers_pg import PgServer, fresh_database, running_server
from pgvector import HalfVector
from pgvector.psycopg import register_vector

pytest_plugins = ["helpers_pg"]  # its fixtures: pg_server (one per run) and pg_dsn (per test)


def one(conn: psycopg.Connection[Any], query: str, params: Any = None) -> Any:
    """The first column of the single row that `query` returns."""
    row = conn.execute(query, params).fetchone()
    assert row is not None
    return row[0]


def test_server_accepts_a_connection(pg_dsn: str) -> None:
    with psycopg.connect(pg_dsn) as conn:
        version = one(conn, "SHOW server_version")
        db, user = conn.execute("SELECT current_database(), current_user").fetchall()[0]
    assert int(version.split(".")[0]) >= 16
    assert pg_dsn.split("?")[0].endswith("/" + db)
    assert user == "postgres"


def test_server_listens_on_no_tcp_port(pg_server: PgServer) -> None:
    with psycopg.connect(pg_server.dsn()) as conn:
        assert one(conn, "SHOW listen_addresses") == ""
        assert conn.info.host == str(pg_server.socket_dir)


def test_server_does_not_run_as_root(pg_server: PgServer) -> None:
    with open(f"/proc/{pg_server.pid}/status") as f:
        uids = next(line for line in f if line.startswith("Uid:")).split()[1:]
    assert all(int(u) != 0 for u in uids)
    if os.geteuid() != 0:
        assert int(uids[0]) == os.geteuid()


def test_vector_extension_is_created(pg_dsn: str) -> None:
    with psycopg.connect(pg_dsn) as conn:
        conn.execute("CREATE EXTENSION vector")
        version = one(conn, "SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        assert one(conn, "SELECT '[1,2,3]'::vector <-> '[1,2,5]'::vector") == 2
    assert tuple(int(p) for p in version.split(".")[:2]) >= (0, 7)  # halfvec came in 0.7


def test_hnsw_cosine_nearest_row(pg_dsn: str) -> None:
    with psycopg.connect(pg_dsn) as conn:
        conn.execute("CREATE EXTENSION vector")
        register_vector(conn)
        conn.execute("CREATE TABLE items (id int PRIMARY KEY, embedding vector(3))")
        rows = [(1, [1, 0, 0]), (2, [0, 1, 0]), (3, [0, 0, 1]), (4, [1, 1, 0]), (5, [-1, 0, 0])]
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO items VALUES (%s, %s)", [(i, np.array(v, float)) for i, v in rows]
            )
        conn.execute("CREATE INDEX ON items USING hnsw (embedding vector_cosine_ops)")
        conn.execute("SET enable_seqscan = off")  # make the planner use the HNSW index
        query = "SELECT id FROM items ORDER BY embedding <=> %s LIMIT 2"
        plan = "\n".join(r[0] for r in conn.execute("EXPLAIN " + query, (np.array([1, 0.9, 0]),)))
        assert "items_embedding_idx" in plan
        # Cosine ignores length: [10, 9, 0] points nearly along [1, 1, 0].
        ids = [r[0] for r in conn.execute(query, (np.array([10.0, 9.0, 0.0]),))]
        assert ids == [4, 1]
        ids = [r[0] for r in conn.execute(query, (np.array([-3.0, 0.1, 0.0]),))]
        assert ids[0] == 5
        dist = one(
            conn, "SELECT embedding <=> %s FROM items WHERE id = 2", (np.array([0.0, 5.0, 0.0]),)
        )
        assert dist == pytest.approx(0.0, abs=1e-6)


def test_halfvec(pg_dsn: str) -> None:
    with psycopg.connect(pg_dsn) as conn:
        conn.execute("CREATE EXTENSION vector")
        register_vector(conn)
        conn.execute("CREATE TABLE h (id int PRIMARY KEY, e halfvec(3))")
        conn.execute(
            "INSERT INTO h VALUES (1, %s), (2, %s)",
            (HalfVector([1, 0, 0]), HalfVector([0.5, 0.25, 0.125])),
        )
        conn.execute("CREATE INDEX ON h USING hnsw (e halfvec_l2_ops)")
        back = one(conn, "SELECT e FROM h WHERE id = 2")
        assert isinstance(back, HalfVector)
        assert back.to_list() == [0.5, 0.25, 0.125]  # exact in float16
        nearest = one(
            conn, "SELECT id FROM h ORDER BY e <-> %s LIMIT 1", (HalfVector([0.4, 0.3, 0.1]),)
        )
        assert nearest == 2
        assert one(conn, "SELECT vector_dims(e) FROM h WHERE id = 1") == 3


def test_fresh_databases_are_isolated(pg_server: PgServer, pg_dsn: str) -> None:
    with psycopg.connect(pg_dsn) as conn:
        conn.execute("CREATE TABLE only_here (x int)")
        conn.execute("INSERT INTO only_here VALUES (1)")
    with fresh_database(pg_server) as other:
        assert other != pg_dsn
        with psycopg.connect(other) as conn:
            found = one(conn, "SELECT to_regclass('only_here')")
            assert found is None
            assert one(conn, "SELECT count(*) FROM pg_extension") == 1  # plpgsql
        other_name = other.split("?")[0].rsplit("/", 1)[1]
    # The fresh database is dropped on leaving; ours is still there with its table.
    with psycopg.connect(pg_dsn) as conn:
        assert conn.execute("SELECT x FROM only_here").fetchall() == [(1,)]
        names = {r[0] for r in conn.execute("SELECT datname FROM pg_database")}
    assert other_name not in names


def test_rolled_back_transaction_leaves_nothing(pg_dsn: str) -> None:
    with psycopg.connect(pg_dsn) as conn:
        conn.execute("CREATE TABLE kept (x int)")
        conn.commit()
        with pytest.raises(ZeroDivisionError), conn.transaction():
            conn.execute("CREATE TABLE dropped (x int)")
            conn.execute("INSERT INTO kept VALUES (1)")
            raise ZeroDivisionError
        assert one(conn, "SELECT to_regclass('dropped')") is None
        assert one(conn, "SELECT count(*) FROM kept") == 0
    with psycopg.connect(pg_dsn) as conn:  # and a new session sees the same
        assert one(conn, "SELECT to_regclass('dropped')") is None
        assert one(conn, "SELECT count(*) FROM kept") == 0


def test_running_server_stops_and_removes_its_directory_even_on_error() -> None:
    with pytest.raises(RuntimeError, match="boom"), running_server() as server:
        root, pid, dsn = server.root, server.pid, server.dsn()
        with psycopg.connect(dsn) as conn:
            assert one(conn, "SELECT 1") == 1
        raise RuntimeError("boom")
    assert not root.exists()
    assert not os.path.exists(f"/proc/{pid}")  # reaped, not a zombie
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(dsn, connect_timeout=2)
