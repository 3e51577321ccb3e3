"""context(): a prompt-ready block that never exceeds its token budget."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memstrata import InvalidInput, Memory
from memstrata.ids import new_id
from memstrata.retrieve.context import assemble, estimate_tokens, excerpt
from memstrata.types import Record, Scope


def _record(text: str, speaker: str | None = "ann", day: int = 1) -> Record:
    at = f"2026-03-{day:02d}T10:00:00.000000Z"
    return Record(id=new_id(), kind="event", text=text, scope=Scope(), occurred_at=at,
                  recorded_at=at, speaker=speaker)  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(
    texts=st.lists(st.text(min_size=1, max_size=200), min_size=0, max_size=30),
    budget=st.integers(1, 800),
    exact=st.booleans(),
)
def test_never_over_budget(texts: list[str], budget: int, exact: bool) -> None:
    count = (lambda t: len(t.encode())) if exact else estimate_tokens
    records = [_record(t) for t in texts]
    ctx = assemble([("relevant", records[::2]), ("recent", records[1::2])], budget, count)
    assert count(ctx.text) <= budget if ctx.text else ctx.parts == []
    assert ctx.tokens <= budget
    assert [p.text for p in ctx.parts] == [ln for ln in ctx.text.splitlines() if ln[:1] == "-"]


def test_sections_order_dates_speakers_and_no_repeats() -> None:
    a, b, c = _record("alpha", day=3), _record("beta", "bob", day=1), _record("gamma", None, 2)
    ctx = assemble([("relevant", [a, b]), ("recent", [b, c])], 1000)
    assert ctx.text.splitlines() == [
        "Relevant memories:",
        "- [2026-03-03] ann: alpha",
        "- [2026-03-01] bob: beta",
        "Recent conversation:",
        "- [2026-03-02] gamma",
    ]
    assert [p.record_id for p in ctx.parts] == [a.id, b.id, c.id]
    assert ctx.parts[0].source_ids == [a.id]


def test_a_line_that_does_not_fit_is_skipped_not_cut() -> None:
    long, short = _record("word " * 300), _record("short one")
    ctx = assemble([("relevant", [long, short])], 40)
    assert [p.record_id for p in ctx.parts] == [short.id]
    assert assemble([("relevant", [long])], 5).text == ""


def test_memory_context_uses_search_and_the_session_tail(memory: Memory) -> None:
    memory.add("I adopted a greyhound named Pixel", user_id="u", session_id="old")
    memory.add(["we talk about the weather", "and about lunch"], user_id="u", session_id="now")
    memory.add("someone else's dog", user_id="v", session_id="x")
    ctx = memory.context("greyhound dog", user_id="u", session_id="now", budget_tokens=200)
    relevant = [p.text for p in ctx.parts if p.section == "relevant"]
    recent = [p.text for p in ctx.parts if p.section == "recent"]
    assert "greyhound" in relevant[0]
    assert all("someone else" not in p.text for p in ctx.parts)
    assert set(recent) <= {p.text for p in ctx.parts}
    assert len({p.record_id for p in ctx.parts}) == len(ctx.parts) == 3
    assert ctx.tokens <= 200
    words = memory.context("greyhound", user_id="u", budget_tokens=7,
                           token_counter=lambda t: len(t.split()))  # fmt: skip
    assert len(words.text.split()) <= 7


@pytest.mark.parametrize("budget", [0, -5, "100", 2_000_000, True])
def test_bad_budgets(memory: Memory, budget: object) -> None:
    with pytest.raises(InvalidInput, match="budget_tokens"):
        memory.context("x", budget_tokens=budget)  # type: ignore[arg-type]


def _statement(turn: Record, start: int, end: int) -> Record:
    return Record(id=new_id(), kind="fact", text=turn.text[start:end], scope=Scope(),
                  occurred_at=turn.occurred_at, recorded_at=turn.recorded_at,
                  source_ids=[turn.id], metadata={"span": [start, end]})  # fmt: skip


LONG = ("Hey Mel, it has been such a busy week with the kids and the new job! "
        "I finally went to the pottery workshop on Friday. "
        "[shared a photo: a photo of a bowl with a blue glaze on a wooden table]")  # fmt: skip


def test_a_long_turn_shows_the_sentences_that_matched_and_marks_what_it_leaves_out() -> None:
    turn = _record(LONG)
    start = LONG.index("I finally")
    end = LONG.index("[shared") - 1
    pottery, photo = _statement(turn, start, end), _statement(turn, end + 1, len(LONG))
    shown = excerpt(turn, [pottery], 1)
    assert shown.text == "… I finally went to the pottery workshop on Friday. …"
    assert shown.id == turn.id and turn.text == LONG  # the stored record is untouched
    # Two matching sentences side by side read as one; the turn's start is still cut.
    assert excerpt(turn, [photo, pottery], 2).text == "… " + LONG[start:]
    # Short turns, sentences=0, and statements of another turn (a merged repeat) or with
    # a span outside the turn leave the turn whole.
    short = _record("I finally went to the pottery workshop.")
    assert excerpt(short, [_statement(short, 0, 10)], 1) is short
    assert excerpt(turn, [pottery], 0) is turn
    other = _record(LONG)
    assert excerpt(turn, [_statement(other, start, end)], 1) is turn
    bad = _statement(turn, start, end)
    bad.metadata["span"] = [start, len(LONG) + 5]
    assert excerpt(turn, [bad], 1) is turn


def test_context_lines_of_long_turns_are_excerpts_that_name_their_turn(tmp_path: Path) -> None:
    filler = [f"note {i}: the weather was mild and the bus was on time again today."
              for i in range(3)]  # fmt: skip
    for sentences in (1, 0):
        with Memory(tmp_path / f"e{sentences}.db", embedder="hash",
                    excerpt_sentences=sentences) as m:  # fmt: skip
            [turn] = m.add({"name": "Ann", "content": LONG}, user_id="u")
            m.add(filler, user_id="u")
            ctx = m.context("who went to the pottery workshop?", user_id="u", budget_tokens=400)
            [part] = [p for p in ctx.parts if p.record_id == turn.id]
            assert part.source_ids == [turn.id]
            if sentences:
                assert "pottery workshop" in part.text and "[shared a photo" not in part.text
                assert "…" in part.text
            else:  # the whole turn (its relative times annotated)
                assert part.text.startswith("- [") and part.text.endswith(LONG[-40:])
                assert "…" not in part.text and LONG[:60] in part.text


pytestmark = pytest.mark.every_backend  # its `memory` tests run on SQLite and PostgreSQL
