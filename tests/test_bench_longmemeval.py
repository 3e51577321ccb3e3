"""The LongMemEval benchmark on a small file in LongMemEval's format that the test
writes itself: loading, bad input, session- and turn-level recall by question type,
abstention, and outputs that agree with each other (embedder "hash")."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from typer.testing import CliRunner

from memstrata.bench.cli import app
from memstrata.bench.longmemeval import load_longmemeval, parse_date, run_longmemeval
from memstrata.bench.metrics import recall_at
from memstrata.bench.model import BenchDataError, RunConfig

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
FILLER = ["the weather in spring", "a recipe for lentil soup", "how to tune a bicycle",
          "tips for a job interview", "a film about space travel"]  # fmt: skip


def _entry(
    qid: str, qtype: str, question: str, answers: dict[int, list[tuple[str, str, bool]]],
    answer_ids: list[str] | None = None, n_sessions: int = 5,
) -> dict[str, Any]:  # fmt: skip
    """One question with `n_sessions` haystack sessions; session i is replaced by
    `answers[i]` (turns as (role, content, has_answer)) when given."""
    sessions, ids, dates = [], [], []
    for i in range(n_sessions):
        if i in answers:
            ids.append(f"answer_{qid}_{i}")
            sessions.append([
                {"role": role, "content": text, **({"has_answer": True} if has else {})}
                for role, text, has in answers[i]
            ])  # fmt: skip
        else:
            ids.append(f"sharegpt_{qid}_{i}")
            topic = FILLER[i % len(FILLER)]
            sessions.append([
                {"role": "user", "content": f"Can you tell me about {topic}?"},
                {"role": "assistant", "content": f"Here is something about {topic}."},
            ])  # fmt: skip
        dates.append(f"2023/05/{20 + i:02d} (Sat) 1{i}:21")
    return {
        "question_id": qid, "question_type": qtype, "question": question, "answer": "x",
        "question_date": "2023/06/30 (Fri) 09:00", "haystack_session_ids": ids,
        "haystack_dates": dates, "haystack_sessions": sessions,
        "answer_session_ids": answer_ids if answer_ids is not None
        else [f"answer_{qid}_{i}" for i in answers],
    }  # fmt: skip


def _data() -> list[dict[str, Any]]:
    return [
        _entry("q1", "single-session-user", "What breed is my dog Biscuit?",
               {2: [("user", "My dog Biscuit is a golden retriever", True),
                    ("assistant", "Golden retrievers are lovely dogs!", False)]}),
        _entry("q2", "multi-session", "How many marathons did I run in Oslo and Berlin?",
               {1: [("user", "I ran the Oslo marathon last year", True)],
                3: [("user", "Berlin marathon done, second one!", True)]}),
        _entry("q3", "knowledge-update", "Where do I keep my kayak now?",
               {0: [("user", "I moved my kayak to the garage", False)]}),
        _entry("q4_abs", "single-session-user", "What is my cat's name?",
               {4: [("user", "I might adopt a cat someday", False)]}),
        _entry("q5", "temporal-reasoning", "When did I buy the telescope?",
               {1: [("user", "Bought a telescope today", True)]},
               answer_ids=["answer_q5_1", "answer_missing"]),
    ]  # fmt: skip


@pytest.fixture
def lme(tmp_path: Path) -> Path:
    path = tmp_path / "longmemeval_tiny.json"
    path.write_text(json.dumps(_data()))
    return path


def _config(data: Path, out: Path, **kw: Any) -> RunConfig:
    kw.setdefault("embedder", "hash")
    kw.setdefault("progress", False)
    kw.setdefault("plots", False)
    kw.setdefault("search_k", 100)
    return RunConfig(data=data, out=out, **kw)


def test_parse_date() -> None:
    assert parse_date("2023/05/20 (Sat) 02:21") == "2023-05-20T02:21:00Z"
    assert parse_date("2023/05/20") == "2023-05-20T00:00:00Z"
    assert parse_date("soon") is None


def test_load_makes_one_store_per_question(lme: Path) -> None:
    convs, issues, info = load_longmemeval(lme)
    assert [c.id for c in convs] == ["q1", "q2", "q3", "q4_abs", "q5"]
    assert len({c.user_id for c in convs}) == 5
    assert info["questions"] == 5 and info["turns"] == sum(len(c.turns) for c in convs)
    assert info["question_types"]["single-session-user"] == 2
    first = convs[0]
    answer = next(t for t in first.turns if t.session == "answer_q1_2")
    assert answer.id == "answer_q1_2:0" and answer.role == "user"
    assert answer.occurred_at == "2023-05-22T12:21:00Z"
    # has_answer is a label: it must not reach the engine.
    assert answer.metadata == {"turn_id": "answer_q1_2:0", "session": "answer_q1_2"}
    q1, q2, q3, q4, q5 = (c.questions[0] for c in convs)
    assert q1.evidence == ["answer_q1_2:0"] and q1.evidence_sessions == ["answer_q1_2"]
    assert q2.evidence == ["answer_q2_1:0", "answer_q2_3:0"]
    assert q3.evidence == [] and q3.evidence_sessions == ["answer_q3_0"] and q3.skip is None
    assert q4.skip == "abstention"
    assert q5.unknown == ["answer_missing"] and q5.evidence_sessions == ["answer_q5_1"]
    assert not issues.counts


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d[0].pop("haystack_sessions"), "missing haystack_sessions"),
        (lambda d: d[1]["haystack_dates"].pop(), "'haystack_dates' has 4 entries"),
        (lambda d: d[2].update(haystack_sessions="x"), "'haystack_sessions' must be a list"),
        (lambda d: d[0]["haystack_sessions"].__setitem__(0, "x"), "must be a list of turns"),
        (lambda d: d[0]["haystack_sessions"][0].__setitem__(0, 5), "turn 0 must be an object"),
        (lambda d: d[3].update(question=" "), "'question' must be a non-empty string"),
        (lambda d: d.__setitem__(0, "text"), "expected a question object"),
    ],
)
def test_malformed_entries_name_the_file_and_question(
    tmp_path: Path, mutate: Any, expected: str
) -> None:
    data = _data()
    mutate(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(BenchDataError) as info:
        load_longmemeval(path)
    assert str(path) in str(info.value) and expected in str(info.value)


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(BenchDataError, match="does not exist"):
        load_longmemeval(tmp_path / "none.json")
    (tmp_path / "obj.json").write_text('{"question": "x"}')
    with pytest.raises(BenchDataError, match="expected a JSON list"):
        load_longmemeval(tmp_path / "obj.json")
    (tmp_path / "empty.json").write_text("[]")
    with pytest.raises(BenchDataError, match="empty"):
        load_longmemeval(tmp_path / "empty.json")
    (tmp_path / "cut.json").write_text('[{"question": ')
    with pytest.raises(BenchDataError, match="not valid JSON"):
        load_longmemeval(tmp_path / "cut.json")


def test_odd_turns_and_sessions_are_counted(tmp_path: Path) -> None:
    data = _data()[:1]
    sessions = data[0]["haystack_sessions"]
    sessions[0].append({"role": "user", "content": ""})
    sessions[0].append({"role": "narrator", "content": "hello"})
    data[0]["haystack_session_ids"][1] = data[0]["haystack_session_ids"][0]
    data[0]["haystack_dates"][3] = "someday"
    path = tmp_path / "odd.json"
    path.write_text(json.dumps(data))
    convs, issues, _ = load_longmemeval(path)
    assert issues.counts == {
        "empty_turn_not_added": 1, "unknown_role": 1, "duplicate_session_id": 1,
        "session_without_date": 1,
    }  # fmt: skip
    sessions_seen = {t.session for t in convs[0].turns}
    assert "sharegpt_q1_0~2" in sessions_seen and len(sessions_seen) == 5


def test_run_scores_sessions_and_turns_by_question_type(lme: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    results = run_longmemeval(_config(lme, out, strategies=["bm25", "hybrid"], plots=True))
    assert results["dataset"] == "longmemeval" and results["unit"] == "session"
    for name in ("results.json", "results.md", "per_question.jsonl", "recall_at_k.png",
                 "recall_at_k_turn.png", "latency.png"):  # fmt: skip
        assert (out / name).exists(), name
    assert (out / "recall_at_k_turn.png").read_bytes()[:8] == PNG_MAGIC
    rows = [json.loads(line) for line in (out / "per_question.jsonl").read_text().splitlines()]
    assert len(rows) == 10
    # Abstention is counted, not scored; the missing answer session is reported.
    ev = results["evidence"]
    assert ev["questions_skipped"] == {"abstention": 1}
    assert ev["unknown_ids"] == 1 and ev["questions_with_unknown_ids"] == 1
    assert results["n_questions"] == 4
    by_unit = results["by_unit"]
    assert by_unit["session"]["n_questions"] == 4
    assert by_unit["turn"]["n_questions"] == 3  # q3 has no has_answer turn
    assert results["recall_at"] == by_unit["session"]["recall_at"]
    assert set(results["by_category"]) == {
        "knowledge-update",
        "multi-session",
        "single-session-user",
        "temporal-reasoning",
    }
    ssu = results["by_category"]["single-session-user"]
    assert ssu["n_asked"] == 2 and ssu["n_questions"] == 1
    assert ssu["by_unit"]["turn"]["recall_at"]["1"] is not None
    # BM25: each question's rare words live only in its answer sessions.
    bm25 = {r["id"]: r for r in rows if r["strategy"] == "bm25"}
    assert bm25["q1"]["ranked_sessions"][0] == "answer_q1_2"
    assert bm25["q1"]["ranked_turns"][0] == "answer_q1_2:0"
    assert bm25["q1"]["scores"]["turn"]["recall_at"]["1"] == 1.0
    assert set(bm25["q2"]["ranked_sessions"][:2]) == {"answer_q2_1", "answer_q2_3"}
    assert bm25["q2"]["scores"]["session"]["all_hit_at"]["5"] == 1.0
    assert bm25["q5"]["scores"]["session"]["recall_at"]["1"] == 1.0  # the known session
    # Session ranks follow the expanded turns: distinct, in first-seen order.
    for r in rows:
        sessions = [t.rsplit(":", 1)[0] for t in r["ranked_turns"]]
        assert r["ranked_sessions"] == list(dict.fromkeys(sessions))
    for strategy in ("bm25", "hybrid"):
        mine = [r for r in rows if r["strategy"] == strategy and not r["skip"]]
        block = results["by_strategy"][strategy]
        for k in (1, 5, 10, 20):
            expected = np.mean(
                [recall_at(r["ranked_sessions"], r["evidence_sessions"], k) for r in mine]
            )
            assert block["recall_at"][str(k)] == pytest.approx(expected)
            turns = [recall_at(r["ranked_turns"], r["evidence"], k) for r in mine if r["evidence"]]
            assert block["by_unit"]["turn"]["recall_at"][str(k)] == pytest.approx(np.mean(turns))
    md = (out / "results.md").read_text()
    assert "## Session recall (question types knowledge-update, multi-session" in md
    assert "## Session recall by question type" in md
    assert "## Turn recall by question type" in md
    assert "not scored: abstention 1" in md


def test_cli(lme: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    done = runner.invoke(app, ["longmemeval", "--data", str(lme), "--out", str(tmp_path / "o"),
                               "--embedder", "hash", "--strategy", "dense", "--limit", "2",
                               "--no-progress", "--no-plots"])  # fmt: skip
    assert done.exit_code == 0, done.output
    results = json.loads((tmp_path / "o" / "results.json").read_text())
    assert results["data"]["questions"] == 2 and results["config"]["limit"] == 2
    assert results["config"]["search_k"] == 100
    bad = runner.invoke(app, ["longmemeval", "--data", str(tmp_path), "--embedder", "hash"])
    assert bad.exit_code == 2 and "is not a file" in bad.output
