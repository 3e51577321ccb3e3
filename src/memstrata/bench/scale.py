"""The scale benchmark: how ingest, storage, search and the vector index behave as a
store grows to N records.

For each N: generate N synthetic turns (`memstrata.bench.gen`), add them to a fresh
store in batches, then measure search latency per strategy (query embedding
included, warm), query embedding alone, single-turn add latency, file size, peak
RSS, and check the engine's dense search against an exact brute-force scan over the
vectors read back from the file.

>>> results = run_scale(ScaleConfig(sizes=[1000], embedder="hash", out=Path("out")))
"""

from __future__ import annotations

import gc
import sqlite3
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from memstrata.bench import report
from memstrata.bench.gen import (
    Query,
    Session,
    Turn,
    corpus_stats,
    generate_queries,
    generate_sessions,
    iter_batches,
)
from memstrata.embed import Embedder, load_embedder
from memstrata.memory import Memory
from memstrata.store.base import Filters
from memstrata.types import Scope

STRATEGIES = ("layered", "hybrid", "dense", "bm25")
K = 10
DEPTH = 100  # candidates Memory.search asks each source for (its default depth)
TARGETS = {"batch_add_turns_per_s": 150.0, "search_p50_ms": 15.0, "search_p50_at_n": 100_000}
_SCORE_TOLERANCE = 1e-5
_SINGLE_USER = "bench-single"

Log = Callable[[str], None]


@dataclass
class ScaleConfig:
    """What to run. `sizes` are the store sizes N; `out` receives the results."""

    sizes: list[int]
    embedder: str = "minilm"
    out: Path = Path("bench-results/scale")
    queries: int = 200
    seed: int = 0
    batch: int = 256
    warmup: int = 10
    single_adds: int = 100
    warm_adds: int | None = None  # turns added with the index loaded (None: N/20, 256-5000)
    keep_db: bool = False
    progress: bool = True
    plots: bool = True


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


@dataclass
class QuerySets:
    """Distinct query texts per phase, so that the engine's query-embedding cache
    never answers a timed query."""

    warmup: list[Query]
    by_strategy: dict[str, list[Query]]
    user_scoped: list[Query]


# ------------------------------------------------------------------ helpers


def _progress(total: int, desc: str, enabled: bool) -> Any:
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - tqdm is in the bench extra
        enabled = False
    if not enabled:
        return _NoProgress()
    return tqdm(total=total, desc=desc, unit="it", file=sys.stderr, leave=False,
                dynamic_ncols=True, mininterval=0.5)  # fmt: skip


class _NoProgress:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def _store_dir(config: ScaleConfig) -> Any:
    return report.store_dir(config.out, keep=config.keep_db, prefix="memstrata-scale-")


def _fresh_path(folder: Path, n: int) -> Path:
    path = folder / f"scale-{n}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return path


def make_query_sets(turns: Sequence[Turn], count: int, warmup: int, seed: int) -> QuerySets:
    """Warm-up queries plus `count` distinct queries for each strategy and for the
    user-scoped run."""
    phases = [*STRATEGIES, "user"]
    queries = generate_queries(turns, warmup + count * len(phases), seed)
    sets = [queries[warmup + i * count : warmup + (i + 1) * count] for i in range(len(phases))]
    return QuerySets(
        warmup=queries[:warmup],
        by_strategy=dict(zip(STRATEGIES, sets)),
        user_scoped=sets[-1],
    )


# ------------------------------------------------------------------- phases


def ingest(
    memory: Memory, sessions: Sequence[Session], batch: int, progress: bool, n: int
) -> tuple[dict[int, str], dict[str, Any]]:
    """Add every turn through `Memory.add`, at most `batch` turns of one session per
    call. Returns turn index -> record id, and the ingest figures."""
    ids: dict[int, str] = {}
    times: list[float] = []
    sizes: list[int] = []
    bar = _progress(n, f"ingest N={n:,}", progress)
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
        "batch_latency": report.latency_summary(times),
    }


