"""Purge residue (memstrata.bench.reliability.residue): after every turn about a
made-up person is purged, their name, words and vectors are in no byte of the
store's files (db, -wal, .ann side file) and in no export."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import pytest

from memstrata.bench.reliability.residue import (
    ResidueConfig,
    find_text,
    find_vectors,
    run_residue,
    windows,
)


@pytest.fixture(scope="module")
def purged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("residue")
    return run_residue(ResidueConfig(seed=1, work=work, variants=("small", "ann")))


def test_formation_made_facts_an_episode_and_a_profile_about_the_name(
    purged: dict[str, Any],
) -> None:
    assert purged["under_formed"] == []
    ann = purged["variants"]["ann"]
    assert ann["ann_file_before"], "the graph's side file must exist for the ann variant"
    assert all(v["vectors_checked"] >= 10 for v in purged["variants"].values())


@pytest.mark.parametrize("variant", ["small", "ann"])
def test_purged_name_words_and_vectors_leave_the_file(purged: dict[str, Any], variant: str) -> None:
    v = purged["variants"][variant]
    left = {name: f["text_found"] for name, f in v["files"].items() if f["text_found"]}
    assert not left, f"{v['name']} still in {left}; where: {v['where']}"
    assert v["vectors_in_files"] == 0, v["where"]


@pytest.mark.parametrize("variant", ["small", "ann"])
def test_purged_content_is_in_no_export(purged: dict[str, Any], variant: str) -> None:
    v = purged["variants"][variant]
    assert v["text_in_export"] == [] and v["vectors_in_export"] == 0


def test_the_scan_finds_planted_residue(tmp_path: Path) -> None:
    vector = struct.pack("<16f", *[0.1 * (i + 1) for i in range(16)]) + bytes(64)
    blob = b"header" + b"...ZYQUORVEX..." + vector[:64] + b"tail"
    assert find_text(blob, ["Zyquorvex", "zqnotthere"]) == ["Zyquorvex"]
    assert find_vectors(blob, {"r1": vector}) == ["r1"]  # its first window is there
    # A window of zeros is not a trace of anything.
    assert windows(bytes(128)) == [bytes(128)]
    assert find_vectors(bytes(4096), {"r2": bytes(64) + vector[:64]}) == []
