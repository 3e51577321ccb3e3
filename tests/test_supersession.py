"""Facts that supersede older facts, `as_of`, duplicates merged, through `Memory`
with the real packaged model (the decisions need real sentence vectors)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from memstrata import InvalidInput, Memory, Record

pytestmark = pytest.mark.model

JAN, FEB, MAR = "2025-01-10T10:00:00Z", "2025-02-10T10:00:00Z", "2025-03-10T10:00:00Z"


@pytest.fixture
def m(tmp_path: Path) -> Iterator[Memory]:
    with Memory(tmp_path / "m.db") as memory:
        yield memory


def say(m: Memory, text: str, at: str, session: str, **kw: Any) -> Record:
    [record] = m.add([{"content": text, "name": "Alice", "occurred_at": at}],
                     user_id="alice", session_id=session, **kw)  # fmt: skip
    return record


def facts(m: Memory, status: str) -> list[Record]:
    return m.list(user_id="alice", kinds=["fact"], statuses=[status]).records


def moved(m: Memory) -> tuple[Record, Record, Record]:
    lisbon = say(m, "I live in Lisbon.", JAN, "s1")
    sister = say(m, "My sister lives in Oslo.", FEB, "s2")
    porto = say(m, "I moved to Porto last week.", MAR, "s3")
    return lisbon, sister, porto


def test_a_newer_value_supersedes_the_older_and_history_says_why(m: Memory) -> None:
    lisbon, _, porto = moved(m)
    [old] = facts(m, "superseded")
    assert old.source_ids == [lisbon.id] and "Lisbon" in old.text
    assert old.valid_to is not None and old.valid_to[:10] == "2025-03-03"  # "last week"
    note = old.metadata["superseded"]
    assert note["turn"] == porto.id and "'Lisbon' -> 'Porto'" in note["reason"]
    ops = [h.op for h in m.history(old.id, user_id="alice")]
    assert ops == ["add", "supersede"]
    # The turn itself stays as stored; the sister's city supersedes nothing.
    assert m.get(lisbon.id, user_id="alice").status == "active"
    assert all("Oslo" not in f.text for f in facts(m, "superseded"))


def test_search_prefers_the_present_and_finds_the_past(m: Memory) -> None:
    lisbon, _, porto = moved(m)
    now = m.search("Where does alice live now?", user_id="alice", k=3)
    assert [h.record.id for h in now][:2] == [porto.id, lisbon.id]
    assert now[1].until is not None and now[0].until is None
    before = m.search("Where did alice live before Porto?", user_id="alice", k=3)
    assert before[0].record.id == lisbon.id
    then = m.search("Where did alice live?", user_id="alice", k=3, as_of=FEB)
    assert porto.id not in [h.record.id for h in then]
    assert then[0].record.id == lisbon.id and then[0].until is None  # it held then


def test_context_marks_what_stopped_being_true(m: Memory) -> None:
    moved(m)
    text = m.context("Where does alice live?", user_id="alice", budget_tokens=300).text
    lisbon_line = next(line for line in text.splitlines() if "Lisbon" in line)
    assert lisbon_line.endswith("(until 3 March 2025)")
    assert text.index("Porto") < text.index("Lisbon")
    old = m.context("Where does alice live?", user_id="alice", budget_tokens=300, as_of=FEB)
    assert "Porto" not in old.text and "(until" not in old.text


def test_deleting_the_newer_fact_restores_the_older(m: Memory) -> None:
    _, _, porto = moved(m)
    m.delete(porto.id, user_id="alice")
    assert facts(m, "superseded") == []
    lisbon = next(f for f in facts(m, "active") if "Lisbon" in f.text)
    assert lisbon.valid_to is None and "superseded" not in lisbon.metadata
    assert [h.op for h in m.history(lisbon.id, user_id="alice")][-1] == "restore"
    assert m.search("Where does alice live now?", user_id="alice", k=1)[0].until is None


def test_purging_the_newer_turn_restores_the_older_too(m: Memory) -> None:
    _, _, porto = moved(m)
    m.purge(porto.id, user_id="alice")
    assert facts(m, "superseded") == []


def test_events_and_other_people_never_supersede(m: Memory) -> None:
    say(m, "I watched a documentary about whales last night.", JAN, "s1")
    say(m, "I watched a documentary about sharks last night.", FEB, "s2")
    say(m, "My brother works as a nurse.", JAN, "s3")
    say(m, "I work as a chef.", FEB, "s4")
    say(m, "I might move to Kyoto someday.", MAR, "s5")
    assert facts(m, "superseded") == []


def test_the_same_statement_three_times_is_one_fact_and_one_hit(m: Memory) -> None:
    turns = [say(m, "I adopted a beagle named Rex. He loves the park.", at, f"s{i}")
             for i, at in enumerate((JAN, FEB, MAR))]  # fmt: skip
    [rex] = [f for f in facts(m, "active") if "Rex" in f.text]
    assert rex.source_ids == [t.id for t in turns]
    assert rex.metadata["mentions"] == 3 and rex.metadata["last_seen"].startswith("2025-03-10")
    hits = m.search("what dog does alice have?", user_id="alice", k=5)
    assert sum("beagle" in h.record.text for h in hits) == 1
    assert hits[0].sources["duplicates"]["count"] == 2
    # Every turn is kept as stored; deleting one that repeats leaves the fact.
    assert all(m.get(t.id, user_id="alice").status == "active" for t in turns)
    assert m.stats(user_id="alice")["counters"]["facts_merged"] == 4  # 2 statements, twice


def test_switches_turn_each_mechanism_off(tmp_path: Path) -> None:
    with Memory(tmp_path / "off.db", settings={"supersede": False, "dedup": False}) as m:
        moved(m)
        say(m, "I adopted a beagle named Rex. He loves the park.", JAN, "s8")
        say(m, "I adopted a beagle named Rex. He loves the park.", FEB, "s9")
        assert facts(m, "superseded") == []
        assert sum("Rex" in f.text for f in facts(m, "active")) == 2


def test_unreadable_statements_stay_ordinary_facts_and_are_counted(m: Memory) -> None:
    say(m, "Lots of rain lately. The garden loves it, honestly.", JAN, "s1")
    assert facts(m, "active")
    assert m.stats(user_id="alice")["counters"]["facts_without_claims"] >= 1


def test_a_bad_as_of_is_refused_and_nothing_is_lost(m: Memory) -> None:
    moved(m)
    for bad in ("soon", 42, "2025-13-01"):
        with pytest.raises(InvalidInput, match="as_of"):
            m.search("where?", user_id="alice", as_of=bad)
        with pytest.raises(InvalidInput, match="as_of"):
            m.context("where?", user_id="alice", as_of=bad)
    assert len(m.list(user_id="alice", kinds=["event"]).records) == 3


def test_as_of_for_flat_strategies_counts_what_held_then(m: Memory) -> None:
    moved(m)
    for strategy in ("hybrid", "dense"):
        hits = m.search("Lisbon", user_id="alice", kinds=["fact"], strategy=strategy, as_of=FEB)
        assert any("Lisbon" in h.record.text for h in hits)  # superseded later: held then
        now = m.search("Lisbon", user_id="alice", kinds=["fact"], strategy=strategy)
        assert not any("Lisbon" in h.record.text for h in now)


def test_a_profile_shows_current_values_and_keeps_the_old_in_history(m: Memory) -> None:
    say(m, "I live in Lisbon.", JAN, "s1")
    say(m, "I work as a nurse at the city hospital.", JAN, "s2")
    say(m, "My favourite food is grilled sardines.", FEB, "s3")
    before = m.list(user_id="alice", kinds=["profile"]).records
    assert any("Lisbon" in p.text for p in before)
    say(m, "I moved to Porto last week.", MAR, "s4")
    [profile] = [p for p in m.list(user_id="alice", kinds=["profile"]).records
                 if p.metadata.get("entity") == "alice"]  # fmt: skip
    assert "Porto" in profile.text and "Lisbon" not in profile.text
    older = [h.before for h in m.history(profile.id, user_id="alice") if h.before]
    assert any("Lisbon" in str(b.get("text")) for b in older)


def test_an_entity_whose_facts_are_all_superseded_in_one_add_forms_no_profile(
    m: Memory,
) -> None:
    texts = ["I live in Oslo.", "I work in Oslo.", "I swim in Oslo.",
             "I live in Bergen.", "I work in Bergen.", "I swim in Bergen."]  # fmt: skip
    messages = [{"content": t, "name": "Alice", "occurred_at": f"2025-0{i + 1}-10"}
                for i, t in enumerate(texts)]  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a failed formation warns
        m.add(messages, user_id="alice", session_id="s1")
    assert m.stats()["counters"].get("formation_failures", 0) == 0
    assert len([f for f in facts(m, "superseded") if "Oslo" in f.text]) == 3
    profiles = m.list(user_id="alice", kinds=["profile"]).records
    assert not [p for p in profiles if p.metadata.get("entity") == "oslo"]


def test_a_question_naming_its_person_does_not_reward_every_turn_they_spoke(
    m: Memory,
) -> None:
    """Each of alice's turns matches her name, and her newest is about lessons: the
    name is left to the name boost (not full text, not the vector), and only values
    that could replace the best match's are ordered newest first."""
    for text in ("I moved to Lisbon in March, the light there is wonderful.",
                 "My sister Clara is visiting me next weekend.",
                 "I'm allergic to peanuts, so no satay for me.",
                 "Started learning Portuguese on Tuesdays and Thursdays."):  # fmt: skip
        m.add({"name": "alice", "content": text}, user_id="alice")
    m.add({"name": "bob", "content": "I just adopted a greyhound called Pixel."}, user_id="bob")
    hits = m.search("where does alice live?", user_id="alice", k=2)
    assert "Lisbon" in hits[0].record.text
    assert "bm25" not in hits[0].sources  # "alice" is no word to look for


