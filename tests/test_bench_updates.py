"""`memstrata bench updates`: the generator (deterministic per seed, two splits with no
template in common, questions whose labels point at turns that hold their answers,
dates that make sense), the suite's figures computed by hand on a tiny case, and a
short run end to end on the command line (embedder "hash")."""

from __future__ import annotations

import inspect
import itertools
import json
import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from memstrata import Memory
from memstrata.bench import updates_gen
from memstrata.bench.updates import run_updates, to_conversations, update_figures
from memstrata.bench.updates_gen import BACK_REFERENCE_DAYS, GenConversation, generate, pool_for
from memstrata.bench.updates_pool import CHAT_SLOTS, SLOTS, SPLITS, slot_names
from memstrata.errors import InvalidInput

VALUE_KINDS = ("state", "change", "negate", "indirect", "answer")


def _moment(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")


def _normalised(template: str) -> str:
    """A template with its slots and punctuation taken out, lower case: two templates
    that differ only there are the same template."""
    text = re.sub(r"\{[^}]*\}", " ", template.lower())
    return " ".join(re.sub(r"[^a-z0-9' ]+", " ", text).split())


# --------------------------------------------------------------- generator


def test_the_suite_is_the_same_for_a_seed_and_differs_across_seeds() -> None:
    first = generate(4, seed=3, split="dev")
    assert first == generate(4, seed=3, split="dev")
    assert generate(2, seed=3, split="dev") == first[:2]  # --people N is a prefix
    other = generate(4, seed=4, split="dev")
    assert [c.turns for c in other] != [c.turns for c in first]
    assert [c.id for c in generate(4, seed=3, split="test")] != [c.id for c in first]


def test_the_two_splits_share_no_template_value_or_name() -> None:
    dev, test = pool_for("dev"), pool_for("test")
    dev_templates = {t for _, t in dev.templates()}
    test_templates = {t for _, t in test.templates()}
    assert len(dev_templates) > 300 and len(test_templates) > 300
    assert not dev_templates & test_templates
    # Date formats are slots and little else: only sentences are compared without them.
    dev_words = {_normalised(t) for w, t in dev.templates() if not w.startswith("dates")}
    test_words = {_normalised(t) for w, t in test.templates() if not w.startswith("dates")}
    assert not dev_words & test_words
    for name in {a.key for a in dev.attributes} & {a.key for a in test.attributes}:
        dev_values = {v.lower() for a in dev.attributes if a.key == name for v in a.values}
        test_values = {v.lower() for a in test.attributes if a.key == name for v in a.values}
        assert not dev_values & test_values, name
    dev_names = set(dev.people) | {n for n, _ in dev.others}
    test_names = set(test.people) | {n for n, _ in test.others}
    assert not dev_names & test_names
    # Each split has an attribute the other lacks (to measure on an unseen one).
    assert {a.key for a in dev.attributes} ^ {a.key for a in test.attributes}


def test_generated_turns_and_questions_come_from_their_own_split_only() -> None:
    for split, other in (("dev", "test"), ("test", "dev")):
        own = {t for _, t in pool_for(split).templates()}
        foreign = {t for _, t in pool_for(other).templates()}
        for conv in generate(6, seed=1, split=split):
            used = {t.template for t in conv.turns} | {q.template for q in conv.questions}
            assert used <= own
            assert not used & foreign


@pytest.mark.parametrize("split", SPLITS)
def test_every_template_uses_only_its_slots_and_names_what_it_must(split: str) -> None:
    pool = pool_for(split)
    must = {**{kind: {"v", "a_v"} for kind in VALUE_KINDS}, "other": {"v", "a_v"},
            "plan": {"v", "a_v"}, "past": {"old", "a_old"}, "ask_before": {"v", "a_v"},
            "ask_at": {"when", "When"}, "ask_now": {"p"}}  # fmt: skip
    for attribute in pool.attributes:
        for kind, allowed in SLOTS.items():
            templates = attribute.templates(kind)
            assert len(templates) >= 2, (attribute.key, kind)
            for template in templates:
                names = slot_names(template)
                assert names <= allowed, (attribute.key, kind, template)
                if kind in must:
                    assert names & must[kind], (attribute.key, kind, template)
                if kind.startswith("ask"):
                    assert "p" in names, template
        assert len(attribute.values) >= 7, attribute.key  # 3 own values, spare distractors
    for kind, allowed in CHAT_SLOTS.items():
        for template in getattr(pool, kind):
            assert slot_names(template) <= allowed, (kind, template)


@pytest.mark.parametrize("split", SPLITS)
def test_no_value_contains_another_and_names_do_not_collide(split: str) -> None:
    """A turn that names one value must not look like it names another."""
    pool = pool_for(split)
    for attribute in pool.attributes:
        values = [v.lower() for v in attribute.values]
        assert len(set(values)) == len(values), attribute.key
        for a in values:
            for b in values:
                assert a == b or not re.search(rf"\b{re.escape(a)}\b", b), (a, b)
    partners = {v for a in pool.attributes if a.key == "partner" for v in a.values}
    others = {n for n, _ in pool.others}
    assert not partners & set(pool.people)
    assert not partners & others
    assert not others & set(pool.people)


def _check_question_labels(conv: GenConversation) -> None:
    turns = {t.id: t for t in conv.turns}
    assert len(turns) == len(conv.turns)  # ids are unique
    for q in conv.questions:
        assert conv.person.lower() in q.text.lower()
        history = q.history
        assert len(history) >= 2  # every attribute changes at least once
        for span, nxt in zip(history, [*history[1:], None]):
            turn = turns[span.turn]
            assert (turn.kind, turn.attribute, turn.value) == ("value", q.attribute, span.value)
            assert turn.speaker == conv.person and turn.role == "user"
            assert span.value.lower() in turn.text.lower()
            assert span.said_at == turn.at
            assert span.until == (nxt.said_at if nxt else None)
            if nxt is not None:
                assert _moment(nxt.said_at) - _moment(span.said_at) >= timedelta(days=21)
        assert len({s.value for s in history}) == len(history)
        target = turns[q.turn]
        assert q.value.lower() in target.text.lower() and target.speaker == conv.person
        assert q.value in [s.value for s in history]
        values = [s.value for s in history]
        if q.form == "current":
            assert (q.value, q.turn) == (history[-1].value, history[-1].turn)
            assert q.as_of is None
        elif q.form == "before":
            assert q.named_value is not None and q.named_value.lower() in q.text.lower()
            named = history[values.index(q.named_value)]
            assert values.index(q.named_value) == values.index(q.value) + 1
            assert q.as_of is None
            # the named value's turn counts as an answer exactly when it names the old one
            assert q.also == ((named.turn,) if named.names_previous else ())
            for turn_id in q.also:
                assert q.value.lower() in turns[turn_id].text.lower()
                assert turns[turn_id].previous == q.value
        else:
            assert q.form == "as_of" and q.as_of is not None and not q.also
            span = history[values.index(q.value)]
            assert span.until is not None  # asked about an older value
            at = _moment(q.as_of)
            assert at >= _moment(span.said_at) + timedelta(days=1)
            assert at <= _moment(span.until) - timedelta(days=BACK_REFERENCE_DAYS - 1)
        for turn_id in q.distractors:
            turn = turns[turn_id]
            assert turn.kind == "distractor" and turn.attribute == q.attribute
            assert turn.value is not None and turn.value.lower() in turn.text.lower()
            if turn.wording == "past":  # an old value, after it changed
                assert turn.value in values[:-1] and turn.speaker == conv.person
                assert turn.at > history[values.index(turn.value) + 1].said_at
            else:
                assert turn.value not in values
            if turn.wording == "friend":
                assert turn.speaker == conv.other and conv.other is not None


@pytest.mark.parametrize("split", SPLITS)
def test_every_question_names_turns_that_exist_and_hold_its_value(split: str) -> None:
    suite = generate(12, seed=7, split=split)
    forms = {q.form for c in suite for q in c.questions}
    assert forms == {"current", "before", "as_of"}
    for conv in suite:
        _check_question_labels(conv)


def test_the_suite_varies_wording_speakers_and_density() -> None:
    suite = generate(30, seed=0, split="dev")
    turns = [t for c in suite for t in c.turns]
    assert {t.wording for t in turns if t.kind == "value"} == set(VALUE_KINDS)
    assert {t.wording for t in turns if t.kind == "distractor"} == {"other", "friend", "plan",
                                                                     "past"}  # fmt: skip
    assert {c.density for c in suite} == set(updates_gen.DENSITIES)
    assert {c.other is None for c in suite} == {True, False}
    assert len({q.attribute for c in suite for q in c.questions}) == len(pool_for("dev").attributes)
    templates = {t.template for t in turns} | {q.template for c in suite for q in c.questions}
    assert len(templates) > 250


def test_sessions_are_days_apart_and_turns_move_forward() -> None:
    for conv in generate(5, seed=2, split="test"):
        times = [_moment(t.at) for t in conv.turns]
        assert times == sorted(times)
        starts: dict[str, datetime] = {}
        for turn, at in zip(conv.turns, times):
            starts.setdefault(turn.session, at)
        days = sorted(starts.values())
        assert len(days) >= 9
        assert all((b.date() - a.date()).days >= 2 for a, b in itertools.pairwise(days))
        assert days[-1] - days[0] >= timedelta(days=60)


def test_bad_options_are_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="split"):
        generate(1, split="train")
    with pytest.raises(ValueError, match="people"):
        generate(0)
    from memstrata.bench.model import RunConfig

    config = RunConfig(data=tmp_path, out=tmp_path / "out", embedder="hash")
    for kwargs, word in (({"people": 0}, "--people"), ({"split": "x"}, "--split"),
                         ({"seed": -1}, "--seed")):  # fmt: skip
        with pytest.raises(InvalidInput, match=word):
            run_updates(config, **kwargs)
    assert not (tmp_path / "out").exists()  # refused before anything ran


