"""PNG plots for the benchmarks (matplotlib, Agg backend), drawn so that they read:
a title, axis labels with units, one legend, and no two series that look alike.

- `panels_plot`: small multiples of curves (recall@k per category, latency over N),
  laid out in a grid with one legend for the figure. A series keeps its colour,
  line style and marker in every panel; series equal in every panel are drawn once
  and named together ("default = layered").
- `bars_plot`: shares side by side, as horizontal grouped bars (a bar per series
  and label); a value that does not apply is left out and its label says so.
- `ecdf_plot`: latency distributions as empirical CDFs on a log time axis, with p50
  and p95 marked on every curve and given in the legend, so that the median and the
  tail can be read apart.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from memstrata.bench.measure import percentile
from memstrata.bench.report import short_count

Points = tuple[Sequence[float], Sequence[float | None]]

_LINESTYLES = ("-", "--", "-.", ":")
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
_LABEL_BOX = {"facecolor": "white", "edgecolor": "none", "alpha": 0.7, "pad": 1}


@dataclass
class Panel:
    """One panel: curves (label -> (x values, y values; None for no value)), its axes
    and reference lines (label -> y) such as targets."""

    title: str
    series: Mapping[str, Points]
    xlabel: str = ""
    ylabel: str = ""
    logx: bool = False
    logy: bool = False
    ylim: tuple[float, float] | None = None
    xticks: Sequence[float] | None = None  # labelled 1k, 10k, … (short_count)
    hlines: Mapping[str, float] = field(default_factory=dict)


@dataclass
class BarPanel:
    """One panel of grouped horizontal bars: a group per label, a bar per series
    (series -> one value per label; None for a value that does not apply)."""

    title: str
    labels: Sequence[str]
    series: Mapping[str, Sequence[float | None]]
    xlim: tuple[float, float] = (0.0, 1.0)
    xlabel: str = ""


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: str | os.PathLike[str]) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target, format="png")
    return target


def _finite_points(points: Points) -> list[tuple[float, float]]:
    xs, ys = points
    return [(a, b) for a, b in zip(xs, ys) if b is not None and math.isfinite(b)]


def _merge_equal(panels: Sequence[Panel]) -> dict[str, str]:
    """Series label -> the label it is drawn under: a series equal to an earlier one
    in every panel is drawn once, as "earlier = later"."""
    names = list(dict.fromkeys(s for p in panels for s in p.series))
    signature = {
        name: tuple(tuple(_finite_points(p.series[name])) if name in p.series else None
                    for p in panels)
        for name in names
    }  # fmt: skip
    drawn_as: dict[str, str] = {}
    for name in names:
        twin = next((d for d in drawn_as if drawn_as[d] == d and signature[d] == signature[name]),
                    None)  # fmt: skip
        drawn_as[name] = twin if twin is not None and signature[name] else name
    return drawn_as


def series_styles(names: Sequence[str]) -> dict[str, dict[str, Any]]:
    """A colour, line style and marker per series name, all three differing between
    neighbours (so that lines stay apart in grey print and for colour-blind readers)."""
    return {
        name: {
            "color": f"C{i % 10}",
            "linestyle": _LINESTYLES[i % len(_LINESTYLES)],
            "marker": _MARKERS[i % len(_MARKERS)],
        }
        for i, name in enumerate(names)
    }


def _grid(count: int, columns: int, width: float, height: float, sharey: bool) -> Any:
    plt = _pyplot()
    cols = max(1, min(columns, count))
    rows = max(1, math.ceil(count / cols))
    fig, axes = plt.subplots(
        rows, cols, figsize=(width * cols + 0.8, height * rows + 1.1), dpi=110,
        sharey=sharey, squeeze=False,
    )  # fmt: skip
    flat = [ax for row in axes for ax in row]
    for ax in flat[count:]:
        ax.set_visible(False)
    return fig, flat[:count], cols


def _finish(fig: Any, title: str, handles: Sequence[Any], labels: Sequence[str], path: Any) -> Path:
    plt = _pyplot()
    try:
        fig.suptitle(title, fontsize=11)
        if handles:
            ncol = min(len(labels), 5)
            fig.legend(handles, labels, loc="lower center", ncol=ncol, fontsize=8, frameon=False)
            rows = math.ceil(len(labels) / ncol)
            fig.tight_layout(rect=(0, 0.025 + 0.045 * rows * 4 / fig.get_figheight(), 1, 0.97))
        else:
            fig.tight_layout(rect=(0, 0, 1, 0.97))
        return _save(fig, path)
    finally:
        plt.close(fig)


def panels_plot(
    path: str | os.PathLike[str],
    panels: Sequence[Panel],
    *,
    title: str,
    columns: int = 4,
    sharey: bool = True,
    panel_size: tuple[float, float] = (3.2, 2.7),
    legend: str = "figure",
) -> Path:
    """Small multiples: one axes per panel, at most `columns` per row, and one legend
    for the figure below them (`legend="figure"`, for panels that share their
    series) or one in each panel (`legend="panel"`). Returns the path of the PNG."""
    fig, axes, cols = _grid(len(panels), columns, *panel_size, sharey=sharey)
    drawn_as = _merge_equal(panels)
    names = [n for n in dict.fromkeys(drawn_as.values())]
    styles = series_styles(names)
    handles: dict[str, Any] = {}
    for index, (ax, panel) in enumerate(zip(axes, panels)):
        for name, points in panel.series.items():
            if drawn_as[name] != name:
                continue
            kept = _finite_points(points)
            if not kept:
                continue
            label = _joined(name, drawn_as)
            (line,) = ax.plot(*zip(*kept), markersize=4, linewidth=1.4, label=label, **styles[name])
            handles.setdefault(name, line)
        for label, value in panel.hlines.items():
            ax.axhline(value, linestyle=(0, (4, 3)), color="0.45", linewidth=0.9)
            ax.annotate(label, (0.99, value), xycoords=("axes fraction", "data"), ha="right",
                        va="bottom", fontsize=7, color="0.3", bbox=_LABEL_BOX)  # fmt: skip
        _axes(ax, panel, first_column=index % cols == 0 or not sharey)
        if legend == "panel" and ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    if legend == "panel":
        return _finish(fig, title, [], [], path)
    labels = [_joined(n, drawn_as) for n in handles]
    return _finish(fig, title, list(handles.values()), labels, path)


def bars_plot(path: str | os.PathLike[str], panels: Sequence[BarPanel], *, title: str) -> Path:
    """Panels of grouped horizontal bars side by side, the first label on top, one
    legend for the figure. Returns the path of the PNG."""
    plt = _pyplot()
    tallest = max((len(p.labels) for p in panels), default=1)
    fig, axes = plt.subplots(
        1, max(1, len(panels)), figsize=(6.2 * max(1, len(panels)), 0.34 * max(tallest, 6) + 1.6),
        dpi=110, squeeze=False,
    )  # fmt: skip
    names = list(dict.fromkeys(s for p in panels for s in p.series))
    colours = {name: f"C{i % 10}" for i, name in enumerate(names)}
    width = 0.8 / max(1, len(names))
    handles: dict[str, Any] = {}
    for ax, panel in zip(axes[0], panels):
        for i, name in enumerate(names):
            values = panel.series.get(name, [])
            kept = [(y + i * width, v) for y, v in enumerate(values) if v is not None]
            if not kept:
                continue
            ys, xs = zip(*kept)
            handles[name] = ax.barh(ys, xs, height=width, color=colours[name], label=name)
        centre = width * (len(names) - 1) / 2
        ax.set_yticks([y + centre for y in range(len(panel.labels))], panel.labels, fontsize=8)
        ax.set_xlim(*panel.xlim)
        ax.invert_yaxis()
        ax.grid(True, axis="x", alpha=0.3)
        ax.set_title(panel.title, fontsize=9)
        ax.set_xlabel(panel.xlabel, fontsize=8)
    return _finish(fig, title, list(handles.values()), list(handles), path)


def _joined(name: str, drawn_as: Mapping[str, str]) -> str:
    """A legend entry: the series' name and the names of the series equal to it."""
    return " = ".join([name, *[m for m in drawn_as if drawn_as[m] == name and m != name]])


