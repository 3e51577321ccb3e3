"""`memstrata bench serve`: a tiny run against a real server on loopback writes
outputs that agree with each other: counts add up, no errors, no lost writes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("matplotlib")

import typer
from typer.testing import CliRunner

from memstrata.bench.serve.command import serve_bench_command
from memstrata.bench.serve.load import run_load
from memstrata.bench.serve.plan import (
    NAMESPACE,
    VERBS,
    Op,
    ServeConfig,
    check_loopback,
    plan_requests,
)
from memstrata.bench.serve.run import run_serve
from memstrata.bench.serve.server import start_server
from memstrata.errors import InvalidInput
from memstrata.memory import Memory
from memstrata.server.keys import create_key

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _tiny(out: Path, **overrides: Any) -> ServeConfig:
    settings: dict[str, Any] = {"clients": 4, "requests": 60, "embedder": "hash",
                                "preload": 40, "out": out, "progress": False}  # fmt: skip
    settings.update(overrides)
    return ServeConfig(**settings)


def test_a_tiny_run_writes_consistent_outputs(tmp_path: Path) -> None:
    out = tmp_path / "serve"
    results = run_serve(_tiny(out), log=lambda _: None)
    assert json.loads((out / "results.json").read_text()) == json.loads(json.dumps(results))
    assert results["server"]["slots"] >= 1  # the server's own default
    assert (out / "latency.png").read_bytes().startswith(PNG_MAGIC)

    load, lat, errors, writes = (results[k] for k in ("load", "latency_ms", "errors", "writes"))
    assert results["server"]["mode"] == "process"
    assert load["planned"] == load["done"] == 60 and load["stopped_by"] == "requests"
    assert sum(load["by_verb"].values()) == load["done"]
    assert 0 < load["by_verb"]["add"] < load["done"]
    assert load["req_per_s"] == pytest.approx(load["done"] / load["wall_s"])
    assert errors["count"] == 0 and errors["by_type"] == {}
    for verb in VERBS:
        assert lat[verb]["n"] == load["by_verb"][verb]
        assert 0 < lat[verb]["p50_ms"] <= lat[verb]["p95_ms"] <= lat[verb]["p99_ms"]
        assert lat[verb]["p99_ms"] <= lat[verb]["max_ms"]
    assert lat["all"]["n"] == load["done"]
    after = results["latency_after_start_ms"]  # the requests sent after the first second
    assert all(0 < after[verb]["n"] <= lat[verb]["n"] for verb in after)  # verbs with any

    # Every acknowledged add was read back from the file, and nothing else was stored.
    assert writes["acked_records"] == load["by_verb"]["add"] == load["acked_adds"]
    assert writes["found"] == writes["acked_records"]
    assert writes["lost"] == writes["mismatched"] == writes["stored_without_ack"] == 0
    assert writes["events_preloaded"] == results["server"]["preload_turns"] == 40
    assert writes["events_stored"] == 40 + writes["acked_records"]

    markdown = (out / "results.md").read_text()
    assert f"| add | {load['by_verb']['add']} | 0 |" in markdown
    assert f"| search | {load['by_verb']['search']} | 0 |" in markdown
    assert "0 lost" in markdown
    assert results["config"]["command"] in markdown
    assert results["machine"]["cores_logical"] >= 1
    assert results["server"]["log"] is None  # the server wrote no warning or error


def test_the_time_cap_stops_a_run_and_loses_nothing(tmp_path: Path) -> None:
    config = _tiny(tmp_path, requests=20_000, seconds=0.5, server="thread", plots=False)
    results = run_serve(config, log=lambda _: None)
    load, writes = results["load"], results["writes"]
    assert load["stopped_by"] == "time"
    assert 0 < load["done"] < load["planned"]
    assert load["wall_s"] < 30
    assert results["errors"]["count"] == 0
    assert writes["lost"] == writes["mismatched"] == 0
    assert writes["events_stored"] == 40 + writes["acked_records"]
    assert not (tmp_path / "latency.png").exists()


def test_only_loopback_hosts_are_accepted(tmp_path: Path) -> None:
    for host in ("127.0.0.1", "127.0.0.2", "::1", "localhost"):
        assert check_loopback(host) == host
    for host in ("0.0.0.0", "192.168.1.10", "::", "example.com", ""):
        with pytest.raises(InvalidInput, match="loopback"):
            check_loopback(host)
    with pytest.raises(InvalidInput, match="loopback"):
        run_serve(_tiny(tmp_path, host="0.0.0.0"), log=lambda _: None)
    assert not (tmp_path / "results.json").exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [("clients", 0), ("clients", 10_000), ("requests", 0), ("requests", 10**6), ("add_share", 1.5),
     ("seconds", 0), ("preload", -1), ("server", "cloud")],
)  # fmt: skip
def test_out_of_bounds_settings_are_refused(tmp_path: Path, field: str, value: Any) -> None:
    with pytest.raises(InvalidInput, match=field):
        _tiny(tmp_path, **{field: value}).check()


def test_the_plan_is_deterministic_and_follows_the_add_share(tmp_path: Path) -> None:
    config = _tiny(tmp_path, requests=2000, add_share=0.3)
    plan, batches = plan_requests(config)
    again, _ = plan_requests(config)
    assert plan == again and len(plan) == 2000
    adds = [op for op in plan if op.verb == "add"]
    searches = [op for op in plan if op.verb == "search"]
    assert 0.25 < len(adds) / len(plan) < 0.35
    assert all(op.message and op.message["content"] for op in adds)
    assert len({op.query for op in searches}) > 0.95 * len(searches)  # the cache never answers
    assert sum(len(b["messages"]) for b in batches) == 40
    assert {op.user_id for op in searches} <= {b["user_id"] for b in batches} | {
        op.user_id for op in adds
    }
    none, _ = plan_requests(_tiny(tmp_path, add_share=0.0))
    assert {op.verb for op in none} == {"search"}


def test_the_command_runs_and_refuses_a_public_host(tmp_path: Path) -> None:
    app = typer.Typer()
    app.command("serve")(serve_bench_command)
    app.command("other")(lambda: None)  # a group, as under `memstrata bench`
    runner = CliRunner()
    args = ["serve", "--clients", "2", "--requests", "20", "--preload", "10", "--embedder",
            "hash", "--out", str(tmp_path / "cli"), "--no-progress", "--no-plots",
            "--server", "thread"]  # fmt: skip
    done = runner.invoke(app, [*args, "--slots", "3"])
    assert done.exit_code == 0, done.output
    assert "bench serve" in done.output and "lost 0" in done.output
    results = json.loads((tmp_path / "cli" / "results.json").read_text())
    assert results["load"]["done"] == 20 and results["server"]["slots"] == 3
    assert "--slots 3" in results["config"]["command"]
    refused = runner.invoke(app, [*args, "--host", "0.0.0.0"])
    assert refused.exit_code == 2
    assert "loopback" in refused.output


def test_failed_requests_are_counted_not_raised(tmp_path: Path) -> None:
    path = tmp_path / "errors.db"
    plan = [
        Op("add", "u1", "s1", message={"content": "a turn that is stored"}),
        Op("add", "u1", "s1", message={"content": "   "}),  # refused: only whitespace
        Op("search", "u1", query="stored turn"),
        Op("add", "u1", "s1", message={"content": "x", "colour": "red"}),  # unknown field
    ]
    with Memory(path, embedder="hash") as memory:
        _, secret = create_key(memory.store, NAMESPACE)
        with start_server(path, "hash", "127.0.0.1", "thread", memory) as server:
            load = run_load(server.url, secret, plan, _tiny(tmp_path, clients=2))
    assert len(load.samples) == 4 and load.stopped_by == "requests"
    failed = [s for s in load.samples if s.error]
    assert [s.index for s in sorted(failed, key=lambda s: s.index)] == [1, 3]
    assert all(str(s.error).startswith("InvalidInput: ") for s in failed)
    assert [text for _, text, _, _ in load.acked] == ["a turn that is stored"]
