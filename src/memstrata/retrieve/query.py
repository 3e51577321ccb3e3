"""Query analysis: what a question asks for, before any index is touched.

- its kind, from the question word ("when", "who", "where", "how_many", "why",
  "how", "what", "yes_no", "other"), which steers which strata answer: a "when"
  question favours memories that carry a resolved date;
- its time range, from time expressions resolved against now ("last week", "in May
  2023"), which boosts memories from that range;
- its words (accent-folded, lower case), against which the names a memory carries
  (its speaker and its facts' entities) are matched.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone

from memstrata.form.times import TimeMention, find_times, may_name_time
from memstrata.store.fts import STOPWORDS, tokens

# Words that ask about anything at all: with only these beside a time expression, the
# time is the whole question.
GENERIC = frozenset(
    """happen happened happening do done doing go went going up new news anything
    something everything talk talked discuss discussed say said tell told me us
    day week month year ago last this next""".split()
)

_KINDS = (
    ("how_many", re.compile(r"^\s*how\s+(many|much|often|long)\b", re.I)),
    ("when", re.compile(r"^\s*(when|what\s+(year|month|day|date|time))\b", re.I)),
    ("who", re.compile(r"^\s*(who|whom|whose)\b", re.I)),
    ("where", re.compile(r"^\s*where\b", re.I)),
    ("why", re.compile(r"^\s*why\b", re.I)),
    ("how", re.compile(r"^\s*how\b", re.I)),
    ("what", re.compile(r"^\s*(what|which)\b", re.I)),
    (
        "yes_no",
        re.compile(
            r"^\s*(is|are|was|were|do|does|did|has|have|had|can|could|would|will|should)\b", re.I
        ),
    ),
)


@dataclass(frozen=True)
class QueryInfo:
    kind: str
    time_range: tuple[date, date] | None  # first and last day, inclusive
    words: frozenset[str]
    # The query asks about a time and nothing else ("what happened yesterday?"): no
    # content word outside its time expressions but generic ones (GENERIC).
    time_only: bool = False


def question_kind(query: str) -> str:
    for kind, pattern in _KINDS:
        if pattern.search(query):
            return kind
    return "other"


def analyse(
    query: str, today: datetime | date | Callable[[], datetime | date] | None = None
) -> QueryInfo:
    """The kind, time range and words of `query`, its times resolved against `today`
    (by default now in UTC); a callable `today` is asked only when the query may name
    a time."""
    mentions: list[TimeMention] = []
    if may_name_time(query):
        anchor = today() if callable(today) else today
        mentions = find_times(query, anchor or datetime.now(timezone.utc))
    time_range = None
    time_only = False
    if mentions:
        time_range = (min(m.first for m in mentions), max(m.last for m in mentions))
        rest = query
        for m in sorted(mentions, key=lambda m: -m.start):
            rest = rest[: m.start] + " " + rest[m.end :]
        time_only = all(t in GENERIC for t in tokens(rest) if t not in STOPWORDS)
    return QueryInfo(question_kind(query), time_range, frozenset(tokens(query)), time_only)


@functools.lru_cache(maxsize=4096)
def _name_tokens(name: str) -> tuple[str, ...]:
    return tuple(tokens(name))


def names_match(names: list[str] | tuple[str, ...], words: frozenset[str]) -> bool:
    """Whether any of `names` appears in the query: all of a name's words among the
    query's words ("Caroline's" in the query counts for "Caroline")."""
    for name in names:
        parts = _name_tokens(name)
        if parts and all(p in words or f"{p}s" in words for p in parts):
            return True
    return False


def unnamed(query: str, speakers: Sequence[str]) -> str:
    """The query with the speakers it names put as "they" ("their" for "Alice's"),
    for its vector: every turn of a speaker starts with their name, so a name in the
    query lifts all their turns alike and drowns what the question is about (the
    name boost still rewards the speaker's turns)."""
    out = query
    for name in sorted({s for s in speakers if s and len(s) <= 60}, key=len, reverse=True):
        if name.lower() not in out.lower():
            continue
        pattern = re.compile(rf"\b{re.escape(name)}(['’]s)?\b", re.IGNORECASE)
        out = pattern.sub(lambda m: "their" if m.group(1) else "they", out)
    return out