def test_only_words_speakers_roles_and_dates_are_input() -> None:
    suite = generate(2, seed=0, split="dev")
    for gen, conv in zip(suite, to_conversations(suite)):
        assert [t.metadata for t in conv.turns] == [{"turn_id": t.id} for t in gen.turns]
        assert {q.category for q in conv.questions} <= {"current", "before", "as_of"}
        for q in conv.questions:
            assert q.evidence == [q.extra["turn"]]
            assert q.extra["current_turn"] not in q.extra["older_turns"]


# ----------------------------------------------------------------- figures


def _row(form: str, ranked: Sequence[str], *, turn: str, current: str = "c",
         older: Sequence[str] = ("o",), distractors: Sequence[str] = (), attribute: str = "city",
         applied: bool | None = None, wording: str = "change",
         also: Sequence[str] = ()) -> dict[str, Any]:  # fmt: skip
    return {
        "ranked_turns": list(ranked),
        "as_of_applied": applied,
        "extra": {"form": form, "turn": turn, "answer_turns": [turn, *also],
                  "current_turn": current, "older_turns": list(older),
                  "distractor_turns": list(distractors),
                  "attribute": attribute, "current_wording": wording, "density": "dense",
                  "other_speaker": "friend"},
    }  # fmt: skip


def test_figures_by_hand_on_a_tiny_case() -> None:
    rows = [
        # current first, the older value second: above, at 1, within 5; a distractor below
        _row("current", ["c", "o", "x"], turn="c", distractors=["d"]),
        # a distractor first, the older value second, the current value sixth
        _row(
            "current", ["d", "o", "x", "y", "z", "c"], turn="c", distractors=["d"], attribute="job"
        ),
        # neither older value retrieved: the current value is above them
        _row("current", ["x", "c"], turn="c", older=["o1", "o2"], wording="negate"),
        # nothing retrieved: not above, not within 5
        _row("current", [], turn="c", attribute="job", wording="negate"),
        _row("before", ["c", "o"], turn="o"),
        _row("before", ["o"], turn="o", attribute="job"),
        # the named value's turn also names the older one ("I left o for c"): an answer
        _row("before", ["c", "x", "y", "z", "w", "o"], turn="o", also=["c"]),
        _row("as_of", ["o"], turn="o", applied=False),
    ]
    fig = update_figures(rows)
    assert fig["questions"] == 8
    assert fig["current"] == {"n": 4, "above_older": 0.5, "at_1": 0.25, "within_5": 0.5,
                              "with_distractors": 2, "distractor_above": 0.5}  # fmt: skip
    assert fig["before"] == {"n": 3, "older_at_1": 1 / 3, "older_within_5": 2 / 3,
                             "answer_within_5": 1.0}  # fmt: skip
    # search took no as_of: not applicable, counted, never zero
    assert fig["as_of"] == {"n": 1, "applied": 0, "not_applied": 1, "at_1": None,
                            "within_5": None}  # fmt: skip
    by = fig["by_attribute"]
    assert by["city"]["current"]["above_older"] == 1.0 and by["job"]["current"]["n"] == 2
    assert by["job"]["current"]["above_older"] == 0.0
    assert by["job"]["before"]["older_at_1"] == 1.0
    assert by["job"]["as_of"]["n"] == 0 and by["job"]["as_of"]["at_1"] is None
    assert fig["by_wording"]["negate"]["above_older"] == 0.5
    assert fig["by_wording"]["change"]["at_1"] == 0.5
    applied = update_figures([
        _row("as_of", ["o", "c"], turn="o", applied=True),
        _row("as_of", ["c", "x", "y", "z", "w", "o"], turn="o", applied=True),
    ])  # fmt: skip
    assert applied["as_of"] == {"n": 2, "applied": 2, "not_applied": 0, "at_1": 0.5,
                                "within_5": 0.5}  # fmt: skip


