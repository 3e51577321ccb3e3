"""Time expressions resolved against a turn's date: table, edge cases, annotation, fuzzing."""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memstrata.form.times import TimeMention, annotate, find_times

# Monday 8 May 2023: its week is 8-14 May, the week before 1-7 May.
ANCHOR = datetime(2023, 5, 8, 13, 56, tzinfo=timezone.utc)

# (text, phrase found, first, last, granularity); the anchor is ANCHOR.
TABLE = [
    ("I went to a support group today", "today", "2023-05-08", "2023-05-08", "day"),
    ("We are going out tonight", "tonight", "2023-05-08", "2023-05-08", "day"),
    ("I ran this morning", "this morning", "2023-05-08", "2023-05-08", "day"),
    ("Call me this evening", "this evening", "2023-05-08", "2023-05-08", "day"),
    ("I went to a support group yesterday", "yesterday", "2023-05-07", "2023-05-07", "day"),
    ("We spoke last night", "last night", "2023-05-07", "2023-05-07", "day"),
    ("It rained yesterday afternoon", "yesterday afternoon", "2023-05-07", "2023-05-07", "day"),
    (
        "We met the day before yesterday",
        "the day before yesterday",
        "2023-05-06",
        "2023-05-06",
        "day",
    ),
    ("Tomorrow I have an exam", "Tomorrow", "2023-05-09", "2023-05-09", "day"),
    ("I fly the day after tomorrow", "the day after tomorrow", "2023-05-10", "2023-05-10", "day"),
    ("I painted it 3 days ago", "3 days ago", "2023-05-05", "2023-05-05", "day"),
    ("I painted it three days ago", "three days ago", "2023-05-05", "2023-05-05", "day"),
    ("She called a couple of days ago", "a couple of days ago", "2023-05-06", "2023-05-06", "day"),
    ("She called a few days ago", "a few days ago", "2023-05-05", "2023-05-05", "day"),
    ("We adopted a cat a week ago", "a week ago", "2023-05-01", "2023-05-07", "week"),
    ("She adopted a puppy two weeks ago", "two weeks ago", "2023-04-24", "2023-04-30", "week"),
    ("We went camping two weekends ago", "two weekends ago", "2023-04-29", "2023-04-30", "weekend"),
    ("I quit a month ago", "a month ago", "2023-04-01", "2023-04-30", "month"),
    ("I moved several months ago", "several months ago", "2023-02-01", "2023-02-28", "month"),
    ("We married a year ago", "a year ago", "2022-01-01", "2022-12-31", "year"),
    ("I graduated ten years ago", "ten years ago", "2013-01-01", "2013-12-31", "year"),
    ("I will see you in 3 days", "in 3 days", "2023-05-11", "2023-05-11", "day"),
    ("The move is in a week", "in a week", "2023-05-15", "2023-05-21", "week"),
    ("I'll be back in two months", "in two months", "2023-07-01", "2023-07-31", "month"),
    ("I was sick last week", "last week", "2023-05-01", "2023-05-07", "week"),
    ("I am busy this week", "this week", "2023-05-08", "2023-05-14", "week"),
    ("Let's meet next week", "next week", "2023-05-15", "2023-05-21", "week"),
    ("My sister visited last weekend", "last weekend", "2023-05-06", "2023-05-07", "weekend"),
    ("We hike this weekend", "this weekend", "2023-05-13", "2023-05-14", "weekend"),
    ("Party next weekend!", "next weekend", "2023-05-20", "2023-05-21", "weekend"),
    ("It was fun this past weekend", "this past weekend", "2023-05-06", "2023-05-07", "weekend"),
    ("I got a promotion last month", "last month", "2023-04-01", "2023-04-30", "month"),
    ("I am moving this month", "this month", "2023-05-01", "2023-05-31", "month"),
    ("Exams start next month", "next month", "2023-06-01", "2023-06-30", "month"),
    ("We married last year", "last year", "2022-01-01", "2022-12-31", "year"),
    ("I retire next year", "next year", "2024-01-01", "2024-12-31", "year"),
    ("I slept badly in the past week", "the past week", "2023-05-02", "2023-05-08", "week"),
    ("I went camping last summer", "last summer", "2022-06-01", "2022-08-31", "season"),
    ("We go to Spain this summer", "this summer", "2023-06-01", "2023-08-31", "season"),
    ("We go to Spain next summer", "next summer", "2023-06-01", "2023-08-31", "season"),
    ("It snowed a lot last winter", "last winter", "2022-12-01", "2023-02-28", "season"),
    ("I started school last fall", "last fall", "2022-09-01", "2022-11-30", "season"),
    ("Allergies this spring!", "this spring", "2023-03-01", "2023-05-31", "season"),
    ("I ran a charity race last Saturday", "last Saturday", "2023-05-06", "2023-05-06", "day"),
    ("It was this past Saturday", "this past Saturday", "2023-05-06", "2023-05-06", "day"),
    ("I started last Monday", "last Monday", "2023-05-01", "2023-05-01", "day"),
    ("I see the doctor next Friday", "next Friday", "2023-05-12", "2023-05-12", "day"),
    ("Rent is due next Monday", "next Monday", "2023-05-15", "2023-05-15", "day"),
    ("Dinner this Friday?", "this Friday", "2023-05-12", "2023-05-12", "day"),
    ("Let's talk on Sunday", "Sunday", "2023-05-14", "2023-05-14", "day"),
    ("We met on Tuesday night", "Tuesday night", "2023-05-09", "2023-05-09", "day"),
    ("I started pottery in May", "May", "2023-05-01", "2023-05-31", "month"),
    ("We visited in December", "December", "2022-12-01", "2022-12-31", "month"),
    ("I saw her last May", "last May", "2022-05-01", "2022-05-31", "month"),
    ("We marry next March", "next March", "2024-03-01", "2024-03-31", "month"),
    ("I have been running since early April", "early April", "2023-04-01", "2023-04-30", "month"),
    ("The fair was mid-June", "mid-June", "2022-06-01", "2022-06-30", "month"),
    ("I started pottery in May 2022", "May 2022", "2022-05-01", "2022-05-31", "month"),
    ("It was Sept 2020", "Sept 2020", "2020-09-01", "2020-09-30", "month"),
    ("The conference is on 7 May 2023", "7 May 2023", "2023-05-07", "2023-05-07", "day"),
    ("The conference was May 7, 2023", "May 7, 2023", "2023-05-07", "2023-05-07", "day"),
    ("It was Jan. 5, 2021", "Jan. 5, 2021", "2021-01-05", "2021-01-05", "day"),
    ("Her birthday was May 7th", "May 7th", "2023-05-07", "2023-05-07", "day"),
    ("We met on the 3rd of March", "3rd of March", "2023-03-03", "2023-03-03", "day"),
    ("We met on December 25th", "December 25th", "2022-12-25", "2022-12-25", "day"),
    ("We moved here in 2019 from Ohio", "2019", "2019-01-01", "2019-12-31", "year"),
    ("I have known her since 2015", "2015", "2015-01-01", "2015-12-31", "year"),
    ("That was back in mid-2020", "2020", "2020-01-01", "2020-12-31", "year"),
    ("My party was on 2023-04-30", "2023-04-30", "2023-04-30", "2023-04-30", "day"),
    ("We toured in the summer of 2022", "summer of 2022", "2022-06-01", "2022-08-31", "season"),
    ("The ski trip was winter 2021", "winter 2021", "2021-12-01", "2022-02-28", "season"),
]
ABSOLUTE = {"May 2022", "Sept 2020", "7 May 2023", "May 7, 2023", "Jan. 5, 2021", "2019", "2015"}
ABSOLUTE |= {"2020", "2023-04-30", "summer of 2022", "winter 2021"}


