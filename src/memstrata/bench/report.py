"""Helpers shared by the benchmarks: timing summaries, machine description, memory
use, and writing results (JSON, Markdown tables, PNG plots).

Nothing here knows about a particular benchmark, so a LoCoMo run (or any other)
can reuse it: summarise latencies with `latency_summary`, describe the machine
with `machine_info`, bracket a run with `reset_peak_rss` / `peak_rss_bytes`, and
write `results.json`, `results.md` and plots with `write_json`, `markdown_table`,
`write_text`, `line_plot`, `small_multiples_plot` and `distribution_plot`; stream
per-item rows with `append_jsonl`; show long runs with `progress`.
"""

from __future__ import annotations

import json
import math
import os
import platform
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

from memstrata.config import usable_cpus

T = TypeVar("T")

DEFAULT_PACKAGES = ("memstrata", "numpy", "onnxruntime", "tokenizers", "matplotlib")
RESULTS_SCHEMA = 1

# ------------------------------------------------------------------ timing


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation, as numpy's default;
    NaN for an empty sequence."""
    if not values:
        return math.nan
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def latency_summary(seconds: Sequence[float]) -> dict[str, float]:
    """Count, mean, p50, p95, p99 and max of durations given in seconds, reported in
    milliseconds under stable keys (`n`, `mean_ms`, `p50_ms`, `p95_ms`, `p99_ms`,
    `max_ms`)."""
    ms = [s * 1000.0 for s in seconds]
    return {
        "n": len(ms),
        "mean_ms": sum(ms) / len(ms) if ms else math.nan,
        "p50_ms": percentile(ms, 50),
        "p95_ms": percentile(ms, 95),
        "p99_ms": percentile(ms, 99),
        "max_ms": max(ms) if ms else math.nan,
    }


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    """Call `fn()`; return its result and the wall time it took in seconds."""
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def time_each(items: Iterable[Any], fn: Callable[[Any], object]) -> list[float]:
    """Wall time in seconds of `fn(item)` for each item, in order."""
    out: list[float] = []
    for item in items:
        start = time.perf_counter()
        fn(item)
        out.append(time.perf_counter() - start)
    return out


# ------------------------------------------------------------------ memory


def current_rss_bytes() -> int:
    """Resident set size of this process now (0 if it cannot be read)."""
    try:
        import psutil

        return int(psutil.Process().memory_info().rss)
    except ImportError:
        return _proc_status_kib("VmRSS") * 1024


# The highest peak read since the last reset. Linux's VmHWM is max(recorded high
# water mark, current RSS), and the recorded mark is only updated lazily, so after a
# reset a later read can be lower than an earlier one; a peak must never go down.
_peak_seen = [0]


def reset_peak_rss() -> bool:
    """Reset this process's peak-RSS counter (Linux: /proc/self/clear_refs), so that
    `peak_rss_bytes` measures from now on. Returns False where that is impossible;
    the peak then covers the whole process lifetime."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    _peak_seen[0] = 0
    return True


def peak_rss_bytes() -> int:
    """Peak resident set size: since the last `reset_peak_rss` on Linux, else since
    the process started. Never lower than an earlier reading since the reset."""
    hwm = _proc_status_kib("VmHWM")
    if hwm:
        _peak_seen[0] = max(_peak_seen[0], hwm * 1024)
        return _peak_seen[0]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def _proc_status_kib(field: str) -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


# ----------------------------------------------------------------- machine


