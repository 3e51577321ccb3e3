"""A seeded generator of knowledge-update conversations, and of questions about them.

Pure: no I/O, no store, no model; the same (split, seed, index) always gives the
same conversation, whatever the number of people asked for.

Each conversation follows one person over 9-14 sessions days or weeks apart. The
person states a value of a few attributes (home city, job, partner, car, ...) and
later changes it once or twice, worded as a plain change ("I moved to ..."), a
negation ("I don't live in ... anymore"), an indirect mention ("unpacked the last
boxes in our new place in ...") or a short answer to the other speaker's question.
Around these: small talk, replies, other people's values of the same attributes
("my sister lives in ..."), plans that never happen ("I looked at flats in ..."),
past-tense mentions of an old value after it changed, and, when the other speaker is
a friend rather than an assistant, the friend's own values in the person's words.

Questions ask for the current value, for the value before a named later one, and
for the value at a past date (with that date as `as_of`). Each names the turn that
holds its answer and the turns of every value the attribute had.

Templates come from one of two disjoint pools (`split` "dev" or "test", see
`updates_pool`), so that figures tuned on one can be measured on the other.

>>> suite = generate(people=3, seed=0, split="dev")
>>> [(q.form, q.text, q.value) for q in suite[0].questions][:2]
[('before', 'Which city was Farah in before moving to Galway?', 'Wellington'), ...]
"""

from __future__ import annotations

import calendar
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

from memstrata.bench.updates_dev_pool import POOL as DEV_POOL
from memstrata.bench.updates_pool import SPLITS, Attribute, DateFormat, Pool, slot_names
from memstrata.bench.updates_test_pool import POOL as TEST_POOL

FORMS: tuple[str, ...] = ("current", "before", "as_of")
# How the turn that holds a value says it.
VALUE_WORDINGS: tuple[str, ...] = ("state", "answer", "change", "negate", "indirect")
# Turns that name a value of the attribute that is not (or no longer) the person's.
DISTRACTOR_KINDS: tuple[str, ...] = ("other", "friend", "plan", "past")
DENSITIES: tuple[str, ...] = ("sparse", "medium", "dense")

# How far back a change's wording may reach ("a couple of weeks ago"): a date asked
# about stays this far before the next value was said, so the value held then both
# as the memory stood and in the world.
BACK_REFERENCE_DAYS = 35
MIN_CHANGE_GAP_DAYS = 21  # between two values of one attribute
FIRST_DAY = date(2023, 1, 2)
# English names whatever the locale (calendar's follow it), so output is the same everywhere.
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December")  # fmt: skip
START_SPREAD_DAYS = 540


# ------------------------------------------------------------- generated data


@dataclass(frozen=True)
class GenTurn:
    """One generated turn. `kind` is value, distractor, prompt, reply, small_talk or
    greeting; a value turn holds `value` of `attribute` as the person's own, a
    distractor turn names `value` as someone else's, a plan, or the past."""

    id: str
    session: str
    speaker: str | None
    role: str
    text: str
    at: str
    kind: str
    template: str
    attribute: str | None = None
    value: str | None = None
    wording: str | None = None  # value turns: VALUE_WORDINGS; distractors: DISTRACTOR_KINDS
    previous: str | None = None  # a value turn that also names the value it replaces


@dataclass(frozen=True)
class ValueSpan:
    """A value the person had: the turn that said it, when, and when the next one was
    said (None for the current value)."""

    value: str
    turn: str
    said_at: str
    until: str | None
    wording: str
    names_previous: bool = False  # the turn also names the value this one replaced


@dataclass(frozen=True)
class GenQuestion:
    """A question about one attribute of the conversation's person. `value` is the
    answer and `turn` the turn that holds it; `history` every value in order."""

    id: str
    text: str
    form: str
    attribute: str
    value: str
    turn: str
    history: tuple[ValueSpan, ...]
    distractors: tuple[str, ...]
    template: str
    as_of: str | None = None
    named_value: str | None = None  # the later value a "before" question names
    # Other turns that say the answer is (was) the person's value: for a "before"
    # question, the named value's turn when it also names the one it replaced.
    also: tuple[str, ...] = ()


@dataclass(frozen=True)
class GenConversation:
    id: str
    split: str
    person: str
    other: str | None  # the friend's name; None when the person talks to an assistant
    density: str
    turns: tuple[GenTurn, ...]
    questions: tuple[GenQuestion, ...]