def _rate(times: Sequence[float], sizes: Sequence[int], mask: np.ndarray) -> float | None:
    seconds = float(np.asarray(times)[mask].sum())
    return float(np.asarray(sizes)[mask].sum()) / seconds if seconds else None


def storage_figures(path: Path, records: int) -> dict[str, Any]:
    """Bytes per record on disk: the SQLite file after a WAL checkpoint plus the
    files the store keeps beside it (such as a vector-graph cache); per-table bytes
    where SQLite has dbstat."""
    before = _file_sizes(path)
    checkpointed = _checkpoint(path)
    after = _file_sizes(path)
    total = sum(after.values())
    sqlite_bytes = after.get("db", 0) + after.get("-wal", 0)
    return {
        "file_bytes": total,
        "bytes_per_record": total / records if records else None,
        "sqlite_bytes_per_record": sqlite_bytes / records if records else None,
        "files": after,
        "checkpointed": checkpointed,
        "file_bytes_before_checkpoint": sum(before.values()),
        "tables": _table_bytes(path),
    }


def _file_sizes(path: Path) -> dict[str, int]:
    """The store file and its companions (WAL, caches), by suffix; the shared-memory
    index and temporary files are left out."""
    sizes = {}
    for item in sorted(path.parent.glob(f"{path.name}*")):
        suffix = item.name[len(path.name) :] or "db"
        if item.is_file() and suffix != "-shm" and not suffix.endswith(".tmp"):
            sizes[suffix] = item.stat().st_size
    return sizes


def _checkpoint(path: Path) -> bool:
    """Copy the WAL into the database file and truncate it (from a second
    connection; the engine's connection is idle)."""
    try:
        conn = sqlite3.connect(path)
        try:
            busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return False
    return busy == 0


def _table_bytes(path: Path) -> dict[str, int]:
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows = conn.execute(
                "SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC"
            ).fetchall()
        finally:
            conn.close()
    except sqlite3.Error:
        return {}
    return {str(name): int(size) for name, size in rows}


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
    bar = _progress(len(queries), f"search {strategy}", progress)
    for query in queries:
        start = time.perf_counter()
        hits = memory.search(query.text, k=K, strategy=strategy, user_id=user_of(query))
        times.append(time.perf_counter() - start)
        ranked = [(h.record.id, h.sources.get("dense", {}).get("score", h.score)) for h in hits]
        results.append(ranked)
        found += record_ids.get(query.target) in {i for i, _ in ranked}
        bar.update()
    bar.close()
    summary: dict[str, Any] = report.latency_summary(times)
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


def read_vectors(path: Path, namespace: str = "default") -> tuple[list[str], np.ndarray]:
    """Ids and vectors of the active events (turns) of a namespace, read straight
    from the SQLite file (independently of the engine's index)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT id, embedding FROM records WHERE namespace = ? AND status = 'active' "
            "AND embedding IS NOT NULL AND kind = 'event' ORDER BY rowid",
            (namespace,),
        ).fetchall()
    finally:
        conn.close()
    if not rows:
        return [], np.zeros((0, 0), dtype=np.float32)
    matrix = np.frombuffer(b"".join(r[1] for r in rows), dtype="<f4").reshape(len(rows), -1)
    return [r[0] for r in rows], np.ascontiguousarray(matrix, dtype=np.float32)


def brute_force_top(matrix: np.ndarray, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k rows by dot product (cosine for unit vectors): (rows best first,
    all scores)."""
    scores = matrix @ query
    k = min(k, scores.size)
    top = np.argpartition(-scores, k - 1)[:k] if k < scores.size else np.arange(scores.size)
    return top[np.argsort(-scores[top], kind="stable")], scores