# ------------------------------------------------------------- end to end


def test_bench_updates_runs_on_the_command_line(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from typer.testing import CliRunner

    from memstrata.bench.cli import app

    out = tmp_path / "out"
    result = CliRunner().invoke(app, [
        "updates", "--people", "1", "--seed", "5", "--split", "test", "--embedder", "hash",
        "--strategy", "bm25,default", "--out", str(out), "--no-progress",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "knowledge updates (hash-64)" in result.output  # the suite's own table
    results = json.loads((out / "results.json").read_text())
    suite = generate(1, seed=5, split="test")
    asked = [q for c in suite for q in c.questions]
    assert results["n_questions"] == len(asked)
    assert results["data"]["generator"] == {"split": "test", "seed": 5, "people": 1}
    assert "--people 1 --seed 5 --split test" in results["command"]
    takes_as_of = "as_of" in inspect.signature(Memory.search).parameters
    for strategy in ("bm25", "default"):
        fig = results["by_strategy"][strategy]["figures"]
        assert fig["current"]["n"] == sum(q.form == "current" for q in asked)
        as_of = fig["as_of"]
        assert as_of["n"] == sum(q.form == "as_of" for q in asked)
        if takes_as_of:
            assert as_of["applied"] == as_of["n"] and as_of["at_1"] is not None
        else:
            assert as_of["not_applied"] == as_of["n"] and as_of["at_1"] is None
    assert results["figures"] == results["by_strategy"]["bm25"]["figures"]
    rows = [json.loads(line) for line in (out / "per_question.jsonl").read_text().splitlines()]
    assert len(rows) == 2 * len(asked)
    by_id = {q.id: q for q in asked}
    for row in rows:
        question = by_id[row["id"]]
        assert row["extra"]["turn"] == question.turn == row["evidence"][0]
        assert row["as_of"] == question.as_of
    # the figures in results.json are those of the rows written
    bm25 = [r for r in rows if r["strategy"] == "bm25"]
    assert update_figures(bm25) == results["by_strategy"]["bm25"]["figures"]
    markdown = (out / "results.md").read_text()
    assert "## Knowledge updates" in markdown and "### By attribute" in markdown
    if not takes_as_of:
        assert "not applied" in markdown
    assert (out / "updates.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = json.loads((out / "suite.json").read_text())
    assert [c["id"] for c in saved["conversations"]] == [c.id for c in suite]


def test_bench_updates_refuses_an_unknown_split(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from memstrata.bench.cli import app

    result = CliRunner().invoke(app, ["updates", "--split", "train", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "--split" in result.output and "dev, test" in result.output
    assert not (tmp_path / "results.json").exists()
