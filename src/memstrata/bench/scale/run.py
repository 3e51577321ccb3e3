"""The phases of a scale run, for one store size N, and `run_scale` over every N.

For each N: generate N synthetic turns (`memstrata.bench.gen`), add them to a fresh
store in batches, then measure search latency per strategy (query embedding
included, warm), query embedding alone, single-turn add latency, file size, peak
RSS, and check the engine's dense search against an exact scan (`oracle`).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from memstrata.bench import machine, measure, report, stores
from memstrata.bench.gen import Query, Session, Turn, corpus_stats, generate_sessions, iter_batches
from memstrata.bench.measure import (
    Log,
    current_rss_bytes,
    latency_summary,
    peak_rss_bytes,
    reset_peak_rss,
    stderr_log,
    time_each,
    timed,
    warm_embedder,
)
from memstrata.bench.scale.oracle import vector_check
from memstrata.bench.scale.plan import (
    STRATEGIES,
    TARGETS,
    K,
    QuerySets,
    ScaleConfig,
    config_dict,
    make_query_sets,
)
from memstrata.bench.scale.report import write_outputs
from memstrata.embed import Embedder
from memstrata.memory import Memory

_SINGLE_USER = "bench-single"
_CURVE_POINTS = 20  # points of the ingest-rate curve over the records stored


class TimedEmbedder:
    """Wraps an embedder and adds up the time spent in `embed` (to split ingest time
    into model time and the rest)."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self.fingerprint = inner.fingerprint
        self.seconds = 0.0
        self.calls = 0

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed with the wrapped model, timing the call."""
        start = time.perf_counter()
        try:
            return self.inner.embed(texts)
        finally:
            self.seconds += time.perf_counter() - start
            self.calls += 1

    def reset(self) -> None:
        """Zero the counters."""
        self.seconds = 0.0
        self.calls = 0


def ingest(
    memory: Memory, sessions: Sequence[Session], batch: int, progress: bool, n: int
) -> tuple[dict[int, str], dict[str, Any]]:
    """Add every turn through `Memory.add`, at most `batch` turns of one session per
    call. Returns turn index -> record id, and the ingest figures."""
    ids: dict[int, str] = {}
    times: list[float] = []
    sizes: list[int] = []
    bar = measure.progress(n, f"ingest N={n:,}", progress)
    try:
        for chunk in iter_batches(sessions, batch):
            messages = [t.message() for t in chunk]
            start = time.perf_counter()
            records = memory.add(messages, user_id=chunk[0].user_id,
                                 session_id=chunk[0].session_id)  # fmt: skip
            times.append(time.perf_counter() - start)
            sizes.append(len(chunk))
            ids.update((t.index, r.id) for t, r in zip(chunk, records))
            bar.update(len(chunk))
    finally:
        bar.close()
    return ids, _ingest_figures(times, sizes)


def _ingest_figures(times: Sequence[float], sizes: Sequence[int]) -> dict[str, Any]:
    total_s, total_n = sum(times), sum(sizes)
    cum = np.cumsum(sizes)
    tenth = max(1, total_n // 10)
    first = (cum - np.asarray(sizes)) < tenth  # batches that start in the first 10%
    last = cum > total_n - tenth  # batches that end in the last 10%
    return {
        "turns": total_n,
        "seconds": total_s,
        "turns_per_s": total_n / total_s if total_s else None,
        "batches": len(sizes),
        "mean_batch": total_n / len(sizes) if sizes else None,
        "turns_per_s_first_10pct": _rate(times, sizes, first),
        "turns_per_s_last_10pct": _rate(times, sizes, last),
        "batch_latency": latency_summary(times),
        "rate_by_stored": _rate_curve(times, sizes),
    }


def _rate_curve(times: Sequence[float], sizes: Sequence[int]) -> dict[str, list[float]]:
    """Turns per second as the store fills: the batches cut into up to _CURVE_POINTS
    runs of about equal turns, each run's rate at the turns stored by its end."""
    cum = np.cumsum(sizes)
    total = int(cum[-1]) if len(cum) else 0
    stored: list[float] = []
    rates: list[float] = []
    start = 0
    for point in range(1, _CURVE_POINTS + 1):
        end = int(np.searchsorted(cum, total * point / _CURVE_POINTS, side="left")) + 1
        if end <= start:
            continue
        seconds = float(sum(times[start:end]))
        if seconds > 0:
            stored.append(float(cum[end - 1]))
            rates.append(float(sum(sizes[start:end])) / seconds)
        start = end
    return {"stored": stored, "turns_per_s": rates}


def _rate(times: Sequence[float], sizes: Sequence[int], mask: np.ndarray) -> float | None:
    seconds = float(np.asarray(times)[mask].sum())
    return float(np.asarray(sizes)[mask].sum()) / seconds if seconds else None


