"""The data model of the retrieval benchmarks (LoCoMo, LongMemEval and the data
sets that follow them).

A data set's reader turns its files into `Conversation`s: `Turn`s in the order they
are added, and `Question`s whose evidence names turn ids. It counts what is wrong
with the data in a `DataIssues` and raises `BenchDataError` (naming the file, the
entry and the field) when the data cannot be read at all. A `Spec` says how the
data set is scored; a `RunConfig` says what to run. `memstrata.bench.runner` runs
them and fills a `RunState`; `memstrata.bench.results` turns that into results.

Nothing here opens a store or imports the engine.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from memstrata.errors import InvalidInput

BUDGETS: tuple[int, ...] = (500, 1000, 2000)

Log = Callable[[str], None]


class BenchDataError(InvalidInput):
    """A benchmark data file is missing or not in the expected format."""


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
    """What a run has measured so far: search and context seconds per strategy
    (context per budget), one row per question and strategy, and the ingest and
    store totals."""

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
