"""Prefer the present: among the memories that answer a question equally well, the
newest statement of a value comes first, unless the question asks about the past.

"Where does alice live now?" matches "I live in Lisbon" (January) and "I moved to
Porto" (March) about as well; the question is about the present, so March comes
first. The question itself says which attribute is meant (no list of attributes is
needed): the rivals are the best-matching memories among the top `RIVALS_FROM`,
those whose statement's cosine to the question is at least (1 - `margin`) times the
best's (a share, not a difference: cosines are low when every match is weak, and a
fixed difference then let in whatever the person said, "I started a puzzle" for "how
was she eating?").

Only a memory whose statement is about the person asked about (or its speaker, when
the question names no one) and asserts a value ("state" or "change", see
`form.claims`) is a rival: "my sister lives in Oslo", "back when I lived in Lyon" and
"I might move to Kyoto" do not move up. The rivals take the best places, newest
first, and the others follow in their order: the places themselves do not change.
A "before X" question looks twice as deep (what came before X may rank lower than
what names X) and counts back from the first turn that names X.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from memstrata.form.claims import ASSERTING, Claim

# "ended" says a value no longer holds: news about the present as much as a change.
RIVAL_STANCES = ASSERTING | {"ended"}

# A question about how things were: past tense, "before", "used to", a year.
_PAST = re.compile(
    r"\b(?:did|was|were|had|used\s+to|before|previous(?:ly)?|former(?:ly)?|earlier|"
    r"originally|at\s+first|ago|back\s+(?:when|then|in)|first|old|until|prior|past|"
    r"(?:19|20)\d\d)\b",
    re.IGNORECASE,
)
RIVAL_MARGIN = 0.4  # a rival's cosine to the question is at least 1 - this of the best's
RIVALS_FROM = 10  # rivals come from the top this many


def asks_about_past(query: str) -> bool:
    """Whether the question asks how things were rather than how they are.

    >>> asks_about_past("Where did alice live before Porto?")
    True
    """
    return _PAST.search(query) is not None


_NOW = re.compile(
    r"\b(?:now|currently|current|these\s+days|at\s+the\s+moment|at\s+present|still|"
    r"latest|anymore|any\s+more|nowadays|lately)\b",
    re.IGNORECASE,
)


def asks_now(query: str) -> bool:
    """Whether the question says it asks about the present ("now", "currently")."""
    return _NOW.search(query) is not None


@dataclass
class Candidate:
    """What the ordering sees of one ranked memory."""

    key: str
    score: float  # the final score, which orders the memories
    match: float  # how well its text (or best statement) matches the question: cosine
    at: str  # when it was said (stored form)
    speaker_key: str  # the speaker's entity key, "" without one
    claims: Sequence[Claim]


# The prepositions that introduce a place: a "where" question's value follows one.
_LOCATIVE = frozenset("in to at from near into around outside inside across".split())


def rival(c: Candidate, subjects: frozenset[str], kind: str = "") -> bool:
    """Whether the candidate asserts a value about one of `subjects` (any speaker's
    own value when `subjects` is empty); for a "where" question, a value that can be
    a place: its slot ends with a preposition of place ("live in", "moved to") or
    the value is a name ("joined Titan Strength", "I'm with Bluepeak Insurance"),
    not "started learning Portuguese" or "allergic to peanuts"."""
    about = subjects or frozenset({c.speaker_key, "i"})
    return any(cl.subject in about and cl.stance in RIVAL_STANCES
               and (kind != "where" or _place(cl))
               for cl in c.claims)  # fmt: skip


def _place(claim: Claim) -> bool:
    return claim.slot.rsplit(" ", 1)[-1] in _LOCATIVE or claim.value[:1].isupper()


# "before X", "prior to X", "until X came along", "earlier than X": X is what the
# question counts back from, up to a comma or the end.
_BEFORE = re.compile(
    r"\b(?:before|prior\s+to|previous\s+to|earlier\s+than|until|till|up\s+to)\s+"
    r"(?:switching\s+to\s+|moving\s+to\s+)?(.+?)\s*(?:,|\bcame\b|\bcome\b|[?.!]|$)",
    re.IGNORECASE,
)
_NOT_NAMING = frozenset(
    """the a an his her their my your its moving move moved going go went switching switch
    switched getting get got becoming become became starting start started joining join
    joined taking take took picking pick up to into on at for with in of""".split()
)


def named_before(query: str) -> list[str]:
    """The words naming what a "before X" question counts back from ("Where did alice
    live before moving to Porto?" and "Prior to Porto, where did alice live?" give
    ["porto"]); [] for other questions."""
    m = _BEFORE.search(query)
    if not m:
        return []
    words = re.findall(r"[^\W_]+", m.group(1).lower())
    return [w for w in words if w not in _NOT_NAMING][:4]


def depth(counting_back: bool) -> int:
    """How many of the best candidates rivals come from: twice as many for a "before
    X" question (what came before X may rank lower than what names X)."""
    return RIVALS_FROM * (2 if counting_back else 1)


def order(
    candidates: Sequence[Candidate],
    subjects: frozenset[str],
    margin: float = RIVAL_MARGIN,
    before: str | None = None,
    kind: str = "",
) -> dict[str, float]:
    """New scores for the top `RIVALS_FROM` of `candidates`: the rivals take the
    best places, newest first, and the others follow in their order; with `before`,
    only those said before it are rivals (the value before a later one). An empty
    dict when there is nothing to reorder."""
    ranked = sorted(candidates, key=lambda c: -c.score)[: depth(before is not None)]
    pool = [c for c in ranked if before is None or c.at < before]
    if not pool:
        return {}
    floor = max(c.match for c in pool) * (1 - margin)
    rivals = [c for c in pool if c.match >= floor and rival(c, subjects, kind)]
    if not rivals:
        return {}
    newest = sorted(rivals, key=lambda c: (c.at, c.score), reverse=True)
    chosen = {c.key for c in rivals}
    rest = [c for c in ranked if c.key not in chosen]
    return {c.key: r.score for c, r in zip([*newest, *rest], ranked)}