def search_phase(
    memory: Memory,
    queries: Sequence[Query],
    strategy: str,
    record_ids: dict[int, str],
    progress: bool,
    user_of: Callable[[Query], str | None] = lambda q: None,
) -> tuple[dict[str, Any], list[list[tuple[str, float]]]]:
    """Time `Memory.search` (k=10) for each query. Returns the latency summary with
    hit@10 (the query's own target turn among the hits), and the hits per query as
    (id, score) — the raw dense score where the strategy has one."""
    times: list[float] = []
    results: list[list[tuple[str, float]]] = []
    found = 0
    bar = measure.progress(len(queries), f"search {strategy}", progress)
    for query in queries:
        start = time.perf_counter()
        hits = memory.search(query.text, k=K, strategy=strategy, user_id=user_of(query))
        times.append(time.perf_counter() - start)
        ranked = [(h.record.id, h.sources.get("dense", {}).get("score", h.score)) for h in hits]
        results.append(ranked)
        found += record_ids.get(query.target) in {i for i, _ in ranked}
        bar.update()
    bar.close()
    summary: dict[str, Any] = latency_summary(times)
    summary["hit_at_10"] = found / len(queries) if queries else None
    return summary, results


def warm_up(memory: Memory, queries: Sequence[Query]) -> tuple[float, float]:
    """Run warm-up queries through every strategy. Returns the first (cold) dense
    search's latency in milliseconds, which includes loading the vector index, and the
    seconds then spent waiting for a background HNSW build to finish, so that the
    timed searches measure the steady state rather than the build."""
    cold_ms = float("nan")
    for i, query in enumerate(queries):
        for strategy in ("dense", "bm25", "hybrid", "layered"):
            start = time.perf_counter()
            memory.search(query.text, k=K, strategy=strategy)
            if i == 0 and strategy == "dense":
                cold_ms = (time.perf_counter() - start) * 1000.0
    start = time.perf_counter()
    memory.store.wait_for_graph()
    return cold_ms, time.perf_counter() - start


def single_add_phase(memory: Memory, turns: Sequence[Turn], count: int) -> dict[str, Any]:
    """Latency of `Memory.add` with one message per call (embedding included)."""
    times: list[float] = []
    for i, turn in enumerate(turns[:count]):
        message = {**turn.message(), "content": f"{turn.text} (again {i})"}
        start = time.perf_counter()
        memory.add(message, user_id=_SINGLE_USER, session_id=f"{_SINGLE_USER}-s0")
        times.append(time.perf_counter() - start)
    return latency_summary(times)


def embed_phase(embedder: Embedder, queries: Sequence[Query]) -> dict[str, Any]:
    """Latency of embedding one query on its own (no cache)."""
    return latency_summary(time_each(queries, lambda q: embedder.embed([q.text])))


# --------------------------------------------------------------------- runs


