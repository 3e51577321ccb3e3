"""Time expressions in conversation text, resolved against the turn's own date.

A turn "I went to a support group yesterday" said on 8 May 2023 is a fact about 7 May
2023; weeks later "yesterday" means nothing unless it was pinned when the turn was
stored. Search queries ("what did I do last week?") need the same with anchor = now.
This runs on every added turn and every query, so it is a narrow grammar of
precompiled regular expressions: no LLM, no dependency.

Why not `dateparser.search.search_dates` (1.5): measured on this machine it takes 0.4 ms
for a 21-word sentence with no date, 0.9 ms with one, 1.4 ms on average over 31-word
chat-like sentences (this module: about 13 µs); it reads "We" as Wednesday, "may" the
verb as today, "march on" as March, "I have 2022 stickers" as 2022, "a minute" as today,
and finds nothing in "last weekend", "last summer" or "a few months ago".

Conventions (calendar days; an aware anchor is converted to UTC, a naive one is UTC):
- A week is Monday-Sunday. "last week" is the week before the anchor's, "N weeks ago"
  and "in N weeks" the week holding the day N*7 days away; months and years likewise
  resolve to the whole month or year, "N days ago" to the single day.
- "last weekend" is the Saturday-Sunday of the week before the anchor's, "this
  weekend" that of the anchor's week (on a Sunday it is the anchor and the day before).
- "this past" means "last". "last Saturday" is the latest Saturday strictly before the
  anchor's day, "next Friday" the first Friday strictly after it; "this Friday" and
  "on Friday" are the Friday of the anchor's week even when that is already past.
- A month without a year ("in May", "May 7th") is in the anchor's year unless the
  month comes after the anchor's month, then in the year before: chat is mostly about
  the past. "last May" is the latest May before the anchor's month, "next May" the
  first after it, "this May" the anchor's year's.
- Seasons are meteorological, northern: spring Mar-May, summer Jun-Aug, fall/autumn
  Sep-Nov, winter Dec-Feb named by the year of its December ("winter 2022" ends in
  February 2023). "this summer" is the one holding the anchor, else the one in the
  anchor's year; "last summer" the latest that ended before the anchor's day, "next
  summer" the first that starts after it.
- "the past week / month / year" is the 7 / 30 / 365 days ending on the anchor's day.
- A month counts only next to a day number or a year, or after in/since/until/of/from/
  during/before/after/through/last/next/this/early/mid/late ("April is my sister" and
  "in Dec" are not read); "may" and "march" must also be capitalised (else verbs).
Not resolved, on purpose: vague phrases ("a while ago", "the other day", "recently"),
habits ("on Sundays", "twice in a week"), phrases relative to another event ("two
days later", "the Sunday before"), "in N days" in a clause that reads as past tense
("I read it in two days": a duration), and days out of the calendar ("9999 years ago").
"""

from __future__ import annotations

import calendar
import contextlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

__all__ = ["TimeMention", "annotate", "day_label", "find_times"]

_MONTHS = tuple(
    "January February March April May June July August September October November December".split()
)
_MONTH_NUM = {n.lower(): i for i, n in enumerate(_MONTHS, 1)} | {"sept": 9}
_MONTH_NUM |= {n[:3].lower(): i for i, n in enumerate(_MONTHS, 1)}
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_NUMBERS = dict(
    zip("one two three four five six seven eight nine ten eleven twelve".split(), range(1, 13))
)
_NUMBERS |= {"a": 1, "an": 1, "a few": 3, "several": 3}
_NUMBERS |= dict.fromkeys(("a couple", "a couple of", "couple of"), 2)
_VERBS = frozenset(("may", "march", "mar"))  # month names that are verbs in lower case
_SEASON_START = {"spring": 3, "summer": 6, "fall": 9, "autumn": 9, "winter": 12}
_FOUR_DIGITS = re.compile(r"[0-9]{4}")

_NUM = (
    r"(?P<n>[0-9]{1,6}|a\s+couple(?:\s+of)?|couple\s+of|a\s+few|several|an?|one|two"
    r"|three|four|five|six|seven|eight|nine|ten|eleven|twelve)"
)
_FULL = "|".join(_MONTHS)
_ABBR = r"(?:jan|feb|mar|apr|jun|jul|aug|sept?|oct|nov|dec)\b(?:\.(?=\s*[0-9]))?"
_MON = rf"(?P<m>(?:{_FULL})\b|{_ABBR})"
_DAY = r"(?P<d>[0-3]?[0-9])(?:st|nd|rd|th)?"
_YEAR = r"(?P<y>[0-9]{4})(?![0-9])"
_PART = r"(?:\s+(?:morning|afternoon|evening|night))?"