def cpu_model() -> str:
    """The CPU's model name, as well as the platform tells it."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def package_versions(names: Iterable[str]) -> dict[str, str | None]:
    """Installed distribution versions (None for a package that is not installed)."""
    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def machine_info(packages: Iterable[str] = DEFAULT_PACKAGES) -> dict[str, Any]:
    """CPU model, core counts, memory, OS, Python, SQLite and package versions."""
    logical = os.cpu_count() or 0
    physical: int | None = None
    total_memory: int | None = None
    try:
        import psutil

        physical = psutil.cpu_count(logical=False)
        total_memory = int(psutil.virtual_memory().total)
    except ImportError:
        pass
    return {
        "cpu_model": cpu_model(),
        "cores_logical": logical,
        "cores_physical": physical,
        "cores_usable": usable_cpus(),
        "memory_bytes": total_memory,
        "os": platform.platform(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "sqlite": sqlite3.sqlite_version,
        "load_average": load_average(),
        "packages": package_versions(packages),
    }


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages (None where the OS has none): other work
    on the machine during a run shows up here and in the latency tails."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def source_revision(anchor: str | os.PathLike[str] | None = None) -> str | None:
    """The git commit the code under `anchor` (default: this package) was run from,
    or None outside a git checkout. Read-only: runs `git rev-parse HEAD`."""
    folder = Path(anchor) if anchor is not None else Path(__file__).resolve().parent
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True,
            timeout=5, check=False,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.strip() or None


def utc_now() -> str:
    """The current time, ISO 8601 UTC, to the second."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# ----------------------------------------------------------------- writing


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity: replace them with None, recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def write_json(path: str | os.PathLike[str], data: Mapping[str, Any]) -> Path:
    """Write `data` as indented JSON (NaN written as null); return the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(_finite(data), indent=2, default=_json_default, allow_nan=False)
    target.write_text(text + "\n", encoding="utf-8")
    return target


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write a text file (creating its folder); return the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    return target


def fmt_number(value: float | None, digits: int = 1) -> str:
    """A number for a table: thousands separators, `digits` decimals, "–" for none."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.{digits}f}"


def fmt_bytes(value: float | None) -> str:
    """A byte count for people: 512 B, 3.4 KiB, 120.5 MiB, 2.1 GiB."""
    if value is None:
        return "–"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(size) < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


def short_count(value: float) -> str:
    """1500 -> "1.5k", 100000 -> "100k", 2000000 -> "2M"."""
    for div, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(value) >= div:
            return f"{value / div:g}{suffix}"
    return f"{value:g}"


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A GitHub-flavoured Markdown table; the first column left-aligned, the rest
    right-aligned. Cells are converted with str()."""
    lines = [
        "| " + " | ".join(headers) + " |",
        "| " + " | ".join([":---"] + ["---:"] * (len(headers) - 1)) + " |",
    ]
    lines.extend("| " + " | ".join(str(c) for c in row) + " |" for row in rows)
    return "\n".join(lines) + "\n"


def machine_markdown(machine: Mapping[str, Any]) -> str:
    """A short Markdown description of a `machine_info()` dict."""
    packages = ", ".join(f"{k} {v}" for k, v in machine.get("packages", {}).items() if v)
    memory = machine.get("memory_bytes")
    return (
        f"- CPU: {machine.get('cpu_model')} ({machine.get('cores_usable')} usable cores, "
        f"{machine.get('cores_logical')} logical)\n"
        f"- Memory: {fmt_bytes(memory) if memory else 'unknown'}\n"
        f"- OS: {machine.get('os')}\n"
        f"- Python {machine.get('python')}, SQLite {machine.get('sqlite')}\n"
        f"- Load average (1/5/15 min) when described: {machine.get('load_average')}\n"
        f"- Packages: {packages}\n"
    )


def line_plot(
    path: str | os.PathLike[str],
    x: Sequence[float],
    series: Mapping[str, Sequence[float | None]],
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    logx: bool = True,
    logy: bool = False,
    hlines: Mapping[str, float] | None = None,
    styles: Mapping[str, Mapping[str, Any]] | None = None,
) -> Path:
    """Plot one line per series against `x` to a PNG (matplotlib, Agg backend).
    `hlines` draws labelled horizontal reference lines (targets); `styles` gives
    matplotlib keyword arguments per series (color, linestyle, …). Returns the path."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    try:
        for label, ys in series.items():
            points = [(a, b) for a, b in zip(x, ys) if b is not None and math.isfinite(b)]
            if points:
                style = {"marker": "o", **(styles or {}).get(label, {})}
                ax.plot(*zip(*points), label=label, **style)
        for label, value in (hlines or {}).items():
            ax.axhline(value, linestyle="--", color="grey", linewidth=1)
            ax.annotate(
                label, (0.01, value), xycoords=("axes fraction", "data"),
                textcoords="offset points", xytext=(0, 3), fontsize=8, color="grey",
            )  # fmt: skip
        if logx and len(set(x)) > 1:
            ax.set_xscale("log")
        ax.set_xticks(list(x), [short_count(v) for v in x])
        ax.minorticks_off()
        if logy:
            ax.set_yscale("log")
        ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        return _save(fig, path)
    finally:
        plt.close(fig)


