"""Finding names without a model: capitalised runs, acronyms, known names, in order of
first appearance, deduplicated by a case- and accent-folded key."""

from __future__ import annotations

import doctest
import time
from collections.abc import Collection

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memstrata.form import entities as module
from memstrata.form.entities import entity_key, find_entities

CASES: list[tuple[str, Collection[str], list[str]]] = [
    ("I went to the LGBTQ support group with Caroline yesterday.", (), ["LGBTQ", "Caroline"]),
    # a sentence-initial word needs confirmation: known, a following capital, or a
    # possessive, or a capitalised mention elsewhere
    ("Caroline went to the support group.", (), []),
    ("Caroline went to the support group.", ("Caroline",), ["Caroline"]),
    ("Caroline went home. Later I called Caroline.", (), ["Caroline"]),
    ("Caroline's trip was lovely.", (), ["Caroline"]),
    ("Hey Mel! How was Paris?", (), ["Mel", "Paris"]),
    ("Thanks, Mel! The Beatles were amazing at Madison Square Garden.", (),
     ["Mel", "Beatles", "Madison Square Garden"]),
    ("What did Caroline research? She looked at agencies in NYC.", (), ["Caroline", "NYC"]),
    # multi-word names, connectors, initials, titles
    ("We finally visited New York and saw Harry Potter on stage.", (),
     ["New York", "Harry Potter"]),
    ("Yesterday Mel and I went to the Bank of America tower in St. Louis.", (),
     ["Mel", "Bank of America", "St. Louis"]),
    ("I met J. K. Rowling at a signing!", (), ["J. K. Rowling"]),
    ("Mr. Smith moved to the U.S. last year.", (), ["Smith", "U.S."]),
    ("I read The Lord of the Rings twice.", (), ["Lord of the Rings"]),
    ("We celebrated the Fourth of July at the beach.", (), ["Fourth of July"]),
    ("Visited New York with Jon.", (), ["New York", "Jon"]),
    # possessives stripped; a possessive ends the name
    ("Jon's sister Gina loves Caroline's paintings.", (), ["Jon", "Gina", "Caroline"]),
    ("We stayed at Caroline’s place.", (), ["Caroline"]),
    # function words, greetings, weekdays and months are not names
    ("On Monday I saw Mel, and in March we both saw Jon.", (), ["Mel", "Jon"]),
    ("Wow, I LOVE IT SO MUCH!", (), []),
    ("Oh my God, Yeah, Thanks So Much!", (), []),
    ("Last Friday Mel brought her dog.", (), ["Mel"]),
    # known names: case-insensitive whole words, canonical spelling, common words guarded
    ("mel and I went to the park", ("Mel",), ["Mel"]),
    ("I bumped into MEL at the store", ("Mel",), ["Mel"]),
    ("Melanie met Mel at the gym.", ("Mel", "Melanie"), ["Melanie", "Mel"]),
    ("I will ask Will about it.", ("Will",), ["Will"]),
    ("We saw Mel Smith there.", ("Mel",), ["Mel Smith", "Mel"]),
    ("zoë and Zoe's cat", ("Zoë",), ["Zoë"]),
    ("We hiked with Émile near Lake Tahoe 😊 so fun.", (), ["Émile", "Lake Tahoe"]),
    ("new york is big, paris too", (), []),
    ("", ("Mel",), []),
]  # fmt: skip


@pytest.mark.parametrize(("text", "known", "expected"), CASES)
def test_find_entities(text: str, known: Collection[str], expected: list[str]) -> None:
    assert find_entities(text, known) == expected


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Caroline's", "caroline"),
        ("CAROLINE", "Caroline"),
        ("Zoë", "zoe"),
        ("José’s", "jose"),
        ("J.K. Rowling", "j. k.  rowling"),
        ("Jean-Luc", "jean luc"),
        ("  New   York ", "new york"),
    ],
)
def test_entity_key_folds_case_accents_possessives_and_spacing(a: str, b: str) -> None:
    assert entity_key(a) == entity_key(b)


def test_entity_key_keeps_different_names_apart() -> None:
    assert entity_key("Mel") != entity_key("Melanie")
    assert entity_key("") == ""


def test_known_names_are_used_only_when_they_are_strings() -> None:
    weird: list[object] = ["", "   ", None, 3, "Mel"]
    assert find_entities("mel is here", weird) == ["Mel"]  # type: ignore[arg-type]


def test_results_follow_first_appearance_and_are_deduplicated() -> None:
    text = "Jon called Mel. Later mel and JON met Mel's friend Gina in Boston."
    assert find_entities(text, ["Mel", "Jon"]) == ["Jon", "Mel", "Gina", "Boston"]


@pytest.mark.parametrize(
    "text",
    [
        "A" * 300_000,
        "Ab " * 100_000,
        "J. " * 100_000,
        "“" * 300_000,
        "\n" * 300_000,
        "I met Mel in New York. My dog Max, e.g. the U.S. champ, ran 3.5 miles 😊 " * 3_000,
    ],
    ids=["one-word", "caps", "initials", "quotes", "newlines", "prose"],
)
def test_large_and_pathological_input_is_fast(text: str) -> None:
    started = time.perf_counter()
    names = find_entities(text, ["Mel", "Caroline"])
    assert time.perf_counter() - started < 5.0
    assert all(len(n) < 400 for n in names)  # names stay name-sized


def test_handles_invalid_surrogates() -> None:
    assert find_entities("I met \ud800 mel in \udfff Paris.", ["Mel"]) == ["Mel", "Paris"]
    assert entity_key("\ud800Zoë") == "zoe"


@settings(max_examples=300, deadline=None)
@given(st.text(), st.lists(st.text(max_size=10), max_size=4))
def test_never_raises_and_returns_distinct_names(text: str, known: list[str]) -> None:
    names = find_entities(text, known)
    keys = [entity_key(n) for n in names]
    assert len(set(keys)) == len(keys)
    assert all(n and n == n.strip() for n in names)


NAME_WORDS = st.sampled_from(
    "Caroline Mel mel Jon's New York NYC LGBTQ U.S. the I My Hey Wow . ! ? , went to "
    "with and Monday March 😊 Dr. J. K. Rowling of".split()
)


@settings(max_examples=300, deadline=None)
@given(st.lists(NAME_WORDS, max_size=30))
def test_every_name_comes_from_the_text(words: list[str]) -> None:
    text = " ".join(words)
    for name in find_entities(text, ["Mel"]):
        assert name.lower() in text.lower()
        assert not name.endswith(("'s", "’s", ",", "!", "?"))


def test_docstring_examples() -> None:
    assert doctest.testmod(module).failed == 0
