"""The scale benchmark: its data generator, its report helpers, and a tiny end-to-end
run whose outputs must exist and agree with each other."""

from __future__ import annotations

import json
import math
import re
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from memstrata.bench import machine, measure, report
from memstrata.bench.gen import (
    _SLOT,
    USER_TEMPLATES,
    corpus_stats,
    generate_queries,
    generate_sessions,
    generate_turns,
    iter_batches,
)
from memstrata.bench.scale.oracle import brute_force_top
from memstrata.bench.scale.plan import STRATEGIES, ScaleConfig
from memstrata.bench.scale.run import run_scale

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_WORD = re.compile(r"[\w'-]+")


def _slot_value(slots: dict[str, str], match: re.Match[str]) -> str:
    return slots[match.group(1) + match.group(2)]


# ------------------------------------------------------------------ generator


def test_generator_is_deterministic_for_a_seed() -> None:
    first, again = generate_turns(600, seed=3), generate_turns(600, seed=3)
    assert [t.text for t in first] == [t.text for t in again]
    assert first == again
    assert generate_queries(first, 40, seed=3) == generate_queries(again, 40, seed=3)


def test_generator_differs_across_seeds() -> None:
    a, b = generate_turns(300, seed=0), generate_turns(300, seed=1)
    assert sum(x.text == y.text for x, y in zip(a, b)) < 10


def test_generator_is_varied() -> None:
    turns = generate_turns(3000, seed=0)
    stats = corpus_stats(turns)
    assert len(turns) == 3000
    assert [t.index for t in turns] == list(range(3000))
    assert stats["min_words"] >= 5 and stats["max_words"] <= 40
    assert 10 <= stats["mean_words"] <= 25
    assert stats["distinct_words"] > 2000  # BM25 must have a real vocabulary
    assert len({t.text for t in turns}) > 0.95 * len(turns)
    assert len({t.template for t in turns if t.role == "user"}) == len(USER_TEMPLATES)
    assert {t.role for t in turns} == {"user", "assistant"}
    assert len({t.user_id for t in turns}) >= 2
    assert len({len(t.text.split()) for t in turns}) > 25


def test_turn_times_increase_within_a_session() -> None:
    for session in generate_sessions(2000, seed=0):
        times = [t.occurred_at for t in session.turns]
        assert times == sorted(times)
        assert {t.session_id for t in session.turns} == {session.session_id}


def test_batches_stay_within_one_session() -> None:
    sessions = generate_sessions(2000, seed=0)
    batches = list(iter_batches(sessions, 64))
    assert sum(len(b) for b in batches) == 2000
    assert all(len(b) <= 64 and len({t.session_id for t in b}) == 1 for b in batches)


def test_queries_come_from_their_target_turn() -> None:
    turns = generate_turns(2000, seed=0)
    queries = generate_queries(turns, 300, seed=0)
    assert len(queries) == 300
    assert len({q.text for q in queries}) == 300
    assert {q.kind for q in queries} == {"paraphrase", "fragment", "identifier"}
    for q in queries:
        target = turns[q.target]
        if q.kind == "fragment":
            assert q.text in " ".join(_WORD.findall(target.text))
        elif q.kind == "identifier":
            assert target.slots["ident"] in q.text
        else:  # one of the questions its target's template asks, about that turn
            questions = USER_TEMPLATES[target.template][1]
            asked = {_SLOT.sub(partial(_slot_value, target.slots), q) for q in questions}
            assert q.text in asked


# -------------------------------------------------------------------- report


def test_percentiles_match_numpy() -> None:
    values = [0.5, 3.0, 1.0, 9.0, 4.0, 2.5, 7.0]
    for q in (0, 25, 50, 95, 100):
        assert measure.percentile(values, q) == pytest.approx(float(np.percentile(values, q)))
    assert math.isnan(measure.percentile([], 50))


def test_latency_summary_is_in_milliseconds() -> None:
    summary = measure.latency_summary([0.001, 0.002, 0.003])
    assert summary["n"] == 3
    assert summary["p50_ms"] == pytest.approx(2.0)
    assert summary["max_ms"] == pytest.approx(3.0)
    assert set(summary) == {"n", "mean_ms", "p50_ms", "p95_ms", "p99_ms", "max_ms"}


def test_write_json_turns_nan_into_null(tmp_path: Path) -> None:
    path = report.write_json(tmp_path / "r.json", {"a": math.nan, "b": [np.float32(1.5)]})
    assert json.loads(path.read_text()) == {"a": None, "b": [1.5]}


def test_markdown_table_and_machine_info() -> None:
    table = report.markdown_table(["N", "x"], [[1, 2], [3, 4]])
    assert table.splitlines()[1] == "| :--- | ---: |"
    assert len(table.splitlines()) == 4
    info = machine.machine_info()
    assert info["cores_logical"] >= 1
    assert info["packages"]["numpy"] == np.__version__
    assert "memstrata" in info["packages"]


