"""How a benchmark measures: durations and their percentiles, memory use, progress
on stderr, and an embedding model loaded and warmed up before anything is timed.

Nothing here knows about a particular benchmark or a store.
"""

from __future__ import annotations

import math
import resource
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from memstrata.embed import Embedder, load_embedder

T = TypeVar("T")

Log = Callable[[str], None]

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


def stderr_log(message: str) -> None:
    """The default `log` of a benchmark run: one line on stderr, flushed."""
    print(message, file=sys.stderr, flush=True)


def warm_embedder(name: str) -> tuple[Embedder, float]:
    """Load the embedder `name` and embed one text with it (models load lazily), so
    that no timed call pays for the load. Returns it and the seconds both took."""

    def load() -> Embedder:
        embedder = load_embedder(name)
        embedder.embed(["warm up the embedding model"])
        return embedder

    return timed(load)