# ------------------------------------------------------------------ rendering


def article(phrase: str) -> str:
    """ "an" before a vowel sound written with a vowel, else "a" (good enough for the
    pools' values, which avoid "unicorn"-like exceptions)."""
    low = phrase.lower()
    vowel = low[:1] in ("a", "e", "i", "o", "u") and not low.startswith(("uni", "use", "eu", "one"))
    return "an" if vowel else "a"


def sentence(text: str) -> str:
    """Capitalise the first letter unless the word is written like "iPhone"."""
    if len(text) > 1 and text[0].islower() and not text[1].isupper():
        return text[0].upper() + text[1:]
    return text


def render(template: str, slots: Mapping[str, str]) -> str:
    return sentence(template.format_map(slots))


def _value_slots(value: str | None, old: str | None, day: str) -> dict[str, str]:
    slots = {"day": day}
    if value is not None:
        slots.update(v=value, a_v=f"{article(value)} {value}")
    if old is not None:
        slots.update(old=old, a_old=f"{article(old)} {old}")
    return slots


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# ------------------------------------------------------------------- planning


@dataclass
class _Draft:
    by_person: bool
    text: str
    kind: str
    template: str
    attribute: str | None = None
    value: str | None = None
    wording: str | None = None
    slot: tuple[str, int] | None = None  # (attribute, index of the value) for value turns
    previous: str | None = None


@dataclass
class _Plan:
    attribute: Attribute
    values: list[str]
    sessions: list[int]
    wordings: list[str]
    spare: list[str] = field(default_factory=list)  # values no one in the story has


class _Writer:
    """Draws templates and values for one conversation."""

    def __init__(self, pool: Pool, rng: random.Random, friend: str | None) -> None:
        self.pool, self.rng, self.friend = pool, rng, friend

    def day(self) -> str:
        return self.rng.choice(WEEKDAYS)

    def pick(self, options: Sequence[str]) -> str:
        return self.rng.choice(list(options))

    def reply(self, value: str | None) -> _Draft:
        if value is not None and self.pool.echoes and self.rng.random() < 0.25:
            template = self.pick(self.pool.echoes)
            text = render(template, _value_slots(value, None, self.day()))
        else:
            template = self.pick(self.pool.replies)
            text = render(template, {})
        return _Draft(False, text, "reply", template)

    def value_turns(self, plan: _Plan, index: int) -> list[_Draft]:
        attr, wording = plan.attribute, plan.wordings[index]
        value = plan.values[index]
        old = plan.values[index - 1] if index else None
        template = self.pick(attr.templates(wording))
        text = render(template, _value_slots(value, old, self.day()))
        said = _Draft(True, text, "value", template, attr.key, value, wording, (attr.key, index))
        if slot_names(template) & {"old", "a_old"}:
            said.previous = old
        if wording == "answer":
            ask = self.pick(attr.prompt)
            drafts = [_Draft(False, render(ask, {"day": self.day()}), "prompt", ask, attr.key)]
            drafts.append(said)
            return drafts + ([self.reply(value)] if self.rng.random() < 0.5 else [])
        return [said] + ([self.reply(value)] if self.rng.random() < 0.85 else [])

    def distractor(self, plan: _Plan, kind: str) -> list[_Draft]:
        attr = plan.attribute
        day = self.day()
        if kind == "past":
            old = self.rng.choice(plan.values[:-1])
            template = self.pick(attr.past)
            text = render(template, _value_slots(None, old, day))
            said = _Draft(True, text, "distractor", template, attr.key, old, kind)
            return [said] + ([self.small_reply(False)] if self.rng.random() < 0.5 else [])
        value = plan.spare.pop() if plan.spare else None
        if value is None:
            return []
        slots = _value_slots(value, None, day)
        if kind == "friend":  # the friend's own value, in the words a person uses
            template = self.pick(attr.state)
            said = _Draft(False, render(template, slots), "distractor", template, attr.key, value,
                          kind)  # fmt: skip
            return [said] + ([self.small_reply(True)] if self.rng.random() < 0.6 else [])
        if kind == "other":
            relation, gender = self.rng.choice(self.pool.relations)
            names = [n for n, g in self.pool.others
                     if n != self.friend and (not gender or g in ("", gender))]  # fmt: skip
            who = f"my {relation} {self.pick(names)}"
            slots.update(who=who, Who=sentence(who))
        template = self.pick(attr.templates(kind))
        said = _Draft(True, render(template, slots), "distractor", template, attr.key, value, kind)
        return [said] + ([self.small_reply(False)] if self.rng.random() < 0.7 else [])

    def small_reply(self, by_person: bool) -> _Draft:
        template = self.pick(self.pool.small_replies)
        return _Draft(by_person, render(template, {}), "reply", template)

    def small_talk(self) -> list[_Draft]:
        template = self.pick(self.pool.small_talk)
        slots = {"day": self.day(), "topic": self.pick(self.pool.topics)}
        first = _Draft(True, render(template, slots), "small_talk", template)
        if self.friend is not None and self.rng.random() < 0.3:
            first.by_person = False  # the friend makes small talk too
        return [first, self.small_reply(not first.by_person)]

    def greeting(self) -> list[_Draft]:
        template = self.pick(self.pool.greetings)
        first = _Draft(True, render(template, {"day": self.day()}), "greeting", template)
        welcome = self.pick(self.pool.welcomes)
        return [first, _Draft(False, render(welcome, {}), "greeting", welcome)]


