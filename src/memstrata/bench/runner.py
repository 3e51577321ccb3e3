"""The retrieval benchmark loop shared by every data set (LoCoMo, LongMemEval, …).

A data set module turns its files into `Conversation`s (`memstrata.bench.model`).
`run_benchmark` then, per conversation: adds every turn to a fresh store (timed),
reopens the store once per strategy (so no strategy profits from another's
query-embedding cache), warms it up, and for every question times `Memory.search`
and `Memory.context` per token budget, expands the hits into turns through their
provenance and scores them. One row per question and strategy goes to
`per_question.jsonl` as it is computed; `results.build_results` turns the rows into
`results.json`, and `summary` writes `results.md` and the plots.

Settings (`--set key=value`) reach the engine through one function, `make_memory`.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from memstrata.bench import machine, report, stores, summary
from memstrata.bench.measure import Log, progress, reset_peak_rss, stderr_log, warm_embedder
from memstrata.bench.metrics import (
    Expansion,
    coverage,
    covered_units,
    distinct_parents,
    expand_provenance,
    question_scores,
)
from memstrata.bench.model import (
    Conversation,
    DataIssues,
    Question,
    RunConfig,
    RunState,
    Spec,
    Turn,
)
from memstrata.bench.results import build_results
from memstrata.config import Settings
from memstrata.embed import Embedder
from memstrata.memory import MAX_BATCH, Memory

WARMUP_QUERIES = (
    "what did we talk about last time?",
    "plans for the weekend",
    "how is the family doing",
)
ADD_BATCH = 256


def make_memory(path: Path, embedder: str | Embedder, settings: Mapping[str, Any]) -> Memory:
    """The one place a benchmark opens a store, with `settings` as given."""
    return Memory(path, embedder=embedder, settings=Settings.build(settings))


def ingest(memory: Memory, conv: Conversation) -> float:
    """Add every turn, session by session (at most ADD_BATCH turns per call), with
    its speaker, role, date and metadata. Returns the seconds spent in `add`."""
    seconds = 0.0
    by_session: dict[str, list[Turn]] = {}
    for turn in conv.turns:
        by_session.setdefault(turn.session, []).append(turn)
    step = min(ADD_BATCH, MAX_BATCH)
    for session, turns in by_session.items():
        for start in range(0, len(turns), step):
            chunk = turns[start : start + step]
            messages = [
                {"content": t.text, "role": t.role, "name": t.speaker,
                 "occurred_at": t.occurred_at, "metadata": t.metadata}
                for t in chunk
            ]  # fmt: skip
            begin = time.perf_counter()
            memory.add(messages, user_id=conv.user_id, session_id=session)
            seconds += time.perf_counter() - begin
    return seconds


class _Searcher:
    """Search, provenance expansion and context coverage on one open store."""

    def __init__(self, memory: Memory, conv: Conversation, spec: Spec, config: RunConfig):
        self.memory, self.conv, self.spec, self.config = memory, conv, spec, config
        self.scope = memory.store_scope(user_id=conv.user_id)
        self.session_of = {t.id: t.session for t in conv.turns}
        self.texts = {t.id: t.plain_text for t in conv.turns}
        self.takes_as_of = "as_of" in inspect.signature(memory.search).parameters

    def lookup(self, ids: Sequence[str]) -> dict[str, Any]:
        return {r.id: r for r in self.memory.store.get_many(list(ids), self.scope)}

    def unit_of(self, record: Any) -> str | None:
        value = record.metadata.get(self.spec.turn_key)
        return value if isinstance(value, str) else None

    def search(self, query: str, strategy: str, as_of: str | None = None) -> list[Any]:
        kwargs: dict[str, Any] = {"k": self.config.search_k, "user_id": self.conv.user_id}
        if strategy != "default":
            kwargs["strategy"] = strategy
        if as_of is not None and self.takes_as_of:
            kwargs["as_of"] = as_of
        return self.memory.search(query, **kwargs)

    def context(self, query: str, budget: int) -> Any:
        return self.memory.context(query, budget_tokens=budget, user_id=self.conv.user_id)

    def units_of_ids(self, ids: Sequence[str]) -> list[str]:
        found = self.lookup(ids) if ids else {}
        records = [found[i] for i in ids if i in found]
        return expand_provenance(records, self.lookup, self.unit_of).units

    def warm_up(self, strategy: str) -> None:
        for query in WARMUP_QUERIES:
            self.search(query, strategy)
            self.context(query, self.config.budgets[0])


def _row(
    question: Question, conv: Conversation, strategy: str, expansion: Expansion,
    session_of: Mapping[str, str], search_ms: float,
) -> dict[str, Any]:  # fmt: skip
    ranked_sessions = distinct_parents(expansion.units, session_of)
    scores: dict[str, Any] = {}
    if question.skip is None and question.evidence:
        scores["turn"] = question_scores(expansion.units, question.evidence)
    if question.skip is None and question.evidence_sessions:
        scores["session"] = question_scores(ranked_sessions, question.evidence_sessions)
    return {
        "conversation": conv.id,
        "id": question.id,
        "category": question.category,
        "strategy": strategy,
        "question": question.text,
        "skip": question.skip,
        "evidence_raw": question.raw_evidence,
        "evidence": question.evidence,
        "evidence_unknown": question.unknown,
        "evidence_malformed": question.malformed,
        "evidence_sessions": question.evidence_sessions,
        "ranked_turns": expansion.units,
        "ranked_sessions": ranked_sessions,
        "hits": len(expansion.per_hit),
        "hits_turns": expansion.per_hit,
        "unitless_hits": expansion.unitless_hits,
        "unresolved_sources": expansion.unresolved,
        "search_ms": search_ms,
        "context_covered": None,
        "context_coverage": None,
        "context_ms": None,
        "scores": scores,
        "as_of": question.as_of,
        "as_of_applied": None,
        "extra": question.extra,
    }


def _measure_strategy(
    searcher: _Searcher, strategy: str, state: RunState, bar: Any
) -> list[dict[str, Any]]:
    conv = searcher.conv
    searcher.warm_up(strategy)
    rows = []
    for question in conv.questions:
        begin = time.perf_counter()
        hits = searcher.search(question.text, strategy, question.as_of)
        elapsed = time.perf_counter() - begin
        state.search_s.setdefault(strategy, []).append(elapsed)
        expansion = expand_provenance([h.record for h in hits], searcher.lookup, searcher.unit_of)
        state.unitless_hits += expansion.unitless_hits
        state.unresolved_sources += expansion.unresolved
        row = _row(question, conv, strategy, expansion, searcher.session_of, elapsed * 1000)
        if question.as_of is not None:
            row["as_of_applied"] = searcher.takes_as_of
        _measure_context(searcher, question, row, state.context_s.setdefault(strategy, {}))
        rows.append(row)
        bar.update()
    return rows


def _measure_context(
    searcher: _Searcher, question: Question, row: dict[str, Any], times: dict[str, list[float]]
) -> None:
    covered: dict[str, list[str]] = {}
    shares: dict[str, float | None] = {}
    latency: dict[str, float] = {}
    for budget in searcher.config.budgets:
        begin = time.perf_counter()
        ctx = searcher.context(question.text, budget)
        elapsed = time.perf_counter() - begin
        times.setdefault(str(budget), []).append(elapsed)
        latency[str(budget)] = elapsed * 1000
        covered[str(budget)] = covered_units(ctx, searcher.texts, searcher.units_of_ids)
        usable = question.skip is None and question.evidence
        shares[str(budget)] = coverage(covered[str(budget)], question.evidence) if usable else None
    row.update(context_covered=covered, context_coverage=shares, context_ms=latency)


def run_conversation(
    conv: Conversation, spec: Spec, config: RunConfig, embedder: Embedder, folder: Path,
    state: RunState, bar: Any,
) -> None:  # fmt: skip
    """Ingest one conversation into a fresh store, then measure every strategy."""
    path = stores.fresh_store(folder, f"{spec.name}-{conv.id}")
    with make_memory(path, embedder, config.settings) as memory:
        state.ingest_s += ingest(memory, conv)
        state.ingest_turns += len(conv.turns)
        state.records += int(memory.stats(user_id=conv.user_id)["records"])
    state.store_bytes += int(stores.storage_figures(path, max(1, len(conv.turns)))["file_bytes"])
    for strategy in config.strategies:
        with make_memory(path, embedder, config.settings) as memory:
            rows = _measure_strategy(_Searcher(memory, conv, spec, config), strategy, state, bar)
        state.rows.setdefault(strategy, []).extend(rows)
        report.append_jsonl(config.out / "per_question.jsonl", rows)
    state.conversations += 1
    if not config.keep_db:  # LongMemEval makes one store per question: free the disk
        stores.remove_store(path)


def run_benchmark(
    spec: Spec,
    conversations: Sequence[Conversation],
    issues: DataIssues,
    data_info: dict[str, Any],
    config: RunConfig,
    log: Log = stderr_log,
) -> dict[str, Any]:
    """Measure every conversation, then write results.json, results.md,
    per_question.jsonl and the plots to `config.out`; return the results."""
    config.out.mkdir(parents=True, exist_ok=True)
    (config.out / "per_question.jsonl").unlink(missing_ok=True)
    reset_peak_rss()
    started = machine.utc_now()
    embedder, load_s = warm_embedder(config.embedder)
    state = RunState()
    total = sum(len(c.questions) for c in conversations) * len(config.strategies)
    bar = progress(total, f"{spec.name} questions x strategies", config.progress)
    try:
        with stores.store_dir(config.out, keep=config.keep_db, prefix="memstrata-bench-") as folder:
            for conv in conversations:
                bar.set_postfix_str(f"conversation {conv.id}")
                run_conversation(conv, spec, config, embedder, folder, state, bar)
    finally:
        bar.close()
    results = build_results(
        spec, state, issues, data_info, config, embedder=embedder, embedder_load_s=load_s,
        started_at=started,
    )  # fmt: skip
    summary.write_outputs(results, state, config, spec)
    log(summary.headline(results))
    return results