def small_multiples_plot(
    path: str | os.PathLike[str],
    x: Sequence[float],
    panels: Mapping[str, Mapping[str, Sequence[float | None]]],
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    ylim: tuple[float, float] | None = None,
) -> Path:
    """One panel per entry of `panels` (side by side, shared y axis), each with one
    line per series against `x` (linear axes). A series keeps its colour and line
    style across panels (styles differ, so equal series stay visible). Returns the
    path of the PNG."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    count = max(1, len(panels))
    fig, axes = plt.subplots(
        1, count, figsize=(2.8 * count + 1.2, 3.6), dpi=120, sharey=True, squeeze=False
    )
    names = list(dict.fromkeys(s for series in panels.values() for s in series))
    colours = {name: f"C{i % 10}" for i, name in enumerate(names)}
    dashes = {name: ("-", "--", "-.", ":")[i % 4] for i, name in enumerate(names)}
    try:
        for ax, (panel, series) in zip(axes[0], panels.items()):
            for label, ys in series.items():
                points = [(a, b) for a, b in zip(x, ys) if b is not None and math.isfinite(b)]
                if points:
                    ax.plot(
                        *zip(*points),
                        marker="o",
                        label=label,
                        color=colours[label],
                        linestyle=dashes[label],
                    )
            ax.set_title(panel, fontsize=9)
            ax.set_xticks(list(x), [f"{v:g}" for v in x])
            ax.set_xlabel(xlabel)
            ax.grid(True, alpha=0.3)
            if ylim is not None:
                ax.set_ylim(*ylim)
        axes[0][0].set_ylabel(ylabel)
        axes[0][0].legend(fontsize=7)
        fig.suptitle(title, fontsize=10)
        fig.tight_layout()
        return _save(fig, path)
    finally:
        plt.close(fig)


def distribution_plot(
    path: str | os.PathLike[str],
    samples: Mapping[str, Sequence[float]],
    *,
    title: str,
    ylabel: str,
    logy: bool = True,
) -> Path:
    """Box plots (5th-95th percentile whiskers) of each labelled sample, side by side;
    empty samples are left out. Returns the path of the PNG."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    kept = {k: list(v) for k, v in samples.items() if len(v)}
    fig, ax = plt.subplots(figsize=(max(4.0, 1.3 * len(kept) + 2), 4.2), dpi=120)
    try:
        if kept:
            ax.boxplot(list(kept.values()), whis=(5, 95), showfliers=False)
            ax.set_xticks(range(1, len(kept) + 1), list(kept), rotation=15, fontsize=8)
        if logy and kept:
            ax.set_yscale("log")
        ax.set(title=title, ylabel=ylabel)
        ax.grid(True, axis="y", which="both", alpha=0.3)
        fig.tight_layout()
        return _save(fig, path)
    finally:
        plt.close(fig)


def progress(total: int | None, desc: str, enabled: bool = True) -> Any:
    """A tqdm progress bar on stderr (a silent stand-in when disabled or when tqdm is
    missing). Use `.update(n)`, `.set_postfix_str(text)` and `.close()`."""
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - tqdm is in the bench extra
        enabled = False
    if not enabled:
        return _SilentBar()
    return tqdm(total=total, desc=desc, file=sys.stderr, leave=False, dynamic_ncols=True,
                mininterval=0.5)  # fmt: skip


class _SilentBar:
    def update(self, n: int = 1) -> None:
        pass

    def set_postfix_str(self, text: str) -> None:
        pass

    def close(self) -> None:
        pass


def append_jsonl(path: str | os.PathLike[str], rows: Iterable[Mapping[str, Any]]) -> Path:
    """Append rows as JSON lines (NaN written as null); return the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("a", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(_finite(row), default=_json_default, allow_nan=False))
            handle.write("\n")
    return target


def _save(fig: Any, path: str | os.PathLike[str]) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target, format="png")
    return target


@contextmanager
def store_dir(out: Path, *, keep: bool, prefix: str) -> Iterator[Path]:
    """Where a benchmark puts its stores: `out/db` when they are kept, else a temporary
    folder removed afterwards."""
    if keep:
        folder = out / "db"
        folder.mkdir(parents=True, exist_ok=True)
        yield folder
        return
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