_Res = tuple[date, date, str, bool]  # first, last, granularity, relative


@dataclass(frozen=True, slots=True)
class TimeMention:
    """One resolved time phrase: where it is in the text and which days it names."""

    start: int
    end: int
    phrase: str
    first: date
    last: date
    granularity: str  # "day", "week", "weekend", "month", "season" or "year"
    relative: bool  # resolved against the anchor ("yesterday"), not absolute ("in 2022")

    def label(self) -> str:
        """The range in words: "7 May 2023", "the week of 1 May 2023", "summer 2023"."""
        f, last, g = self.first, self.last, self.granularity
        if f == last:
            return day_label(f)
        # Checks that never overflow: a TimeMention may be built by hand near year 9999.
        months = last.year * 12 + last.month - f.year * 12 - f.month
        whole = f.day == 1 and last.day == calendar.monthrange(last.year, last.month)[1]
        if g == "week" and f.weekday() == 0 and (last - f).days == 6:
            return f"the week of {day_label(f)}"
        if g == "weekend" and f.weekday() == 5 and (last - f).days == 1:
            return f"the weekend of {day_label(f)}"
        if g == "month" and whole and months == 0:
            return f"{_MONTHS[f.month - 1]} {f.year:04d}"
        if g == "year" and whole and f.month == 1 and months == 11:
            return f"{f.year:04d}"
        if g == "season" and whole and f.month in (3, 6, 9, 12) and months == 2:
            name = {3: "spring", 6: "summer", 9: "fall", 12: "winter"}[f.month]
            if name == "fall" and "autumn" in self.phrase.lower():
                name = "autumn"
            if name == "winter":
                return f"winter {f.year:04d}-{last.year % 100:02d}"
            return f"{name} {f.year:04d}"
        if f.year != last.year:
            return f"{day_label(f)} – {day_label(last)}"
        if f.month != last.month:
            return f"{f.day} {_MONTHS[f.month - 1]} – {day_label(last)}"
        return f"{f.day}–{day_label(last)}"


def day_label(d: date) -> str:
    """ "7 May 2023". Four-digit years ("0999") so that an inserted label reads back
    as an absolute date."""
    return f"{d.day} {_MONTHS[d.month - 1]} {d.year:04d}"


def _month(year: int, month: int) -> tuple[date, date]:
    nxt = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    return date(year, month, 1), nxt - timedelta(1)


def _week(d: date) -> tuple[date, date]:
    monday = d - timedelta(d.weekday())
    return monday, monday + timedelta(6)


def _season(name: str, year: int) -> tuple[date, date]:
    start = _SEASON_START[name]
    last_y, last_m = (year + 1, 2) if start == 12 else (year, start + 2)
    return date(year, start, 1), _month(last_y, last_m)[1]


def _words(s: str) -> str:
    return " ".join(s.lower().split())


def _shift(a: date, unit: str, n: int) -> _Res:
    """The day, week, weekend, month or year `n` units from the anchor's."""
    if unit == "day":
        d = a + timedelta(n)
        return d, d, "day", True
    if unit in ("week", "weekend"):
        mon, sun = _week(a + timedelta(weeks=n))
        if unit == "weekend":
            return sun - timedelta(1), sun, "weekend", True
        return mon, sun, "week", True
    if unit == "month":
        y, m = divmod(a.year * 12 + a.month - 1 + n, 12)
        return (*_month(y, m + 1), "month", True)
    return date(a.year + n, 1, 1), date(a.year + n, 12, 31), "year", True


def _year_for(month: int, a: date, pre: str = "") -> int:
    """The year of a month named without one; see the module docstring."""
    if pre == "last":
        return a.year if month < a.month else a.year - 1
    if pre == "next":
        return a.year if month > a.month else a.year + 1
    if pre == "this":
        return a.year
    return a.year if month <= a.month else a.year - 1


def _month_num(m: re.Match[str]) -> int | None:
    """The month matched, or None for a lower-case "may" or "march": then it is a verb."""
    word = m.group("m")
    if word.lower() in _VERBS and not word[0].isupper():
        return None
    return _MONTH_NUM[word.lower().rstrip(".")]