def one(text: str, anchor: datetime | date = ANCHOR) -> TimeMention:
    found = find_times(text, anchor)
    assert len(found) == 1, found
    return found[0]


@pytest.mark.parametrize(("text", "phrase", "first", "last", "granularity"), TABLE)
def test_table(text: str, phrase: str, first: str, last: str, granularity: str) -> None:
    t = one(text)
    assert (t.phrase, t.first.isoformat(), t.last.isoformat(), t.granularity) == (
        phrase,
        first,
        last,
        granularity,
    )
    assert text[t.start : t.end] == phrase
    assert t.relative == (phrase not in ABSOLUTE)


def test_table_is_large_enough() -> None:
    assert len(TABLE) >= 40


@pytest.mark.parametrize(
    ("anchor", "text", "first", "last"),
    [
        # A Saturday anchor: "last Saturday" is a week back, "this Saturday" the anchor.
        (date(2023, 5, 13), "last Saturday", "2023-05-06", "2023-05-06"),
        (date(2023, 5, 13), "next Saturday", "2023-05-20", "2023-05-20"),
        (date(2023, 5, 13), "this Saturday", "2023-05-13", "2023-05-13"),
        (date(2023, 5, 13), "last weekend", "2023-05-06", "2023-05-07"),
        # A Sunday anchor: its week (Monday-based) is 8-14 May.
        (date(2023, 5, 14), "this weekend", "2023-05-13", "2023-05-14"),
        (date(2023, 5, 14), "last weekend", "2023-05-06", "2023-05-07"),
        (date(2023, 5, 14), "last Sunday", "2023-05-07", "2023-05-07"),
        (date(2023, 5, 14), "on Monday", "2023-05-08", "2023-05-08"),
        (date(2023, 5, 14), "next Monday", "2023-05-15", "2023-05-15"),
        # In summer "last summer" is the year before; in January "this winter" began in December.
        (date(2023, 7, 15), "last summer", "2022-06-01", "2022-08-31"),
        (date(2023, 7, 15), "this summer", "2023-06-01", "2023-08-31"),
        (date(2023, 7, 15), "next summer", "2024-06-01", "2024-08-31"),
        (date(2023, 1, 15), "this winter", "2022-12-01", "2023-02-28"),
        (date(2023, 1, 15), "last winter", "2021-12-01", "2022-02-28"),
        (date(2024, 1, 15), "last winter", "2022-12-01", "2023-02-28"),
        # Months around a year boundary.
        (date(2023, 1, 10), "in December", "2022-12-01", "2022-12-31"),
        (date(2023, 1, 10), "next January", "2024-01-01", "2024-01-31"),
        (date(2023, 1, 10), "last January", "2022-01-01", "2022-01-31"),
        (date(2023, 1, 10), "last month", "2022-12-01", "2022-12-31"),
        (date(2023, 1, 2), "last week", "2022-12-26", "2023-01-01"),
        (date(2024, 3, 31), "a month ago", "2024-02-01", "2024-02-29"),
    ],
)
def test_edges(anchor: date, text: str, first: str, last: str) -> None:
    t = one(text, anchor)
    assert (t.first.isoformat(), t.last.isoformat()) == (first, last)


