"""The retrieval benchmark loop shared by LoCoMo and LongMemEval.

A data set module turns its files into `Conversation`s (turns with ids, sessions and
dates; questions with evidence turn ids). `run_benchmark` then, per conversation:
adds every turn to a fresh store (timed), reopens the store once per strategy (so
no strategy profits from another's query-embedding cache), warms it up, and for
every question times `Memory.search` (and `Memory.context` per token budget, when
the library has it), expands the hits into turns through their provenance and
scores them. One row per question and strategy goes to `per_question.jsonl` as it
is computed; `summary.build_results` turns the rows into `results.json`.

Settings (`--set key=value`) reach the engine through one function, `make_memory`.
"""

from __future__ import annotations

import inspect
import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from memstrata.bench import report
from memstrata.bench.metrics import (
    Expansion,
    coverage,
    covered_units,
    distinct_parents,
    expand_provenance,
    question_scores,
)
from memstrata.config import Settings, parse_assignments
from memstrata.embed import Embedder, load_embedder
from memstrata.errors import ConfigError, InvalidInput
from memstrata.memory import MAX_BATCH, Memory

BUDGETS: tuple[int, ...] = (500, 1000, 2000)
STRATEGY_CHOICES: tuple[str, ...] = ("bm25", "dense", "hybrid", "layered", "default")
WARMUP_QUERIES = (
    "what did we talk about last time?",
    "plans for the weekend",
    "how is the family doing",
)
ADD_BATCH = 256

Log = Callable[[str], None]


class BenchDataError(InvalidInput):
    """A benchmark data file is missing or not in the expected format."""


# ------------------------------------------------------------------- data


@dataclass(frozen=True)
class Turn:
    """One turn as it is added. `text` is the stored content; `plain_text` is what a
    context must hold verbatim to cover the turn (the turn's own words)."""

    id: str
    session: str
    text: str
    plain_text: str
    speaker: str | None = None
    role: str | None = None
    occurred_at: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class Question:
    """A question and its evidence. `evidence` holds the turn ids that exist in the
    conversation; ids that do not are in `unknown`, entries that could not be parsed
    in `malformed`. `evidence_sessions` is for session-level scores (LongMemEval).
    A question with `skip` set is counted under that reason and not scored."""

    id: str
    text: str
    category: str
    evidence: list[str] = field(default_factory=list)
    evidence_sessions: list[str] = field(default_factory=list)
    raw_evidence: Any = None
    unknown: list[str] = field(default_factory=list)
    malformed: list[str] = field(default_factory=list)
    skip: str | None = None
    # When the question is asked, as the memory stood (`search(as_of=…)` when the
    # engine takes it; the row says so when it does not).
    as_of: str | None = None
    # What a data set's own figures need (e.g. which evidence turns hold the old and
    # the new value); copied into the question's row as "extra".
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Conversation:
    """One store's worth of data: turns in order, and the questions asked of them."""

    id: str
    user_id: str
    source: str
    turns: list[Turn]
    questions: list[Question]


class DataIssues:
    """Problems found in the data, counted by kind with a few examples each (so that
    nothing is dropped silently)."""

    def __init__(self, max_examples: int = 5) -> None:
        self.counts: Counter[str] = Counter()
        self.examples: dict[str, list[str]] = {}
        self.max_examples = max_examples

    def add(self, kind: str, example: str, n: int = 1) -> None:
        self.counts[kind] += n
        found = self.examples.setdefault(kind, [])
        if len(found) < self.max_examples:
            found.append(example)

    def as_dict(self) -> dict[str, Any]:
        return {
            "counts": dict(sorted(self.counts.items())),
            "examples": {k: self.examples[k] for k in sorted(self.examples)},
        }


def describe(conversations: Sequence[Conversation]) -> dict[str, Any]:
    """Counts of conversations, sessions, turns and questions."""
    return {
        "conversations": len(conversations),
        "sessions": sum(len({t.session for t in c.turns}) for c in conversations),
        "turns": sum(len(c.turns) for c in conversations),
        "questions": sum(len(c.questions) for c in conversations),
    }


def read_json(path: Path, what: str) -> Any:
    """Parse a JSON file; BenchDataError naming the file when it is missing,
    unreadable or not JSON."""
    if not path.exists():
        raise BenchDataError(f"{what} file {path} does not exist")
    if not path.is_file():
        raise BenchDataError(f"{what} path {path} is not a file")
    try:
        with path.open("rb") as handle:
            return json.load(handle)
    except UnicodeDecodeError as exc:
        raise BenchDataError(f"{what} file {path} is not UTF-8 text: {exc}") from None
    except json.JSONDecodeError as exc:
        raise BenchDataError(
            f"{what} file {path} is not valid JSON: {exc.msg} at line {exc.lineno}, "
            f"column {exc.colno}"
        ) from None
    except OSError as exc:
        raise BenchDataError(f"cannot read {what} file {path}: {exc}") from None


