"""Turning a chat turn into self-contained statements: sentence splitting, first and
second person resolved to the speaker and addressee, filler dropped, spans exact."""

from __future__ import annotations

import doctest
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memstrata.form import statements as module
from memstrata.form.statements import Statement, split_sentences, statements


def _sentences(text: str) -> list[str]:
    return [text[a:b] for a, b in split_sentences(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hi Mel! I researched adoption agencies. It was tough!",
         ["Hi Mel!", "I researched adoption agencies.", "It was tough!"]),
        ("Wait, what?! You went without me?",
         ["Wait, what?!", "You went without me?"]),
        ("I met Mr. Smith and Dr. Jones at the clinic.",
         ["I met Mr. Smith and Dr. Jones at the clinic."]),
        ("We moved to the U.S. in 2019. It was a big change.",
         ["We moved to the U.S. in 2019.", "It was a big change."]),
        ("I ran 3.5 miles at 6 a.m. before work.",
         ["I ran 3.5 miles at 6 a.m. before work."]),
        ("I got up at 6 a.m. Then I went for a run.",
         ["I got up at 6 a.m.", "Then I went for a run."]),
        ("I met J. K. Rowling once!", ["I met J. K. Rowling once!"]),
        ("We had a Plan B. It worked out fine.", ["We had a Plan B.", "It worked out fine."]),
        ("Bring snacks, e.g. chips or fruit, i.e. anything easy.",
         ["Bring snacks, e.g. chips or fruit, i.e. anything easy."]),
        ("I was like... well, maybe next time.", ["I was like... well, maybe next time."]),
        ("I don't know… Maybe tomorrow.", ["I don't know…", "Maybe tomorrow."]),
        ("Got the job 🎉 I start Monday!", ["Got the job 🎉", "I start Monday!"]),
        ("That's amazing! 😊😊 How did it go?", ["That's amazing! 😊😊", "How did it go?"]),
        ("Had fun today :) See you soon", ["Had fun today :)", "See you soon"]),
        ("I ❤️ New York so much", ["I ❤️ New York so much"]),
        ('She yelled "watch out!" and ran.', ['She yelled "watch out!" and ran.']),
        ('He said "I quit." Then he left.', ['He said "I quit."', "Then he left."]),
        ("first line\nsecond line\r\n\r\nthird", ["first line", "second line", "third"]),
        ("1. Buy milk\n2. Walk the dog", ["1. Buy milk", "2. Walk the dog"]),
        ("I went home.Then I slept.", ["I went home.", "Then I slept."]),
        ("Version 2.0 of the app is out", ["Version 2.0 of the app is out"]),
        ("  padded sentence.   ", ["padded sentence."]),
        ("", []),
        ("   \n\t ", []),
    ],
)  # fmt: skip
def test_split_sentences(text: str, expected: list[str]) -> None:
    assert _sentences(text) == expected


