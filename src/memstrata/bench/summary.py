"""The report of a retrieval benchmark: `results.md`, the PNG plots and the line
per strategy on the terminal, all from the results dict `results.build_results`
makes (and, for the latency plot, the raw timings in the `RunState`).

Plots: `recall_at_k.png` (recall@k curves, a panel per category with the overall
figure first, one curve per strategy; `recall_at_k_<unit>.png` for a second unit)
and `latency.png` (distributions of search latency per strategy and of context
latency per token budget, p50 and p95 marked).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from memstrata.bench import machine, plots, report
from memstrata.bench.metrics import KS
from memstrata.bench.model import RunConfig, RunState, Spec
from memstrata.bench.report import fmt_number, fmt_share


def write_outputs(
    results: dict[str, Any], state: RunState, config: RunConfig, spec: Spec | None = None
) -> list[Path]:
    """results.json, results.md and (with plots on) recall_at_k.png and latency.png;
    per_question.jsonl is written as the run goes."""
    paths = [
        report.write_json(config.out / "results.json", results),
        report.write_text(config.out / "results.md",
                          results_markdown(results, spec.markdown if spec else None)),
    ]  # fmt: skip
    if config.plots:
        paths.extend(write_plots(results, state, config.out))
    return paths


def write_plots(results: Mapping[str, Any], state: RunState, out: Path) -> list[Path]:
    """Recall@k curves by strategy, overall and per category (a panel each), for
    every unit scored; latency distributions (search per strategy, context per
    budget)."""
    headline = results["unit"]
    units = [headline, *(u for u in results.get("by_unit", {}) if u != headline)]
    paths = []
    for unit in units:
        name = "recall_at_k.png" if unit == headline else f"recall_at_k_{unit}.png"
        paths.append(plots.panels_plot(
            out / name, recall_panels(results, unit),
            title=f"{results['dataset']}: {unit}-level evidence recall@k by strategy "
                  f"(embedder {results['config']['embedder']})",
        ))  # fmt: skip
    paths.append(plots.ecdf_plot(
        out / "latency.png", latency_samples(state),
        title=f"{results['dataset']}: latency per question, warm "
              f"(embedder {results['config']['embedder']})",
    ))  # fmt: skip
    return paths


def recall_panels(results: Mapping[str, Any], unit: str) -> list[plots.Panel]:
    """One panel of recall@k curves (a curve per strategy) for the overall figure and
    for each category with scored questions (BEAM's abstention has none), titled with
    its number of scored questions."""
    blocks = results["by_strategy"]
    first = next(iter(blocks.values()))

    def pick(block: Mapping[str, Any], category: str | None) -> Mapping[str, Any]:
        return block if category is None else block["by_category"][category]

    def scored(category: str | None) -> int:
        return _unit_figures(pick(first, category), unit, results["unit"]).get("n_questions") or 0

    def panel(title: str, category: str | None = None) -> plots.Panel:
        n = scored(category)
        return plots.Panel(
            title=f"{title} (n={n})",
            series={
                s: (KS, _curve(pick(b, category), unit, results["unit"]))
                for s, b in blocks.items()
            },
            xlabel="k (distinct turns)" if unit == "turn" else f"k (distinct {unit}s)",
            ylabel=f"recall@k (share of evidence {unit}s)",
            ylim=(0.0, 1.02), xticks=KS,
        )  # fmt: skip

    panels = [panel("overall")]
    for cat, info in first["by_category"].items():
        if not scored(cat):
            continue
        title = f"{cat} {info['name']}" if info["name"] != cat else cat
        if not info["in_overall"]:
            title += ", not in overall"
        panels.append(panel(title, cat))
    return panels


def latency_samples(state: RunState) -> dict[str, dict[str, list[float]]]:
    """Milliseconds per call: search by strategy; context by token budget (`context`
    takes no strategy, so the samples of every strategy's pass are pooled)."""
    search = {s: [x * 1000 for x in seconds] for s, seconds in state.search_s.items()}
    context: dict[str, list[float]] = {}
    for per_budget in state.context_s.values():
        for budget, seconds in per_budget.items():
            context.setdefault(f"{budget} tokens", []).extend(x * 1000 for x in seconds)
    return {"search, by strategy": search, "context, by token budget": context}


def _unit_figures(block: Mapping[str, Any], unit: str, headline: str) -> Mapping[str, Any]:
    return block if unit == headline else block.get("by_unit", {}).get(unit, {})


def _curve(block: Mapping[str, Any], unit: str, headline: str) -> list[float | None]:
    recall = _unit_figures(block, unit, headline).get("recall_at", {})
    return [recall.get(str(k)) for k in KS]


def _recall_row(label: list[str], figures: Mapping[str, Any]) -> list[str]:
    return [
        *label,
        fmt_number(figures.get("n_questions")),
        *[fmt_share(figures["recall_at"][str(k)]) for k in KS],
        fmt_share(figures["all_hit_at"]["10"]),
        fmt_share(figures["mrr"]),
    ]


_RECALL_HEADERS = [*[f"R@{k}" for k in KS], "all@10", "MRR"]


def results_markdown(
    results: Mapping[str, Any],
    spec_markdown: Callable[[Mapping[str, Any]], str] | None = None,
) -> str:
    """The results as Markdown tables: recall by strategy, by category, the data
    set's own figures (`spec_markdown`), context coverage, latency, ingest and
    resources, evidence problems."""
    cfg, unit = results["config"], results["unit"]
    blocks = results["by_strategy"]
    data = results["data"]
    overall_cats = [c for c, i in next(iter(blocks.values()))["by_category"].items()
                    if i["in_overall"]]  # fmt: skip
    parts = [
        f"# memstrata {results['dataset']} retrieval benchmark\n",
        f"Data `{cfg['data']}` ({data.get('layout', '')}): {data.get('conversations')} "
        f"conversation(s), {data.get('turns')} turns, {data.get('questions')} questions. "
        f"Embedder `{cfg['embedder']}` ({cfg['embedder_dim']}-d); settings "
        f"{cfg['settings'] or 'none (library defaults)'}; "
        + (
            "turn text prefixed with 'Speaker: ' (input ablation); "
            if cfg.get("speaker_in_text")
            else ""
        )
        + "strategy `default` is "
        f"`{cfg['default_strategy']}`; each search asks for k={cfg['search_k']} hits. "
        f"memstrata commit `{results.get('source_revision') or 'unknown'}`, started "
        f"{results['started_at']}.\n",
        f"Command: `{results.get('command') or 'n/a'}`\n",
        machine.machine_markdown(results["machine"]),
        f"## {unit.capitalize()} recall ({_plural(results['category_label'])} "
        f"{', '.join(overall_cats)})\n",
        f"Evidence recall@k: the share of a question's evidence {unit}s among the first k "
        f"distinct {unit}s after expanding hits through their provenance, averaged over "
        f"questions; all@10: every evidence {unit} in the first 10; MRR over the "
        f"{cfg['search_k']} hits.\n",
        report.markdown_table(
            ["strategy", "questions", *_RECALL_HEADERS, "search p50 / p95 ms"],
            [[*_recall_row([s], b), _pair(b["latency_ms"], "search")] for s, b in blocks.items()],
        ),
    ]
    if "by_unit" in results:
        for extra_unit in (u for u in results["by_unit"] if u != unit):
            parts += [
                f"\n## {extra_unit.capitalize()} recall\n",
                report.markdown_table(
                    ["strategy", "questions", *_RECALL_HEADERS],
                    [_recall_row([s], b["by_unit"][extra_unit]) for s, b in blocks.items()],
                ),
            ]
    label = results["category_label"]
    for each in [unit, *(u for u in results.get("by_unit", {}) if u != unit)]:
        parts += [
            f"\n## {each.capitalize()} recall by {label}\n",
            _category_table(blocks, each, unit, label),
        ]
    if spec_markdown is not None:
        parts.append(spec_markdown(results))
    parts += ["\n## Context coverage\n", _context_markdown(results)]
    parts += ["\n## Ingest and resources\n", _resources_markdown(results)]
    parts += ["\n## Evidence and data problems\n", _evidence_markdown(results)]
    return "\n".join(parts)


def _plural(word: str) -> str:
    return word[:-1] + "ies" if word.endswith("y") else word + "s"


def _pair(latency: Mapping[str, Any], what: str) -> str:
    return f"{fmt_number(latency[f'{what}_p50'], 2)} / {fmt_number(latency[f'{what}_p95'], 2)}"


def _category_table(blocks: Mapping[str, Any], unit: str, headline: str, label: str) -> str:
    rows = []
    first = next(iter(blocks.values()))
    for cat, info in first["by_category"].items():
        name = f"{cat} {info['name']}" if info["name"] != cat else cat
        if not info["in_overall"]:
            name += " (apart)"
        for strategy, block in blocks.items():
            figures = block["by_category"][cat]
            figures = figures if unit == headline else figures["by_unit"][unit]
            rows.append(_recall_row([name, strategy], figures))
    return report.markdown_table([label, "strategy", "scored", *_RECALL_HEADERS], rows)


def _context_markdown(results: Mapping[str, Any]) -> str:
    budgets = results["config"]["budgets"]
    rows = [
        [
            s,
            *[fmt_share(b["context_coverage"][str(x)]) for x in budgets],
            _pair(b["latency_ms"], "context"),
        ]
        for s, b in results["by_strategy"].items()
    ]
    return (
        "Share of evidence turns covered by `context(question, budget)` (the context holds "
        "the turn's text, or a part whose provenance names it).\n\n"
        + report.markdown_table(
            ["strategy", *[f"{b} tokens" for b in budgets], "context p50 / p95 ms"], rows
        )
    )


def _resources_markdown(results: Mapping[str, Any]) -> str:
    ing = results["ingest"]
    rate = results["ingest_per_s"]
    return (
        f"- Ingest: {ing['turns']:,} turns into {ing['conversations']} fresh store(s) in "
        f"{ing['seconds']:.1f} s of `add` calls: {fmt_number(rate, 0)} turns/s "
        "(embedding included)\n"
        f"- Records stored: {ing['records']:,}\n"
        f"- Store size: {report.fmt_bytes(results['store_bytes'])} in total "
        f"({fmt_number(results['store_bytes_per_turn'], 0)} bytes per turn)\n"
        f"- Peak RSS of the run: {results['peak_rss_mb']:.0f} MiB\n"
    )


def _evidence_markdown(results: Mapping[str, Any]) -> str:
    ev, hits = results["evidence"], results["hits"]
    lines = [
        f"- Questions: {ev['questions']}, scored {ev['questions_scored']}; not scored: "
        + (", ".join(f"{k} {v}" for k, v in ev["questions_skipped"].items()) or "none"),
        f"- Evidence ids that could not be parsed: {ev['malformed_ids']} "
        f"(in {ev['questions_with_malformed_ids']} questions)",
        f"- Evidence ids not in their conversation: {ev['unknown_ids']} "
        f"(in {ev['questions_with_unknown_ids']} questions; scored on the rest)",
        f"- Hits that stood for no turn: {hits['unitless']}; provenance ids not found: "
        f"{hits['unresolved_sources']}",
    ]
    issues = results["data_issues"]
    for kind, count in issues["counts"].items():
        examples = "; ".join(issues["examples"].get(kind, [])[:3])
        lines.append(f"- Data: {kind}: {count} (e.g. {examples})")
    return "\n".join(lines) + "\n"


def headline(results: Mapping[str, Any]) -> str:
    """One line per strategy for the terminal."""
    lines = []
    for strategy, b in results["by_strategy"].items():
        recall = b["recall_at"]
        lines.append(
            f"{results['dataset']} {strategy}: {results['unit']} recall@1/5/10/20 "
            + "/".join(fmt_share(recall[str(k)]) for k in KS)
            + f", MRR {fmt_share(b['mrr'])}, "
            + f"search p50 {fmt_number(b['latency_ms']['search_p50'], 2)} ms"
            + f" ({b['n_questions']} questions)"
        )
    return "\n".join(lines)