class _Recall:
    """Recall@10 of ranked (id, score) lists against the exact scores."""

    def __init__(self, ids: Sequence[str]) -> None:
        self.ids = list(ids)
        self.position = {rid: i for i, rid in enumerate(ids)}
        self.tie: list[float] = []
        self.strict: list[float] = []
        self.score_diff = 0.0

    def add(self, got: Sequence[tuple[str, float]], top: np.ndarray, scores: np.ndarray) -> None:
        """Score one query: `top` and `scores` are the exact answer (rows, all scores)."""
        want = min(K, len(self.position))
        kth = float(scores[top[want - 1]])
        found = [(rid, s) for rid, s in got[:K] if rid in self.position]
        exact = {self.ids[i] for i in top[:want]}
        self.tie.append(
            sum(scores[self.position[r]] >= kth - _SCORE_TOLERANCE for r, _ in found) / want
        )
        self.strict.append(len({r for r, _ in found} & exact) / want)
        diffs = [abs(float(scores[self.position[r]]) - s) for r, s in found]
        self.score_diff = max([self.score_diff, *diffs])

    def mean(self, strict: bool = False) -> float | None:
        """Mean recall over the queries so far (tie-aware unless `strict`)."""
        values = self.strict if strict else self.tie
        return float(np.mean(values)) if values else None


def vector_check(
    memory: Memory,
    embedder: Embedder,
    path: Path,
    queries: Sequence[Query],
    engine_hits: Sequence[Sequence[tuple[str, float]]],
) -> dict[str, Any]:
    """Recall@10 of the engine's dense search against an exact scan of the stored
    vectors, and the latency of the engine's index next to that scan's.

    `recall_at_10` scores `Memory.search(strategy="dense")` hits, counting a hit as
    right when its exact score reaches the exact 10th-best score (so equal-score ties
    may be broken either way); `recall_at_10_strict` compares ids only;
    `index_recall_at_10_k10` asks the store's index for 10 rows directly (the engine
    asks for DEPTH). `engine_index` times the store's index at DEPTH rows,
    `brute_force` a numpy scan for the top DEPTH."""
    ids, matrix = read_vectors(path)
    if not ids:
        return {"vectors": 0}
    search_recall, index_recall = _Recall(ids), _Recall(ids)
    brute_times, index_times = [], []
    scope, filters = Scope(), Filters(kinds=("event",))  # the turns: what read_vectors reads
    for query, hits in zip(queries, engine_hits):
        vector = embedder.embed([query.text])[0]
        start = time.perf_counter()
        top, scores = brute_force_top(matrix, vector, DEPTH)
        brute_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        memory.store.vector_search(vector, scope, filters, DEPTH)
        index_times.append(time.perf_counter() - start)
        search_recall.add(hits, top, scores)
        index_recall.add(memory.store.vector_search(vector, scope, filters, K), top, scores)
    brute, index = report.latency_summary(brute_times), report.latency_summary(index_times)
    return {
        "vectors": len(ids),
        "dim": int(matrix.shape[1]),
        "queries": len(queries),
        "depth": DEPTH,
        "recall_at_10": search_recall.mean(),
        "recall_at_10_strict": search_recall.mean(strict=True),
        "index_recall_at_10_k10": index_recall.mean(),
        "max_score_diff": search_recall.score_diff,
        "engine_index": index,
        "brute_force": brute,
        "latency_ratio_p50": index["p50_ms"] / brute["p50_ms"] if brute["p50_ms"] else None,
    }


def single_add_phase(memory: Memory, turns: Sequence[Turn], count: int) -> dict[str, Any]:
    """Latency of `Memory.add` with one message per call (embedding included)."""
    times: list[float] = []
    for i, turn in enumerate(turns[:count]):
        message = {**turn.message(), "content": f"{turn.text} (again {i})"}
        start = time.perf_counter()
        memory.add(message, user_id=_SINGLE_USER, session_id=f"{_SINGLE_USER}-s0")
        times.append(time.perf_counter() - start)
    return report.latency_summary(times)