def warm_ingest_phase(memory: Memory, config: ScaleConfig, n: int) -> dict[str, Any]:
    """Batch adds into a store whose vector index is loaded (as in a long-running
    process that also searches): every commit then also updates the index."""
    extra = config.warm_adds if config.warm_adds is not None else min(5000, max(256, n // 20))
    sessions = generate_sessions(extra, config.seed + 1, prefix="late")
    _, figures = ingest(memory, sessions, config.batch, config.progress, extra)
    return figures


def reopen_phase(path: Path, embedder: Embedder, query: Query) -> dict[str, float]:
    """Open the store again (as after a restart) and time the first dense search,
    which loads the vectors (and the graph cache, if any) from disk."""
    (memory, open_s) = timed(lambda: Memory(path, embedder=embedder))
    try:
        _, search_s = timed(lambda: memory.search(query.text, k=K, strategy="dense"))
    finally:
        memory.close()
    return {"open_ms": open_s * 1000.0, "first_dense_search_ms": search_s * 1000.0}


def _search_all(
    memory: Memory, qsets: QuerySets, turns: Sequence[Turn], record_ids: dict[int, str],
    progress: bool,
) -> tuple[dict[str, Any], list[list[tuple[str, float]]]]:  # fmt: skip
    search: dict[str, Any] = {}
    dense_hits: list[list[tuple[str, float]]] = []
    for strategy in STRATEGIES:
        search[strategy], hits = search_phase(
            memory, qsets.by_strategy[strategy], strategy, record_ids, progress
        )
        dense_hits = hits if strategy == "dense" else dense_hits
    user_of = {t.index: t.user_id for t in turns}
    search["layered_user_scoped"], _ = search_phase(
        memory, qsets.user_scoped, "layered", record_ids, progress,
        user_of=lambda q: user_of[q.target],
    )  # fmt: skip
    return search, dense_hits


def _timed_ingest(
    memory: Memory, sessions: Sequence[Session], embedder: TimedEmbedder, config: ScaleConfig,
    n: int,
) -> tuple[dict[int, str], dict[str, Any]]:  # fmt: skip
    embedder.reset()
    record_ids, figures = ingest(memory, sessions, config.batch, config.progress, n)
    figures["embed_seconds"] = embedder.seconds
    figures["embed_share"] = embedder.seconds / figures["seconds"] if figures["seconds"] else None
    figures["other_seconds"] = figures["seconds"] - embedder.seconds
    return record_ids, figures


def run_size(
    n: int, config: ScaleConfig, embedder: TimedEmbedder, folder: Path, log: Log
) -> dict[str, Any]:
    """Every measurement for one store size N (phases in this order: batch ingest,
    cold first search, storage, warm searches, query embedding, vector-index check,
    single adds, batch adds with the index loaded, reopen)."""
    gc.collect()
    out: dict[str, Any] = {"n": n, "peak_rss_reset": reset_peak_rss()}
    wall0, cpu0 = time.perf_counter(), time.process_time()
    (sessions, gen_s) = timed(lambda: generate_sessions(n, config.seed))
    turns = [t for s in sessions for t in s.turns]
    qsets = make_query_sets(turns, config.queries, config.warmup, config.seed)
    out["corpus"] = {**corpus_stats(turns), "users": len({t.user_id for t in turns}),
                     "sessions": len(sessions)}  # fmt: skip
    log(f"N={n:,}: generated {len(turns):,} turns in {len(sessions):,} sessions ({gen_s:.1f}s)")
    path = stores.fresh_store(folder, f"scale-{n}")
    rss_before_store = current_rss_bytes()  # model + generated corpus, no store yet
    memory = Memory(path, embedder=embedder)
    try:
        record_ids, out["ingest"] = _timed_ingest(memory, sessions, embedder, config, n)
        rss_after_ingest = current_rss_bytes()
        log(f"N={n:,}: ingest {out['ingest']['turns_per_s']:,.0f} turns/s "
            f"(embedding {out['ingest']['embed_share']:.0%} of the time)")  # fmt: skip
        out["records"] = memory.stats()["records"]
        out["cold_first_dense_search_ms"], out["graph_build_wait_s"] = warm_up(memory, qsets.warmup)
        out["storage"] = stores.storage_figures(path, out["records"])
        out["search"], dense_hits = _search_all(memory, qsets, turns, record_ids, config.progress)
        log(f"N={n:,}: search p50 " + ", ".join(
            f"{s} {out['search'][s]['p50_ms']:.2f} ms" for s in STRATEGIES))  # fmt: skip
        out["query_embed"] = embed_phase(embedder.inner, qsets.by_strategy["hybrid"])
        peak_engine = peak_rss_bytes()
        rss_after_search = current_rss_bytes()
        out["vector_index"] = vector_check(
            memory, embedder.inner, path, qsets.by_strategy["dense"], dense_hits
        )
        log(f"N={n:,}: dense recall@10 vs brute force {out['vector_index'].get('recall_at_10')}")
        out["single_add"] = single_add_phase(memory, turns, config.single_adds)
        out["ingest_warm_index"] = warm_ingest_phase(memory, config, n)
    finally:
        memory.close()
    out["reopen"] = reopen_phase(path, embedder.inner, qsets.warmup[-1])
    out["memory"] = {
        # The whole run's peak includes the engine's; /proc's lazily updated high-water
        # mark can read a page lower later, so take the larger of the two.
        "peak_rss_bytes": max(peak_rss_bytes(), peak_engine),
        "peak_rss_engine_bytes": peak_engine,
        "rss_after_ingest_bytes": rss_after_ingest,
        "rss_before_store_bytes": rss_before_store,
        "rss_after_search_bytes": rss_after_search,
    }
    out["timings"] = {
        "generate_s": gen_s,
        "wall_s": time.perf_counter() - wall0,
        "process_cpu_s": time.process_time() - cpu0,
    }
    out["load_average_after"] = machine.load_average()
    return out


def run_scale(config: ScaleConfig, log: Log = stderr_log) -> dict[str, Any]:
    """Run the benchmark for every size in `config.sizes`, write results.json,
    results.md and the plots to `config.out`, and return the results dict."""
    config.out.mkdir(parents=True, exist_ok=True)
    inner, load_s = warm_embedder(config.embedder)
    embedder = TimedEmbedder(inner)
    results: dict[str, Any] = {
        "dataset": "scale",
        "schema": report.RESULTS_SCHEMA,
        "started_at": machine.utc_now(),
        "finished_at": None,
        "config": config_dict(config, embedder, load_s),
        "machine": machine.machine_info(),
        "source_revision": machine.source_revision(),
        "targets": TARGETS,
        "results": [],
    }
    with stores.store_dir(config.out, keep=config.keep_db, prefix="memstrata-scale-") as folder:
        for n in sorted(set(config.sizes)):
            results["results"].append(run_size(n, config, embedder, folder, log))
            # Written after every size, so a long run that dies keeps what it measured.
            results["finished_at"] = machine.utc_now()
            write_outputs(results, config.out, plots=config.plots)
    return results