def _session_dates(rng: random.Random) -> list[datetime]:
    count = rng.randint(9, 14)
    day = FIRST_DAY + timedelta(days=rng.randrange(START_SPREAD_DAYS))
    dates = []
    for _ in range(count):
        moment = datetime(day.year, day.month, day.day, rng.randint(7, 21), rng.randrange(60),
                          tzinfo=timezone.utc)  # fmt: skip
        dates.append(moment)
        kind = rng.random()
        if kind < 0.3:
            gap = rng.randint(2, 6)  # days
        elif kind < 0.75:
            gap = rng.randint(7, 20)  # a week or two
        else:
            gap = rng.randint(21, 45)  # weeks
        day += timedelta(days=gap)
    return dates


def _place(rng: random.Random, dates: Sequence[datetime], changes: int) -> list[int]:
    """Sessions for the first value and each change: spread over the conversation,
    at least MIN_CHANGE_GAP_DAYS apart (fewer changes when that cannot be)."""
    n = len(dates)
    parts = changes + 1
    bounds = [round(i * n / parts) for i in range(parts + 1)]
    chosen = [rng.randrange(bounds[i], max(bounds[i] + 1, bounds[i + 1])) for i in range(parts)]
    kept = [chosen[0]]
    for index in chosen[1:]:
        if (dates[index] - dates[kept[-1]]).days >= MIN_CHANGE_GAP_DAYS:
            kept.append(index)
    if len(kept) == 1:  # at least one change: the first and the last session
        kept = [0, n - 1]
    return kept


def _plan(rng: random.Random, attr: Attribute, dates: Sequence[datetime]) -> _Plan:
    sessions = _place(rng, dates, 1 if rng.random() < 0.5 else 2)
    values = rng.sample(list(attr.values), len(attr.values))
    first = "state" if rng.random() < 0.7 else "answer"
    later = rng.choices(["change", "negate", "indirect", "answer"], [35, 25, 25, 15],
                        k=len(sessions) - 1)  # fmt: skip
    return _Plan(attr, values[: len(sessions)], sessions, [first, *later],
                 spare=values[len(sessions):])  # fmt: skip


_DISTRACTORS = {  # density: (other people's values (min, max), P(plan), P(past), P(friend))
    "sparse": ((0, 1), 0.2, 0.3, 0.3),
    "medium": ((1, 2), 0.35, 0.5, 0.5),
    "dense": ((2, 3), 0.5, 0.7, 0.7),
}
_SMALL_TALK = {"sparse": (1, 3), "medium": (2, 5), "dense": (3, 6)}


