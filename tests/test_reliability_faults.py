"""Faults (memstrata.bench.reliability.faults and .corrupt): disk full, read-only
media, damaged store files and -wal files, a damaged model. Each test holds what the
caller saw to issue 10's contract: only memstrata errors, nothing acked lost, a
damaged file never written to, `memstrata check` and `memstrata backup`, and a
store that keeps taking text when its model is broken."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from memstrata.bench.reliability import battery, corrupt, faults
from memstrata.bench.reliability.run import _FULL, _READ_ONLY, _names_cause


def _disk_full(result: dict[str, Any]) -> None:
    if "skipped" in result:
        pytest.skip(result["skipped"])
    assert "child_failed" not in result, result.get("child_failed")
    assert result["acked_before_full"] > 0  # the disk filled up under acked writes
    first = result["first_failure"]
    assert first["error"] == "BackendError" and _names_cause(_FULL, first["message"]), first
    assert result["acked_lost"] == 0
    assert result["read"]["ok"], result["read"]
    assert result["write_after_space_back"]["ok"], result["write_after_space_back"]
    assert result["integrity"] == "ok"


def test_disk_full_by_file_size_limit(tmp_path: Path) -> None:
    _disk_full(faults.run_diskfull(tmp_path, how="rlimit"))


def test_disk_full_on_a_small_filesystem(tmp_path: Path) -> None:
    _disk_full(faults.run_diskfull(tmp_path, how="tmpfs"))


def test_read_only_media(tmp_path: Path) -> None:
    result = faults.run_readonly(tmp_path)
    if "skipped" in result:
        pytest.skip(result["skipped"])
    for name, case in result["cases"].items():
        assert case["raw"] == [] and case["writes_taken"] == [], (name, case)
        message = case["open"]["message"] or " ".join(case["messages"].values())
        assert _names_cause(_READ_ONLY, message), (name, message)
        assert case["writable_again"] and case["turns_after"] == case["turns_before"], name


# ------------------------------------------------------------- damaged files


@pytest.fixture(scope="module")
def damaged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return corrupt.run_corrupt(tmp_path_factory.mktemp("corrupt"), seed=0)


def _case(damaged: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in damaged["by_case"] if c["case"] == name)


@pytest.mark.parametrize("name", [*corrupt.CORRUPTIONS, *corrupt.WAL_DAMAGE])
def test_a_damaged_store_gives_only_memstrata_errors(damaged: dict[str, Any], name: str) -> None:
    case = _case(damaged, name)
    assert case["raw"] == [], case["raw"]


# Garbage appended is left out: SQLite reads only the pages its header counts, so
# that file passes quick_check and is healthy as far as anyone can tell.
@pytest.mark.parametrize("name", [n for n in corrupt.CORRUPTIONS if n != "garbage appended"])
def test_a_store_failing_quick_check_is_refused_and_never_written(
    damaged: dict[str, Any], name: str
) -> None:
    case = _case(damaged, name)
    if not case["damaged"]:
        pytest.skip(f"quick_check passes after {name!r}: SQLite reads the file as healthy")
    assert case["writes_taken_while_damaged"] == [], case["verbs"]
    assert case["refused_cleanly"], (case["open_error"], case["verbs"])


@pytest.mark.parametrize("name", list(corrupt.WAL_DAMAGE))
def test_a_damaged_wal_leaves_a_consistent_store(damaged: dict[str, Any], name: str) -> None:
    case = _case(damaged, name)
    assert case["opened"] and case["integrity_after"] == "ok", case
    assert case["verbs"]["add"] == "ok"
    # What the cut kept is there (a -wal cut loses only the commits after the cut).
    assert 1 <= case["turns_found"] <= case["turns_written"]


def test_check_command_tells_healthy_from_damaged(damaged: dict[str, Any]) -> None:
    assert damaged["check_healthy_exit"] == 0, damaged["check_healthy_output"]
    for case in damaged["by_case"]:
        if case["damaged"]:
            assert case["check_exit"] == 1 and case["check_output"], (case["case"], case)


def test_backup_command_writes_a_copy_that_opens_with_the_same_records(
    damaged: dict[str, Any],
) -> None:
    backup = damaged["backup"]
    assert backup["exit"] == 0, backup["output"]
    assert backup["copy_ok"], backup


def test_the_healthy_store_passes_every_check(tmp_path: Path) -> None:
    # What the damaged cases are measured against: no error anywhere.
    store = tmp_path / "healthy.db"
    record_id = corrupt.build_store(store, turns=60)
    assert battery.pragma_check(store) == "ok"
    healthy = battery.open_and_exercise(store, record_id)
    assert battery.raw_errors(healthy) == [] and all(o["ok"] for o in healthy["verbs"].values()), (
        healthy["verbs"]
    )


# ------------------------------------------------------------ damaged model


@pytest.mark.model
@pytest.mark.parametrize("name", ["model.onnx bytes flipped", "model.onnx missing"])
def test_a_damaged_model_still_stores_and_finds_text(tmp_path: Path, name: str) -> None:
    pytest.importorskip("fastapi")
    case = faults.run_model_case(tmp_path, faults.MODEL_DAMAGE[name])
    assert faults.model_contract(case, stored=2) == []
