"""LoCoMo scored against audited evidence: reading a corrections file, matching its
entries (conversation, question index, text), both scorings worked out by hand, and a
small end-to-end run (embedder "hash", data written by the tests)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("matplotlib")

from typer.testing import CliRunner

from memstrata.bench.audit import (
    apply_corrections,
    audit_figures,
    audited_evidence,
    load_corrections,
)
from memstrata.bench.cli import app
from memstrata.bench.locomo import load_locomo, run_locomo
from memstrata.bench.model import BenchDataError, RunConfig

DEV = Path("/work/shared/bench/locomo-dev")
DEV_AUDIT = Path("/work/shared/bench/locomo-dev-audit/evidence_corrections.json")
WORDS = ["pottery", "sailing", "chess", "gardening", "baking", "hiking"]


def _conversation() -> dict[str, Any]:
    """One session of six turns, each about its own word, and five questions."""
    turns = [
        {"speaker": "Ann" if i % 2 == 0 else "Bo", "dia_id": f"D1:{i + 1}",
         "text": f"I spent the day on {word}, all of it {word}."}
        for i, word in enumerate(WORDS)
    ]  # fmt: skip
    qa = [
        # Cited D1:1 (pottery) for a question about sailing: the audit says D1:2.
        {"question": "When did Bo go sailing?", "evidence": ["D1:1"], "category": 2},
        {"question": "What about chess?", "evidence": ["D1:3"], "category": 4},
        # Evidence that is not in the conversation: unscored until the audit fixes it.
        {"question": "Who did gardening?", "evidence": ["D9:9"], "category": 1},
        {"question": "Would they like baking?", "evidence": ["D1:5"], "category": 3},
        {"question": "Did Ann go hiking?", "adversarial_answer": "no", "evidence": ["D1:6"],
         "category": 5},
    ]  # fmt: skip
    return {"speaker_a": "Ann", "speaker_b": "Bo", "session_1": turns,
            "session_1_date_time": "1:56 pm on 8 May, 2023", "qa": qa}  # fmt: skip


def _corrections() -> dict[str, Any]:
    def entry(conv: str, index: int, question: str, cited: Any, correct: Any) -> dict:
        return {"conversation": conv, "question_index": index, "question": question,
                "cited_evidence": cited, "correct_evidence": correct}  # fmt: skip

    return {
        "source": "made for the tests",
        "corrections": [
            entry("26", 0, "When did Bo go  sailing?", ["D1:1"], ["D1:2"]),
            entry("26", 2, "Who did gardening?", ["D9:9"], ["D1:4", "D7:7"]),
            entry("26", 1, "What about checkers?", ["D1:3"], ["D1:1"]),  # another question
            entry("26", 3, "Would they like baking?", ["D1:1"], ["D1:5", "D1:4"]),
            entry("26", 40, "Nothing here", [], ["D1:1"]),
            entry("99", 0, "When did Bo go sailing?", ["D1:1"], ["D1:2"]),
            entry("26", 0, "When did Bo go sailing?", ["D1:1"], ["D1:3"]),  # again
        ],
    }


@pytest.fixture
def data(tmp_path: Path) -> tuple[Path, Path]:
    folder = tmp_path / "locomo"
    folder.mkdir()
    (folder / "26.json").write_text(json.dumps(_conversation()))
    corrections = tmp_path / "corrections.json"
    corrections.write_text(json.dumps(_corrections()))
    return folder, corrections


# ---------------------------------------------------------------- matching


def test_entries_match_by_conversation_index_and_text(data: tuple[Path, Path]) -> None:
    folder, path = data
    conversations, _, _ = load_locomo(folder)
    summary = apply_corrections(conversations, load_corrections(path))
    assert (summary["entries"], summary["applied"], summary["not_applied"]) == (7, 3, 4)
    assert summary["source"] == "made for the tests"
    assert summary["counts"] == {
        "cited_evidence_differs_from_data": 1,
        "conversation_not_found": 1,
        "correct_evidence_not_in_conversation": 1,
        "duplicate_entry_ignored": 1,
        "question_index_not_found": 1,
        "question_text_mismatch": 1,
    }
    questions = {q.id: q for q in conversations[0].questions}
    assert questions["26:q0"].extra["audit"]["evidence"] == ["D1:2"]  # the first entry wins
    assert questions["26:q2"].extra["audit"]["evidence"] == ["D1:4"]
    assert questions["26:q2"].extra["audit"]["unknown"] == ["D7:7"]
    assert "audit" not in questions["26:q1"].extra  # its text did not match
    assert questions["26:q0"].evidence == ["D1:1"]  # the original labels are kept


def test_conversation_ids_of_locomo10_match_by_number(tmp_path: Path) -> None:
    path = tmp_path / "locomo10.json"
    conv = _conversation()
    path.write_text(json.dumps([{"sample_id": "conv-26", "conversation": conv, "qa": conv["qa"]}]))
    corrections = tmp_path / "c.json"
    corrections.write_text(json.dumps({"corrections": _corrections()["corrections"][:1]}))
    conversations, _, _ = load_locomo(path)
    summary = apply_corrections(conversations, load_corrections(corrections))
    assert summary["applied"] == 1 and summary["source"] is None


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ([], "expected an object with a 'corrections' list"),
        ({"corrections": ["x"]}, "corrections[0] must be an object"),
        ({"corrections": [{"conversation": "26", "question": "q", "correct_evidence": []}]},
         "corrections[0] has no 'question_index' field"),
        ({"corrections": [{"conversation": "26", "question_index": -1, "question": "q",
                           "correct_evidence": []}]}, "'question_index' must be an int >= 0"),
        ({"corrections": [{"conversation": "26", "question_index": 0, "question": "q",
                           "correct_evidence": {"D1": 1}}]}, "'correct_evidence' must be a list"),
        ({"corrections": [{"conversation": None, "question_index": 0, "question": "q",
                           "correct_evidence": []}]}, "'conversation' must be"),
        ({"corrections": [{"conversation": "1", "question_index": 0, "question": " ",
                           "correct_evidence": []}]}, "'question' must be"),
    ],
)  # fmt: skip
def test_bad_corrections_file_names_file_entry_and_field(
    tmp_path: Path, content: Any, expected: str
) -> None:
    path = tmp_path / "c.json"
    path.write_text(json.dumps(content))
    with pytest.raises(BenchDataError) as caught:
        load_corrections(path)
    assert str(path) in str(caught.value) and expected in str(caught.value)


def test_missing_or_broken_corrections_file(tmp_path: Path) -> None:
    with pytest.raises(BenchDataError, match="does not exist"):
        load_corrections(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(BenchDataError, match="not valid JSON"):
        load_corrections(tmp_path / "bad.json")


# ----------------------------------------------------------------- scoring


def _row(category: str, ranked: list[str], evidence: list[str], **kw: Any) -> dict[str, Any]:
    row = {"id": f"q{len(ranked)}{category}", "category": category, "skip": None,
           "ranked_turns": ranked, "evidence": evidence, "extra": {},
           "scores": {"turn": {}} if evidence else {}, "context_covered": None}  # fmt: skip
    row.update(kw)
    return row


def test_both_scorings_by_hand() -> None:
    ranked = ["a", "b", "c", "d", "e", "f"]
    rows = [
        # Corrected from "a" (rank 1) to "f" (rank 6): recall@1 1 -> 0, @5 1 -> 0, @10 1.
        _row("2", ranked, ["a"], extra={"audit": {"evidence": ["f"]}}),
        # Uncorrected: the same on both sides.
        _row("4", ranked, ["b", "z"]),
        # Unscored originally (no evidence in the conversation), scored after the audit.
        _row("1", ranked, [], skip="evidence_not_in_conversation",
             extra={"audit": {"evidence": ["c"]}}),
        # Corrected to nothing in the conversation: scored before, not after.
        _row("4", ranked, ["d"], extra={"audit": {"evidence": []}}),
        _row("5", ranked, ["a"]),  # category 5: apart
    ]  # fmt: skip
    fig = audit_figures(rows, overall=lambda c: c != "5")
    assert fig["n_questions"] == 3 and fig["n_questions_audited"] == 3
    assert fig["recall_at"]["1"] == pytest.approx((1 + 0 + 0) / 3)
    assert fig["recall_at_audited"]["1"] == pytest.approx((0 + 0 + 0) / 3)
    assert fig["recall_at"]["5"] == pytest.approx((1 + 0.5 + 1) / 3)
    assert fig["recall_at_audited"]["5"] == pytest.approx((0 + 0.5 + 1) / 3)
    assert fig["mrr"] == pytest.approx((1 + 1 / 2 + 1 / 4) / 3)
    assert fig["mrr_audited"] == pytest.approx((1 / 6 + 1 / 2 + 1 / 3) / 3)
    assert fig["questions_corrected"] == 3
    cat2 = fig["by_category"]["2"]
    assert (cat2["recall_at"]["1"], cat2["recall_at_audited"]["1"]) == (1.0, 0.0)
    assert fig["by_category"]["1"]["n_questions"] == 0
    assert fig["by_category"]["1"]["n_questions_audited"] == 1
    assert fig["by_category"]["5"]["in_overall"] is False
    assert [q["recall_at_10_audited"] for q in fig["corrected_questions"]] == [1.0, 1.0, None]
    assert audited_evidence(rows[3]) is None and audited_evidence(rows[1]) == ["b", "z"]


def test_context_coverage_on_both_scorings() -> None:
    covered = {"500": ["a"], "1000": ["a", "f"]}
    rows = [_row("2", ["a"], ["a"], extra={"audit": {"evidence": ["f"]}},
                 context_covered=covered)]  # fmt: skip
    fig = audit_figures(rows, overall=lambda c: True)
    assert fig["context_coverage"] == {"500": 1.0, "1000": 1.0}
    assert fig["context_coverage_audited"] == {"500": 0.0, "1000": 1.0}


# -------------------------------------------------------------- end to end


def _config(data: Path, out: Path) -> RunConfig:
    return RunConfig(data=data, out=out, strategies=["bm25"], embedder="hash",
                     progress=False, plots=False)  # fmt: skip


def test_run_reports_both_scorings(data: tuple[Path, Path], tmp_path: Path) -> None:
    folder, corrections = data
    out = tmp_path / "out"
    results = run_locomo(_config(folder, out), corrections)
    fig = results["figures"]
    # The original scoring in the figures is the runner's own, recomputed.
    assert fig["recall_at"] == results["recall_at"]
    assert fig["mrr"] == results["mrr"]
    assert fig["n_questions"] == results["n_questions"] == 3  # categories 1-4 with evidence
    assert fig["n_questions_audited"] == 4  # q2's evidence now exists
    assert results["data"]["evidence_corrections"]["applied"] == 3
    assert results["by_strategy"]["bm25"]["figures"] == fig
    # BM25 finds each turn by its word: the audited label for the sailing question is
    # found first, the cited one (about pottery) is not.
    q0 = next(q for q in fig["corrected_questions"] if q["id"] == "26:q0")
    assert q0["recall_at_10_audited"] == 1.0
    rows = [json.loads(line) for line in (out / "per_question.jsonl").read_text().splitlines()]
    sailing = next(r for r in rows if r["id"] == "26:q0")
    assert sailing["ranked_turns"][0] == "D1:2"
    assert fig["by_category"]["2"]["recall_at_audited"]["1"] == 1.0
    assert fig["by_category"]["2"]["recall_at"]["1"] == 0.0
    text = (out / "results.md").read_text()
    assert "## Audited evidence (original / audited)" in text and "3 applied" in text


def test_without_corrections_nothing_changes(data: tuple[Path, Path], tmp_path: Path) -> None:
    folder, _ = data
    results = run_locomo(_config(folder, tmp_path / "out"))
    assert "figures" not in results and "evidence_corrections" not in results["data"]


def test_cli_option(data: tuple[Path, Path], tmp_path: Path) -> None:
    folder, corrections = data
    out = tmp_path / "cli"
    args = ["locomo", "--data", str(folder), "--out", str(out), "--embedder", "hash",
            "--strategy", "bm25", "--no-progress", "--no-plots"]  # fmt: skip
    result = CliRunner().invoke(app, [*args, "--evidence-corrections", str(corrections)])
    assert result.exit_code == 0, result.output
    assert "recall original / audited" in result.output
    saved = json.loads((out / "results.json").read_text())
    assert f"--evidence-corrections {corrections}" in saved["command"]
    result = CliRunner().invoke(app, [*args, "--evidence-corrections", str(tmp_path / "no")])
    assert result.exit_code == 2 and "does not exist" in result.output


@pytest.mark.skipif(not (DEV.exists() and DEV_AUDIT.exists()), reason="LoCoMo dev not present")
def test_dev_corrections_all_match() -> None:
    conversations, _, _ = load_locomo(DEV)
    summary = apply_corrections(conversations, load_corrections(DEV_AUDIT))
    assert summary["entries"] == summary["applied"] == 22
    assert "question_text_mismatch" not in summary["counts"]