# --------------------------------------------------------- settings, memory


def parse_strategies(text: str) -> list[str]:
    """ "bm25,dense" -> ["bm25", "dense"]; InvalidInput naming the choices otherwise."""
    names = [s.strip() for s in text.split(",") if s.strip()]
    bad = [s for s in names if s not in STRATEGY_CHOICES]
    if bad or not names:
        raise InvalidInput(
            f"unknown strategy {', '.join(map(repr, bad)) or '(none given)'}; use one or more "
            f"of {', '.join(STRATEGY_CHOICES)}, comma-separated"
        )
    return list(dict.fromkeys(names))


def default_strategy() -> str:
    """The strategy `Memory.search` uses when none is given."""
    default = inspect.signature(Memory.search).parameters["strategy"].default
    return str(default)


def known_settings() -> dict[str, Any]:
    """Settings `--set` can change: every field of `memstrata.Settings`, with its
    default."""
    return Settings().as_dict()


def parse_settings(items: Sequence[str]) -> dict[str, Any]:
    """Parse `key=value` items (values as JSON when they parse: true, 3, 0.5, "x";
    else as text) and check them against `known_settings()`."""
    settings = parse_assignments(items)
    check_settings(settings)
    return settings


def check_settings(settings: Mapping[str, Any]) -> None:
    """ConfigError for a key `Settings` does not have, or a value of the wrong type."""
    Settings.build(settings)


def make_memory(path: Path, embedder: str | Embedder, settings: Mapping[str, Any]) -> Memory:
    """The one place a benchmark opens a store, with `settings` as given."""
    return Memory(path, embedder=embedder, settings=Settings.build(settings))


def context_available(memory: Memory) -> bool:
    """Whether this memstrata has `Memory.context`."""
    return callable(getattr(type(memory), "context", None))


# --------------------------------------------------------------------- run


@dataclass
class RunConfig:
    """What to run: the data, which strategies, which embedder and settings."""

    data: Path
    out: Path
    strategies: list[str] = field(default_factory=lambda: ["default"])
    embedder: str = "minilm"
    settings: dict[str, Any] = field(default_factory=dict)
    search_k: int = 20
    budgets: tuple[int, ...] = BUDGETS
    limit: int | None = None
    keep_db: bool = False
    progress: bool = True
    plots: bool = True
    command: str | None = None
    speaker_in_text: bool = False  # LoCoMo input ablation: text starts with "Speaker: "


@dataclass
class Spec:
    """How a data set is scored: the metadata key that holds a turn's id, the units
    scored (`headline` first in results), category names, which categories make up
    the overall figure, and what a category is called ("question type")."""

    name: str
    turn_key: str
    units: tuple[str, ...]
    headline: str
    category_names: Mapping[str, str]
    overall: Callable[[str], bool]
    category_label: str = "category"
    # A data set's own figures from the rows of one strategy (results["by_strategy"]
    # [s]["figures"], and the headline strategy's at results["figures"]), and the
    # Markdown section that shows them.
    figures: Callable[[Sequence[Mapping[str, Any]]], dict[str, Any]] | None = None
    markdown: Callable[[Mapping[str, Any]], str] | None = None


@dataclass
class RunState:
    """What a run has measured so far."""

    search_s: dict[str, list[float]] = field(default_factory=dict)
    context_s: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    ingest_s: float = 0.0
    ingest_turns: int = 0
    store_bytes: int = 0
    records: int = 0
    conversations: int = 0
    unitless_hits: int = 0
    unresolved_sources: int = 0
    has_context: bool = False


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _store_dir(config: RunConfig) -> Any:
    return report.store_dir(config.out, keep=config.keep_db, prefix="memstrata-bench-")


def _fresh(folder: Path, name: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:80] or "store"
    path = folder / f"{safe}.db"
    for item in folder.glob(f"{safe}.db*"):
        item.unlink()
    return path