def embed_phase(embedder: Embedder, queries: Sequence[Query]) -> dict[str, Any]:
    """Latency of embedding one query on its own (no cache)."""
    return report.latency_summary(report.time_each(queries, lambda q: embedder.embed([q.text])))


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
    (memory, open_s) = report.timed(lambda: Memory(path, embedder=embedder))
    try:
        _, search_s = report.timed(lambda: memory.search(query.text, k=K, strategy="dense"))
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
    out: dict[str, Any] = {"n": n, "peak_rss_reset": report.reset_peak_rss()}
    wall0, cpu0 = time.perf_counter(), time.process_time()
    (sessions, gen_s) = report.timed(lambda: generate_sessions(n, config.seed))
    turns = [t for s in sessions for t in s.turns]
    qsets = make_query_sets(turns, config.queries, config.warmup, config.seed)
    out["corpus"] = {**corpus_stats(turns), "users": len({t.user_id for t in turns}),
                     "sessions": len(sessions)}  # fmt: skip
    log(f"N={n:,}: generated {len(turns):,} turns in {len(sessions):,} sessions ({gen_s:.1f}s)")
    path = _fresh_path(folder, n)
    rss_before_store = report.current_rss_bytes()  # model + generated corpus, no store yet
    memory = Memory(path, embedder=embedder)
    try:
        record_ids, out["ingest"] = _timed_ingest(memory, sessions, embedder, config, n)
        rss_after_ingest = report.current_rss_bytes()
        log(f"N={n:,}: ingest {out['ingest']['turns_per_s']:,.0f} turns/s "
            f"(embedding {out['ingest']['embed_share']:.0%} of the time)")  # fmt: skip
        out["records"] = memory.stats()["records"]
        out["cold_first_dense_search_ms"], out["graph_build_wait_s"] = warm_up(memory, qsets.warmup)
        out["storage"] = storage_figures(path, out["records"])
        out["search"], dense_hits = _search_all(memory, qsets, turns, record_ids, config.progress)
        log(f"N={n:,}: search p50 " + ", ".join(
            f"{s} {out['search'][s]['p50_ms']:.2f} ms" for s in STRATEGIES))  # fmt: skip
        out["query_embed"] = embed_phase(embedder.inner, qsets.by_strategy["hybrid"])
        peak_engine = report.peak_rss_bytes()
        rss_after_search = report.current_rss_bytes()
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
        "peak_rss_bytes": max(report.peak_rss_bytes(), peak_engine),
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
    out["load_average_after"] = report.load_average()
    return out


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_scale(config: ScaleConfig, log: Log = _stderr) -> dict[str, Any]:
    """Run the benchmark for every size in `config.sizes`, write results.json,
    results.md and the plots to `config.out`, and return the results dict."""
    config.out.mkdir(parents=True, exist_ok=True)
    # Models load lazily: time the loader and a first embedding together.
    (inner, load_s) = report.timed(lambda: _loaded(load_embedder(config.embedder)))
    embedder = TimedEmbedder(inner)
    results: dict[str, Any] = {
        "dataset": "scale",
        "schema": report.RESULTS_SCHEMA,
        "started_at": report.utc_now(),
        "finished_at": None,
        "config": _config_dict(config, embedder, load_s),
        "machine": report.machine_info(),
        "source_revision": report.source_revision(),
        "targets": TARGETS,
        "results": [],
    }
    with _store_dir(config) as folder:
        for n in sorted(set(config.sizes)):
            results["results"].append(run_size(n, config, embedder, folder, log))
            # Written after every size, so a long run that dies keeps what it measured.
            results["finished_at"] = report.utc_now()
            write_outputs(results, config.out, plots=config.plots)
    return results


def _loaded(embedder: Embedder) -> Embedder:
    embedder.embed(["warm up the embedding model"])
    return embedder


def _config_dict(config: ScaleConfig, embedder: TimedEmbedder, load_s: float) -> dict[str, Any]:
    data = asdict(config)
    data.update(
        out=str(config.out),
        sizes=sorted(set(config.sizes)),
        k=K,
        strategies=list(STRATEGIES),
        embedder_name=embedder.name,
        embedder_dim=embedder.dim,
        embedder_fingerprint=embedder.fingerprint,
        embedder_load_s=load_s,
        search_scope="namespace 'default' (all N records); layered_user_scoped: the target's user",
    )
    return data


