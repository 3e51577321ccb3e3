"""A whole serving run: a preloaded store and an API key, the server, the load, and
afterwards every acknowledged add read back from the store file."""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from memstrata.bench import machine, report
from memstrata.bench.measure import Log, latency_summary, stderr_log
from memstrata.bench.serve.kill import disruption, outage_figures
from memstrata.bench.serve.load import LoadResult, Sample, run_load
from memstrata.bench.serve.plan import (
    NAMESPACE,
    VERBS,
    WARM_UP_S,
    K,
    ServeConfig,
    command_line,
    plan_requests,
    redact_dsn,
)
from memstrata.bench.serve.report import write_outputs
from memstrata.bench.serve.server import slots_in_use, start_server
from memstrata.bench.serve.target import store_target
from memstrata.errors import NotFound
from memstrata.memory import Memory

PACKAGES = (*machine.DEFAULT_PACKAGES, "httpx", "fastapi", "starlette", "uvicorn")
_EXAMPLES = 5  # error messages kept in the results


def verify_writes(
    memory: Memory, acked: Sequence[tuple[str, str, str, str | None]], preloaded: int
) -> dict[str, Any]:
    """Read every acknowledged add back from the store file: `lost` were not found,
    `mismatched` came back with another text or scope. `events_stored` counts the
    namespace's turns; beyond the preloaded and acknowledged ones it would hold
    writes whose answer never reached the client (a timeout, say)."""
    lost = mismatched = 0
    for record_id, text, user_id, session_id in acked:
        try:
            record = memory.get(record_id, namespace=NAMESPACE)
        except NotFound:
            lost += 1
            continue
        scope = record.scope
        if record.text != text or (scope.user_id, scope.session_id) != (user_id, session_id):
            mismatched += 1
    stored = int(memory.stats(namespace=NAMESPACE)["by_kind"].get("event", {}).get("active", 0))
    return {
        "acked_records": len(acked),
        "found": len(acked) - lost,
        "lost": lost,
        "mismatched": mismatched,
        "events_preloaded": preloaded,
        "events_expected": preloaded + len(acked),
        "events_stored": stored,
        "stored_without_ack": stored - preloaded - len(acked),
    }


def run_serve(config: ServeConfig, log: Log = stderr_log) -> dict[str, Any]:
    """Run the benchmark and write results.json, results.md (and latency.png) to
    `config.out`; return the results."""
    config.check()
    config.out.mkdir(parents=True, exist_ok=True)
    plan, batches = plan_requests(config)
    results: dict[str, Any] = {
        "dataset": "serve",
        "schema": report.RESULTS_SCHEMA,
        "started_at": machine.utc_now(),
        "finished_at": None,
        "config": {
            **asdict(config),
            "out": str(config.out),
            "k": K,
            "namespace": NAMESPACE,
            "command": command_line(config),
            "db": None if config.db is None else redact_dsn(config.db),
        },
        "machine": machine.machine_info(PACKAGES),
        "source_revision": machine.source_revision(),
    }
    with tempfile.TemporaryDirectory(prefix="memstrata-serve-") as folder, \
            store_target(config, Path(folder)) as store:  # fmt: skip
        results["store"] = {"backend": store.backend, "target": store.shown}
        # Formation in the background, as `memstrata serve` runs it.
        memory = Memory(store.target, embedder=config.embedder, background_formation=True)
        opened: Memory | None = memory  # what is open now, to close on the way out
        try:
            preloaded, preload_s = _preload(memory, batches)
            memory.flush()
            log(f"preloaded {preloaded:,} turns ({store.backend}) in {preload_s:.1f} s")
            results["config"]["embedder_name"] = memory.embedder.name
            _, secret = _create_key(memory)
            if config.server == "process":
                memory.close()  # the child process opens the store itself
                opened = None
            log_path = Path(folder) / "server.log"
            with start_server(store.target, config.embedder, config.host, config.server,
                              opened, config.slots, log_path) as server:  # fmt: skip
                log(f"server ({server.mode}) ready at {server.url} in {server.startup_s:.1f} s")
                disrupt, outage = None, None
                if config.kill is not None:
                    disrupt, outage = disruption(config.kill, server, store, len(plan),
                                                 config.seconds, log)  # fmt: skip
                load = run_load(server.url, secret, plan, config, disrupt)
            server_log = _keep_log(server.log_path, config.out)
            # Read back from the store, after the server has stopped.
            opened = opened or Memory(store.target, embedder=config.embedder)
            writes = verify_writes(opened, load.acked, preloaded)
        finally:
            if opened is not None:
                opened.close()
    results.update(
        finished_at=machine.utc_now(),
        server={
            "mode": config.server,
            "slots": slots_in_use(config.slots),
            "startup_s": server.startup_s,
            "preload_turns": preloaded,
            "preload_s": preload_s,
            "log": server_log,
        },
        load=_load_figures(load, len(plan)),
        latency_ms=_latency(load.samples),
        # All clients start at once: the first requests queue behind each other.
        latency_after_start_ms={
            verb: figures
            for verb, figures in _latency([s for s in load.samples if s.start >= WARM_UP_S]).items()
            if figures["n"]
        },
        errors=_error_figures(load),
        outage=None if outage is None else outage_figures(outage, load.samples),
        writes=writes,
        load_average_after=machine.load_average(),
    )
    write_outputs(results, config.out, plots=config.plots, samples=load.samples)
    return results