CASES: list[tuple[str, str | None, str | None, list[str]]] = [
    # the brief's example: first person becomes the speaker, the rest stays verbatim
    ("I researched adoption agencies. It was tough!", "Caroline", None,
     ["Caroline researched adoption agencies.", "It was tough!"]),
    ("I'm so excited about the new job!", "Caroline", None,
     ["Caroline is so excited about the new job!"]),
    ("I am pregnant!", "Caroline", None, ["Caroline is pregnant!"]),
    ("I’m pregnant!", "Caroline", None, ["Caroline is pregnant!"]),
    ("I've been painting since March.", "Mel", None, ["Mel has been painting since March."]),
    ("I'll bring the cake tomorrow.", "Mel", None, ["Mel will bring the cake tomorrow."]),
    # "I'd": had before a participle, would otherwise
    ("I'd been there before.", "Mel", None, ["Mel had been there before."]),
    ("I'd never tried sushi until then.", "Mel", None, ["Mel had never tried sushi until then."]),
    ("I'd love to visit Paris.", "Mel", None, ["Mel would love to visit Paris."]),
    ("I was nervous at first.", "Jon", None, ["Jon was nervous at first."]),
    ("I have two cats at home.", "Jon", None, ["Jon has two cats at home."]),
    ("I don't eat meat anymore.", "Jon", None, ["Jon doesn't eat meat anymore."]),
    ("I do not like crowds.", "Jon", None, ["Jon does not like crowds."]),
    ("I haven't seen it yet.", "Jon", None, ["Jon hasn't seen it yet."]),
    # other verbs are left as written (documented)
    ("I love hiking with my dog.", "Jon", None, ["Jon love hiking with Jon's dog."]),
    ("My sister lives in Boston.", "Caroline", None, ["Caroline's sister lives in Boston."]),
    ("That blue bike is mine.", "Caroline", None, ["That blue bike is Caroline's."]),
    ("Mine's the one by the window.", "Caroline", None, ["Caroline's is the one by the window."]),
    ("I bought it for myself.", "Caroline", None, ["Caroline bought it for Caroline."]),
    ("Mel gave me a great book.", "Caroline", None, ["Mel gave Caroline a great book."]),
    ("Mel and I have been friends forever.", "Caroline", None,
     ["Mel and Caroline have been friends forever."]),
    ("Mel and I've been friends forever.", "Caroline", None,
     ["Mel and Caroline have been friends forever."]),
    # "Me too!" and short reactions are filler
    ("Me too! I love that band.", "Caroline", None, ["Caroline love that band."]),
    ("Wow! Thanks! Haha. Cool. Bye! 😊", "Caroline", None, []),
    ("Thank you so much! That's so cool!", "Caroline", "Mel", []),
    ("Sooo cool, hahaha, thanks Mel!", "Caroline", "Mel", []),
    # second person becomes the addressee only when one is given
    ("You should try the pottery class.", "Caroline", "Mel",
     ["Mel should try the pottery class."]),
    ("You should try the pottery class.", "Caroline", None,
     ["You should try the pottery class."]),
    ("You're the best friend I have.", "Caroline", "Mel",
     ["Mel is the best friend Caroline has."]),
    ("You've always been there for me.", "Caroline", "Mel",
     ["Mel has always been there for Caroline."]),
    ("Your painting was in the show.", "Caroline", "Mel",
     ["Mel's painting was in the show."]),
    ("Are you guys coming to the party?", "Caroline", "Jon",
     ["Are you guys coming to the party?"]),
    # questions: flagged, with agreement after inversion
    ("What did you do last weekend?", "Caroline", "Mel", ["What did Mel do last weekend?"]),
    ("Do you still paint on Sundays?", "Caroline", "Mel", ["Does Mel still paint on Sundays?"]),
    ("Am I late for the meeting?", "Caroline", "Mel", ["Is Caroline late for the meeting?"]),
    ("Have you read World War I history?", "Caroline", "Mel",
     ["Has Mel read World War I history?"]),
    # quotes are someone else's words
    ('My mom said "I love you" to me.', "Caroline", None,
     ['Caroline\'s mom said "I love you" to Caroline.']),
    # idioms, emails, abbreviations and lower-case chat
    ("Oh my god, I got the job!", "Caroline", None, ["Oh my god, Caroline got the job!"]),
    ("My email is me@example.com if you need it.", "Caroline", None,
     ["Caroline's email is me@example.com if you need it."]),
    ("i went to the park with my dog, i.e. Max.", "Jon", None,
     ["Jon went to the park with Jon's dog, i.e. Max."]),
    ("Dr. Lee told me the results at 5 p.m. today.", "Jon", None,
     ["Dr. Lee told Jon the results at 5 p.m. today."]),
    ("I RAN 3.5 miles today!", "Jon", None, ["Jon RAN 3.5 miles today!"]),
    # a name ending in s, a name with an apostrophe: never "'s's"
    ("My car broke down again.", "James", None, ["James's car broke down again."]),
    ("My car broke down again.", "Jess'", None, ["Jess' car broke down again."]),
    ("No speaker here, I just talk about my day.", None, None,
     ["No speaker here, I just talk about my day."]),
    ("I went home.", "   ", None, ["I went home."]),
]  # fmt: skip


@pytest.mark.parametrize(("text", "speaker", "addressee", "expected"), CASES)
def test_statements(
    text: str, speaker: str | None, addressee: str | None, expected: list[str]
) -> None:
    result = statements(text, speaker, addressee)
    assert [s.text for s in result] == expected
    for s in result:
        assert text[s.start : s.end] == s.source