def _axes(ax: Any, panel: Panel, *, first_column: bool) -> None:
    if panel.logx:
        ax.set_xscale("log")
        _plain_log_ticks(ax.xaxis)
    if panel.logy:
        ax.set_yscale("log")
        _plain_log_ticks(ax.yaxis)
    if panel.xticks is not None:
        ax.set_xticks(list(panel.xticks), [short_count(v) for v in panel.xticks])
        ax.xaxis.set_minor_locator(_null_locator())
    if panel.ylim is not None:
        ax.set_ylim(*panel.ylim)
    ax.set_title(panel.title, fontsize=9)
    ax.set_xlabel(panel.xlabel, fontsize=8)
    if first_column:
        ax.set_ylabel(panel.ylabel, fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(True, which="major", alpha=0.3)


def _null_locator() -> Any:
    from matplotlib.ticker import NullLocator

    return NullLocator()


def _plain_log_ticks(axis: Any) -> None:
    """Ticks of a log axis at 1, 2 and 5 times a power of ten, written as plain
    numbers (0.5, 2, 20, 1,000): matplotlib's own labels a narrow range with
    overlapping "2 × 10^1"-style minor labels."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0), numticks=30))
    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.4g}"))
    axis.set_minor_formatter(NullFormatter())


def ecdf_plot(
    path: str | os.PathLike[str],
    panels: Mapping[str, Mapping[str, Sequence[float]]],
    *,
    title: str,
    xlabel: str = "latency (ms, log scale)",
    ylabel: str = "share of calls taking ≤ x",
    columns: int = 2,
) -> Path:
    """Empirical CDFs of samples (milliseconds): one panel per entry of `panels`, one
    step curve per labelled sample in it, p50 (circle) and p95 (triangle) marked on
    each curve and given in its legend entry. Empty samples are left out. Returns the
    path of the PNG."""
    kept = {
        title_: {label: sorted(v) for label, v in samples.items() if len(v)}
        for title_, samples in panels.items()
    }
    kept = {t: s for t, s in kept.items() if s} or {"no samples": {}}
    fig, axes, _ = _grid(len(kept), columns, 4.6, 3.2, sharey=True)
    names = list(dict.fromkeys(label for samples in kept.values() for label in samples))
    styles = series_styles(names)
    for ax, (panel, samples) in zip(axes, kept.items()):
        for label, values in samples.items():
            n = len(values)
            style = {"color": styles[label]["color"], "linestyle": styles[label]["linestyle"]}
            p50, p95 = percentile(values, 50), percentile(values, 95)
            ax.step(values, [(i + 1) / n for i in range(n)], where="post", linewidth=1.3,
                    label=f"{label}: p50 {_ms(p50)}, p95 {_ms(p95)} (n={n})", **style)  # fmt: skip
            ax.plot([p50], [0.5], marker="o", markersize=5, color=style["color"])
            ax.plot([p95], [0.95], marker="^", markersize=6, color=style["color"])
        for level in (0.5, 0.95):
            ax.axhline(level, color="0.6", linewidth=0.7, linestyle=":")
        ax.set_xscale("log")
        _plain_log_ticks(ax.xaxis)
        ax.set_ylim(0, 1.02)
        ax.set_yticks([0, 0.25, 0.5, 0.75, 0.95, 1.0], ["0", ".25", "p50", ".75", "p95", "1"])
        ax.set_title(panel, fontsize=9)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.set_ylabel(ylabel, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(True, which="both", alpha=0.25)
        if samples:
            ax.legend(fontsize=7, loc="best")
    return _finish(fig, title, [], [], path)


def _ms(value: float) -> str:
    return f"{value:.3g} ms" if value < 100 else f"{value:,.0f} ms"
