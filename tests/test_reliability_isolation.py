"""Tenant isolation (memstrata.bench.reliability.isolation): tenant A's key against
every verb route and MCP tool aimed at tenant B, on a live loopback server; then
A's hostile input must not break B's service or the store's next start."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("mcp")

from memstrata.bench.reliability.isolation import IsolationConfig, Tally, run_isolation


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return run_isolation(IsolationConfig(seed=2, work=tmp_path_factory.mktemp("isolation")))


def test_tenant_a_sees_and_changes_nothing_of_tenant_b(matrix: dict[str, Any]) -> None:
    assert matrix["attempts"] > 300 and matrix["by_route"]["mcp"] > 40
    assert matrix["untried_verbs"] == []
    assert matrix["tenant_b_records"] > 10  # turns and what formation made of them
    figures = {k: matrix[k] for k in ("leaks", "b_records_changed", "server_errors")}
    assert figures == {"leaks": 0, "b_records_changed": 0, "server_errors": 0}, matrix["examples"]


def test_tenant_a_input_cannot_break_tenant_b(matrix: dict[str, Any]) -> None:
    a = matrix["availability"]
    assert a["poison_sent"] == 10
    figures = {k: a[k] for k in ("poison_server_errors", "b_calls_broken", "close_failed",
                                 "restart_failed", "b_calls_broken_after_restart",
                                 "failed_add_stored")}  # fmt: skip
    assert figures == {"poison_server_errors": 0, "b_calls_broken": 0, "close_failed": False,
                       "restart_failed": False, "b_calls_broken_after_restart": 0,
                       "failed_add_stored": False}, (
        a["poison_answers"], a["examples"],
    )  # fmt: skip


def test_a_leak_is_counted_unless_the_caller_sent_it() -> None:
    tally = Tally()
    tally.see(
        "/v1/get", "echo", '{"record_id": "zqbelongstob"}', 404, "no zqbelongstob", ["zqbelongstob"]
    )
    tally.see("/v1/list", "leak", "{}", 200, '{"text": "ZQbelongsToB said"}', ["zqbelongstob"])
    tally.see("/v1/list", "error", "{}", 500, "internal error", ["zqbelongstob"])
    assert tally.attempts == 3
    assert [leak.split(":")[0] for leak in tally.leaks] == ["leak"]
    assert len(tally.server_errors) == 1