def _events(
    writer: _Writer, plans: Sequence[_Plan], n_sessions: int, density: str
) -> list[list[list[_Draft]]]:
    rng = writer.rng
    events: list[list[list[_Draft]]] = [[] for _ in range(n_sessions)]
    (low, high), p_plan, p_past, p_friend = _DISTRACTORS[density]
    for plan in plans:
        for index, session in enumerate(plan.sessions):
            events[session].append(writer.value_turns(plan, index))
        kinds = ["other"] * rng.randint(low, high)
        kinds += ["plan"] if rng.random() < p_plan else []
        kinds += ["friend"] if writer.friend is not None and rng.random() < p_friend else []
        for kind in kinds:
            if drafts := writer.distractor(plan, kind):
                events[rng.randrange(n_sessions)].append(drafts)
        after = range(plan.sessions[-1] + 1, n_sessions)
        if after and rng.random() < p_past:  # an old value, in the past tense, after it changed
            events[rng.choice(after)].append(writer.distractor(plan, "past"))
    low_talk, high_talk = _SMALL_TALK[density]
    for session_events in events:
        talk = rng.randint(low_talk, high_talk)
        session_events.extend(writer.small_talk() for _ in range(talk))
        rng.shuffle(session_events)
        if rng.random() < 0.7:
            session_events.insert(0, writer.greeting())
    return events


# ------------------------------------------------------------------ questions


def _month_parts(day: date) -> list[tuple[str, date, date]]:
    last = calendar.monthrange(day.year, day.month)[1]
    start = day.replace(day=1)
    return [
        ("month", start, day.replace(day=last)),
        ("early", start, day.replace(day=10)),
        ("mid", day.replace(day=11), day.replace(day=20)),
        ("late", day.replace(day=21), day.replace(day=last)),
    ]


def _date_choice(
    rng: random.Random, formats: Sequence[DateFormat], low: date, high: date
) -> tuple[DateFormat, date] | None:
    """A date format and the day it stands for, its whole span inside [low, high]."""
    if high < low:
        return None
    spans: dict[str, list[tuple[date, date]]] = {"day": []}
    month = low.replace(day=1)
    while month <= high:
        for span, start, end in _month_parts(month):
            if start >= low and end <= high:
                spans.setdefault(span, []).append((start, end))
        month = (month.replace(day=28) + timedelta(days=4)).replace(day=1)
    usable = [f for f in formats if f.span == "day" or spans.get(f.span)]
    if not usable:
        return None
    fmt = rng.choice(usable)
    if fmt.span == "day":
        return fmt, low + timedelta(days=rng.randint(0, (high - low).days))
    start, end = rng.choice(spans[fmt.span])
    return fmt, start + (end - start) / 2


def _when(fmt: DateFormat, day: date) -> str:
    return fmt.text.format(day=day.day, month=MONTHS[day.month - 1], year=day.year,
                           iso=day.isoformat())  # fmt: skip


class _Asker:
    """Writes the questions about one attribute of the conversation's person."""

    def __init__(self, pool: Pool, rng: random.Random, conv_id: str, person: str) -> None:
        self.pool, self.rng, self.conv_id = pool, rng, conv_id
        self.person = person

    def name(self) -> str:
        return self.person if self.rng.random() < 0.5 else self.person.lower()

    def questions(
        self, attr: Attribute, history: Sequence[ValueSpan], distractors: Sequence[str]
    ) -> list[GenQuestion]:
        def make(
            form: str, template: str, slots: Mapping[str, str], answer: ValueSpan,
            as_of: str | None = None, named: ValueSpan | None = None,
        ) -> GenQuestion:  # fmt: skip
            return GenQuestion(
                id=f"{self.conv_id}:{attr.key}:{form}", text=render(template, slots), form=form,
                attribute=attr.key, value=answer.value, turn=answer.turn,
                history=tuple(history), distractors=tuple(distractors), template=template,
                as_of=as_of, named_value=named.value if named else None,
                also=(named.turn,) if named and named.names_previous else (),
            )  # fmt: skip

        out = [make("current", self.rng.choice(attr.ask_now), {"p": self.name()}, history[-1])]
        later = self.rng.randrange(1, len(history))
        named = history[later]
        slots = {"p": self.name(), **_value_slots(named.value, None, "")}
        out.append(make("before", self.rng.choice(attr.ask_before), slots, history[later - 1],
                        named=named))  # fmt: skip
        for index in self.rng.sample(range(len(history) - 1), len(history) - 1):
            # The value at a date while an older value held, if one held long enough.
            span = history[index]
            assert span.until is not None
            low = _day(span.said_at) + timedelta(days=2)
            high = _day(span.until) - timedelta(days=BACK_REFERENCE_DAYS)
            choice = _date_choice(self.rng, self.pool.dates, low, high)
            if choice is None:
                continue
            fmt, day = choice
            when = _when(fmt, day)
            slots = {"p": self.name(), "when": when, "When": sentence(when)}
            moment = datetime(day.year, day.month, day.day, 12, tzinfo=timezone.utc)
            out.append(make("as_of", self.rng.choice(attr.ask_at), slots, span, as_of=iso(moment)))
            break
        return out


