"""From per-question rows to `results.json`, `results.md` and plots, for the
retrieval benchmarks (LoCoMo, LongMemEval).

`results.json` keys (stable; scripts may rely on them):

- `dataset`, `strategy` (the strategy the top-level figures are for: the first one
  asked for), `strategies`, `unit` ("turn" or "session": what `recall_at` counts),
  `config`, `machine`, `command`, `source_revision`, `started_at`, `finished_at`,
  `data`;
- `n_questions` (scored questions in the overall figure), `recall_at` {"1","5","10",
  "20"}, `all_hit_at` (same keys), `mrr`, `by_category` {category: {"name",
  "in_overall", "n_questions", "recall_at", "all_hit_at", "mrr", "context_coverage"}},
  `context_coverage` {"500","1000","2000"} (null values when `context` is absent),
  `latency_ms` {`search_p50`, `search_p95`, `context_p50`, `context_p95`};
- `by_unit` {"session": {...}, "turn": {...}} when a data set scores both;
- `ingest_per_s`, `peak_rss_mb`, `store_bytes`, `context` {"available", "note"},
  `evidence` (malformed, unknown and missing evidence counts), `data_issues`,
  `hits` (hits that stood for no turn, provenance that led nowhere);
- `by_strategy` {strategy: the per-strategy figures above, for every strategy run}.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from memstrata.bench import report
from memstrata.bench.harness import RunConfig, RunState, Spec, default_strategy, known_settings
from memstrata.bench.metrics import KS, mean, mean_scores

RESULTS_SCHEMA = 1
ABSENT_NOTE = (
    "absent: this memstrata has no Memory.context yet; context coverage and latency are "
    "reported as null, not zero"
)


def _unit_summary(rows: Sequence[Mapping[str, Any]], unit: str) -> dict[str, Any]:
    scored = [r["scores"][unit] for r in rows if unit in r["scores"]]
    out = mean_scores(scored)
    return {"n_questions": out.pop("n"), **out}


def _coverage(rows: Sequence[Mapping[str, Any]], budgets: Sequence[int]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for budget in budgets:
        shares = [
            r["context_coverage"][str(budget)]
            for r in rows
            if r.get("context_coverage") and r["context_coverage"].get(str(budget)) is not None
        ]
        out[str(budget)] = mean(shares)
    return out


def _category_key(name: str) -> tuple[int, float, str]:
    try:
        return (0, float(name), name)
    except ValueError:
        return (1, 0.0, name)


def _figures(spec: Spec, rows: Sequence[Mapping[str, Any]], budgets: Sequence[int]) -> dict:
    head = _unit_summary(rows, spec.headline)
    out: dict[str, Any] = {**head, "context_coverage": _coverage(rows, budgets)}
    if len(spec.units) > 1:
        out["by_unit"] = {u: _unit_summary(rows, u) for u in spec.units}
    return out


def strategy_block(
    spec: Spec, rows: Sequence[Mapping[str, Any]], state: RunState, strategy: str,
    budgets: Sequence[int],
) -> dict[str, Any]:  # fmt: skip
    """Every figure for one strategy: overall, by category, latency."""
    overall = [r for r in rows if spec.overall(r["category"])]
    block = _figures(spec, overall, budgets)
    categories = sorted({r["category"] for r in rows}, key=_category_key)
    block["by_category"] = {
        c: {
            "name": spec.category_names.get(c, c),
            "in_overall": spec.overall(c),
            "n_asked": sum(r["category"] == c for r in rows),
            **_figures(spec, [r for r in rows if r["category"] == c], budgets),
        }
        for c in categories
    }
    search = report.latency_summary(state.search_s.get(strategy, []))
    per_budget = state.context_s.get(strategy, {})
    context = report.latency_summary([s for b in per_budget.values() for s in b])
    block["latency_ms"] = {
        "search_p50": search["p50_ms"],
        "search_p95": search["p95_ms"],
        "context_p50": context["p50_ms"] if per_budget else None,
        "context_p95": context["p95_ms"] if per_budget else None,
    }
    block["search_latency"] = search
    block["context_latency_by_budget"] = {
        b: report.latency_summary(s) for b, s in per_budget.items()
    } or None
    return block


def evidence_summary(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Counts over one strategy's rows (each question once): evidence ids that could
    not be parsed, ids not in the conversation, questions left unscored and why."""
    skipped: dict[str, int] = {}
    for r in rows:
        if r["skip"]:
            skipped[r["skip"]] = skipped.get(r["skip"], 0) + 1
    return {
        "questions": len(rows),
        "questions_scored": sum(not r["skip"] for r in rows),
        "questions_skipped": dict(sorted(skipped.items())),
        "malformed_ids": sum(len(r["evidence_malformed"]) for r in rows),
        "questions_with_malformed_ids": sum(bool(r["evidence_malformed"]) for r in rows),
        "unknown_ids": sum(len(r["evidence_unknown"]) for r in rows),
        "questions_with_unknown_ids": sum(bool(r["evidence_unknown"]) for r in rows),
        "evidence_turns": sum(len(r["evidence"]) for r in rows),
    }