_F = re.IGNORECASE | re.ASCII  # ASCII: "ſ" must not match "s", nor "٢" a digit
_DIGITS = "0000"  # stands for "the text has four digits in a row"
_UNITS = "day days week weeks weekend weekends month months year years"
_SEASONS = "summer winter spring fall autumn"
_MONTH_WORDS = " ".join(_MONTH_NUM)
_Handler = Callable[[re.Match[str], date], _Res | None]
# (pattern, resolver, words of which one must be in the text for the pattern to be tried)
_RULES: list[tuple[re.Pattern[str], _Handler, frozenset[str]]] = []


def _rule(pattern: str, needs: str) -> Callable[[_Handler], _Handler]:
    """Register `pattern` (group "p" is the phrase) with the decorated resolver.

    Each pattern starts at a word boundary with a lookahead on the letters a match can
    start with: the engine then skips most word starts at once, about three times faster.
    """

    def register(handler: _Handler) -> _Handler:
        _RULES.append((re.compile(pattern, _F), handler, frozenset(needs.split())))
        return handler

    return register


@_rule(
    r"\b(?=[tyl])(?P<p>(?:the\s+day\s+(?:before\s+yesterday|after\s+tomorrow)|yesterday"
    rf"|tomorrow|today|tonight|last\s+night|this\s+(?:morning|afternoon|evening)){_PART})\b",
    "today tonight yesterday tomorrow night morning afternoon evening",
)
def _day_word(m: re.Match[str], a: date) -> _Res:
    w = _words(m.group("p")).split()
    off = {"yesterday": -1, "last": -1, "tomorrow": 1}.get(w[0], 0)
    if w[0] == "the":  # the day before yesterday, the day after tomorrow
        off = -2 if w[2] == "before" else 2
    return _shift(a, "day", off)


def _count(m: re.Match[str]) -> int:
    return _NUMBERS.get(_words(m.group("n"))) or int(m.group("n"))


@_rule(rf"\b(?=[0-9acsotfen])(?P<p>{_NUM}\s+(?P<u>day|weekend|week|month|year)s?\s+ago)\b", "ago")
def _ago(m: re.Match[str], a: date) -> _Res:
    return _shift(a, m.group("u").lower(), -_count(m))


_PARENS = re.compile(r"\([^()]*\)")
_CLAUSE_START = re.compile(r"[.!?;,\n][^.!?;,\n]*\Z")
_PAST = re.compile(
    r"\b(?:did|was|were|had|took|got|made|went|ran|wrote|built|lost|found|spent|read"
    r"|[a-z]*[a-df-z]ed)\b",
    _F,
)
_FUTURE = re.compile(
    r"\b(?:will|shall|gonna|going\s+to|plan\w*|scheduled|due|hop(?:e|ing))\b|['’]ll\b", _F
)


@_rule(
    rf"\b(?=i)(?<!times\s)(?<!once\s)(?<!twice\s)(?P<p>in\s+{_NUM}\s+(?P<u>day|week|month|year)s?)\b",
    _UNITS,
)
def _in(m: re.Match[str], a: date) -> _Res | None:
    # "in two days" in a past-tense clause is a duration ("I read it in two days").
    # Parenthesised text, such as our own labels, is left out of the clause, so that
    # annotating a text does not change how it reads here.
    before = _PARENS.sub("", m.string[max(0, m.start() - 300) : m.start()])[-100:]
    cut = _CLAUSE_START.search(before)
    clause = before[cut.start() + 1 :] if cut else before
    if _PAST.search(clause) and not _FUTURE.search(clause):
        return None
    return _shift(a, m.group("u").lower(), _count(m))


@_rule(
    r"\b(?=[tln])(?<!the\s)(?P<p>(?P<pre>the\s+past|this\s+past|last|this|next)\s+"
    rf"(?P<u>weekend|week|month|year|{_SEASONS.replace(' ', '|')}))\b",
    f"{_UNITS} {_SEASONS}",
)
def _relative_unit(m: re.Match[str], a: date) -> _Res:
    pre, unit = _words(m.group("pre")), m.group("u").lower()
    if pre == "the past" and unit in ("week", "month", "year"):
        days = {"week": 7, "month": 30, "year": 365}[unit]
        return a - timedelta(days - 1), a, unit, True
    step = 1 if pre == "next" else 0 if pre == "this" else -1
    if unit not in _SEASON_START:
        return _shift(a, unit, step)
    years = range(a.year - 2, a.year + 3)
    if step < 0:
        year = max(y for y in years if _season(unit, y)[1] < a)
    elif step > 0:
        year = min(y for y in years if _season(unit, y)[0] > a)
    else:
        holding = [y for y in years if _season(unit, y)[0] <= a <= _season(unit, y)[1]]
        year = holding[0] if holding else a.year
    return (*_season(unit, year), "season", True)