def test_statement_keeps_its_source_sentence_and_question_flag() -> None:
    text = "Hey Mel! Did you finish the mural? I'm going to the beach tomorrow."
    result = statements(text, "Caroline", "Mel")
    assert result == [
        Statement("Did Mel finish the mural?", "Did you finish the mural?", 9, 34, True),
        Statement(
            "Caroline is going to the beach tomorrow.",
            "I'm going to the beach tomorrow.", 35, 67, False,
        ),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "question"),
    [
        ("How did the adoption interview go?", True),
        ("How did the adoption interview go?! 😊", True),
        ("Did you get the tickets", True),  # chat often drops the "?"
        ("What a day it has been", False),
        ("I wonder what you think.", False),
        ('She asked "where were you?"', True),
    ],
)
def test_question_flag(text: str, question: bool) -> None:
    (s,) = statements(text, "Caroline", "Mel")
    assert s.question is question


def test_curly_apostrophes_are_kept_in_possessives() -> None:
    (s,) = statements("I’m bringing my sister’s car.", "James", None)
    assert s.text == "James is bringing James’s sister’s car."


def test_speaker_name_is_inserted_literally() -> None:
    (s,) = statements("I moved my things today.", r"A\1 \g<0>", None)
    assert s.text == r"A\1 \g<0> moved A\1 \g<0>'s things today."


@pytest.mark.parametrize(
    "text",
    [
        "wow" + "!" * 200_000 + "x",
        "a." * 100_000,
        "a" + " " * 200_000 + "b",
        "a" + "😊 " * 60_000 + "X",
        "“" * 200_000,
        "I " * 100_000,
        "do you " * 30_000,
        "!" + '"' * 200_000 + "x",
        "J. " * 60_000,
        ("I met Mel in New York. You'd love it! My dog ran 3.5 miles 😊 Then we left... ") * 2_500,
    ],
    ids=["bangs", "dots", "spaces", "emoji", "quotes", "I", "do-you", "closers", "initials",
         "prose"],
)  # fmt: skip
def test_large_and_pathological_input_is_fast(text: str) -> None:
    started = time.perf_counter()
    result = statements(text, "Caroline", "Mel")
    assert time.perf_counter() - started < 5.0  # linear: each is ~0.1-0.5 s here
    for s in result:
        assert text[s.start : s.end] == s.source


@settings(max_examples=300, deadline=None)
@given(
    st.text(),
    st.one_of(st.none(), st.text(max_size=12)),
    st.one_of(st.none(), st.text(max_size=12)),
)
def test_never_raises_and_spans_are_exact(
    text: str, speaker: str | None, addressee: str | None
) -> None:
    spans = split_sentences(text)
    previous_end = 0
    for a, b in spans:
        assert previous_end <= a < b <= len(text)
        assert text[a:b] == text[a:b].strip()
        previous_end = b
    for s in statements(text, speaker, addressee):
        assert (s.start, s.end) in spans
        assert text[s.start : s.end] == s.source
        assert s.text.strip()


CHAT_WORDS = st.sampled_from(
    "I I'm I've I'd me my mine Mine's myself you your yours you're we our . ! ? … , 's "
    "' ’ \" Mel Caroline loves the dog went home U.S. e.g. 3.5 😊 :) and Me too".split()
)


@settings(max_examples=300, deadline=None)
@given(st.lists(CHAT_WORDS, max_size=25), st.sampled_from(["Caroline", "James", "Jess'"]))
def test_never_doubles_a_possessive(words: list[str], speaker: str) -> None:
    text = " ".join(words)
    for s in statements(text, speaker, "Mel"):
        for bad in ("'s's", "’s’s", "'s’s", "’s's"):
            assert bad not in s.text or bad in s.source


@settings(max_examples=200, deadline=None)
@given(st.lists(CHAT_WORDS, max_size=25))
def test_without_names_the_text_is_unchanged(words: list[str]) -> None:
    text = " ".join(words)
    for s in statements(text, None, None):
        assert s.text == s.source


def test_docstring_examples() -> None:
    assert doctest.testmod(module).failed == 0
