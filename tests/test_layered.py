"""The layered search and query analysis: each mechanism does what it claims, and
switching it off (a setting) takes its effect away."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from memstrata import Memory, Record, Scope
from memstrata.ids import format_time
from memstrata.retrieve import layered
from memstrata.retrieve.query import analyse, names_match, question_kind

FILLER = [
    "the weather report mentions light rain over the harbour",
    "a new bakery opened near the station with sourdough",
    "train tickets are cheaper on tuesdays this season",
    "the museum extended its opening hours for the exhibition",
    "someone repainted the fence at the community garden",
    "the library is collecting old magazines for recycling",
    "our neighbour's cat sleeps on the warm car bonnet",
    "football practice moved to the indoor hall",
]


@pytest.mark.parametrize(
    ("query", "kind"),
    [
        ("When did Caroline go to the support group?", "when"),
        ("what year did she move?", "when"),
        ("How many kids does Melanie have?", "how_many"),
        ("Who supports Caroline?", "who"),
        ("Where did she move from?", "where"),
        ("What did Caroline research?", "what"),
        ("Did Melanie run a race?", "yes_no"),
        ("tell me about the trip", "other"),
    ],
)
def test_question_kind(query: str, kind: str) -> None:
    assert question_kind(query) == kind


def test_analysis_resolves_time_ranges_against_today() -> None:
    monday = date(2023, 5, 8)
    info = analyse("What did we do last weekend?", today=monday)
    assert info.time_range == (date(2023, 5, 6), date(2023, 5, 7))
    assert analyse("What did we do in May 2022?", monday).time_range == (
        date(2022, 5, 1),
        date(2022, 5, 31),
    )
    assert analyse("What does Caroline like?", monday).time_range is None
    assert analyse("what happened yesterday?", monday).time_only
    assert analyse("What did we talk about last week?", monday).time_only
    assert not analyse("Where did Caroline move from 4 years ago?", monday).time_only
    assert not analyse("What did Caroline like?", monday).time_only
    assert names_match(["Caroline"], analyse("What is Caroline's job?", monday).words)
    assert names_match(["Mary Ann"], analyse("did mary ann call", monday).words)
    assert not names_match(["Mary Ann"], analyse("did mary call", monday).words)


def ranks(m: Memory, query: str, **kw: object) -> list[str]:
    return [h.record.text for h in m.search(query, user_id="u", k=20, **kw)]


def test_hits_are_evidence_with_the_facts_that_matched(memory: Memory) -> None:
    memory.add(
        [{"name": "Ann", "content": "I adopted a greyhound yesterday. He is called Comet."}],
        user_id="u",
        session_id="s",
        occurred_at="2023-05-08T10:00:00Z",
    )
    memory.add(FILLER, user_id="u")
    [hit, *_] = memory.search("When did Ann adopt a greyhound?", user_id="u")
    assert hit.record.kind == "event" and hit.record.speaker == "Ann"
    assert {"bm25", "dense", "facts"} <= set(hit.sources)
    assert all(f.source_ids == [hit.record.id] for f in hit.facts)
    assert "Ann adopted a greyhound yesterday (7 May 2023)." in [f.text for f in hit.facts]
    # Derived facts never appear as hits of their own: each turn is listed once.
    texts = ranks(memory, "greyhound Comet")
    assert len(texts) == len(set(texts)) == len(FILLER) + 1


def test_naming_the_speaker_lifts_their_turns(db_path: Path) -> None:
    same = "I went hiking in the hills"
    turns = [{"name": "Bob", "content": same}, {"name": "Alice", "content": same}]
    gaps = {}
    for boost in (0.1, 0.0):
        with Memory(db_path.with_name(f"n{boost}.db"), embedder="hash", name_boost=boost) as m:
            added = m.add(turns, user_id="u")
            hits = m.search("Where did Alice go hiking?", user_id="u")
            assert {h.record.id for h in hits} == {a.id for a in added}
            # The speaker reaches full text and vectors either way; the boost adds to it.
            assert hits[0].record.speaker == "Alice"
            gaps[boost] = hits[0].score - hits[1].score
    assert gaps[0.1] > gaps[0.0] + 0.08


def test_an_answer_follows_its_question(db_path: Path) -> None:
    chat = [
        {"name": "Ann", "content": "What did you cook for the dinner party?"},
        {"name": "Bob", "content": "Mushroom risotto with thyme and parmesan"},
    ]
    found = {}
    for weight in (0.6, 0.0):
        with Memory(db_path.with_name(f"q{weight}.db"), embedder="hash",
                    neighbour_weight=weight, window_weight=0.0, window_text=0.0) as m:  # fmt: skip
            m.add(FILLER, user_id="u", session_id="other")
            m.add(chat, user_id="u", session_id="s")
            found[weight] = ranks(m, "what was cooked for the dinner party")
    assert found[0.6][:2] == [c["content"] for c in chat]
    assert found[0.0].index(chat[1]["content"]) > 1


@pytest.mark.model
def test_a_reply_is_read_with_the_turn_it_answers(db_path: Path) -> None:
    """ "Yes, last Friday!" shares no word with the question; its window with the
    turn before it does, and a window counts only within its session (the packaged
    model: the windows' cosines need real sentence vectors)."""
    chat = [
        {"name": "Ann", "content": "Did you finally go to the pottery workshop?"},
        {"name": "Bob", "content": "Yes, last Friday!"},
    ]
    found = {}
    for weight in (0.5, 0.0):
        with Memory(db_path.with_name(f"w{weight}.db"), neighbour_weight=0.0,
                    window_weight=weight, window_text=weight) as m:  # fmt: skip
            m.add(FILLER, user_id="u", session_id="other")
            m.add({"name": "Bob", "content": "Yes, of course"}, user_id="u", session_id="else")
            m.add(chat, user_id="u", session_id="s")
            hits = m.search("who went to the pottery workshop", user_id="u", k=20)
            found[weight] = [h.record.text for h in hits]
            if weight:
                reply = next(h for h in hits if h.record.text == chat[1]["content"])
                assert reply.sources["window"]["score"] > reply.sources["dense"]["score"]
    assert found[0.5][:2] == [c["content"] for c in chat]
    assert found[0.5].index("Yes, of course") > 2  # the same words, another session
    assert found[0.0].index(chat[1]["content"]) > 2


def test_a_persons_turn_is_not_read_with_the_reply_after_it_but_a_request_is(
    db_path: Path,
) -> None:
    """Between people, the reply after a turn is the other's own news ("How did the
    kids like it?" would borrow the answer's words); an assistant's reply restates
    what the user asked, so a user's turn is also read with it."""
    people = [
        {"name": "Ann", "content": "How did the kids like the museum?"},
        {"name": "Bob", "content": "They loved the dinosaur bones."},
    ]
    chat = [
        {"role": "user", "content": "Always show code with type hints."},
        {"role": "assistant", "content": "Understood: every snippet will carry type hints."},
    ]
    with Memory(db_path, embedder="hash", neighbour_weight=0.0) as m:
        m.add(people, user_id="u", session_id="s1")
        m.add(chat, user_id="u", session_id="s2")
        hits = {h.record.text: h for h in m.search("museum dinosaur bones", user_id="u")}
        assert "window" in hits[people[1]["content"]].sources  # read with the question
        assert "window" not in hits[people[0]["content"]].sources
        hits = {h.record.text: h for h in m.search("type hints in code", user_id="u")}
        assert "window" in hits[chat[0]["content"]].sources  # read with the reply


def test_time_in_the_question_prefers_memories_from_then(db_path: Path) -> None:
    now = datetime.now(timezone.utc)
    text = "we talked about the garden plans"
    for boost in (0.1, 0.0):
        with Memory(db_path.with_name(f"t{boost}.db"), embedder="hash", time_boost=boost,
                    dedup=False) as m:  # fmt: skip
            [old] = m.add(text, user_id="u", occurred_at=format_time(now - timedelta(days=90)))
            [recent] = m.add(text, user_id="u", occurred_at=format_time(now - timedelta(days=1)))
            hits = m.search("what did we discuss about the garden yesterday?", user_id="u",
                            now=now)  # fmt: skip
            if boost:
                assert [h.record.id for h in hits] == [recent.id, old.id]
            else:
                # The later copy is no novelty at all: its salience prior ranks it last.
                assert [h.record.id for h in hits] == [old.id, recent.id]


def test_a_questions_times_mean_the_memorys_own_time_unless_now_is_given(
    db_path: Path,
) -> None:
    """A conversation held in 2023 is asked about in 2023: "last week" is the week
    before its newest turn, not before today; `now=` says otherwise."""
    text = "we talked about the garden plans"
    with Memory(db_path, embedder="hash", dedup=False) as m:
        [april] = m.add(text, user_id="u", occurred_at="2023-04-05T10:00:00Z")
        [may] = m.add(text, user_id="u", occurred_at="2023-05-24T10:00:00Z")
        m.add("the weather was fine", user_id="u", occurred_at="2023-05-31T10:00:00Z")
        question = "what did we discuss about the garden last week?"
        assert m.search(question, user_id="u", k=1)[0].record.id == may.id
        asked = m.search(question, user_id="u", k=1, now="2023-04-12T09:00:00Z")
        assert asked[0].record.id == april.id
        # As the memory stood on 14 April, its newest turn was the April one.
        assert (
            m.search(question, user_id="u", k=1, as_of="2023-04-14T00:00:00Z")[0].record.id
            == april.id
        )
        ctx = m.context(question, user_id="u", now="2023-04-12T09:00:00Z", budget_tokens=30)
        assert ctx.parts[0].record_id == april.id


def test_filters_and_paging_hold_in_layered_search(db_path: Path) -> None:
    memory = Memory(db_path, embedder="hash", dedup=False)
    memory.add(FILLER, user_id="u", occurred_at="2023-01-01T00:00:00Z")
    memory.add(FILLER[:3], user_id="u", occurred_at="2024-01-01T00:00:00Z")
    memory.add(FILLER, user_id="other")
    every = memory.search("harbour bakery tickets", user_id="u", k=20)
    assert len(every) == len(FILLER) + 3
    assert {h.record.scope.user_id for h in every} == {"u"}
    late = memory.search("harbour bakery tickets", user_id="u", since="2023-06-01T00:00:00Z")
    assert {h.record.occurred_at[:4] for h in late} == {"2024"}
    first = memory.search("harbour bakery tickets", user_id="u", k=4)
    second = memory.search("harbour bakery tickets", user_id="u", k=4, offset=4)
    assert [h.record.id for h in first + second] == [h.record.id for h in every[:8]]
    memory.close()


def test_a_repeated_turn_is_one_hit(memory: Memory) -> None:
    memory.add(FILLER, user_id="u", occurred_at="2023-01-01T00:00:00Z")
    memory.add(FILLER[:3], user_id="u", occurred_at="2024-01-01T00:00:00Z")
    every = memory.search("harbour bakery tickets", user_id="u", k=20)
    assert sorted(h.record.text for h in every) == sorted(FILLER)
    assert sum(h.sources.get("duplicates", {}).get("count", 0) for h in every) == 3
    first = memory.search("harbour bakery tickets", user_id="u", k=4)
    second = memory.search("harbour bakery tickets", user_id="u", k=4, offset=4)
    assert [h.record.id for h in first + second] == [h.record.id for h in every[:8]]


def test_a_time_the_query_names_brings_memories_from_then(memory: Memory) -> None:
    now = datetime.now(timezone.utc)
    long_ago = format_time(now - timedelta(days=400))
    memory.add(FILLER, user_id="u", occurred_at=long_ago)
    [done] = memory.add(
        "repaired the bicycle chain and oiled the gears",
        user_id="u",
        occurred_at=format_time(now - timedelta(days=1)),
    )
    hits = memory.search("what happened yesterday?", user_id="u", k=3, now=now)
    assert hits[0].record.id == done.id  # no word in common: found through its time
    assert memory.search("what happened yesterday?", user_id="other") == []  # scoped


def test_hits_are_counted_only_when_asked(db_path: Path) -> None:
    with Memory(db_path, embedder="hash") as m:
        [a] = m.add("the harbour ferry leaves at noon", user_id="u")
        m.search("harbour ferry", user_id="u")
        assert m.get(a.id, user_id="u").hits == 0
    with Memory(db_path, embedder="hash", count_hits=True) as m:
        for strategy in ("layered", "hybrid"):
            m.search("harbour ferry", user_id="u", strategy=strategy)
        counted = m.get(a.id, user_id="u")
        assert counted.hits == 2 and counted.last_hit_at is not None
        assert counted.version == 1 and [e.op for e in m.history(a.id, user_id="u")] == ["add"]


def test_feedback_lifts_what_is_like_the_best_matches_not_merely_like_the_question() -> None:
    """Two list items match the question best; a third item is like them and unlike
    the question's words, a fourth shares only the question's words: moving the
    question toward its best matches puts the third above the fourth."""

    class Vectors:
        def __init__(self, rows: dict[str, list[float]]) -> None:
            self.rows = {k: np.array(v, dtype=np.float32) / np.linalg.norm(v)
                         for k, v in rows.items()}  # fmt: skip

        def vectors(self, ids: list[str]) -> dict[str, np.ndarray]:
            return {i: self.rows[i] for i in ids if i in self.rows}

    question = np.array([1.0, 0.0, 0.0], dtype=np.float32)
    store = Vectors({"camping": [0.8, 0.6, 0.0], "pottery": [0.8, 0.6, 0.1],
                     "swimming": [0.3, 0.9, 0.0], "wording": [0.5, 0.0, 0.9]})  # fmt: skip
    turn = Record("t", "event", "", Scope(), "2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z")
    scores = {"camping": 1.0, "pottery": 0.9, "swimming": 0.3, "wording": 0.33}
    for weight, order in ((0.0, ["wording", "swimming"]), (0.3, ["swimming", "wording"])):
        units = {u: layered.Evidence(turn, score=s) for u, s in scores.items()}
        if weight:
            layered._feedback(store, units, question, weight)
        assert sorted(["swimming", "wording"], key=lambda u: -units[u].score) == order
        assert max(units, key=lambda u: units[u].score) == "camping"


pytestmark = pytest.mark.every_backend  # its `memory` tests run on SQLite and PostgreSQL
