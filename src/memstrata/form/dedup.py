"""Duplicates: when a new fact only repeats an earlier one, and what the earlier one
becomes (pure functions; formation applies them).

A fact repeats another when both are said by the same speaker about the same user
and their texts are the same once normalised (case, accents, punctuation and
spacing), or their vectors are nearly the same (cosine at least `SIMILARITY`, which "I love
pottery!" and "I love pottery." reach and "I love pottery" and "I loved pottery" do
not) and they hold the same numbers and names ("the API answers in 250 ms" and "…
in 300 ms" are nearly the same sentence, and an update, not a repeat). The earlier
fact stays and gains the new turn as evidence, a mention count and when it was last
said; the turn itself is always stored.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import replace

from memstrata.types import Record

__all__ = ["SIMILARITY", "duplicate", "merged", "normalised"]

SIMILARITY = 0.97
_SAME_TEXT_FLOOR = 0.5
_NON_WORD = re.compile(r"[^\w]+")


def normalised(text: str) -> str:
    """Lower case, accents dropped, punctuation and spacing made one space.

    >>> normalised("  I LOVE  pottery!! ")
    'i love pottery'
    """
    folded = text.casefold()
    if not folded.isascii():
        folded = unicodedata.normalize("NFKD", folded)
        folded = "".join(c for c in folded if not unicodedata.combining(c))
    return _NON_WORD.sub(" ", folded).strip()


def duplicate(
    earlier: Record, new: Record, similarity: float, threshold: float = SIMILARITY
) -> bool:
    """Whether `new` only repeats `earlier` (`similarity`: their vectors' cosine)."""
    if earlier.kind != new.kind or earlier.speaker != new.speaker or earlier.id == new.id:
        return False
    if set(new.source_ids) <= set(earlier.source_ids):
        return False  # the same turn: not a repeat
    if similarity >= threshold and _values(earlier.text) == _values(new.text):
        return True  # nearly the same words, and the same numbers and names
    # The same words always embed alike: texts that differ only in case, accents or
    # punctuation are far above this, so below it the texts are not compared.
    return similarity >= _SAME_TEXT_FLOOR and normalised(earlier.text) == normalised(new.text)


_VALUE = re.compile(r"\b(?:\w*\d\w*|[A-Z][\w'’-]*)")


def _values(text: str) -> set[str]:
    """The numbers and capitalised words of a text (its first word aside): what a
    near-duplicate must share ("250 ms" and "300 ms" read alike but differ)."""
    found = _VALUE.findall(text)
    first = text.lstrip()[: len(found[0])] if found else ""
    return {w.lower() for i, w in enumerate(found) if not (i == 0 and w == first)}


def merged(earlier: Record, new: Record) -> Record:
    """`earlier` with `new`'s turns as evidence too, one more mention, and when it
    was last said."""
    mentions = earlier.metadata.get("mentions")
    count = mentions if isinstance(mentions, int) and mentions >= 1 else 1
    last = max(new.occurred_at, str(earlier.metadata.get("last_seen", "")))
    metadata = {**earlier.metadata, "mentions": count + 1, "last_seen": last}
    sources = list(dict.fromkeys([*earlier.source_ids, *new.source_ids]))
    return replace(earlier, source_ids=sources, metadata=metadata)
