"""The template pools of `memstrata bench updates`: what a pool holds, and which
split is which.

A pool (`Pool`) holds the names, small talk, replies and date formats of one split,
and its attributes (`Attribute`): the values a person can have, and for each kind of
turn or question a list of templates with `{slot}`s (`SLOTS` says which slots each
kind may use). The two pools, `updates_dev_pool` ("dev": tune on it) and
`updates_test_pool` ("test": measure on it), share no template, value or name.
"""

from __future__ import annotations

import string
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

SPLITS: tuple[str, ...] = ("dev", "test")

# Template lists of an attribute, and the slots each may use ({day}: a weekday).
SLOTS: Mapping[str, frozenset[str]] = {
    "state": frozenset({"v", "a_v", "day"}),
    "change": frozenset({"v", "a_v", "old", "a_old", "day"}),
    "negate": frozenset({"v", "a_v", "old", "a_old", "day"}),
    "indirect": frozenset({"v", "a_v", "old", "a_old", "day"}),
    "prompt": frozenset({"day"}),
    "answer": frozenset({"v", "a_v", "day"}),
    "other": frozenset({"v", "a_v", "who", "Who", "day"}),
    "plan": frozenset({"v", "a_v", "day"}),
    "past": frozenset({"old", "a_old", "day"}),
    "ask_now": frozenset({"p"}),
    "ask_before": frozenset({"p", "v", "a_v"}),
    "ask_at": frozenset({"p", "when", "When"}),
}
# Templates of the pool that are not an attribute's, and their slots.
CHAT_SLOTS: Mapping[str, frozenset[str]] = {
    "greetings": frozenset({"day"}),
    "welcomes": frozenset(),
    "small_talk": frozenset({"day", "topic"}),
    "small_replies": frozenset(),
    "replies": frozenset(),
    "echoes": frozenset({"v", "a_v"}),
}


def lines(text: str) -> tuple[str, ...]:
    """The non-empty lines of `text`, stripped (how the pools write template lists)."""
    return tuple(line.strip() for line in text.splitlines() if line.strip())


def items(text: str) -> tuple[str, ...]:
    """ "a | b c | d" -> ("a", "b c", "d") (how the pools write value lists)."""
    return tuple(part.strip() for part in text.split("|") if part.strip())


def gendered(text: str) -> tuple[tuple[str, str], ...]:
    """ "Clara:f | Sami | Tom:m" -> (("Clara", "f"), ("Sami", ""), ("Tom", "m")): names and
    relations with the gender they imply, so that "my sister" is never "Tom"."""
    out = []
    for entry in items(text):
        word, _, gender = entry.partition(":")
        out.append((word.strip(), gender.strip()))
    return tuple(out)


@dataclass(frozen=True)
class Attribute:
    """One attribute a person has a value of, with its values and every template."""

    key: str
    label: str
    values: tuple[str, ...]
    state: tuple[str, ...]
    change: tuple[str, ...]
    negate: tuple[str, ...]
    indirect: tuple[str, ...]
    prompt: tuple[str, ...]
    answer: tuple[str, ...]
    other: tuple[str, ...]
    plan: tuple[str, ...]
    past: tuple[str, ...]
    ask_now: tuple[str, ...]
    ask_before: tuple[str, ...]
    ask_at: tuple[str, ...]

    def templates(self, kind: str) -> tuple[str, ...]:
        found: tuple[str, ...] = getattr(self, kind)
        return found


@dataclass(frozen=True)
class DateFormat:
    """How a question names a date: `span` is the stretch of days it covers ("day",
    "month", or "early"/"mid"/"late" part of a month); `text` uses {day} {month}
    {year} {iso}."""

    span: str
    text: str


@dataclass(frozen=True)
class Pool:
    """Everything one split draws from."""

    split: str
    people: tuple[str, ...]
    others: tuple[tuple[str, str], ...]  # (name, gender) of relatives, colleagues, friends
    relations: tuple[tuple[str, str], ...]  # (relation, gender it implies or "")
    topics: tuple[str, ...]
    dates: tuple[DateFormat, ...]
    greetings: tuple[str, ...]
    welcomes: tuple[str, ...]  # the other speaker's answer to a greeting
    small_talk: tuple[str, ...]
    small_replies: tuple[str, ...]
    replies: tuple[str, ...]
    echoes: tuple[str, ...]
    attributes: tuple[Attribute, ...]

    def templates(self) -> Iterator[tuple[str, str]]:
        """(where, template) for every template of the pool."""
        for kind in CHAT_SLOTS:
            for text in getattr(self, kind):
                yield kind, text
        for fmt in self.dates:
            yield f"dates:{fmt.span}", fmt.text
        for attribute in self.attributes:
            for kind in SLOTS:
                for text in attribute.templates(kind):
                    yield f"{attribute.key}:{kind}", text


def slot_names(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}
