"""`memstrata bench serve` on PostgreSQL: a tiny run on a database given by DSN (in a
schema of its own, dropped afterwards), the server killed and restarted mid-run,
and the throwaway PostgreSQL server killed and restarted mid-run. Each loses no
acknowledged add and sees errors only while the killed process is down."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("psycopg")

import psycopg

from memstrata.bench.serve.plan import ServeConfig
from memstrata.bench.serve.run import run_serve
from memstrata.bench.serve.target import with_search_path
from memstrata.errors import InvalidInput


def _tiny(out: Path, **overrides: Any) -> ServeConfig:
    settings: dict[str, Any] = {"clients": 4, "requests": 120, "embedder": "hash",
                                "preload": 40, "out": out, "progress": False,
                                "plots": False}  # fmt: skip
    settings.update(overrides)
    return ServeConfig(**settings)


def _schemas(dsn: str) -> set[str]:
    with psycopg.connect(dsn) as conn:
        return {r[0] for r in conn.execute("SELECT nspname FROM pg_namespace")}


def _no_write_lost(results: dict[str, Any]) -> None:
    load, writes = results["load"], results["writes"]
    assert results["store"]["backend"] == "postgres"
    assert load["done"] == load["planned"] and load["acked_adds"] > 0
    assert writes["acked_records"] == load["acked_adds"] == writes["found"]
    assert writes["lost"] == writes["mismatched"] == 0
    # A retried add whose first attempt was stored shows up here, never as a loss.
    assert writes["events_stored"] >= writes["events_expected"]


def test_a_run_on_a_postgres_dsn_loses_nothing_and_leaves_nothing(
    tmp_path: Path, pg_dsn: str
) -> None:
    before = _schemas(pg_dsn)
    results = run_serve(_tiny(tmp_path, db=pg_dsn), log=lambda _: None)
    _no_write_lost(results)
    assert results["errors"]["count"] == 0 and results["outage"] is None
    assert results["writes"]["stored_without_ack"] == 0
    assert "--db" in results["config"]["command"]
    assert "PostgreSQL" in (tmp_path / "results.md").read_text()
    assert _schemas(pg_dsn) == before  # the run's schema is dropped


def test_killing_the_server_mid_run_loses_no_acknowledged_add(tmp_path: Path, pg_dsn: str) -> None:
    results = run_serve(_tiny(tmp_path, db=pg_dsn, kill="server"), log=lambda _: None)
    _no_write_lost(results)
    outage = results["outage"]
    assert outage["killed_at_s"] is not None and outage["down_s"] > 0
    assert outage["errors_outside"]["count"] == 0 and outage["gave_up"] == 0
    # Errors, if any, are the outage's, and each failed request was retried.
    assert outage["errors_during"]["count"] == results["errors"]["count"]
    assert set(outage["errors_during"]["by_type"]) <= {"BackendError"}
    assert results["load"]["attempts"] == results["load"]["done"] + results["errors"]["count"]
    assert "## Kill" in (tmp_path / "results.md").read_text()


def test_killing_the_database_mid_run_loses_no_acknowledged_add(tmp_path: Path) -> None:
    config = _tiny(tmp_path, backend="postgres", kill="database", requests=80)
    results = run_serve(config, log=lambda _: None)
    _no_write_lost(results)
    outage = results["outage"]
    assert outage["kill"] == "database" and outage["killed_at_s"] is not None
    assert outage["errors_outside"]["count"] == 0 and outage["gave_up"] == 0
    assert outage["service_back_after_s"] is not None
    assert "throwaway PostgreSQL" in results["store"]["target"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [({"db": "serve.db"}, "PostgreSQL DSN"),
     ({"db": "postgresql://u@h/db", "backend": "sqlite"}, "backend"),
     ({"backend": "mysql"}, "backend"),
     ({"kill": "client"}, "kill"),
     ({"kill": "server", "server": "thread"}, "process"),
     ({"kill": "database"}, "throwaway"),
     ({"kill": "database", "db": "postgresql://u@h/db"}, "throwaway")],
)  # fmt: skip
def test_store_and_kill_settings_are_checked(
    tmp_path: Path, overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        _tiny(tmp_path, **overrides).check()


def test_the_search_path_goes_into_the_dsn_options() -> None:
    dsn = with_search_path("postgresql://u@/db?host=/tmp/s&options=-cjit%3Doff", '"b",public')
    options = psycopg.conninfo.conninfo_to_dict(dsn)
    assert options["host"] == "/tmp/s"
    assert options["options"] == '-cjit=off -csearch_path="b",public'