# ------------------------------------------------------------------ outputs


def write_outputs(results: dict[str, Any], out: Path, *, plots: bool = True) -> list[Path]:
    """results.json, results.md and (with `plots`) latency_vs_n.png and
    throughput_vs_n.png in `out`. Returns the paths written."""
    paths = [
        report.write_json(out / "results.json", results),
        report.write_text(out / "results.md", results_markdown(results)),
    ]
    if plots:
        paths.extend(write_plots(results, out))
    return paths


def write_plots(results: dict[str, Any], out: Path) -> list[Path]:
    """Latency vs N and throughput vs N, as PNG."""
    rows = results["results"]
    sizes = [r["n"] for r in rows]
    label = results["config"]["embedder_name"]
    latency = {
        f"{s} {p}": [r["search"][s][f"{p}_ms"] for r in rows]
        for s in STRATEGIES
        for p in ("p50", "p95")
    }
    colors = dict(zip(STRATEGIES, ("tab:red", "tab:blue", "tab:orange", "tab:green")))
    styles = {
        f"{s} {p}": {"color": colors[s], "linestyle": "-" if p == "p50" else "--"}
        for s in STRATEGIES
        for p in ("p50", "p95")
    }
    throughput = {
        "batch add, fresh store (turns/s)": [r["ingest"]["turns_per_s"] for r in rows],
        "batch add, index loaded (turns/s)": [
            r.get("ingest_warm_index", {}).get("turns_per_s") for r in rows
        ],
        "single add (adds/s, from p50)": [1000.0 / r["single_add"]["p50_ms"] for r in rows],
    }
    return [
        report.line_plot(out / "latency_vs_n.png", sizes, latency, logy=True,
                         title=f"Search latency vs N ({label}, query embedding included)",
                         xlabel="records (N)", ylabel="ms",
                         hlines={"target p50 15 ms": TARGETS["search_p50_ms"]}, styles=styles),
        report.line_plot(out / "throughput_vs_n.png", sizes, throughput, logy=True,
                         title=f"Ingest throughput vs N ({label})", xlabel="records (N)",
                         ylabel="per second",
                         hlines={"target 150 turns/s": TARGETS["batch_add_turns_per_s"]}),
    ]  # fmt: skip


def results_markdown(results: dict[str, Any]) -> str:
    """The results as Markdown: configuration, machine and one table per concern."""
    cfg, rows = results["config"], results["results"]
    hits = "; ".join(
        f"N={r['n']:,}: " + ", ".join(f"{s} {r['search'][s]['hit_at_10']:.2f}" for s in STRATEGIES)
        for r in rows
    )
    parts = [
        "# memstrata scale benchmark\n",
        f"Embedder `{cfg['embedder_name']}` ({cfg['embedder_dim']}-d), seed {cfg['seed']}, "
        f"{cfg['queries']} queries per strategy (k={cfg['k']}), batches of up to "
        f"{cfg['batch']} turns of one session, search over {cfg['search_scope']}. "
        f"Started {results['started_at']}, memstrata commit "
        f"`{results.get('source_revision') or 'unknown'}`.\n",
        report.machine_markdown(results["machine"]),
        "## Ingest and storage\n",
        _ingest_table(rows),
        "\n## Search latency (ms, warm, query embedding included)\n",
        _search_table(rows),
        f"\nhit@10 (the query's source turn among the 10 hits): {hits}\n",
        "\n## Vector index vs exact brute force\n",
        f"Dense search (`Memory.search`, strategy dense) against an exact numpy scan of "
        f"the vectors read back from the file; latencies for the top {DEPTH} (the depth "
        "`Memory.search` asks for), query vector given.\n",
        _vector_table(rows),
        "\n## Targets\n",
        _targets_markdown(results),
    ]
    return "\n".join(parts)


def _pair(a: float | None, b: float | None, digits: int = 2) -> str:
    return f"{report.fmt_number(a, digits)} / {report.fmt_number(b, digits)}"