def test_anchor_forms() -> None:
    # 01:00 at UTC+5 is 20:00 UTC the day before; a naive datetime is taken as UTC.
    plus5 = datetime(2023, 5, 8, 1, 0, tzinfo=timezone(timedelta(hours=5)))
    assert one("today", plus5).first == date(2023, 5, 7)
    assert one("today", datetime(2023, 5, 8, 1, 0)).first == date(2023, 5, 8)
    assert one("today", date(2023, 5, 8)).first == date(2023, 5, 8)


@pytest.mark.parametrize(
    "text",
    [
        "You may go now if you want to",
        "May I ask you something?",
        "They march on through the rain",
        "I think in may be fine",
        "I have 2022 stickers in my collection",
        "a crowd of 2000 people came",
        "We talked a while ago about this",
        "I saw her the other day at the park",
        "I have been reading a lot recently",
        "On Sundays I swim",
        "Friday is my favourite day",
        "April is my sister's name",
        "We met and two days later she left",
        "She came on the Sunday before",
        "I read the whole book in two days",
        "I go to the gym three times in a week",
        "the last week of the course was hard",
        "9999 years ago and 999999 days ago",
        "version 2023.05.07 of the app",
        "",
    ],
)
def test_false_positives(text: str) -> None:
    assert find_times(text, ANCHOR) == []


def test_verb_and_month_in_one_sentence() -> None:
    assert [t.phrase for t in find_times("they march in March", ANCHOR)] == ["March"]


def test_impossible_dates_are_skipped() -> None:
    assert [t.phrase for t in find_times("on 31 February 2023", ANCHOR)] == ["February 2023"]
    assert find_times("tomorrow", date.max) == []
    assert find_times("yesterday", date.min) == []
    assert find_times("last year", date(1, 6, 1)) == []
    assert find_times("today", datetime.max.replace(tzinfo=timezone(timedelta(hours=-5))))


