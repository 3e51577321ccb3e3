"""The report of a scale run: results.json, results.md, the plots over N (search
latency, ingest throughput, storage and memory) and the terminal table."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.table import Table

from memstrata.bench import machine, report
from memstrata.bench.plots import Panel, panels_plot
from memstrata.bench.scale.plan import DEPTH, STRATEGIES, TARGETS

_N_LABEL = "store size N (turns added)"


def write_outputs(results: dict[str, Any], out: Path, *, plots: bool = True) -> list[Path]:
    """results.json, results.md and (with `plots`) latency_vs_n.png,
    throughput_vs_n.png and storage_vs_n.png in `out`. Returns the paths written."""
    paths = [
        report.write_json(out / "results.json", results),
        report.write_text(out / "results.md", results_markdown(results)),
    ]
    if plots:
        paths.extend(write_plots(results, out))
    return paths


def write_plots(results: dict[str, Any], out: Path) -> list[Path]:
    """Curves over N: search latency (p50 and p95 panels), ingest throughput (as
    each store fills, and per N) and storage and memory."""
    rows = results["results"]
    label = results["config"]["embedder_name"]
    one = " (one N: pass several sizes, e.g. --n 10k,30k,100k, for curves)" if len(rows) < 2 else ""
    return [
        panels_plot(out / "latency_vs_n.png", latency_panels(rows), columns=2,
                    title=f"Search latency vs N, warm, query embedding included "
                          f"(embedder {label}){one}"),
        panels_plot(out / "throughput_vs_n.png", throughput_panels(rows), columns=2, sharey=False,
                    legend="panel", title=f"Ingest throughput (embedder {label}){one}"),
        panels_plot(out / "storage_vs_n.png", storage_panels(rows), columns=2, sharey=False,
                    legend="panel", title=f"Storage and memory vs N (embedder {label}){one}"),
    ]  # fmt: skip


def _over_n(rows: Sequence[dict[str, Any]], value: Any) -> tuple[list[float], list[float | None]]:
    return [float(r["n"]) for r in rows], [value(r) for r in rows]


def latency_panels(rows: Sequence[dict[str, Any]]) -> list[Panel]:
    """p50 and p95 of each strategy's search latency over N."""
    names = {**{s: s for s in STRATEGIES}, "layered_user_scoped": "layered, one user"}
    panels = []
    for p in ("p50", "p95"):
        series = {
            label: _over_n(rows, lambda r, s=s, key=f"{p}_ms": r["search"][s][key])
            for s, label in names.items()
        }
        target = {"target p50 15 ms (layered, at 100k)": TARGETS["search_p50_ms"]}
        panels.append(Panel(
            title=f"{p} per search", series=series, xlabel=_N_LABEL,
            ylabel="latency (ms, log scale)", logx=True, logy=True,
            xticks=[float(r["n"]) for r in rows], hlines=target if p == "p50" else {},
        ))  # fmt: skip
    return panels


def throughput_panels(rows: Sequence[dict[str, Any]]) -> list[Panel]:
    """Batch-add rate as each store fills (a curve per N), and the add rates per N."""
    target = {"target 150 turns/s": TARGETS["batch_add_turns_per_s"]}
    filling = {
        f"N={report.short_count(r['n'])}": (curve["stored"], curve["turns_per_s"])
        for r in rows
        if (curve := r["ingest"].get("rate_by_stored"))
    }
    sizes = [float(r["n"]) for r in rows]
    per_n = {
        "batch add, fresh store": _over_n(rows, lambda r: r["ingest"]["turns_per_s"]),
        "batch add, index loaded": _over_n(
            rows, lambda r: r.get("ingest_warm_index", {}).get("turns_per_s")
        ),
        "single add (from its p50)": _over_n(rows, lambda r: 1000.0 / r["single_add"]["p50_ms"]),
    }
    return [
        Panel(title="batch add as the store fills", series=filling,
              xlabel="turns stored (log scale)", ylabel="turns per second", logx=True,
              hlines=target),
        Panel(title="add throughput per N", series=per_n, xlabel=_N_LABEL,
              ylabel="turns per second (log scale)", logx=True, logy=True, xticks=sizes,
              hlines=target),
    ]  # fmt: skip


def storage_panels(rows: Sequence[dict[str, Any]]) -> list[Panel]:
    """Bytes on disk per record, and peak resident memory, over N."""
    sizes = [float(r["n"]) for r in rows]
    mib = 2**20
    return [
        Panel(title="file bytes per record", xlabel=_N_LABEL, ylabel="bytes per record",
              logx=True, xticks=sizes, series={
                  "all files (db, WAL, graph cache)":
                      _over_n(rows, lambda r: r["storage"]["bytes_per_record"]),
                  "SQLite file only": _over_n(
                      rows, lambda r: r["storage"].get("sqlite_bytes_per_record")),
              }),
        Panel(title="peak resident memory", xlabel=_N_LABEL, ylabel="MiB", logx=True,
              xticks=sizes, series={
                  "engine phases": _over_n(
                      rows, lambda r: r["memory"]["peak_rss_engine_bytes"] / mib),
                  "whole run of N": _over_n(rows, lambda r: r["memory"]["peak_rss_bytes"] / mib),
              }),
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
        machine.machine_markdown(results["machine"]),
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


# ---------------------------------------------------------------- terminal


def summary_table(results: dict[str, Any]) -> Table:
    """A rich table of the headline figures: one row per figure, one column per N."""
    rows = results["results"]
    table = Table(title=f"memstrata bench scale ({results['config']['embedder_name']})")
    table.add_column("figure")
    for r in rows:
        table.add_column(f"N={r['n']:,}", justify="right")
    for label, cell in _summary_rows():
        table.add_row(label, *[cell(r) for r in rows])
    return table


def _ms(section: str, name: str | None = None) -> Any:
    def cell(r: dict[str, Any]) -> str:
        figures = r[section] if name is None else r[section][name]
        return f"{figures['p50_ms']:.2f} / {figures['p95_ms']:.2f}"

    return cell


def _summary_rows() -> list[tuple[str, Any]]:
    f, b = report.fmt_number, report.fmt_bytes
    return [
        ("batch add turns/s", lambda r: f(r["ingest"]["turns_per_s"], 0)),
        ("  same, index loaded", lambda r: f(r["ingest_warm_index"]["turns_per_s"], 0)),
        ("embedding share of ingest", lambda r: f"{r['ingest']['embed_share']:.0%}"),
        *[(f"{s} search p50 / p95 ms", _ms("search", s)) for s in STRATEGIES],
        ("query embed p50 / p95 ms", _ms("query_embed")),
        ("single add p50 / p95 ms", _ms("single_add")),
        ("bytes / record", lambda r: f(r["storage"]["bytes_per_record"], 0)),
        ("dense recall@10 vs exact", lambda r: f(r["vector_index"]["recall_at_10"], 3)),
        ("index / brute-force p50", lambda r: f(r["vector_index"]["latency_ratio_p50"], 2)),
        ("peak RSS (engine)", lambda r: b(r["memory"]["peak_rss_engine_bytes"])),
    ]