def test_brute_force_top_is_exact() -> None:
    rng = np.random.default_rng(0)
    matrix = rng.standard_normal((500, 16)).astype(np.float32)
    query = rng.standard_normal(16).astype(np.float32)
    top, scores = brute_force_top(matrix, query, 10)
    assert list(top) == list(np.argsort(-(matrix @ query))[:10])
    assert scores.shape == (500,)


# ----------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    out = tmp_path_factory.mktemp("scale")
    config = ScaleConfig(
        sizes=[300], embedder="hash", out=out, queries=20, warmup=3, single_adds=5,
        progress=False,
    )  # fmt: skip
    return run_scale(config, log=lambda _: None), out


def test_tiny_run_writes_every_output(tiny_run: tuple[dict[str, Any], Path]) -> None:
    results, out = tiny_run
    for name in ("results.json", "results.md", "latency_vs_n.png", "throughput_vs_n.png"):
        assert (out / name).is_file(), name
    assert json.loads((out / "results.json").read_text())["results"][0]["n"] == 300
    assert results["dataset"] == "scale"
    for key in (
        "schema",
        "started_at",
        "finished_at",
        "config",
        "machine",
        "targets",
        "source_revision",
    ):
        assert key in results
    markdown = (out / "results.md").read_text()
    assert "## Search latency" in markdown and "| 300 |" in markdown


def test_tiny_run_plots_are_valid_pngs(tiny_run: tuple[dict[str, Any], Path]) -> None:
    import matplotlib.image

    _, out = tiny_run
    for name in ("latency_vs_n.png", "throughput_vs_n.png"):
        data = (out / name).read_bytes()
        assert data.startswith(PNG_MAGIC)
        image = matplotlib.image.imread(out / name)
        assert image.shape[0] > 100 and image.shape[1] > 100


def test_tiny_run_figures_are_consistent(tiny_run: tuple[dict[str, Any], Path]) -> None:
    results, _ = tiny_run
    (r,) = results["results"]
    assert r["records"] > 300 and r["corpus"]["turns"] == 300  # the turns and derived memories
    assert r["ingest"]["turns"] == 300 and r["ingest"]["turns_per_s"] > 0
    assert 0 < r["ingest"]["embed_seconds"] < r["ingest"]["seconds"]
    per_record = r["storage"]["bytes_per_record"]
    assert per_record * r["records"] == pytest.approx(r["storage"]["file_bytes"])
    for name in (*STRATEGIES, "layered_user_scoped"):
        figures = r["search"][name]
        assert figures["n"] == 20
        assert 0 < figures["p50_ms"] <= figures["p95_ms"] <= figures["max_ms"]
        assert 0.0 <= figures["hit_at_10"] <= 1.0
    assert r["search"]["bm25"]["hit_at_10"] > 0.3  # queries are built from their targets
    assert r["query_embed"]["n"] == 20 and r["single_add"]["n"] == 5
    assert r["memory"]["peak_rss_bytes"] >= r["memory"]["peak_rss_engine_bytes"] > 0
    assert r["ingest_warm_index"]["turns"] == 256 and r["ingest_warm_index"]["turns_per_s"] > 0
    assert r["reopen"]["first_dense_search_ms"] > 0
    assert r["storage"]["files"]["db"] > 0
    assert results["config"]["embedder_name"] == "hash-64"


def test_tiny_run_dense_search_is_exact(tiny_run: tuple[dict[str, Any], Path]) -> None:
    results, _ = tiny_run
    vectors = results["results"][0]["vector_index"]
    assert vectors["vectors"] == 300 and vectors["dim"] == 64  # the turns, as stored
    assert vectors["recall_at_10"] == 1.0
    assert vectors["index_recall_at_10_k10"] == 1.0
    assert vectors["max_score_diff"] < 1e-5
    assert vectors["latency_ratio_p50"] > 0


def test_cli_scale_runs(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from memstrata.bench.cli import app

    args = ["scale", "--n", "150", "--embedder", "hash", "--out", str(tmp_path),
            "--queries", "5", "--warmup", "2", "--single-adds", "3", "--no-progress"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "recall@10" in result.output
    assert (tmp_path / "results.json").is_file()


def test_cli_parses_sizes() -> None:
    import typer

    from memstrata.bench.cli import parse_sizes

    assert parse_sizes("10000, 100k,1e3,1.5k") == [10000, 100000, 1000, 1500]
    for bad in ("", "ten", "0", "1.5"):
        with pytest.raises(typer.BadParameter):
            parse_sizes(bad)