def test_longest_match_wins_and_spans() -> None:
    text = "The day before yesterday, in May 2022 and on 7 May 2023, we hiked last Saturday."
    found = find_times(text, ANCHOR)
    assert [t.phrase for t in found] == [
        "The day before yesterday",
        "May 2022",
        "7 May 2023",
        "last Saturday",
    ]
    assert [(t.start, t.end) for t in found] == [(0, 24), (29, 37), (45, 55), (66, 79)]


def test_annotate() -> None:
    text = "I went to a support group yesterday"
    assert annotate(text, find_times(text, ANCHOR)) == (
        "I went to a support group yesterday (7 May 2023)"
    )
    text = "Last weekend we hiked; in May 2022 we moved, and today's plan is next week."
    assert annotate(text, find_times(text, ANCHOR)) == (
        "Last weekend (the weekend of 6 May 2023) we hiked; in May 2022 we moved, "
        "and today's (8 May 2023) plan is next week (the week of 15 May 2023)."
    )


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("two weeks ago", "the week of 24 April 2023"),
        ("last month", "April 2023"),
        ("last summer", "summer 2022"),
        ("last autumn", "autumn 2022"),
        ("last winter", "winter 2022-23"),
        ("last year", "2022"),
        ("the past week", "2–8 May 2023"),
        ("the past month", "9 April – 8 May 2023"),
        ("the past year", "9 May 2022 – 8 May 2023"),
    ],
)
def test_labels(text: str, label: str) -> None:
    assert one(text).label() == label


def test_annotate_leaves_dated_text_alone() -> None:
    for text in [
        "I went yesterday (7 May 2023)",
        "I went yesterday's (7 May 2023) way",
        "(last week, around 1 May 2023)",
        "That was in 2019 and on 2023-04-30.",
    ]:
        assert annotate(text, find_times(text, ANCHOR)) == text


def test_annotate_skips_mentions_that_do_not_fit_the_text() -> None:
    t = one("yesterday")
    moved = TimeMention(3, 12, "yesterday", t.first, t.last, "day", True)
    assert annotate("yesterday", [moved]) == "yesterday"
    assert annotate("yesterday", [t, t]) == "yesterday (7 May 2023)"
    assert annotate("", [t]) == ""


def test_huge_and_odd_input() -> None:
    chunk = "I went there yesterday, ſeveral days ago, in ٢٠٢٢ or May 2023 \x00\ud800 🙂 "
    text = (chunk * (1_000_000 // len(chunk) + 1))[:1_000_000]
    started = time.perf_counter()
    found = find_times(text, ANCHOR)
    assert time.perf_counter() - started < 10
    assert {t.phrase for t in found} == {"yesterday", "May 2023"}
    assert len(annotate(text, found)) > len(text)


FRAGMENTS = [t[0] for t in TABLE] + [
    "(",
    ")",
    "(7 May 2023)",
    "I finished it",
    "'s",
    "may",
    "May",
    "march",
    "2022",
    "in",
    "last",
    "on",
    "the",
    ",",
    ".",
    "yesterday",
    "in two days",
    "a while ago",
    "31",
    "9999 years ago",
]
ANCHORS = st.one_of(
    st.dates(),
    st.datetimes(
        timezones=st.sampled_from(
            [None, timezone.utc, timezone(timedelta(hours=14)), timezone(timedelta(hours=-12))]
        )
    ),
)
TEXTS = st.one_of(
    st.text(max_size=200),
    st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=4)), max_size=8).map(" ".join),
)
GRANULARITIES = {"day", "week", "weekend", "month", "season", "year"}


@settings(max_examples=400, deadline=None)
@given(TEXTS, ANCHORS)
def test_never_raises_and_spans_are_sound(text: str, anchor: date) -> None:
    found = find_times(text, anchor)
    end = 0
    for t in found:
        assert end <= t.start < t.end <= len(text)
        assert text[t.start : t.end] == t.phrase
        assert t.first <= t.last
        assert t.granularity in GRANULARITIES
        assert t.label()
        end = t.end
    once = annotate(text, found)
    assert annotate(once, find_times(once, anchor)) == once