def test_a_where_question_counts_back_to_a_named_place_said_without_one(m: Memory) -> None:
    """ "I'm with Bluepeak" names no place by its preposition, but its value is a name:
    it is what "where did alice work before Greenhollow Farms?" counts back to, and
    an activity taken up since ("started learning Portuguese") is not."""
    bluepeak = say(m, "I'm with Bluepeak Insurance these days.", JAN, "s1")
    say(m, "Work was hectic on Tuesday, glad it's over.", FEB, "s2")
    say(m, "I started a new job at Greenhollow Farms this week!", MAR, "s3")
    say(m, "Started learning Portuguese on Tuesdays and Thursdays.", MAR, "s4")
    hits = m.search("Where did alice work before Greenhollow Farms?", user_id="alice", k=3)
    assert hits[0].record.id == bluepeak.id


def test_rivals_of_the_present_match_a_share_of_the_best_not_within_a_fixed_gap() -> None:
    """When every match is weak, a fixed gap of cosine would let anything the person
    said take the top ("I started a puzzle" for "how was emil eating?"); a rival must
    match at least 1 - margin of what the best match does."""
    from memstrata.form.claims import Claim
    from memstrata.retrieve import present

    def said(key: str, match: float, at: str, slot: str) -> present.Candidate:
        claim = Claim("emil", slot, "something", "change")
        return present.Candidate(key, match, match, at, "emil", [claim])  # ranked by match

    def first(candidates: list[present.Candidate]) -> str:
        scores = present.order(candidates, frozenset({"emil"}), margin=0.4)
        return max(scores, key=lambda key: scores[key])

    weak = [said("plant-based", 0.27, "2023-04-10", "switch"),
            said("puzzle", 0.15, "2023-04-12", "start")]  # fmt: skip
    assert first(weak) == "plant-based"
    strong = [said("plant-based", 0.72, "2023-04-10", "switch"),
              said("vegan", 0.61, "2023-04-12", "go")]  # fmt: skip
    assert first(strong) == "vegan"  # the newer value, as good a match