def build_results(
    spec: Spec, state: RunState, issues: Any, data_info: dict[str, Any], config: RunConfig,
    extra: Mapping[str, Any],
) -> dict[str, Any]:  # fmt: skip
    """The results dict written to results.json (keys in the module docstring)."""
    blocks = {
        s: strategy_block(spec, state.rows.get(s, []), state, s, config.budgets)
        for s in config.strategies
    }
    if spec.figures is not None:
        for s, block in blocks.items():
            block["figures"] = spec.figures(state.rows.get(s, []))
    primary = config.strategies[0]
    embedder = extra["embedder"]
    available = bool(extra["context_available"])
    seconds = state.ingest_s
    head = {k: v for k, v in blocks[primary].items() if k not in ("search_latency",)}
    return {
        "schema": RESULTS_SCHEMA,
        "dataset": spec.name,
        "strategy": primary,
        "strategies": list(config.strategies),
        "unit": spec.headline,
        "category_label": spec.category_label,
        "config": {
            "data": str(config.data),
            "embedder": embedder.name,
            "embedder_dim": embedder.dim,
            "embedder_fingerprint": embedder.fingerprint,
            "embedder_load_s": extra["embedder_load_s"],
            "settings": dict(config.settings),
            "known_settings": sorted(known_settings()),
            "default_strategy": default_strategy(),
            "search_k": config.search_k,
            "ks": list(KS),
            "budgets": list(config.budgets),
            "limit": config.limit,
            "keep_db": config.keep_db,
            "speaker_in_text": config.speaker_in_text,
        },
        "machine": report.machine_info(),
        "command": config.command,
        "source_revision": report.source_revision(),
        "started_at": extra["started_at"],
        "finished_at": report.utc_now(),
        "data": data_info,
        **head,
        "context": {"available": available, "note": None if available else ABSENT_NOTE},
        "ingest_per_s": state.ingest_turns / seconds if seconds else None,
        "ingest": {
            "turns": state.ingest_turns,
            "seconds": seconds,
            "records": state.records,
            "conversations": state.conversations,
        },
        "peak_rss_mb": report.peak_rss_bytes() / 2**20,
        "store_bytes": state.store_bytes,
        "store_bytes_per_turn": state.store_bytes / state.ingest_turns
        if state.ingest_turns
        else None,
        "evidence": evidence_summary(state.rows.get(primary, [])),
        "data_issues": issues.as_dict(),
        "hits": {"unitless": state.unitless_hits, "unresolved_sources": state.unresolved_sources},
        "by_strategy": blocks,
    }


# ------------------------------------------------------------------ outputs


