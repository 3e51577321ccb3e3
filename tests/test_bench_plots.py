"""The benchmark plots: what each panel holds (computed from results the test builds),
series that coincide drawn once, the grid layout, and PNGs that are written even
with nothing to show."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("matplotlib")

import matplotlib.image

from memstrata.bench import plots, summary
from memstrata.bench.metrics import KS
from memstrata.bench.model import RunState
from memstrata.bench.scale.report import latency_panels, throughput_panels
from memstrata.bench.scale.run import _rate_curve
from memstrata.bench.serve.load import Sample
from memstrata.bench.serve.report import over_run_panels

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _recall(values: list[float], n: int) -> dict[str, Any]:
    return {"n_questions": n, "recall_at": {str(k): v for k, v in zip(KS, values)}}


def _results() -> dict[str, Any]:
    def block(shift: float) -> dict[str, Any]:
        return {
            **_recall([0.1 + shift, 0.4, 0.6, 0.8], 30),
            "by_category": {
                "1": {"name": "multi-hop", "in_overall": True, **_recall([0.1, 0.2, 0.3, 0.4], 10)},
                "5": {"name": "adversarial", "in_overall": False,
                      **_recall([0.5, 0.6, 0.7, 0.8], 20)},
            },
        }  # fmt: skip

    return {
        "dataset": "toy", "unit": "turn", "category_label": "category",
        "config": {"embedder": "hash-64"},
        "by_strategy": {"bm25": block(0.0), "layered": block(0.2), "default": block(0.2)},
    }  # fmt: skip


def test_recall_panels_hold_overall_then_each_category() -> None:
    panels = summary.recall_panels(_results(), "turn")
    assert [p.title for p in panels] == [
        "overall (n=30)", "1 multi-hop (n=10)", "5 adversarial, not in overall (n=20)",
    ]  # fmt: skip
    overall = panels[0]
    assert set(overall.series) == {"bm25", "layered", "default"}
    xs, ys = overall.series["layered"]
    assert list(xs) == list(KS) and ys[0] == pytest.approx(0.3)
    assert panels[2].series["bm25"][1] == [0.5, 0.6, 0.7, 0.8]
    assert all(p.ylim == (0.0, 1.02) for p in panels)


def test_a_category_with_no_scored_question_gets_no_panel() -> None:
    results = _results()
    for block in results["by_strategy"].values():
        block["by_category"]["abstention"] = {
            "name": "abstention", "in_overall": False, "n_questions": 0,
            "recall_at": dict.fromkeys(map(str, KS)),
        }  # fmt: skip
    titles = [p.title for p in summary.recall_panels(results, "turn")]
    assert titles == ["overall (n=30)", "1 multi-hop (n=10)",
                      "5 adversarial, not in overall (n=20)"]  # fmt: skip


def test_series_equal_in_every_panel_are_drawn_once() -> None:
    panels = summary.recall_panels(_results(), "turn")
    assert plots._merge_equal(panels) == {"bm25": "bm25", "layered": "layered",
                                          "default": "layered"}  # fmt: skip
    # bm25 equals layered in the category panels but not overall: both are drawn.
    apart = [plots.Panel("a", {"x": ([1, 2], [1, 2]), "y": ([1, 2], [1, 2])}),
             plots.Panel("b", {"x": ([1, 2], [1, 2]), "y": ([1, 2], [1, 3])})]  # fmt: skip
    assert plots._merge_equal(apart) == {"x": "x", "y": "y"}
    assert plots._joined("layered", {"layered": "layered", "default": "layered"}) == (
        "layered = default"
    )


def test_panels_wrap_into_rows(tmp_path: Path) -> None:
    def panel(i: int) -> plots.Panel:
        return plots.Panel(f"p{i}", {"s": ([1, 5, 10], [0.1, None, 0.4])}, xlabel="k")

    one_row = plots.panels_plot(tmp_path / "a.png", [panel(i) for i in range(3)], title="t",
                                columns=3)  # fmt: skip
    two_rows = plots.panels_plot(tmp_path / "b.png", [panel(i) for i in range(5)], title="t",
                                 columns=3)  # fmt: skip
    a, b = matplotlib.image.imread(one_row), matplotlib.image.imread(two_rows)
    assert a.shape[1] == b.shape[1]  # three columns wide, both
    assert b.shape[0] > 1.5 * a.shape[0]  # a second row of panels


def test_latency_samples_pool_context_over_strategies() -> None:
    state = RunState(
        search_s={"bm25": [0.001, 0.002], "dense": [0.003]},
        context_s={"bm25": {"500": [0.01]}, "dense": {"500": [0.02], "1000": [0.03]}},
    )
    samples = summary.latency_samples(state)
    assert samples["search, by strategy"] == {"bm25": [1.0, 2.0], "dense": [3.0]}
    assert samples["context, by token budget"] == {"500 tokens": [10.0, 20.0],
                                                   "1000 tokens": [30.0]}  # fmt: skip


def test_ecdf_plot_writes_a_png_with_or_without_samples(tmp_path: Path) -> None:
    path = plots.ecdf_plot(tmp_path / "l.png", {"a": {"x": [1.0, 2.0, 40.0]}, "b": {"y": []}},
                           title="t")  # fmt: skip
    assert path.read_bytes().startswith(PNG_MAGIC)
    empty = plots.ecdf_plot(tmp_path / "e.png", {"a": {"x": []}}, title="t")
    assert empty.read_bytes().startswith(PNG_MAGIC)


def test_ingest_rate_curve_follows_the_store_filling() -> None:
    # 40 batches of 25 turns; the second half twice as slow per turn.
    sizes = [25] * 40
    times = [0.25] * 20 + [0.5] * 20
    curve = _rate_curve(times, sizes)
    assert curve["stored"] == sorted(curve["stored"]) and curve["stored"][-1] == 1000
    assert len(curve["stored"]) == 20
    assert curve["turns_per_s"][0] == pytest.approx(100.0)
    assert curve["turns_per_s"][-1] == pytest.approx(50.0)
    assert _rate_curve([], []) == {"stored": [], "turns_per_s": []}


def _scale_row(n: int, p50: float) -> dict[str, Any]:
    search = {s: {"p50_ms": p50, "p95_ms": 2 * p50}
              for s in ("layered", "hybrid", "dense", "bm25", "layered_user_scoped")}  # fmt: skip
    return {
        "n": n, "search": search, "single_add": {"p50_ms": 10.0},
        "ingest": {"turns_per_s": 200.0, "rate_by_stored": {"stored": [n / 2, n],
                                                            "turns_per_s": [210.0, 190.0]}},
        "ingest_warm_index": {"turns_per_s": 150.0},
    }  # fmt: skip


def test_scale_panels_are_curves_over_n() -> None:
    rows = [_scale_row(1000, 2.0), _scale_row(10_000, 4.0)]
    p50, p95 = latency_panels(rows)
    assert p50.series["layered"] == ([1000.0, 10_000.0], [2.0, 4.0])
    assert p95.series["layered, one user"][1] == [4.0, 8.0]
    assert p50.hlines and not p95.hlines and p50.logx and p50.logy
    filling, per_n = throughput_panels(rows)
    assert filling.series["N=10k"] == ([5000.0, 10_000], [210.0, 190.0])
    assert per_n.series["single add (from its p50)"][1] == [100.0, 100.0]


def test_serve_latency_over_the_run_per_span() -> None:
    samples = [Sample(i, "add" if i % 2 else "search", start=i * 0.1, seconds=0.01 * (i + 1))
               for i in range(40)]  # fmt: skip
    p50, p95 = over_run_panels(samples, windows=4)
    xs, ys = p50.series["search"]
    assert len(xs) == 4 and xs == sorted(xs)
    # The first span (starts 0.0-0.9) holds searches 0, 2, ..., 8: 10, 30, ..., 90 ms.
    assert ys[0] == pytest.approx(50.0)
    assert p95.series["add"][1][0] == pytest.approx(percentile_of([20, 40, 60, 80, 100], 95))


def percentile_of(values: list[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(values, q))


def test_bar_panels_grow_with_their_labels_and_leave_out_what_does_not_apply(
    tmp_path: Path,
) -> None:
    def draw(name: str, count: int) -> Any:
        labels = [f"attribute {i}" for i in range(count)]
        panel = plots.BarPanel("shares", labels, {"default": [0.5] * (count - 1) + [None],
                                                  "bm25": [None] * count})  # fmt: skip
        path = plots.bars_plot(tmp_path / name, [panel, panel], title="toy")
        assert path.read_bytes()[:8] == PNG_MAGIC
        return matplotlib.image.imread(path)

    short, tall = draw("short.png", 3), draw("tall.png", 12)
    assert tall.shape[0] > short.shape[0] and tall.shape[1] == short.shape[1]
