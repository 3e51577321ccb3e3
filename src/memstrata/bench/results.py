"""From per-question rows to the results of a retrieval benchmark (LoCoMo,
LongMemEval, …): the dict written to `results.json`.

`results.json` keys (stable; scripts may rely on them):

- `dataset`, `strategy` (the strategy the top-level figures are for: the first one
  asked for), `strategies`, `unit` ("turn" or "session": what `recall_at` counts),
  `config`, `machine`, `command`, `source_revision`, `started_at`, `finished_at`,
  `data`;
- `n_questions` (scored questions in the overall figure), `recall_at` {"1","5","10",
  "20"}, `all_hit_at` (same keys), `mrr`, `by_category` {category: {"name",
  "in_overall", "n_questions", "recall_at", "all_hit_at", "mrr", "context_coverage"}},
  `context_coverage` {"500","1000","2000"}, `latency_ms` {`search_p50`,
  `search_p95`, `context_p50`, `context_p95`};
- `by_unit` {"session": {...}, "turn": {...}} when a data set scores both;
- `figures` when the data set has figures of its own (`Spec.figures`);
- `ingest_per_s`, `peak_rss_mb`, `store_bytes`, `context` {"available": true,
  "note": null; kept for scripts that read it, from when the library had no
  `Memory.context`}, `evidence` (malformed, unknown and missing evidence counts),
  `data_issues`, `hits` (hits that stood for no turn, provenance that led nowhere);
- `by_strategy` {strategy: the per-strategy figures above, for every strategy run}.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from memstrata.bench import machine
from memstrata.bench.measure import latency_summary, peak_rss_bytes
from memstrata.bench.metrics import KS, mean, mean_scores
from memstrata.bench.model import DataIssues, RunConfig, RunState, Spec
from memstrata.bench.options import default_strategy, known_settings
from memstrata.embed import Embedder

RESULTS_SCHEMA = 1


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


def category_key(name: str) -> tuple[int, float, str]:
    """Sort key for category names: numbers in numeric order first, then the rest."""
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
    categories = sorted({r["category"] for r in rows}, key=category_key)
    block["by_category"] = {
        c: {
            "name": spec.category_names.get(c, c),
            "in_overall": spec.overall(c),
            "n_asked": sum(r["category"] == c for r in rows),
            **_figures(spec, [r for r in rows if r["category"] == c], budgets),
        }
        for c in categories
    }
    search = latency_summary(state.search_s.get(strategy, []))
    per_budget = state.context_s.get(strategy, {})
    context = latency_summary([s for b in per_budget.values() for s in b])
    block["latency_ms"] = {
        "search_p50": search["p50_ms"],
        "search_p95": search["p95_ms"],
        "context_p50": context["p50_ms"] if per_budget else None,
        "context_p95": context["p95_ms"] if per_budget else None,
    }
    block["search_latency"] = search
    block["context_latency_by_budget"] = {
        b: latency_summary(s) for b, s in per_budget.items()
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
    spec: Spec, state: RunState, issues: DataIssues, data_info: dict[str, Any],
    config: RunConfig, *, embedder: Embedder, embedder_load_s: float, started_at: str,
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
            "embedder_load_s": embedder_load_s,
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
        "machine": machine.machine_info(),
        "command": config.command,
        "source_revision": machine.source_revision(),
        "started_at": started_at,
        "finished_at": machine.utc_now(),
        "data": data_info,
        **head,
        "context": {"available": True, "note": None},
        "ingest_per_s": state.ingest_turns / seconds if seconds else None,
        "ingest": {
            "turns": state.ingest_turns,
            "seconds": seconds,
            "records": state.records,
            "conversations": state.conversations,
        },
        "peak_rss_mb": peak_rss_bytes() / 2**20,
        "store_bytes": state.store_bytes,
        "store_bytes_per_turn": state.store_bytes / state.ingest_turns
        if state.ingest_turns
        else None,
        "evidence": evidence_summary(state.rows.get(primary, [])),
        "data_issues": issues.as_dict(),
        "hits": {"unitless": state.unitless_hits, "unresolved_sources": state.unresolved_sources},
        "by_strategy": blocks,
    }