def write_outputs(
    results: dict[str, Any], state: RunState, config: RunConfig, spec: Spec | None = None
) -> list[Path]:
    """results.json, results.md and (with plots on) recall_at_k.png and latency.png;
    per_question.jsonl is written as the run goes."""
    paths = [
        report.write_json(config.out / "results.json", results),
        report.write_text(config.out / "results.md",
                          results_markdown(results, spec.markdown if spec else None)),
    ]
    if config.plots:
        paths.extend(write_plots(results, state, config.out))
    return paths


def write_plots(results: Mapping[str, Any], state: RunState, out: Path) -> list[Path]:
    """Recall@k by strategy, overall and per category (one panel each), for every
    unit; search and context latency distributions by strategy."""
    paths = []
    units = [results["unit"]] + [u for u in results.get("by_unit", {}) if u != results["unit"]]
    for unit in units:
        panels: dict[str, dict[str, list[float | None]]] = {}
        panels["overall"] = {s: _curve(b, unit, results["unit"])
                             for s, b in results["by_strategy"].items()}  # fmt: skip
        first = next(iter(results["by_strategy"].values()))
        for cat, info in first["by_category"].items():
            panels[f"{cat} {info['name']}" if info["name"] != cat else cat] = {
                s: _curve(b["by_category"][cat], unit, results["unit"])
                for s, b in results["by_strategy"].items()
            }
        name = "recall_at_k.png" if unit == results["unit"] else f"recall_at_k_{unit}.png"
        paths.append(report.small_multiples_plot(
            out / name, list(KS), panels, ylim=(0.0, 1.0), xlabel="k", ylabel=f"{unit} recall@k",
            title=f"{results['dataset']}: {unit} recall@k by strategy "
                  f"({results['config']['embedder']})",
        ))  # fmt: skip
    samples: dict[str, list[float]] = {}
    for strategy, seconds in state.search_s.items():
        samples[f"search {strategy}"] = [s * 1000 for s in seconds]
    for strategy, per_budget in state.context_s.items():
        for budget, seconds in per_budget.items():
            samples[f"context {strategy} {budget}"] = [s * 1000 for s in seconds]
    paths.append(report.distribution_plot(
        out / "latency.png", samples, ylabel="ms",
        title=f"{results['dataset']}: latency per question (warm, 5-95th pct whiskers)",
    ))  # fmt: skip
    return paths


def _curve(block: Mapping[str, Any], unit: str, headline: str) -> list[float | None]:
    figures = block if unit == headline else block.get("by_unit", {}).get(unit, {})
    recall = figures.get("recall_at", {})
    return [recall.get(str(k)) for k in KS]


def _f(value: float | None, digits: int = 3) -> str:
    return report.fmt_number(value, digits)


def _recall_row(label: list[str], figures: Mapping[str, Any]) -> list[str]:
    return [
        *label,
        report.fmt_number(figures.get("n_questions")),
        *[_f(figures["recall_at"][str(k)]) for k in KS],
        _f(figures["all_hit_at"]["10"]),
        _f(figures["mrr"]),
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
        report.machine_markdown(results["machine"]),
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
    return f"{_f(latency[f'{what}_p50'], 2)} / {_f(latency[f'{what}_p95'], 2)}"


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
    if not results["context"]["available"]:
        return f"Not measured — {results['context']['note']}.\n"
    budgets = results["config"]["budgets"]
    rows = [
        [
            s,
            *[_f(b["context_coverage"][str(x)]) for x in budgets],
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
        f"{ing['seconds']:.1f} s of `add` calls: {report.fmt_number(rate, 0)} turns/s "
        "(embedding included)\n"
        f"- Records stored: {ing['records']:,}\n"
        f"- Store size: {report.fmt_bytes(results['store_bytes'])} in total "
        f"({report.fmt_number(results['store_bytes_per_turn'], 0)} bytes per turn)\n"
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
            + "/".join(_f(recall[str(k)]) for k in KS)
            + f", MRR {_f(b['mrr'])}, search p50 {_f(b['latency_ms']['search_p50'], 2)} ms"
            + f" ({b['n_questions']} questions)"
        )
    return "\n".join(lines)