def ingest(memory: Memory, conv: Conversation) -> float:
    """Add every turn, session by session (at most ADD_BATCH turns per call), with
    its speaker, role, date and metadata. Returns the seconds spent in `add`."""
    seconds = 0.0
    by_session: dict[str, list[Turn]] = {}
    for turn in conv.turns:
        by_session.setdefault(turn.session, []).append(turn)
    for session, turns in by_session.items():
        for start in range(0, len(turns), min(ADD_BATCH, MAX_BATCH)):
            chunk = turns[start : start + ADD_BATCH]
            messages = [
                {"content": t.text, "role": t.role, "name": t.speaker,
                 "occurred_at": t.occurred_at, "metadata": t.metadata}
                for t in chunk
            ]  # fmt: skip
            begin = time.perf_counter()
            memory.add(messages, user_id=conv.user_id, session_id=session)
            seconds += time.perf_counter() - begin
    return seconds


def _check_context_signature(memory: Memory) -> None:
    try:
        inspect.signature(cast(Any, memory).context).bind("q", budget_tokens=1, user_id="u")
    except TypeError as exc:
        raise ConfigError(
            f"Memory.context does not take (query, budget_tokens=, user_id=): {exc}; the "
            "benchmark cannot measure context coverage with this memstrata"
        ) from None


class _Searcher:
    """Search, provenance expansion and context coverage on one open store."""

    def __init__(self, memory: Memory, conv: Conversation, spec: Spec, config: RunConfig):
        self.memory, self.conv, self.spec, self.config = memory, conv, spec, config
        self.scope = memory.store_scope(user_id=conv.user_id)
        self.session_of = {t.id: t.session for t in conv.turns}
        self.texts = {t.id: t.plain_text for t in conv.turns}
        self.has_context = context_available(memory)
        if self.has_context:
            _check_context_signature(memory)
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
        return cast(Any, self.memory).context(
            query, budget_tokens=budget, user_id=self.conv.user_id
        )

    def units_of_ids(self, ids: Sequence[str]) -> list[str]:
        found = self.lookup(ids) if ids else {}
        records = [found[i] for i in ids if i in found]
        return expand_provenance(records, self.lookup, self.unit_of).units

    def warm_up(self, strategy: str) -> None:
        for query in WARMUP_QUERIES:
            self.search(query, strategy)
            if self.has_context:
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
        if searcher.has_context:
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
    path = _fresh(folder, f"{spec.name}-{conv.id}")
    with make_memory(path, embedder, config.settings) as memory:
        state.ingest_s += ingest(memory, conv)
        state.ingest_turns += len(conv.turns)
        state.records += int(memory.stats(user_id=conv.user_id)["records"])
    from memstrata.bench.scale import storage_figures

    state.store_bytes += int(storage_figures(path, max(1, len(conv.turns)))["file_bytes"])
    for strategy in config.strategies:
        with make_memory(path, embedder, config.settings) as memory:
            searcher = _Searcher(memory, conv, spec, config)
            state.has_context = searcher.has_context
            rows = _measure_strategy(searcher, strategy, state, bar)
        state.rows.setdefault(strategy, []).extend(rows)
        report.append_jsonl(config.out / "per_question.jsonl", rows)
    state.conversations += 1
    if not config.keep_db:  # LongMemEval makes one store per question: free the disk
        _remove_store(path)


def _remove_store(path: Path) -> None:
    for item in path.parent.glob(f"{path.name}*"):
        item.unlink(missing_ok=True)


def run_benchmark(
    spec: Spec,
    conversations: Sequence[Conversation],
    issues: DataIssues,
    data_info: dict[str, Any],
    config: RunConfig,
    log: Log = _stderr,
) -> dict[str, Any]:
    """Measure every conversation, then write results.json, results.md,
    per_question.jsonl and the plots to `config.out`; return the results."""
    from memstrata.bench import summary

    config.out.mkdir(parents=True, exist_ok=True)
    (config.out / "per_question.jsonl").unlink(missing_ok=True)
    report.reset_peak_rss()
    started = report.utc_now()
    embedder, load_s = report.timed(lambda: _loaded(load_embedder(config.embedder)))
    state = RunState()
    total = sum(len(c.questions) for c in conversations) * len(config.strategies)
    bar = report.progress(total, f"{spec.name} questions x strategies", config.progress)
    try:
        with _store_dir(config) as folder:
            for conv in conversations:
                bar.set_postfix_str(f"conversation {conv.id}")
                run_conversation(conv, spec, config, embedder, folder, state, bar)
    finally:
        bar.close()
    results = summary.build_results(
        spec, state, issues, data_info, config,
        extra={"started_at": started, "embedder": embedder, "embedder_load_s": load_s,
               "context_available": state.has_context},
    )  # fmt: skip
    summary.write_outputs(results, state, config, spec)
    log(summary.headline(results))
    return results


def _loaded(embedder: Embedder) -> Embedder:
    embedder.embed(["warm up the embedding model"])
    return embedder