def _ingest_table(rows: Sequence[dict[str, Any]]) -> str:
    f, b = report.fmt_number, report.fmt_bytes
    headers = ["N", "batch turns/s", "first/last 10% turns/s", "embed share", "mean batch",
               "turns/s, index loaded", "single add p50/p95 ms", "bytes/record",
               "files", "peak RSS engine / total"]  # fmt: skip
    table = []
    for r in rows:
        ing, warm = r["ingest"], r.get("ingest_warm_index", {})
        table.append([
            f(r["n"]), f(ing["turns_per_s"]),
            _pair(ing["turns_per_s_first_10pct"], ing["turns_per_s_last_10pct"], 0),
            f"{ing['embed_share']:.0%}", f(ing["mean_batch"]), f(warm.get("turns_per_s")),
            _pair(r["single_add"]["p50_ms"], r["single_add"]["p95_ms"]),
            f(r["storage"]["bytes_per_record"], 0),
            ", ".join(f"{k} {b(v)}" for k, v in r["storage"]["files"].items()),
            f"{b(r['memory']['peak_rss_engine_bytes'])} / {b(r['memory']['peak_rss_bytes'])}",
        ])  # fmt: skip
    return report.markdown_table(headers, table)


def _search_table(rows: Sequence[dict[str, Any]]) -> str:
    f = report.fmt_number
    names = (*STRATEGIES, "layered_user_scoped")
    headers = ["N", *[f"{s} p50 / p95" for s in names], "query embed p50",
               "cold 1st dense", "1st dense after reopen"]  # fmt: skip
    table = [
        [f(r["n"]),
         *[_pair(r["search"][s]["p50_ms"], r["search"][s]["p95_ms"]) for s in names],
         f(r["query_embed"]["p50_ms"], 2), f(r["cold_first_dense_search_ms"], 1),
         f(r.get("reopen", {}).get("first_dense_search_ms"), 1)]
        for r in rows
    ]  # fmt: skip
    return report.markdown_table(headers, table)


def _vector_table(rows: Sequence[dict[str, Any]]) -> str:
    f = report.fmt_number
    headers = ["N", "recall@10", "recall@10 (ids)", "index recall@10 (k=10)",
               "engine index p50 ms", "brute force p50 ms", "ratio", "max score diff"]  # fmt: skip
    table = []
    for r in rows:
        v = r["vector_index"]
        table.append([
            f(r["n"]), f(v.get("recall_at_10"), 4), f(v.get("recall_at_10_strict"), 4),
            f(v.get("index_recall_at_10_k10"), 4),
            f(v.get("engine_index", {}).get("p50_ms"), 2),
            f(v.get("brute_force", {}).get("p50_ms"), 2),
            f(v.get("latency_ratio_p50"), 2), f"{v.get('max_score_diff', 0):.1e}",
        ])  # fmt: skip
    return report.markdown_table(headers, table)


def _targets_markdown(results: dict[str, Any]) -> str:
    targets, rows = results["targets"], results["results"]
    lines = []
    for r in rows:
        rate = r["ingest"]["turns_per_s"] or 0.0
        ok = "met" if rate >= targets["batch_add_turns_per_s"] else "missed"
        lines.append(f"- N={r['n']:,}: batch add {rate:,.0f} turns/s vs target "
                     f"{targets['batch_add_turns_per_s']:.0f} ({ok})")  # fmt: skip
        p50 = r["search"]["layered"]["p50_ms"]
        ok = "met" if p50 <= targets["search_p50_ms"] else "missed"
        scope = "" if r["n"] >= targets["search_p50_at_n"] else " (target is set at 100k)"
        lines.append(f"- N={r['n']:,}: layered (default) search p50 {p50:.2f} ms vs target "
                     f"{targets['search_p50_ms']:.0f} ms ({ok}){scope}")  # fmt: skip
    note = "The throughput target applies to the default model (minilm)."
    return "\n".join(lines) + f"\n\n{note}\n"