def _day(text: str) -> date:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").date()


# ------------------------------------------------------------------ assembly


def _turns(
    events: Sequence[Sequence[Sequence[_Draft]]], dates: Sequence[datetime], conv_id: str,
    person: str, friend: str | None, rng: random.Random,
) -> tuple[list[GenTurn], dict[tuple[str, int], GenTurn]]:  # fmt: skip
    turns: list[GenTurn] = []
    by_slot: dict[tuple[str, int], GenTurn] = {}
    other_role = "assistant" if friend is None else "user"
    for number, (session, start) in enumerate(zip(events, dates), start=1):
        moment = start
        drafts = [draft for event in session for draft in event]
        for index, draft in enumerate(drafts, start=1):
            turn = GenTurn(
                id=f"s{number}:{index}", session=f"{conv_id}-s{number}",
                speaker=person if draft.by_person else friend,
                role="user" if draft.by_person else other_role, text=draft.text, at=iso(moment),
                kind=draft.kind, template=draft.template, attribute=draft.attribute,
                value=draft.value, wording=draft.wording, previous=draft.previous,
            )  # fmt: skip
            turns.append(turn)
            if draft.slot is not None:
                by_slot[draft.slot] = turn
            moment += timedelta(seconds=rng.randint(20, 180))
    return turns, by_slot


def _history(plan: _Plan, by_slot: Mapping[tuple[str, int], GenTurn]) -> list[ValueSpan]:
    said = [by_slot[(plan.attribute.key, i)] for i in range(len(plan.values))]
    return [
        ValueSpan(value=turn.value or "", turn=turn.id, said_at=turn.at,
                  until=said[i + 1].at if i + 1 < len(said) else None, wording=turn.wording or "",
                  names_previous=turn.previous is not None)
        for i, turn in enumerate(said)
    ]  # fmt: skip


def conversation(pool: Pool, seed: int, index: int) -> GenConversation:
    """Conversation number `index` of the suite with this pool and seed."""
    rng = random.Random(f"memstrata-bench-updates:{pool.split}:{seed}:{index}")
    person = rng.choice(pool.people)
    friend = rng.choice(pool.others)[0] if rng.random() < 0.5 else None
    density = rng.choice(DENSITIES)
    conv_id = f"{pool.split}-{seed}-{index:03d}-{person.lower()}"
    dates = _session_dates(rng)
    chosen = rng.sample(list(pool.attributes), rng.randint(4, min(7, len(pool.attributes))))
    plans = [_plan(rng, attr, dates) for attr in chosen]
    writer = _Writer(pool, rng, friend)
    events = _events(writer, plans, len(dates), density)
    turns, by_slot = _turns(events, dates, conv_id, person, friend, rng)
    asker = _Asker(pool, rng, conv_id, person)
    questions: list[GenQuestion] = []
    for plan in plans:
        key = plan.attribute.key
        distractors = [t.id for t in turns if t.kind == "distractor" and t.attribute == key]
        questions += asker.questions(plan.attribute, _history(plan, by_slot), distractors)
    rng.shuffle(questions)
    return GenConversation(conv_id, pool.split, person, friend, density, tuple(turns),
                           tuple(questions))  # fmt: skip


def pool_for(split: str) -> Pool:
    """The template pool of a split; ValueError naming the splits otherwise."""
    pools = {"dev": DEV_POOL, "test": TEST_POOL}
    if split not in pools:
        raise ValueError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")
    return pools[split]


def generate(people: int, seed: int = 0, split: str = "dev") -> list[GenConversation]:
    """`people` conversations (one person each) from the split's pool. The first N
    conversations are the same for any `people` >= N."""
    if isinstance(people, bool) or not isinstance(people, int) or people < 1:
        raise ValueError(f"people must be a whole number >= 1; got {people!r}")
    pool = pool_for(split)
    return [conversation(pool, seed, i) for i in range(people)]