def _keep_log(log_path: Path | None, out: Path) -> str | None:
    """Copy what the server process wrote (warnings, errors) to `out/server.log`, if
    it wrote anything; return that path."""
    text = log_path.read_text(errors="replace") if log_path and log_path.exists() else ""
    target = out / "server.log"
    target.unlink(missing_ok=True)  # from an earlier run
    if not text.strip():
        return None
    return str(report.write_text(target, text))


def _preload(memory: Memory, batches: Sequence[dict[str, Any]]) -> tuple[int, float]:
    start, count = time.perf_counter(), 0
    for batch in batches:
        memory.add(batch["messages"], namespace=NAMESPACE, user_id=batch["user_id"],
                   session_id=batch["session_id"])  # fmt: skip
        count += len(batch["messages"])
    return count, time.perf_counter() - start


def _create_key(memory: Memory) -> tuple[str, str]:
    from memstrata.server.keys import create_key

    return create_key(memory.store, NAMESPACE, label="bench serve")


def _load_figures(load: LoadResult, planned: int) -> dict[str, Any]:
    """Requests finished (a retried request once, by its last attempt)."""
    final = [s for s in load.samples if not s.retried]
    done = Counter(s.verb for s in final)
    wall = load.wall_s
    return {
        "planned": planned,
        "done": len(final),
        "by_verb": {v: done.get(v, 0) for v in VERBS},
        "wall_s": wall,
        "req_per_s": len(final) / wall if wall else None,
        "req_per_s_by_verb": {v: done.get(v, 0) / wall if wall else None for v in VERBS},
        "stopped_by": load.stopped_by,
        "acked_adds": sum(1 for s in final if s.verb == "add" and s.error is None),
        "attempts": len(load.samples),
    }


def _latency(samples: Sequence[Sample]) -> dict[str, Any]:
    """Latency of the successful requests, per verb and all together."""
    ok = [s for s in samples if s.error is None]
    out = {v: latency_summary([s.seconds for s in ok if s.verb == v]) for v in VERBS}
    out["all"] = latency_summary([s.seconds for s in ok])
    return out


def _error_figures(load: LoadResult) -> dict[str, Any]:
    """Every failed attempt (a request retried in a kill run may fail several times)."""
    failed = [s for s in load.samples if s.error is not None]
    return {
        "count": len(failed),
        "by_verb": {v: sum(1 for s in failed if s.verb == v) for v in VERBS},
        "by_type": dict(Counter(str(s.error).split(":", 1)[0] for s in failed)),
        "examples": list(dict.fromkeys(load.errors))[:_EXAMPLES],
    }