@_rule(
    r"\b(?=[olntmwfs])(?<!the\s)(?:on\s+)?(?P<p>(?:(?P<pre>last|next|this\s+past|this)\s+)?"
    rf"(?P<wd>{'|'.join(_WEEKDAYS)}){_PART})\b",
    " ".join(_WEEKDAYS),
)
def _weekday(m: re.Match[str], a: date) -> _Res | None:
    pre = _words(m.group("pre") or "")
    if not pre and m.start() == m.start("p"):
        return None  # a bare "Friday" is too often a habit or a name
    target = _WEEKDAYS.index(m.group("wd").lower())
    if pre in ("last", "this past"):
        d = a - timedelta((a.weekday() - target) % 7 or 7)
    elif pre == "next":
        d = a + timedelta((target - a.weekday()) % 7 or 7)
    else:
        d = _week(a)[0] + timedelta(target)
    return d, d, "day", True


@_rule(rf"\b(?=[0-9])(?P<p>{_DAY}\s+(?:of\s+)?{_MON}(?:,?\s+{_YEAR})?)", _MONTH_WORDS)
@_rule(rf"\b(?=[jfmasond])(?P<p>{_MON}\s+{_DAY}\b(?:,?\s+{_YEAR})?)", _MONTH_WORDS)
@_rule(rf"\b(?=[jfmasond])(?P<p>{_MON},?\s+(?:of\s+)?{_YEAR})", _MONTH_WORDS)
def _dated(m: re.Match[str], a: date) -> _Res | None:
    """A day ("7 May 2023", "May 7th") or a month with its year ("May 2023")."""
    if (month := _month_num(m)) is None:
        return None
    y = m.group("y")
    year = int(y) if y else _year_for(month, a)
    if (day := m.groupdict().get("d")) is None:
        return (*_month(year, month), "month", False)
    d = date(year, month, int(day))
    return d, d, "day", y is None


@_rule(
    r"\b(?=[abdefijlmnostu])(?:(?P<prep>in|since|until|till|of|from|during|before|after"
    rf"|through)\s+)?(?P<p>(?:(?P<pre>last|next|this|early|late|mid)[\s-]+)?(?P<m>{_FULL})\b)",
    _MONTH_WORDS,
)
def _month_ctx(m: re.Match[str], a: date) -> _Res | None:
    pre = _words(m.group("pre") or "")
    if not (pre or m.group("prep")) or (month := _month_num(m)) is None:
        return None  # a bare month may be a name ("April", "June") or a verb
    return (*_month(_year_for(month, a, pre), month), "month", True)


# "in 2022" followed by a plural noun is a count: "a crowd of 2000 people", "in 2022 stickers".
_COUNTED = re.compile(
    r"\s+(?:people|men|women|children|(?!(?:was|is|has|this|as|does|always|thus|plus|unless)\b)"
    r"[a-z]+s)\b"
)


@_rule(
    r"\b(?=[isutofbdaelm])(?:in|since|until|till|of|from|by|during|before|after|through|early"
    r"|late|mid)[\s-]+(?P<p>(?P<y>(?:19|20)[0-9]{2}))(?![0-9])(?!['’]?s\b)(?![-/.:,][0-9])",
    _DIGITS,
)
def _year(m: re.Match[str], a: date) -> _Res | None:
    if _COUNTED.match(m.string, m.end()):
        return None
    y = int(m.group("y"))
    return date(y, 1, 1), date(y, 12, 31), "year", False


@_rule(rf"\b(?=[swfa])(?P<p>(?P<s>{_SEASONS.replace(' ', '|')})\s+(?:of\s+)?{_YEAR})", _SEASONS)
def _season_year(m: re.Match[str], a: date) -> _Res:
    return (*_season(m.group("s").lower(), int(m.group("y"))), "season", False)


@_rule(
    r"\b(?=[0-9])(?P<p>(?P<y>[0-9]{4})(?P<sep>[-/])(?P<mo>[0-9]{1,2})(?P=sep)(?P<d>[0-9]{1,2}))"
    r"(?![0-9])",
    _DIGITS,
)
def _iso(m: re.Match[str], a: date) -> _Res:
    d = date(int(m.group("y")), int(m.group("mo")), int(m.group("d")))
    return d, d, "day", False


