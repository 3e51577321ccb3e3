"""Times at the calendar's edges: years below 1000 are stored padded and read back,
files written with unpadded years are repaired on open, one unreadable time never
stops the vector index, and dates near year 9999 in questions and turns never
overflow."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from memstrata import Memory
from memstrata.ids import format_time, parse_stored_time


@given(st.datetimes(timezones=st.just(timezone.utc)))
def test_the_stored_form_reads_back_and_sorts_as_time(moment: datetime) -> None:
    stored = format_time(moment)
    assert len(stored) == 27 and stored.endswith("Z")
    assert parse_stored_time(stored) == moment


@given(st.datetimes(timezones=st.just(timezone.utc)), st.datetimes(timezones=st.just(timezone.utc)))
def test_stored_forms_sort_in_time_order(a: datetime, b: datetime) -> None:
    assert (format_time(a) < format_time(b)) == (a < b)


def test_a_year_below_1000_keeps_every_tenant_searchable(db_path: Path) -> None:
    with Memory(db_path, embedder="hash") as m:
        m.add("the sundial was set in the old year", namespace="a",
              occurred_at="0999-12-31T00:00:00Z")  # fmt: skip
        [record] = m.add("bob keeps bees on the roof", namespace="b")
        assert m.get(m.list(namespace="a").records[0].id, namespace="a").occurred_at == (
            "0999-12-31T00:00:00.000000Z"
        )
        for strategy in ("layered", "dense", "hybrid"):
            hits = m.search("bees on the roof", namespace="b", strategy=strategy)
            assert hits and hits[0].record.id == record.id
        assert m.context("bees", namespace="b").parts
        old = m.search("sundial", namespace="a", until="1000-01-01T00:00:00Z", strategy="dense")
        assert [h.record.text for h in old] == ["the sundial was set in the old year"]
    with Memory(db_path, embedder="hash") as m:  # and the file opens again
        m.warm_up()
        assert m.search("bees", namespace="b", strategy="dense")


def _unpad(db_path: Path) -> None:
    """Write the stored form older files have: `999-12-31T…`."""
    conn = sqlite3.connect(db_path)
    with conn:
        conn.execute(
            "UPDATE records SET occurred_at = substr(occurred_at, 2), "
            "seq = seq + 1000 WHERE occurred_at LIKE '0%'"
        )
        conn.execute("UPDATE history SET at = '999-01-01T00:00:00.000000Z'")
        conn.execute("DELETE FROM meta WHERE key = 'times_padded'")
        conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1000 WHERE key = 'seq'")
    conn.close()


def test_a_file_with_unpadded_years_is_repaired_on_open(db_path: Path) -> None:
    with Memory(db_path, embedder="hash") as m:
        m.add("the sundial was set in the old year", namespace="a",
              occurred_at="0999-12-31T00:00:00Z")  # fmt: skip
        m.add("bob keeps bees on the roof", namespace="b")
    _unpad(db_path)
    with Memory(db_path, embedder="hash") as m:
        [old] = m.list(namespace="a").records
        assert old.occurred_at == "0999-12-31T00:00:00.000000Z"
        assert all(e.at.startswith("0999") for e in m.history(old.id, namespace="a"))
        assert m.search("bees", namespace="b", strategy="dense")


def test_an_unreadable_time_never_stops_the_index(db_path: Path) -> None:
    with Memory(db_path, embedder="hash") as m:
        m.add("a turn whose time will be damaged", namespace="a")
        [good] = m.add("bob keeps bees on the roof", namespace="b")
        m.search("bees", namespace="b", strategy="dense")  # the index is loaded
        conn = sqlite3.connect(db_path)
        with conn:
            conn.execute(
                "UPDATE records SET occurred_at = 'not a time', seq = seq + 100 "
                "WHERE namespace = 'a'"
            )
            conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 100 WHERE key = 'seq'")
        conn.close()
        # Another process's write: this one's index catches up with it.
        [later] = m.add("bob also keeps a goat", namespace="b")
        assert {h.record.id for h in m.search("bob", namespace="b", strategy="dense")} == {
            good.id,
            later.id,
        }
        assert m.search("damaged", namespace="a", strategy="dense")
        assert not m.search("damaged", namespace="a", strategy="dense",
                            since="2000-01-01T00:00:00Z")  # fmt: skip


@pytest.mark.parametrize(
    "query",
    ["what happened on 9999-12-31?", "what happened in December 9999?",
     "what did we do in 9999", "what happened on 0001-01-01?"],
)  # fmt: skip
def test_questions_naming_the_calendar_ends_are_answered(memory: Memory, query: str) -> None:
    memory.add("we planted the oak on 9999-12-31", user_id="u",
               occurred_at="9999-12-31T12:00:00Z")  # fmt: skip
    hits = memory.search(query, user_id="u")
    assert [h.record.text for h in hits] == ["we planted the oak on 9999-12-31"]
    assert memory.context(query, user_id="u").parts


def test_turns_near_the_calendar_ends_are_formed(memory: Memory) -> None:
    texts = [
        "I will go there next year and the year after",
        "We met yesterday and will meet tomorrow, on 9999-12-31",
        "Last month was busy; in two weeks it will be quiet",
    ]
    for at in ("9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z"):
        stored = memory.add(texts, user_id=at, occurred_at=at)
        assert len(stored) == 3
    facts = memory.list(kinds=["fact"], limit=100).records
    assert {f.scope.user_id for f in facts} == {"9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z"}
    for fact in facts:
        assert fact.valid_from is not None and fact.valid_to is not None
        assert parse_stored_time(fact.valid_from) < parse_stored_time(fact.valid_to)
    assert set(memory.stats()["counters"]) <= {"facts_without_claims"}  # no failure
