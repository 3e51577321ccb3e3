"""Whether a newer fact supersedes an older one: a pure function of the two.

"Alice lives in Lisbon" (January) is superseded by "Alice moved to Porto" (March):
the same subject, the same attribute, another value, said later. The attribute is
judged by how alike the two statements are (the cosine of their vectors), not by a
list of attributes: two statements about the same subject that differ only in the
value sit close together, and statements about different things do not. Every
decision carries its reason, which history keeps.

Rules, in order (the first that applies decides):

1. the newer must be said later, about the same subject;
2. the older must assert a value ("state" or "change", see `form.claims`); a
   statement about the past or a wish asserts nothing current;
3. a newer "ended" claim ("Alice doesn't live in Lisbon anymore") ends an older
   claim of the same value, and nothing else;
4. the newer must assert a value, and a different one (after normalising case,
   articles and punctuation; "vegan diet" and "vegan" are the same value);
5. a newer plain statement ("state": "I use Flask") replaces only a statement of
   the same slot ("I use Django"); a statement of change ("I moved to Porto", "I'm
   keto now") may replace one worded otherwise ("I live in Lisbon");
6. the two statements must be alike: cosine at least `threshold`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from memstrata.form.claims import ASSERTING, Claim

__all__ = ["Decision", "Said", "decide", "same_value"]

THRESHOLD = 0.65  # cosine of the two statements; tuned on `bench updates --split dev`


@dataclass(frozen=True)
class Said:
    """A fact as the decision sees it: its id, its claim, and when it was said."""

    id: str
    claim: Claim
    at: str  # stored time form: strings sort in time order


@dataclass(frozen=True)
class Decision:
    supersedes: bool
    reason: str


_NORM = re.compile(r"[^\w]+")
_DROP = frozenset({"a", "an", "the", "my", "our", "his", "her", "their", "new", "now"})


def _norm(value: str) -> tuple[str, ...]:
    return tuple(w for w in _NORM.sub(" ", value.lower()).split() if w not in _DROP)


def same_value(a: str, b: str) -> bool:
    """Whether two values name the same thing: equal once normalised, or one's words
    a leading or trailing run of the other's ("vegan" and "vegan diet")."""
    x, y = _norm(a), _norm(b)
    if not x or not y:
        return x == y
    short, long = (x, y) if len(x) <= len(y) else (y, x)
    return long[: len(short)] == short or long[-len(short) :] == short


def decide(older: Said, newer: Said, similarity: float, threshold: float = THRESHOLD) -> Decision:
    """Whether `newer` supersedes `older`, and why. `similarity`: the cosine of the
    two statements' vectors.

    >>> from memstrata.form.claims import Claim
    >>> old = Said("1", Claim("alice", "live in", "Lisbon", "state"), "2025-01-10")
    >>> new = Said("2", Claim("alice", "move to", "Porto", "change"), "2025-03-02")
    >>> decide(old, new, 0.7).supersedes
    True
    """
    a, b = older.claim, newer.claim
    if newer.at <= older.at:
        return Decision(False, "not said later")
    if a.subject != b.subject:
        return Decision(False, f"about another subject ({b.subject!r}, not {a.subject!r})")
    if a.stance not in ASSERTING or not a.value:
        return Decision(False, f"the older statement asserts no current value ({a.stance})")
    if b.stance == "ended":
        if a.value and same_value(a.value, b.value):
            return Decision(True, f"{a.subject}: {a.value!r} no longer holds")
        return Decision(False, "ends another value")
    if b.stance not in ASSERTING or not b.value:
        return Decision(False, f"the newer statement asserts no current value ({b.stance})")
    if same_value(a.value, b.value):
        return Decision(False, f"the same value ({b.value!r})")
    if b.stance == "state" and b.slot != a.slot:
        return Decision(False, f"a plain statement of another slot ({b.slot!r}, not {a.slot!r})")
    if similarity < threshold:
        return Decision(False, f"another attribute (similarity {similarity:.2f} < {threshold:.2f})")
    return Decision(
        True,
        f"{a.subject}: {a.value!r} -> {b.value!r} (same attribute: similarity "
        f"{similarity:.2f} >= {threshold:.2f})",
    )