_TRIGGERS = frozenset().union(*(w for _, _, w in _RULES)) - {_DIGITS}
_WORD = re.compile(r"[a-z]+")
_CAPITAL_VERB = re.compile(r"\b(?:May|MAY|March|MARCH|Mar|MAR)\b")


def _triggers(text: str) -> set[str]:
    """The words of `text` that some rule needs; "may" and "march" only capitalised."""
    found = set(_WORD.findall(text.lower())) & _TRIGGERS
    if not _VERBS.isdisjoint(found) and not _CAPITAL_VERB.search(text):
        found -= _VERBS
    if _FOUR_DIGITS.search(text):
        found.add(_DIGITS)
    return found


def may_name_time(text: str) -> bool:
    """Whether `text` has a word that some time expression needs (cheap; `find_times`
    finds none in a text without one)."""
    return bool(_triggers(text))


def _anchor_day(anchor: datetime | date) -> date:
    if not isinstance(anchor, datetime):
        return anchor
    if anchor.utcoffset() is not None:
        # Within hours of year 1 or 9999 UTC does not exist: keep the anchor's own day.
        with contextlib.suppress(OverflowError):
            anchor = anchor.astimezone(timezone.utc)
    return anchor.date()


def find_times(text: str, anchor: datetime | date) -> list[TimeMention]:
    """All time expressions in `text`, in order, non-overlapping (longest match wins).

    Relative phrases are resolved against `anchor`: the turn's `occurred_at` for a
    memory, now for a search query. Never raises on any string.

    >>> [(t.phrase, t.label()) for t in find_times("I ran yesterday", date(2023, 5, 8))]
    [('yesterday', '7 May 2023')]
    """
    present = _triggers(text)
    if not present:
        return []
    a = _anchor_day(anchor)
    found: list[TimeMention] = []
    for pattern, handler, needs in _RULES:
        if needs.isdisjoint(present):
            continue  # most rules, for most sentences: far cheaper than running them
        for m in pattern.finditer(text):
            try:
                res = handler(m, a)
            except (ValueError, OverflowError):
                # The phrase names a day the calendar does not have ("31 February",
                # "9999 years ago"): there is nothing to resolve it to.
                continue
            if res is not None:
                s, e = m.span("p")
                found.append(TimeMention(s, e, text[s:e], *res))
    found.sort(key=lambda t: (t.start, t.start - t.end))
    kept: list[TimeMention] = []
    for t in found:
        if kept and t.start < kept[-1].end:
            if t.end - t.start > kept[-1].end - kept[-1].start:
                kept[-1] = t
        else:
            kept.append(t)
    return kept


_DATED_AFTER = re.compile(r"(?:['’]s\b)?\s*\([^()]{0,80}?\b[0-9]{4}\b[^()]{0,40}\)")
_POSSESSIVE = re.compile(r"['’]s\b")


def _already_dated(text: str, t: TimeMention) -> bool:
    """Whether a date in parentheses follows the mention or holds it."""
    if _DATED_AFTER.match(text, t.end):
        return True
    opened = text.rfind("(", 0, t.start)
    if opened < 0 or text.rfind(")", opened, t.start) >= 0:
        return False
    closed = text.find(")", t.end)
    return (
        closed >= 0
        and "(" not in text[t.end : closed]
        and bool(_FOUR_DIGITS.search(text, opened, closed))
    )


def annotate(text: str, mentions: Sequence[TimeMention]) -> str:
    """`text` with " (label)" after each relative mention, so the date survives the turn.

    Absolute mentions are left alone, as are mentions already followed by (or inside)
    a parenthesised date, so annotating an annotated text changes nothing. Mentions
    that do not match `text` at their span, or overlap an earlier one, are skipped.

    >>> d = date(2023, 5, 8)
    >>> annotate("I went yesterday", find_times("I went yesterday", d))
    'I went yesterday (7 May 2023)'
    """
    out: list[str] = []
    pos = 0
    for t in sorted(mentions, key=lambda t: t.start):
        if (
            not t.relative
            or not pos <= t.start <= t.end <= len(text)
            or text[t.start : t.end] != t.phrase
            or _already_dated(text, t)
        ):
            continue
        end = t.end
        if possessive := _POSSESSIVE.match(text, end):
            end = possessive.end()
        out += [text[pos:end], f" ({t.label()})"]
        pos = end
    out.append(text[pos:])
    return "".join(out)
