"""Reading claims from statements, and the pure supersession and duplicate decisions."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memstrata.form.claims import (
    ASSERTING,
    Claim,
    answer_claim,
    claims_of,
    lemma,
    read_claim,
    read_claims,
)
from memstrata.form.dedup import duplicate, merged, normalised
from memstrata.form.supersede import Said, decide, same_value
from memstrata.types import Record, Scope

STANCES = {"state", "change", "ended", "past", "hypothetical", "negated", "event"}


@pytest.mark.parametrize(
    ("text", "subject", "slot", "value", "stance"),
    [
        ("Alice moved to Porto last week.", "alice", "move to", "Porto", "change"),
        ("Alice lives in Lisbon.", "alice", "live in", "Lisbon", "state"),
        ("Alice's phone is a Fairphone 4.", "alice", "phone", "Fairphone 4", "state"),
        ("Alice has been living in Oslo for years.", "alice", "live in", "Oslo", "state"),
        ("Alice is dating Mira.", "alice", "date", "Mira", "state"),
        ("Alice's sister Clara lives in Oslo.", "alice's sister clara", "live in", "Oslo",
         "state"),
        ("Alice used to live in Lyon.", "alice", "used to", "live in Lyon", "past"),
        ("Alice would love to move to Kyoto someday.", "alice", "love to", "move to Kyoto",
         "hypothetical"),
        ("Alice doesn't live in Lisbon anymore.", "alice", "live in", "Lisbon", "ended"),
        ("Alice watched a film about whales last night.", "alice", "watch", "film about whales",
         "event"),
        ("Alice does not eat meat.", "alice", "eat", "meat", "negated"),
        ("We relocated to Hanoi.", "alice", "relocate to", "Hanoi", "change"),
    ],
)  # fmt: skip
def test_read_claim(text: str, subject: str, slot: str, value: str, stance: str) -> None:
    assert read_claim(text, "Alice") == Claim(subject, slot, value, stance)


def test_claims_need_a_subject_and_questions_make_none() -> None:
    assert read_claim("Where does Alice live?", "Alice") is None
    assert read_claim("Lots of rain lately.", "Alice") is None
    # No subject before the verb, but the speaker is named: about them, no slot.
    claim = read_claim("Lots of calls from Alice's bank lately.", "Alice")
    assert claim == Claim("alice", "", "", "state") and not claim.asserts
    # Without a speaker name, "I" is the speaker.
    assert read_claim("I moved to Porto.", None) == Claim("i", "move to", "Porto", "change")


def test_speech_that_drops_its_subject_is_about_the_speaker() -> None:
    claim = read_claim("Setting up the Fairphone took me all evening.", "Alice")
    assert (claim.subject, claim.slot, claim.stance) == ("alice", "set up", "state")
    assert claim.value.startswith("Fairphone")
    assert read_claim("Still figuring out the Subaru.", "Alice").subject == "alice"
    assert read_claim("Bought a new mug.", "Alice").stance == "event"


def test_instructions_and_sentence_starters_claim_nothing() -> None:
    # A verb in its base form begins an instruction, and a capital first word is
    # not a name unless the name is known.
    assert read_claim("Implement user login.", "Alice") is None
    assert read_claim("Ensure your index covers the query.", None) is None
    assert read_claim("Here's how you can run it.", None) is None
    assert read_claim("Let's review your code.", None) is None
    assert read_claim("Tom lives in Oslo.", "Alice") is None
    assert read_claim("Tom lives in Oslo.", "Alice", ["Tom"]) == Claim(
        "tom", "live in", "Oslo", "state"
    )


def test_attempts_and_needs_are_no_values() -> None:
    assert read_claim("I'm trying to learn Polish.", "Alice").stance == "hypothetical"
    assert read_claim("I need to fix the login page.", "Alice").stance == "hypothetical"


def test_a_statement_of_two_clauses_gives_two_claims() -> None:
    claims = read_claims("Alice doesn't live in Lisbon anymore, Alice is in Porto now.", "Alice")
    assert [(c.value, c.stance) for c in claims] == [("Lisbon", "ended"), ("Porto", "change")]


def test_a_short_answer_takes_its_slot_from_the_question() -> None:
    claim = answer_claim("Which city is Alice in at the moment?", "Galway, for now.", "Alice")
    assert claim == Claim("alice", "city", "Galway", "change")  # "now": a change
    assert answer_claim("So where is Alice living these days?", "Oh, Alice is in Porto now.",
                        "Alice") == Claim("alice", "live", "Porto", "change")  # fmt: skip
    assert answer_claim("Alice likes tea.", "Galway.", "Alice") is None  # not a question
    assert answer_claim("Which city?", "Bob lives in Rome.", "Alice", ["Bob"]) is None  # Bob


def test_lemma() -> None:
    pairs = {"moved": "move", "relocated": "relocate", "studies": "study", "stopped": "stop",
             "living": "live", "has": "have", "went": "go", "works": "work"}  # fmt: skip
    assert {w: lemma(w) for w in pairs} == pairs


def test_claims_of_skips_malformed_entries() -> None:
    fact = Record(id="f", kind="fact", text="x", scope=Scope(), occurred_at="t",
                  recorded_at="t", metadata={"claims": [
                      {"subject": "a", "slot": "live in", "value": "Rome", "stance": "state"},
                      {"subject": 3}, "junk",
                  ]})  # fmt: skip
    assert claims_of(fact) == [Claim("a", "live in", "Rome", "state")]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300), st.one_of(st.none(), st.text(max_size=20)))
def test_reading_never_raises_and_gives_known_stances(text: str, speaker: str | None) -> None:
    for claim in read_claims(text, speaker):
        assert claim.stance in STANCES
        assert isinstance(claim.subject, str) and claim.subject


# ------------------------------------------------------------- supersession

OLD = Said("1", Claim("alice", "live in", "Lisbon", "state"), "2025-01-10T00:00:00.000000Z")
NEW = Said("2", Claim("alice", "move to", "Porto", "change"), "2025-03-02T00:00:00.000000Z")


def test_a_newer_value_of_the_same_attribute_supersedes() -> None:
    decision = decide(OLD, NEW, similarity=0.7, threshold=0.65)
    assert decision.supersedes
    assert "'Lisbon' -> 'Porto'" in decision.reason


@pytest.mark.parametrize(
    ("older", "newer", "similarity", "why"),
    [
        (OLD, NEW, 0.5, "another attribute"),
        (NEW, OLD, 0.9, "not said later"),
        (OLD, Said("2", Claim("alice's sister", "live in", "Oslo", "state"), NEW.at), 0.9,
         "another subject"),
        (OLD, Said("2", Claim("alice", "move to", "Lisbon", "change"), NEW.at), 0.9,
         "the same value"),
        (OLD, Said("2", Claim("alice", "love to", "move to Kyoto", "hypothetical"), NEW.at), 0.9,
         "asserts no current value"),
        (Said("1", Claim("alice", "used to", "live in Lyon", "past"), OLD.at), NEW, 0.9,
         "asserts no current value"),
        (OLD, Said("2", Claim("alice", "watch", "film", "event"), NEW.at), 0.9,
         "asserts no current value"),
    ],
)  # fmt: skip
def test_what_never_supersedes(older: Said, newer: Said, similarity: float, why: str) -> None:
    decision = decide(older, newer, similarity, threshold=0.65)
    assert not decision.supersedes
    assert why in decision.reason


def test_an_ended_claim_ends_its_own_value_only() -> None:
    ended = Said("2", Claim("alice", "live in", "Lisbon", "ended"), NEW.at)
    assert decide(OLD, ended, similarity=0.1).supersedes
    other = Said("2", Claim("alice", "live in", "Rome", "ended"), NEW.at)
    assert not decide(OLD, other, similarity=0.99).supersedes


def test_same_value() -> None:
    assert same_value("vegan diet", "Vegan")
    assert same_value("the Realme 11", "Realme 11")
    assert not same_value("Realme 11", "Realme 12")
    assert not same_value("Lisbon", "Porto")


WORDS = st.sampled_from(["alice", "bob", "alice's sister", "i"])
CLAIMS = st.builds(Claim, WORDS, st.sampled_from(["live in", "phone", ""]),
                   st.sampled_from(["Lisbon", "Porto", "vegan diet", "vegan", ""]),
                   st.sampled_from(sorted(STANCES)))  # fmt: skip
TIMES = st.sampled_from(["2025-01-01", "2025-02-01", "2025-03-01"])


@settings(max_examples=500, deadline=None)
@given(CLAIMS, CLAIMS, TIMES, TIMES, st.floats(0, 1))
def test_decision_properties(a: Claim, b: Claim, ta: str, tb: str, sim: float) -> None:
    decision = decide(Said("1", a, ta), Said("2", b, tb), sim, threshold=0.65)
    if decision.supersedes:
        assert tb > ta and a.subject == b.subject  # later, and about the same subject
        assert a.stance in ASSERTING and a.value  # the older asserted a value
        if b.stance == "ended":
            assert same_value(a.value, b.value)
        else:
            assert b.stance in ASSERTING and not same_value(a.value, b.value) and sim >= 0.65
    # Never both ways; and the same inputs, the same decision.
    assert not (decision.supersedes and decide(Said("2", b, tb), Said("1", a, ta), sim).supersedes)
    assert decide(Said("1", a, ta), Said("2", b, tb), sim, threshold=0.65) == decision


# ----------------------------------------------------------------- duplicates


def _fact(text: str, turn: str, speaker: str = "Alice", **kw: object) -> Record:
    return Record(id=f"f-{turn}", kind="fact", text=text, scope=Scope(), speaker=speaker,
                  occurred_at=f"2025-01-0{turn}", recorded_at="t", source_ids=[turn],
                  **kw)  # type: ignore[arg-type]  # fmt: skip


def test_duplicates() -> None:
    assert normalised("  Alice LOVES pottery!! ") == "alice loves pottery"
    a, b = _fact("Alice loves pottery.", "1"), _fact("alice loves pottery!", "2")
    assert duplicate(a, b, similarity=0.5)
    assert duplicate(a, _fact("Alice adores pottery.", "2"), similarity=0.98)
    assert not duplicate(a, _fact("Alice loved pottery.", "2"), similarity=0.9)
    assert not duplicate(a, _fact("Alice loves pottery.", "2", speaker="Bob"), similarity=1.0)
    assert not duplicate(a, _fact("Alice loves pottery.", "1"), similarity=1.0)  # same turn
    twice = merged(merged(a, b), _fact("Alice loves pottery", "3"))
    assert twice.source_ids == ["1", "2", "3"]
    assert twice.metadata == {"mentions": 3, "last_seen": "2025-01-03"}
