"""Assembling a prompt-ready context within a token budget (pure: no I/O).

The block is built in sections, each a heading and lines: the relevant memories in
rank order (a long turn as the sentence of it that matched, `excerpt`), then the
recent tail of the current session in time order. A line goes
in whole or not at all, and the total never exceeds the budget as the given token
counter counts it.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from memstrata.form.times import annotate, day_label, find_times
from memstrata.ids import parse_stored_time
from memstrata.types import Record

TokenCounter = Callable[[str], int]


def estimate_tokens(text: str) -> int:
    """A fast estimate for English with BPE tokenizers: about four characters a token,
    and never fewer tokens than words."""
    return max(math.ceil(len(text) / 4), len(text.split()))


@dataclass
class ContextPart:
    """One line of the context and the memories it carries."""

    section: str
    text: str
    record_id: str
    source_ids: list[str]
    tokens: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Context:
    """A context block: `text` for the prompt, `parts` for provenance."""

    text: str
    parts: list[ContextPart] = field(default_factory=list)
    tokens: int = 0
    budget_tokens: int = 0
    warnings: list[str] = field(default_factory=list)  # what its search could not do

    def to_dict(self) -> dict[str, Any]:
        out = {
            "text": self.text,
            "tokens": self.tokens,
            "budget_tokens": self.budget_tokens,
            "parts": [p.to_dict() for p in self.parts],
        }
        if self.warnings:
            out["warnings"] = list(self.warnings)
        return out


SECTION_TITLES = {
    "profile": "What is known about the people and things involved:",
    "relevant": "Relevant memories:",
    "recent": "Recent conversation:",
}


def until_note(stored: str) -> str:
    """ "(until 3 March 2025)": when what a line says stopped being true."""
    return f"(until {day_label(parse_stored_time(stored).date())})"


def render_line(record: Record, until: str | None = None) -> str:
    """`- [2023-05-08] Caroline: I went to the support group yesterday (7 May 2023).`
    Relative times are followed by the date they meant, resolved against the
    memory's own date; a profile is its text; `until` (a newer fact superseded what
    it says) ends the line with "(until 3 March 2025)". A memory's own line breaks
    become spaces, so that each memory stays one line of the block."""
    text = " ".join(record.text.splitlines())
    if record.kind == "profile":
        return f"- {text}"
    if record.kind == "event":
        with contextlib.suppress(ValueError):
            text = annotate(text, find_times(text, parse_stored_time(record.occurred_at)))
    who = f"{record.speaker}: " if record.speaker and record.kind == "event" else ""
    note = f" {until_note(until)}" if until else ""
    return f"- [{record.occurred_at[:10]}] {who}{text}{note}"


EXCERPT_FROM = 160  # characters: a turn this long shows the sentences that matched


def excerpt(record: Record, facts: Sequence[Record], sentences: int) -> Record:
    """A long turn as the sentences of it that matched the question: the sentences
    of its best `sentences` matching statements, verbatim and in order, with "…"
    where text is left out; a short turn, or one no statement of which matched, as
    it is. The budget then holds more of the turns that matter (a LoCoMo line is
    ~50 tokens, most of it pleasantries and photo captions)."""
    text = record.text
    if record.kind != "event" or len(text) < EXCERPT_FROM or sentences < 1:
        return record
    spans = [s for f in facts[:sentences] if (s := _span(f, record)) is not None]
    if not spans:
        return record
    pieces: list[list[int]] = []
    for start, end in sorted(set(spans)):
        if pieces and start <= pieces[-1][1] + 1:  # touching sentences read as one
            pieces[-1][1] = max(pieces[-1][1], end)
        else:
            pieces.append([start, end])
    shown = " … ".join(text[a:b] for a, b in pieces)
    shown = ("… " if pieces[0][0] > 0 else "") + shown + (" …" if pieces[-1][1] < len(text) else "")
    return replace(record, text=shown) if len(shown) < 0.8 * len(text) else record


def _span(fact: Record, turn: Record) -> tuple[int, int] | None:
    """Where in `turn` the statement `fact` was read from, if it was read from it."""
    span = fact.metadata.get("span")
    if fact.source_ids[:1] != [turn.id] or not isinstance(span, list) or len(span) != 2:
        return None
    start, end = span
    ok = isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(turn.text)
    return (start, end) if ok else None


def assemble(
    sections: Sequence[tuple[str, Sequence[Record]] | tuple[str, Sequence[Record], int]],
    budget_tokens: int,
    count: TokenCounter = estimate_tokens,
    until: Mapping[str, str] | None = None,
) -> Context:
    """Fill the budget section by section, lines in the order given; a record already
    placed is not repeated; a line that does not fit is skipped (a shorter one after
    it may still fit). A section may carry a cap: the tokens it may use at most.
    `until`: for records that a newer fact superseded, when (see `render_line`)."""
    lines: list[str] = []
    parts: list[ContextPart] = []
    used = 0
    seen: set[str] = set()
    for section, records, *cap in sections:
        title = SECTION_TITLES.get(section, f"{section}:")
        title_cost = count(title + "\n")
        titled = False
        limit = min(budget_tokens, used + cap[0]) if cap else budget_tokens
        for record in records:
            if record.id in seen:
                continue
            line = render_line(record, (until or {}).get(record.id))
            cost = count(line + "\n") + (0 if titled else title_cost)
            if used + cost > limit:
                continue
            if not titled:
                lines.append(title)
                titled = True
            lines.append(line)
            used += cost
            seen.add(record.id)
            parts.append(
                ContextPart(
                    section=section,
                    text=line,
                    record_id=record.id,
                    source_ids=list(record.source_ids) or [record.id],
                    tokens=count(line + "\n"),
                )
            )
    text = "\n".join(lines)
    # An exact tokenizer may count the joined block differently from its lines: drop
    # lines from the end until it fits, so the budget always holds.
    while parts and count(text) > budget_tokens:
        dropped = parts.pop()
        lines.remove(dropped.text)
        if not any(p.section == dropped.section for p in parts):
            lines.remove(SECTION_TITLES.get(dropped.section, f"{dropped.section}:"))
        text = "\n".join(lines)
    return Context(text=text, parts=parts, tokens=count(text) if text else 0,
                   budget_tokens=budget_tokens)  # fmt: skip
