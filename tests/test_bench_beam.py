"""The BEAM benchmark: evidence parsing, both folder layouts, message dates, bad input,
the ability figures worked out by hand, and small end-to-end runs whose outputs must
agree with each other (embedder "hash", chats written by the tests)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("matplotlib")

from typer.testing import CliRunner

from memstrata.bench.abilities import (
    ability_figures,
    first_rank,
    kendall_tau,
    ordering_scores,
    parts_within,
    update_ranks,
)
from memstrata.bench.beam import (
    find_chats,
    load_beam,
    parse_anchor,
    parse_source_ids,
    run_beam,
)
from memstrata.bench.cli import app
from memstrata.bench.model import BenchDataError, RunConfig

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
DEV = Path("/work/shared/bench/beam-dev")
WORDS = ["pottery", "sailing", "chess", "gardening", "baking", "hiking",
         "fencing", "juggling", "origami", "surfing", "knitting"]  # fmt: skip


# ------------------------------------------------------------------ data


def _message(i: int, **extra: Any) -> dict[str, Any]:
    role = "user" if i % 2 == 0 else "assistant"
    text = f"Let us talk about {WORDS[i]} today, only {WORDS[i]}."
    return {"role": role, "id": i, "content": text, **extra}


def _chat() -> list[dict[str, Any]]:
    """Three batches: one dated by the batch, one by its first message (as in BEAM's
    100K chats), one not dated at all; the last message is blank."""
    return [
        {"batch_number": 1, "time_anchor": "March-15-2024",
         "turns": [[_message(0), _message(1)], [_message(2), _message(3)]]},
        {"batch_number": 2, "time_anchor": None,
         "turns": [[_message(4, time_anchor="April-02-2024"), _message(5)],
                   [_message(6), _message(7)]]},
        {"batch_number": 3, "time_anchor": None,
         "turns": [[_message(8), _message(9), {"role": "user", "id": 10, "content": "  "}]]},
    ]  # fmt: skip


def _questions() -> dict[str, list[dict[str, Any]]]:
    return {
        "abstention": [{"question": "What is my favourite colour?", "ideal_response": "none"}],
        "knowledge_update": [{"question": "How is chess, and hiking now?",
                              "source_chat_ids": {"original_info": [2], "updated_info": [5]}}],
        "contradiction_resolution": [{"question": "Did I ever do pottery or baking?",
                                      "source_chat_ids": {"first_statement": [0],
                                                          "second_statement": ["4"]}}],
        "event_ordering": [{"question": "In what order: juggling, pottery, chess, baking?",
                            "source_chat_ids": [7, 0, [2, 4], 2]}],
        "information_extraction": [{"question": "What about sailing?",
                                    "source_chat_ids": [1, 999, "x", True]}],
        "temporal_reasoning": [{"question": "When was origami?",
                                "source_chat_ids": {"first_event": [8], "second_event": [8]}}],
        "summarization": [{"question": "", "source_chat_ids": [1]}, "not a question"],
        "multi_session_reasoning": [{"question": "Anything on knitting?",
                                     "source_chat_ids": ["bad"]}],
        "preference_following": [{"question": "Suggest a surfing plan"}],
    }  # fmt: skip


def _write_chat(folder: Path, nested: bool) -> Path:
    folder.mkdir(parents=True)
    (folder / "chat.json").write_text(json.dumps(_chat()))
    target = folder / "probing_questions" if nested else folder
    target.mkdir(exist_ok=True)
    (target / "probing_questions.json").write_text(json.dumps(_questions()))
    # What the BEAM repository keeps beside a chat: never to be opened.
    (folder / "chat.pickle").write_bytes(b"\x80\x04not a pickle you should load")
    (folder / "chat_trunecated.json").write_text("{ not json")
    (folder / "labels.txt").write_text("answers")
    return folder


@pytest.fixture
def chats(tmp_path: Path) -> Path:
    """A root of chats in both layouts: 100K/2 (nested questions), 100K/10 (flat)."""
    root = tmp_path / "chats"
    _write_chat(root / "100K" / "10", nested=False)
    _write_chat(root / "100K" / "2", nested=True)
    return root


def _config(data: Path, out: Path, **kw: Any) -> RunConfig:
    kw.setdefault("embedder", "hash")
    kw.setdefault("progress", False)
    kw.setdefault("plots", False)
    kw.setdefault("budgets", (500, 4000))
    return RunConfig(data=data, out=out, **kw)


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


# ------------------------------------------------------------- evidence


def test_source_ids_as_a_list_or_a_dict_of_parts() -> None:
    ev = parse_source_ids([28, "29", 28])
    assert (ev.ids, ev.parts, ev.malformed, ev.duplicates) == (["28", "29"], None, [], 1)
    ev = parse_source_ids({"original_info": [86], "updated_info": [114, 115]})
    assert ev.parts == {"original_info": ["86"], "updated_info": ["114", "115"]}
    assert ev.ids == ["86", "114", "115"]
    ev = parse_source_ids({"first_statement": [66], "second_statement": [66]})
    assert ev.ids == ["66"]
    assert ev.parts == {"first_statement": ["66"], "second_statement": ["66"]}


def test_source_ids_nested_and_malformed_entries_are_counted() -> None:
    ev = parse_source_ids([116, [136, 138], "x", None, -1, True, 2.5])
    assert ev.ids == ["116", "136", "138"]
    assert ev.flattened == 1
    assert ev.malformed == ["'x'", "None", "-1", "True", "2.5"]
    assert parse_source_ids(None).ids == []
    assert parse_source_ids("12, 13").malformed == ["'12, 13'"]
    assert parse_source_ids({"first_event": "x"}).malformed == ["'x'"]


def test_anchor_dates() -> None:
    assert parse_anchor("March-15-2024").isoformat() == "2024-03-15T00:00:00+00:00"
    assert parse_anchor("Sep-01-2024").isoformat() == "2024-09-01T00:00:00+00:00"
    assert parse_anchor("2024-06-10").isoformat() == "2024-06-10T00:00:00+00:00"
    assert parse_anchor("someday") is None
    assert parse_anchor(None) is None


# ---------------------------------------------------------------- loading


def test_both_layouts_in_natural_order(chats: Path) -> None:
    found = find_chats(chats)
    assert [c.id for c in found] == ["100K-2", "100K-10"]
    assert found[0].questions == chats / "100K/2/probing_questions/probing_questions.json"
    assert found[1].questions == chats / "100K/10/probing_questions.json"
    one = find_chats(chats / "100K" / "10")
    assert [c.id for c in one] == ["10"]
    assert [c.id for c in find_chats(chats / "100K" / "2" / "chat.json")] == ["2"]


def test_messages_in_order_with_roles_dates_and_sessions(chats: Path) -> None:
    conversations, issues, info = load_beam(chats, limit=1)
    assert info["chats_found"] == 2 and info["conversations"] == 1
    turns = conversations[0].turns
    assert [t.id for t in turns] == [str(i) for i in range(10)]  # the blank one is left out
    assert [t.role for t in turns[:2]] == ["user", "assistant"]
    assert [t.session for t in turns] == ["batch-1"] * 4 + ["batch-2"] * 4 + ["batch-3"] * 2
    assert [t.occurred_at for t in turns] == [
        "2024-03-15T00:00:00Z", "2024-03-15T00:00:01Z", "2024-03-15T00:00:02Z",
        "2024-03-15T00:00:03Z", "2024-04-02T00:00:00Z", "2024-04-02T00:00:01Z",
        "2024-04-02T00:00:02Z", "2024-04-02T00:00:03Z",
        "2024-04-02T00:00:04Z", "2024-04-02T00:00:05Z",  # batch 3 continues the clock
    ]  # fmt: skip
    assert turns[3].metadata == {"message_id": "3", "batch": 1}
    assert turns[0].text == turns[0].plain_text == _message(0)["content"]
    counts = issues.as_dict()["counts"]
    assert counts["batch_without_time_anchor"] == 1
    assert counts["empty_message_not_added"] == 1
    assert "batch_without_time_anchor" in json.dumps(issues.as_dict())


def test_questions_evidence_skips_and_counts(chats: Path) -> None:
    conversations, issues, _ = load_beam(chats, limit=1)
    by = {q.category: q for q in conversations[0].questions}
    assert by["abstention"].skip == "abstention" and by["abstention"].evidence == []
    ku = by["knowledge_update"]
    assert ku.skip is None and ku.evidence == ["2", "5"]
    assert ku.extra["parts"] == {"original_info": ["2"], "updated_info": ["5"]}
    assert by["contradiction_resolution"].extra["parts"]["second_statement"] == ["4"]
    eo = by["event_ordering"]
    assert eo.evidence == ["7", "0", "2", "4"]
    assert eo.extra["true_order"] == ["0", "2", "4", "7"]
    ie = by["information_extraction"]
    assert (ie.evidence, ie.unknown, ie.malformed) == (["1"], ["999"], ["'x'", "True"])
    assert by["multi_session_reasoning"].skip == "evidence_not_in_chat"
    assert by["preference_following"].skip == "no_evidence"
    assert "summarization" not in by  # no text: counted, not asked
    counts = issues.as_dict()["counts"]
    assert counts == {
        "batch_without_time_anchor": 1,
        "empty_message_not_added": 1,
        "event_order_listed_out_of_chat_order": 1,
        "evidence_id_listed_twice": 1,
        "evidence_ids_malformed": 3,
        "evidence_nested_list_flattened": 1,
        "evidence_parts_share_a_message": 1,
        "question_not_an_object": 1,
        "question_without_source_chat_ids": 1,
        "question_without_text": 1,
    }


# -------------------------------------------------------------- bad input


def _error(path: Path) -> str:
    with pytest.raises(BenchDataError) as caught:
        load_beam(path)
    return str(caught.value)


def test_missing_data_and_missing_questions(tmp_path: Path) -> None:
    assert str(tmp_path / "nope") in _error(tmp_path / "nope")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "holds no chat.json" in _error(empty)
    folder = _write_chat(tmp_path / "c", nested=True)
    shutil.rmtree(folder / "probing_questions")
    message = _error(folder)
    assert "probing_questions/probing_questions.json" in message
    assert str(folder / "probing_questions.json") in message


@pytest.mark.parametrize(
    ("chat", "expected"),
    [
        ({"batches": []}, "expected a JSON list of batches"),
        ([{"turns": "x"}], "batch [0]: 'turns' must be a list"),
        ([{"turns": [{"role": "user"}]}], "batch [0]: turns[0] must be a list of messages"),
        ([{"turns": [[{"role": "user", "id": 0}]]}], "turns[0][0]: message has no 'content'"),
        ([{"turns": [[{"role": "bot", "id": 0, "content": "x"}]]}], "'role' must be"),
        ([{"turns": [[{"role": "user", "id": "a", "content": "x"}]]}], "'id' must be"),
        ([{"turns": [[{"role": "user", "id": 0, "content": 5}]]}], "'content' must be text"),
        ([{"turns": [[_message(0), {**_message(1), "id": 0}]]}], "appears twice"),
        ([{"turns": []}], "holds no messages"),
    ],
)
def test_malformed_chat_names_file_entry_and_field(
    tmp_path: Path, chat: Any, expected: str
) -> None:
    folder = _write_chat(tmp_path / "c", nested=False)
    (folder / "chat.json").write_text(json.dumps(chat))
    message = _error(folder)
    assert str(folder / "chat.json") in message
    assert expected in message


def test_malformed_questions_and_json(tmp_path: Path) -> None:
    folder = _write_chat(tmp_path / "c", nested=False)
    questions = folder / "probing_questions.json"
    questions.write_text(json.dumps([{"question": "x"}]))
    assert f"{questions}: expected a JSON object of abilities" in _error(folder)
    questions.write_text(json.dumps({"knowledge_update": {"question": "x"}}))
    assert "'knowledge_update' must be a list" in _error(folder)
    questions.write_text("{ broken")
    assert f"{questions} is not valid JSON" in _error(folder)
    (folder / "chat.json").write_text("[")
    assert f"{folder / 'chat.json'} is not valid JSON" in _error(folder)


# ------------------------------------------------------ figures by hand


def test_first_rank_and_depth() -> None:
    ranked = ["a", "b", "c", "d"]
    assert first_rank(ranked, ["c", "b"]) == 2
    assert first_rank(ranked, ["x"]) is None
    assert first_rank(ranked, ["d"], depth=3) is None


def test_update_ranks() -> None:
    assert update_ranks(["u", "o"], ["o"], ["u"]) == {
        "rank_original": 2, "rank_updated": 1, "updated_above": True}  # fmt: skip
    assert update_ranks(["o", "x", "u"], ["o"], ["u"])["updated_above"] is False
    assert update_ranks(["x", "u"], ["o"], ["u"]) == {
        "rank_original": None, "rank_updated": 2, "updated_above": True}  # fmt: skip
    assert update_ranks(["o"], ["o"], ["u"])["updated_above"] is False
    assert update_ranks([], ["o"], ["u"])["updated_above"] is False
    assert update_ranks(["m"], ["m"], ["m"])["updated_above"] is False  # one message: no order


def test_parts_within_k() -> None:
    ranked = [str(i) for i in range(30)]
    # First statement at rank 3 (id "2"), second at rank 8 (id "7", its best message).
    assert parts_within(ranked, [["2"], ["7", "25"]]) == {"5": False, "10": True, "20": True}
    assert parts_within(ranked, [["2"], ["99"]]) == {"5": False, "10": False, "20": False}
    assert parts_within(ranked, [["1"], ["1"]]) == {"5": True, "10": True, "20": True}
    assert parts_within(ranked, []) == {"5": False, "10": False, "20": False}


def test_kendall_tau_by_hand() -> None:
    true = ["a", "b", "c", "d"]
    assert kendall_tau(["a", "b", "c", "d"], true) == 1.0
    assert kendall_tau(["d", "c", "b", "a"], true) == -1.0
    # a, c, b: pairs (a,c) +, (a,b) +, (c,b) -  -> (2 - 1) / 3
    assert kendall_tau(["a", "c", "b"], true) == pytest.approx(1 / 3)
    assert kendall_tau(["x", "b", "y", "a"], true) == -1.0  # items not in the order ignored
    assert kendall_tau(["a"], true) is None
    assert kendall_tau(["a", "a"], true) is None


def test_ordering_scores_count_missing_evidence_against_the_pair_share() -> None:
    true = ["e1", "e2", "e3"]
    ranked = ["x", "e3", "e1", "y"]  # e2 not retrieved; e3 before e1: one discordant pair
    scores = ordering_scores(ranked, true)
    assert scores == {"n_evidence": 3, "retrieved": 2, "tau": -1.0, "concordant_share": 0.0}
    scores = ordering_scores(["e1", "x", "e3"], true)
    assert scores["tau"] == 1.0 and scores["concordant_share"] == pytest.approx(1 / 3)
    assert ordering_scores(["e2", "e1"], ["e1", "e1", "e2"])["n_evidence"] == 2
    assert ordering_scores(["e1"], ["e1"])["concordant_share"] is None
    assert ordering_scores(["e3", "e2", "e1"], true, depth=2)["retrieved"] == 2


def _row(category: str, ranked: list[str], **extra: Any) -> dict[str, Any]:
    evidence = extra.pop("evidence", [])
    return {"id": f"q-{category}-{len(ranked)}", "category": category, "skip": None,
            "ranked_turns": ranked, "evidence": evidence, "extra": extra}  # fmt: skip


def test_ability_figures_from_rows() -> None:
    rows = [
        _row("knowledge_update", ["u", "o"], parts={"original_info": ["o"], "updated_info": ["u"]}),
        _row("knowledge_update", ["o", "x", "u"],
             parts={"original_info": ["o"], "updated_info": ["u"]}),
        _row("knowledge_update", ["o"], evidence=["o"]),  # a list: no parts to compare
        _row("contradiction_resolution", ["a", "x", "x2", "x3", "x4", "x5", "b"],
             parts={"first_statement": ["a"], "second_statement": ["b"]}),
        _row("event_ordering", ["c", "a", "b"], true_order=["a", "b", "c"]),
        _row("event_ordering", ["z"], true_order=["a", "b"]),
        {**_row("knowledge_update", []), "skip": "evidence_not_in_chat"},
    ]  # fmt: skip
    fig = ability_figures(rows)
    ku = fig["knowledge_update"]
    assert (ku["n"], ku["without_both_parts"], ku["updated_above_rate"]) == (2, 1, 0.5)
    assert (ku["median_rank_updated"], ku["median_rank_original"]) == (2.0, 1.5)
    cr = fig["contradiction_resolution"]
    assert cr["both_within"] == {"5": 0.0, "10": 1.0, "20": 1.0}
    assert cr["questions"][0]["ranks"] == [1, 7]
    assert fig["temporal_reasoning"]["n"] == 0
    assert fig["temporal_reasoning"]["both_within"]["5"] is None
    eo = fig["event_ordering"]
    # c, a, b against a, b, c: (c,a) -, (c,b) -, (a,b) +  -> -1/3; the other has none.
    assert eo["n"] == 2 and eo["n_with_tau"] == 1
    assert eo["kendall_tau_mean"] == pytest.approx(-1 / 3)
    assert eo["concordant_share_mean"] == pytest.approx((1 / 3 + 0) / 2)
    assert eo["retrieved_share_mean"] == pytest.approx((1 + 0) / 2)


# ------------------------------------------------------------ end to end


def test_run_writes_outputs_that_agree(chats: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    results = run_beam(_config(chats, out, strategies=["bm25", "dense"], plots=True))
    rows = _jsonl(out / "per_question.jsonl")
    asked = 8  # per chat: 10 entries, one without text and one not an object
    assert len(rows) == 2 * asked * 2
    assert results["dataset"] == "beam" and results["category_label"] == "ability"
    assert results["data"]["questions_by_ability"]["abstention"] == 2
    for strategy in ("bm25", "dense"):
        mine = [r for r in rows if r["strategy"] == strategy]
        assert results["by_strategy"][strategy]["figures"] == json.loads(
            json.dumps(ability_figures(mine))
        )
    assert results["figures"] == results["by_strategy"]["bm25"]["figures"]
    cats = results["by_category"]
    assert cats["abstention"]["n_questions"] == 0 and not cats["abstention"]["in_overall"]
    assert cats["knowledge_update"]["n_questions"] == 2
    assert results["evidence"]["questions_skipped"] == {
        "abstention": 2, "evidence_not_in_chat": 2, "no_evidence": 2}  # fmt: skip
    # BM25 finds each message by its word: both parts of the contradiction in the top 5.
    cr = results["by_strategy"]["bm25"]["figures"]["contradiction_resolution"]
    assert cr["both_within"]["5"] == 1.0
    if results["context"]["available"]:
        assert set(results["context_coverage"]) == {"500", "4000"}
    text = (out / "results.md").read_text()
    assert "## Ability figures" in text and "knowledge_update" in text
    assert (out / "recall_at_k.png").read_bytes().startswith(PNG_MAGIC)
    assert (out / "latency.png").read_bytes().startswith(PNG_MAGIC)


def test_cli_runs_and_reports_bad_input(chats: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "cli"
    args = ["beam", "--data", str(chats), "--out", str(out), "--embedder", "hash",
            "--strategy", "bm25", "--limit", "1", "--no-progress", "--no-plots"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    saved = json.loads((out / "results.json").read_text())
    assert saved["data"]["limited_to"] == 1 and saved["data"]["conversations"] == 1
    assert saved["config"]["budgets"] == [500, 1000, 2000, 4000]
    assert "--limit 1" in saved["command"] and "bench beam" in saved["command"]
    (chats / "100K" / "2" / "chat.json").write_text(json.dumps([{"turns": [[{"id": 1}]]}]))
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert "chat.json" in result.output and "'role'" in result.output


@pytest.mark.skipif(not DEV.exists(), reason="BEAM dev chats not present")
def test_dev_chats_load_without_errors() -> None:
    conversations, issues, info = load_beam(DEV)
    assert info["conversations"] == 5
    assert info["questions_by_ability"]["knowledge_update"] == 10
    assert all(t.occurred_at for c in conversations for t in c.turns)
    scored = [q for c in conversations for q in c.questions if q.skip is None]
    assert len(scored) == 90 and not any(q.unknown or q.malformed for q in scored)
    assert "batch_without_time_anchor" not in issues.counts
