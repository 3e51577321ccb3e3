"""The LoCoMo benchmark: evidence parsing, provenance expansion, the metrics, both
data layouts, bad input, settings, context coverage, and small end-to-end runs whose
outputs must agree with each other (embedder "hash", data written by the tests)."""

from __future__ import annotations

import inspect
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from typer.testing import CliRunner

from memstrata import Memory
from memstrata.bench import runner
from memstrata.bench.cli import app
from memstrata.bench.evidence import parse_evidence
from memstrata.bench.locomo import (
    load_locomo,
    parse_session_date,
    run_locomo,
    with_speaker_in_text,
)
from memstrata.bench.metrics import (
    all_hit_at,
    covered_units,
    expand_provenance,
    mean_scores,
    question_scores,
    recall_at,
    reciprocal_rank,
)
from memstrata.bench.model import BenchDataError, RunConfig
from memstrata.bench.options import parse_settings, parse_strategies
from memstrata.bench.runner import make_memory
from memstrata.errors import ConfigError, InvalidInput
from memstrata.ids import new_id, now
from memstrata.types import Record

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
DEV = Path("/work/shared/bench/locomo-dev")
SECRET = "zanzibarquokka"  # only in the authors' annotations: must never be ingested


# ------------------------------------------------------------------ data


def _conversation(a: str, b: str, topics: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """A conversation in the per-conversation layout: two sessions, each turn about
    one made-up topic word so that BM25 finds it."""
    conv: dict[str, Any] = {"speaker_a": a, "speaker_b": b}
    for s, chunk in enumerate((topics[:3], topics[3:]), start=1):
        conv[f"session_{s}_date_time"] = f"{s}:56 pm on {s + 7} May, 2023"
        conv[f"session_{s}"] = [
            {"speaker": a if i % 2 == 0 else b, "dia_id": f"D{s}:{i + 1}",
             "text": f"I spent the day on {word} with {other}."}
            for i, (word, other) in enumerate(chunk)
        ]  # fmt: skip
    conv["session_1"][1]["blip_caption"] = "a photo of a red kayak on a lake"
    conv["session_1"][1]["img_url"] = ["https://example.invalid/kayak.jpg"]
    conv["session_1"][1]["query"] = "kayak lake"
    conv["session_3_date_time"] = "9:00 am on 1 June, 2023"  # a date with no session
    conv["session_1_summary"] = f"They talked about {SECRET}."
    conv["events_session_1"] = {a: [f"{SECRET} happened"]}
    conv["session_2_observation"] = {a: [[f"{SECRET} note", "D2:1"]]}
    return conv


TOPICS_A = [("pottery", "clay"), ("sailing", "wind"), ("chess", "bishop"),
            ("gardening", "tulips"), ("baking", "sourdough"), ("hiking", "boots")]  # fmt: skip
TOPICS_B = [("fencing", "sabre"), ("juggling", "pins"), ("origami", "cranes"),
            ("surfing", "waves"), ("knitting", "wool"), ("archery", "arrows")]  # fmt: skip


def _qa(topics: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
    def dia(i: int) -> str:
        return f"D{1 if i < 3 else 2}:{i % 3 + 1}"

    return [
        {"question": f"When did they do {topics[0][0]}?", "answer": "x",
         "evidence": [dia(0)], "category": 2},
        {"question": f"What about {topics[1][0]} and {topics[4][0]}?", "answer": "x",
         "evidence": [f"{dia(1)}; {dia(4)}"], "category": 1},
        {"question": f"Tell me about {topics[2][0]}", "answer": "x",
         "evidence": [dia(2), "D99:1"], "category": 4},
        {"question": f"Who likes {topics[3][0]}?", "answer": "x",
         "evidence": ["D42:7"], "category": 4},
        {"question": "Would they like museums?", "answer": "x", "evidence": [], "category": 3},
        {"question": f"Did they ever do {topics[5][0]}?", "adversarial_answer": "no",
         "evidence": [dia(5), "not-an-id"], "category": 5},
        {"question": "", "answer": "x", "evidence": ["D1:1"], "category": 4},
    ]  # fmt: skip


def _samples() -> list[dict[str, Any]]:
    return [
        {"sample_id": "conv-a", "conversation": _conversation("Ann", "Bo", TOPICS_A),
         "qa": _qa(TOPICS_A)},
        {"sample_id": "conv-b", "conversation": _conversation("Cy", "Di", TOPICS_B),
         "qa": _qa(TOPICS_B)},
    ]  # fmt: skip


@pytest.fixture
def locomo10(tmp_path: Path) -> Path:
    path = tmp_path / "locomo10.json"
    path.write_text(json.dumps(_samples()))
    return path


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """The same data in the per-conversation layout (as locomo-dev)."""
    target = tmp_path / "dev"
    target.mkdir()
    for name, sample in zip(("conv-a", "conv-b"), _samples()):
        data = {**sample["conversation"], "qa": sample["qa"]}
        (target / f"{name}.json").write_text(json.dumps(data))
    return target


def _config(data: Path, out: Path, **kw: Any) -> RunConfig:
    kw.setdefault("embedder", "hash")
    kw.setdefault("progress", False)
    kw.setdefault("plots", False)
    return RunConfig(data=data, out=out, **kw)


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


# --------------------------------------------------------------- parsing


def test_parse_evidence_repairs_what_it_can_and_reports_the_rest() -> None:
    assert parse_evidence(["D1:3"]) == (["D1:3"], [], 0)
    assert parse_evidence(["D8:6; D9:17"]) == (["D8:6", "D9:17"], [], 1)
    assert parse_evidence(["D30:05", "D1:3", "D1:3"]) == (["D30:5", "D1:3"], [], 1)
    assert parse_evidence(["D2:1, d2:2 D:3:4"]) == (["D2:1", "D2:2", "D3:4"], [], 1)
    ids, malformed, _ = parse_evidence(["D1", "session 3", 7, "D4:2"])
    assert ids == ["D4:2"]
    assert malformed == ["D1", "session", "3", "7"]
    assert parse_evidence(None) == ([], [], 0)
    assert parse_evidence([]) == ([], [], 0)
    assert parse_evidence("D5:5") == (["D5:5"], [], 0)
    assert parse_evidence({"D1": 3}) == ([], ["{'D1': 3}"], 0)
    assert parse_evidence([""]) == ([], ["''"], 0)


def test_parse_session_date() -> None:
    assert parse_session_date("1:56 pm on 8 May, 2023") == "2023-05-08T13:56:00Z"
    assert parse_session_date("12:09 am on 13  September, 2023") == "2023-09-13T00:09:00Z"
    assert parse_session_date("10:37 am on 27 Jun, 2023") == "2023-06-27T10:37:00Z"
    assert parse_session_date("yesterday") is None
    assert parse_session_date(None) is None


# ----------------------------------------------------------- provenance


@dataclass
class Rec:
    id: str
    metadata: dict[str, Any] = field(default_factory=dict)
    source_ids: list[str] = field(default_factory=list)


def _raw(i: int) -> Rec:
    return Rec(id=f"r{i}", metadata={"dia_id": f"D1:{i}"})


class _Store:
    def __init__(self, records: Sequence[Rec]) -> None:
        self.records = {r.id: r for r in records}
        self.calls: list[list[str]] = []

    def lookup(self, ids: Sequence[str]) -> dict[str, Rec]:
        self.calls.append(list(ids))
        return {i: self.records[i] for i in ids if i in self.records}


def _unit(record: Any) -> str | None:
    return record.metadata.get("dia_id")


def test_raw_hits_are_their_own_turns_in_rank_order() -> None:
    hits = [_raw(3), _raw(1), _raw(3), _raw(2)]
    store = _Store(hits)
    result = expand_provenance(hits, store.lookup, _unit)
    assert result.units == ["D1:3", "D1:1", "D1:2"]
    assert result.per_hit == [["D1:3"], ["D1:1"], ["D1:3"], ["D1:2"]]
    assert store.calls == []  # raw hits need no lookup


def test_a_derived_hit_spends_as_many_places_as_it_has_turns() -> None:
    raws = [_raw(i) for i in range(1, 6)]
    fact = Rec(id="f1", source_ids=["r2", "r3", "r4"])
    summary = Rec(id="s1", source_ids=["f1", "r5"])  # derived from a derived record
    store = _Store([*raws, fact, summary])
    result = expand_provenance([fact, raws[0], summary], store.lookup, _unit)
    assert result.units == ["D1:2", "D1:3", "D1:4", "D1:1", "D1:5"]
    assert result.per_hit == [["D1:2", "D1:3", "D1:4"], ["D1:1"], ["D1:2", "D1:3", "D1:4", "D1:5"]]
    # The single-turn evidence D1:1 sits behind the fact's three turns.
    assert recall_at(result.units, {"D1:1"}, 3) == 0.0
    assert recall_at(result.units, {"D1:1"}, 4) == 1.0
    assert reciprocal_rank(result.units, {"D1:1"}) == 0.25
    # Each source was looked up once (the hits themselves are known already).
    looked_up = [i for call in store.calls for i in call]
    assert sorted(looked_up) == ["r2", "r3", "r4", "r5"]
    assert result.unresolved == 0 and result.unitless_hits == 0


def test_missing_sources_cycles_and_unitless_hits_are_counted() -> None:
    a = Rec(id="a", source_ids=["b", "gone"])
    b = Rec(id="b", source_ids=["a", "r1"])  # a cycle back to a
    note = Rec(id="n", metadata={"other": 1})  # a raw record that is no turn
    orphan = Rec(id="o", source_ids=["gone-too"])
    store = _Store([a, b, _raw(1), note, orphan])
    result = expand_provenance([a, note, orphan], store.lookup, _unit)
    assert result.units == ["D1:1"]
    assert result.unresolved == 2
    assert result.unitless_hits == 2
    assert result.per_hit == [["D1:1"], [], []]


def test_scores_by_hand() -> None:
    ranked = ["a", "b", "c", "d", "e"]
    assert recall_at(ranked, {"b", "e", "z"}, 1) == 0.0
    assert recall_at(ranked, {"b", "e", "z"}, 2) == pytest.approx(1 / 3)
    assert recall_at(ranked, {"b", "e", "z"}, 5) == pytest.approx(2 / 3)
    assert all_hit_at(ranked, {"b", "e"}, 4) == 0.0
    assert all_hit_at(ranked, {"b", "e"}, 5) == 1.0
    assert reciprocal_rank(ranked, {"c", "e"}) == pytest.approx(1 / 3)
    assert reciprocal_rank(ranked, {"z"}) == 0.0
    with pytest.raises(ValueError):
        recall_at(ranked, set(), 1)
    first = question_scores(ranked, {"a"})
    second = question_scores(ranked, {"e"})
    summary = mean_scores([first, second])
    assert summary["n"] == 2
    assert summary["recall_at"] == {"1": 0.5, "5": 1.0, "10": 1.0, "20": 1.0}
    assert summary["mrr"] == pytest.approx((1 + 1 / 5) / 2)
    assert mean_scores([])["mrr"] is None


@dataclass
class Part:
    text: str
    source_ids: list[str] = field(default_factory=list)


@dataclass
class Ctx:
    text: str
    parts: list[Any]


def test_context_covers_turns_by_text_or_by_provenance() -> None:
    raws = [_raw(i) for i in range(1, 5)]
    fact = Rec(id="f", source_ids=["r3"])
    store = _Store([*raws, fact])
    texts = {"D1:1": "I adopted a cat", "D1:2": "we went to Rome", "D1:3": "x", "D1:4": "pie"}

    def units(ids: Sequence[str]) -> list[str]:
        found = store.lookup(ids)
        return expand_provenance([found[i] for i in ids if i in found], store.lookup, _unit).units

    ctx = Ctx(
        text="2023-05-01 Ann: I adopted a cat\nFact: Bo likes trains",
        parts=[Part("Bo likes trains", source_ids=["f"]), {"record_ids": ["r4"]}],
    )
    assert covered_units(ctx, texts, units) == ["D1:1", "D1:3", "D1:4"]
    assert covered_units(Ctx(text="nothing here", parts=[]), texts, units) == []


# ------------------------------------------------------------- loading


def test_both_layouts_load_the_same_conversations(locomo10: Path, folder: Path) -> None:
    convs, issues, info = load_locomo(locomo10)
    again, issues2, info2 = load_locomo(folder)
    assert info["layout"].startswith("locomo10.json")
    assert info2["layout"] == "folder of conversation files"
    assert [c.id for c in convs] == ["conv-a", "conv-b"]
    assert [c.id for c in again] == ["conv-a", "conv-b"]  # file stems
    assert [c.turns for c in convs] == [c.turns for c in again]
    strip = [[(q.text, q.category, q.evidence, q.unknown, q.skip) for q in c.questions]
             for c in convs]  # fmt: skip
    assert strip == [[(q.text, q.category, q.evidence, q.unknown, q.skip) for q in c.questions]
                     for c in again]  # fmt: skip
    assert issues.as_dict() == issues2.as_dict()
    assert info["turns"] == 12 and info["questions"] == 12 and info["sessions"] == 4


def test_turns_keep_speaker_date_dia_id_and_photo_caption(locomo10: Path) -> None:
    convs, _, info = load_locomo(locomo10)
    turns = convs[0].turns
    assert [t.id for t in turns] == ["D1:1", "D1:2", "D1:3", "D2:1", "D2:2", "D2:3"]
    assert [t.speaker for t in turns[:2]] == ["Ann", "Bo"]
    assert turns[0].occurred_at == "2023-05-08T13:56:00Z"
    assert turns[3].occurred_at == "2023-05-09T14:56:00Z"
    assert turns[3].session == "session_2"
    photo = turns[1]
    assert photo.text == (
        "I spent the day on sailing with wind. [shared a photo: a photo of a red kayak on a lake]"
    )
    assert photo.plain_text == "I spent the day on sailing with wind."
    assert photo.metadata == {"dia_id": "D1:2", "blip_caption": "a photo of a red kayak on a lake"}
    assert turns[0].metadata == {"dia_id": "D1:1"}
    assert info["turns_with_photo_caption"] == 2
    # The authors' annotations are answers: never input.
    assert not any(SECRET in t.text for c in convs for t in c.turns)


def test_questions_count_unknown_and_malformed_evidence(locomo10: Path) -> None:
    convs, issues, _ = load_locomo(locomo10)
    qs = {q.text: q for q in convs[0].questions}
    assert len(convs[0].questions) == 6  # the one with no text is counted, not kept
    assert issues.counts["question_without_text"] == 2
    assert issues.counts["evidence_entries_repaired"] == 2
    split = qs["What about sailing and baking?"]
    assert split.evidence == ["D1:2", "D2:2"] and split.skip is None
    partly = qs["Tell me about chess"]
    assert partly.evidence == ["D1:3"] and partly.unknown == ["D99:1"] and partly.skip is None
    nowhere = qs["Who likes gardening?"]
    assert nowhere.evidence == [] and nowhere.unknown == ["D42:7"]
    assert nowhere.skip == "evidence_not_in_conversation"
    assert qs["Would they like museums?"].skip == "no_evidence"
    adversarial = qs["Did they ever do hiking?"]
    assert adversarial.category == "5" and adversarial.malformed == ["not-an-id"]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{not json", "not valid JSON"),
        ('{"speaker_a": "A", "qa": []}', "not LoCoMo data"),
        ('[{"sample_id": "x", "conversation": {"session_1": []}}]', "no 'qa'"),
        ('[{"conversation": {"session_1": "oops"}, "qa": []}]', "session_1 must be a list"),
        ('[{"conversation": {"speaker_a": "A"}, "qa": []}]', "no session_N"),
        ('[{"conversation": {"session_1": [3]}, "qa": []}]', "session_1[0] must be an object"),
        ('[{"conversation": {"session_1": []}, "qa": {}}]', "'qa' must be a list"),
        ("[1]", "expected a JSON object"),
    ],
)
def test_malformed_files_get_an_error_naming_the_file(
    tmp_path: Path, content: str, expected: str
) -> None:
    path = tmp_path / "broken.json"
    path.write_text(content)
    with pytest.raises(BenchDataError) as info:
        load_locomo(path)
    assert str(path) in str(info.value)
    assert expected in str(info.value)


def test_missing_data_and_empty_folders_are_named(tmp_path: Path) -> None:
    with pytest.raises(BenchDataError, match="does not exist"):
        load_locomo(tmp_path / "nope.json")
    with pytest.raises(BenchDataError, match=r"holds no \.json files"):
        load_locomo(tmp_path)
    (tmp_path / "a.json").write_text(json.dumps(_samples()[:1]))
    (tmp_path / "b.json").write_text(json.dumps(_samples()[:1]))
    with pytest.raises(BenchDataError, match="appears twice"):
        load_locomo(tmp_path)


def test_odd_turns_are_counted_not_dropped_silently(tmp_path: Path) -> None:
    sample = _samples()[0]
    session = sample["conversation"]["session_1"]
    session.append({"speaker": "Ann", "dia_id": "D1:9", "text": "  "})
    session.append({"speaker": "Bo", "text": "no id here"})
    session.append({"speaker": "Bo", "dia_id": "D1:1", "text": "the same id again"})
    sample["conversation"]["session_2_date_time"] = "sometime"
    path = tmp_path / "odd.json"
    path.write_text(json.dumps([sample]))
    convs, issues, _ = load_locomo(path)
    counts = issues.counts
    assert counts["empty_turn_not_added"] == 1
    assert counts["turn_without_dia_id"] == 1
    assert counts["duplicate_dia_id"] == 1
    assert counts["session_without_date"] == 1
    ids = [t.id for t in convs[0].turns]
    assert "session_1#4" in ids and "D1:9" not in ids
    assert all(t.occurred_at is None for t in convs[0].turns if t.session == "session_2")


# -------------------------------------------------------- settings etc.


def test_settings_are_checked_against_what_memory_takes(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        parse_settings(["rrf_k=30"])
    assert "rrf_k" in str(info.value) and "max_text_bytes" in str(info.value)
    with pytest.raises(ConfigError, match="expects int"):
        parse_settings(["max_text_bytes=big"])
    with pytest.raises(InvalidInput, match="key=value"):
        parse_settings(["max_text_bytes"])
    with pytest.raises(InvalidInput, match="twice"):
        parse_settings(["max_text_bytes=1", "max_text_bytes=2"])
    settings = parse_settings(["max_text_bytes=5000"])
    assert settings == {"max_text_bytes": 5000}
    with make_memory(tmp_path / "m.db", "hash", settings) as memory:
        assert memory.max_text_bytes == 5000


def test_strategies_parse() -> None:
    assert parse_strategies("bm25, dense,bm25") == ["bm25", "dense"]
    assert parse_strategies("default") == ["default"]
    with pytest.raises(InvalidInput, match="bm25, dense, hybrid, layered, default"):
        parse_strategies("bm25,sparse")
    with pytest.raises(InvalidInput):
        parse_strategies(" , ")


# ------------------------------------------------------------ end to end


def test_run_writes_outputs_that_agree_with_each_other(locomo10: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    strategies = ["bm25", "dense", "hybrid", "layered", "default"]
    results = run_locomo(_config(locomo10, out, strategies=strategies, plots=True,
                                 settings={"max_text_bytes": 100_000}))  # fmt: skip
    for name in ("results.json", "results.md", "per_question.jsonl", "recall_at_k.png",
                 "latency.png"):  # fmt: skip
        assert (out / name).exists(), name
    assert (out / "recall_at_k.png").read_bytes()[:8] == PNG_MAGIC
    assert json.loads((out / "results.json").read_text()) == json.loads(json.dumps(results))
    # Documented keys.
    for key in ("dataset", "strategy", "config", "machine", "n_questions", "recall_at",
                "by_category", "mrr", "context_coverage", "latency_ms", "ingest_per_s",
                "peak_rss_mb"):  # fmt: skip
        assert key in results, key
    assert results["dataset"] == "locomo" and results["strategy"] == "bm25"
    assert set(results["recall_at"]) == {"1", "5", "10", "20"}
    assert set(results["context_coverage"]) == {"500", "1000", "2000"}
    assert set(results["latency_ms"]) == {"search_p50", "search_p95", "context_p50",
                                          "context_p95"}  # fmt: skip
    assert results["config"]["settings"] == {"max_text_bytes": 100_000}
    assert results["config"]["default_strategy"] == "layered"
    assert results["machine"]["cpu_model"]
    assert results["ingest"]["turns"] == 12 and results["ingest"]["records"] > 12  # + derived
    assert results["ingest_per_s"] > 0 and results["peak_rss_mb"] > 0
    assert results["store_bytes"] > 0
    # Memory.context exists: coverage is measured for every budget.
    assert results["context"]["available"] is True
    coverage = results["context_coverage"]
    assert all(0.0 <= coverage[b] <= 1.0 for b in ("500", "1000", "2000"))
    assert coverage["500"] <= coverage["1000"] <= coverage["2000"]
    assert results["latency_ms"]["context_p50"] > 0
    assert results["latency_ms"]["search_p50"] > 0

    rows = _jsonl(out / "per_question.jsonl")
    assert len(rows) == 12 * len(strategies)
    assert {r["strategy"] for r in rows} == set(strategies)
    # Evidence problems are counted, from the rows and in the results.
    ev = results["evidence"]
    assert ev["questions"] == 12 and ev["questions_scored"] == 8
    assert ev["questions_skipped"] == {"evidence_not_in_conversation": 2, "no_evidence": 2}
    assert ev["unknown_ids"] == 4 and ev["questions_with_unknown_ids"] == 4
    assert ev["malformed_ids"] == 2
    assert results["data_issues"]["counts"]["question_without_text"] == 2
    # Overall = categories 1-4 with usable evidence; 5 apart.
    assert results["n_questions"] == 6
    assert results["by_category"]["5"]["in_overall"] is False
    assert results["by_category"]["5"]["n_questions"] == 2
    assert results["by_category"]["4"]["n_asked"] == 4
    assert results["by_category"]["4"]["n_questions"] == 2
    # Recompute every strategy's recall@k and MRR from the audit rows.
    for strategy in strategies:
        mine = [r for r in rows if r["strategy"] == strategy and r["category"] in "1234"
                and not r["skip"]]  # fmt: skip
        block = results["by_strategy"][strategy]
        for k in (1, 5, 10, 20):
            expected = np.mean([recall_at(r["ranked_turns"], r["evidence"], k) for r in mine])
            assert block["recall_at"][str(k)] == pytest.approx(expected)
        rr = np.mean([reciprocal_rank(r["ranked_turns"], r["evidence"]) for r in mine])
        assert block["mrr"] == pytest.approx(rr)
        for r in mine:
            assert len(set(r["ranked_turns"])) == len(r["ranked_turns"])
            assert set(r["ranked_turns"]) <= {t.id for c in load_locomo(locomo10)[0]
                                              for t in c.turns}  # fmt: skip
    # The default strategy is the library's default (layered): same ranking.
    by = {(r["id"], r["strategy"]): r["ranked_turns"] for r in rows}
    assert all(by[(r["id"], "default")] == by[(r["id"], "layered")] for r in rows)
    # Each question's made-up topic word is in exactly one turn: BM25 puts it first.
    first = {r["question"]: r for r in rows if r["strategy"] == "bm25"}
    assert first["When did they do pottery?"]["ranked_turns"][0] == "D1:1"
    assert first["When did they do fencing?"]["scores"]["turn"]["recall_at"]["1"] == 1.0
    assert results["by_strategy"]["bm25"]["by_category"]["2"]["recall_at"]["1"] == 1.0
    md = (out / "results.md").read_text()
    assert "| bm25 | 6 |" in md and "5 adversarial (apart)" in md
    assert "## Turn recall (categories 1, 2, 3, 4)" in md
    assert "## Context coverage" in md and "absent" not in md
    assert "Evidence ids not in their conversation: 4" in md


def test_limit_and_keep_db(locomo10: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    results = run_locomo(_config(locomo10, out, strategies=["bm25"], limit=1, keep_db=True))
    assert results["data"]["conversations"] == 1 and results["data"]["limited_to"] == 1
    assert results["evidence"]["questions"] == 6
    assert len(_jsonl(out / "per_question.jsonl")) == 6
    assert (out / "db" / "locomo-conv-a.db").exists()


def test_stores_live_in_a_temporary_folder_that_is_removed(
    locomo10: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths: list[Path] = []
    real = runner.make_memory

    def spy(path: Path, embedder: Any, settings: Any) -> Memory:
        paths.append(path)
        return real(path, embedder, settings)

    monkeypatch.setattr(runner, "make_memory", spy)
    run_locomo(_config(locomo10, tmp_path / "out", strategies=["bm25"]))
    assert len(set(paths)) == 2 and not (tmp_path / "out" / "db").exists()
    assert not any(p.exists() or p.parent.exists() for p in paths)


def test_speaker_in_text_ablation(locomo10: Path, tmp_path: Path) -> None:
    convs = with_speaker_in_text(load_locomo(locomo10)[0])
    photo = convs[0].turns[1]
    assert photo.text.startswith("Bo: I spent the day on sailing with wind. [shared a photo")
    assert photo.plain_text == "I spent the day on sailing with wind."
    out = tmp_path / "out"
    results = run_locomo(
        _config(locomo10, out, strategies=["bm25"], limit=1, keep_db=True, speaker_in_text=True)
    )
    assert results["config"]["speaker_in_text"] is True
    with Memory(out / "db" / "locomo-conv-a.db", embedder="hash") as memory:
        texts = {r.text for r in memory.list(user_id="conv-a", limit=50).records}
    assert "Ann: I spent the day on pottery with clay." in texts
    assert "prefixed with 'Speaker: '" in (out / "results.md").read_text()


_NO_FORMATION = {"facts": False, "episodes": False, "profiles": False, "topics": False}


class _SessionFacts(Memory):
    """A memory that also stores, per session, a derived record standing for all of
    the session's turns (as formation will), and a context() built from search."""

    def add(self, messages: Any, **kw: Any) -> list[Record]:
        records = super().add(messages, **kw)
        scope = self.store_scope(user_id=kw.get("user_id"), session_id=kw.get("session_id"))
        fact = Record(
            id=new_id(), kind="episode", scope=scope, occurred_at=now(), recorded_at=now(),
            text="summary: " + " ".join(r.text for r in records),
            source_ids=[r.id for r in records],
        )  # fmt: skip
        self.store.insert([fact], self.embedder.embed([fact.text]), actor=None)
        return records

    def search(self, query: str, **kw: Any) -> list[Any]:  # type: ignore[override]
        kw.setdefault("kinds", ["event", "episode"])  # derived ones only when asked for
        return super().search(query, **kw)

    def context(self, query: str, *, budget_tokens: int, user_id: str | None = None) -> Any:
        hits = self.search(query, k=2 if budget_tokens < 1000 else 4, user_id=user_id,
                           strategy="bm25", kinds=["event"])  # fmt: skip
        parts = [{"record": h.record} for h in hits[1:]]
        return Ctx(text=hits[0].record.text if hits else "", parts=parts)


def test_derived_hits_and_context_through_a_real_store(
    locomo10: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[str] = []

    def fake_make(path: Path, embedder: Any, settings: Any) -> Memory:
        made.append(path.name)
        return _SessionFacts(path, embedder=embedder, settings=_NO_FORMATION)

    monkeypatch.setattr(runner, "make_memory", fake_make)
    out = tmp_path / "out"
    results = run_locomo(_config(locomo10, out, strategies=["dense"]))
    assert made == ["locomo-conv-a.db"] * 2 + ["locomo-conv-b.db"] * 2
    rows = _jsonl(out / "per_question.jsonl")
    assert results["ingest"]["records"] == 12 + 4  # 4 sessions, one episode each
    assert results["hits"] == {"unitless": 0, "unresolved_sources": 0}
    # Some hit is an episode that stands for its whole session's three turns.
    spans = [len(h) for r in rows for h in r["hits_turns"]]
    assert 3 in spans
    for r in rows:
        flat = list(dict.fromkeys(t for h in r["hits_turns"] for t in h))
        assert r["ranked_turns"] == flat
    # Context: measured, its latency reported, coverage recomputable from the rows.
    assert results["context"]["available"] is True
    assert results["latency_ms"]["context_p50"] > 0
    scored = [r for r in rows if r["category"] in "1234" and not r["skip"]]
    for budget in ("500", "1000", "2000"):
        expected = np.mean([
            len(set(r["context_covered"][budget]) & set(r["evidence"])) / len(r["evidence"])
            for r in scored
        ])  # fmt: skip
        assert results["context_coverage"][budget] == pytest.approx(expected)
    pottery = next(r for r in rows if r["question"] == "When did they do pottery?")
    assert pottery["context_covered"]["500"][0] == "D1:1"  # by its text
    assert pottery["context_coverage"]["500"] == 1.0
    assert (out / "results.md").read_text().count("tokens") >= 3


def test_cli_runs_and_fails_clearly(locomo10: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "cli"
    done = runner.invoke(app, ["locomo", "--data", str(locomo10), "--out", str(out),
                               "--embedder", "hash", "--strategy", "bm25,dense",
                               "--no-progress", "--no-plots"])  # fmt: skip
    assert done.exit_code == 0, done.output
    assert "bm25" in done.output and "turn recall@1/5/10/20" in done.output
    results = json.loads((out / "results.json").read_text())
    assert results["strategies"] == ["bm25", "dense"]
    assert results["command"] == (
        f"memstrata bench locomo --data {locomo10} --out {out} --strategy bm25,dense "
        "--embedder hash --no-plots"
    )
    missing = runner.invoke(app, ["locomo", "--data", str(tmp_path / "nope.json"),
                                  "--out", str(out), "--embedder", "hash"])  # fmt: skip
    assert missing.exit_code == 2
    assert "nope.json" in missing.output and "does not exist" in missing.output
    bad_set = runner.invoke(app, ["locomo", "--data", str(locomo10), "--out", str(out),
                                  "--embedder", "hash", "--set", "rrf_k=30"])  # fmt: skip
    assert bad_set.exit_code == 2 and "unknown setting 'rrf_k'" in bad_set.output
    bad_strategy = runner.invoke(app, ["locomo", "--data", str(locomo10), "--strategy", "x"])
    assert bad_strategy.exit_code == 2 and "unknown strategy" in bad_strategy.output


# ------------------------------------------------------------ dev split


@pytest.mark.skipif(not DEV.is_dir(), reason="no LoCoMo dev split in ../shared/bench")
def test_dev_split_loads_and_its_problems_are_counted() -> None:
    convs, issues, info = load_locomo(DEV)
    assert info["conversations"] == len(list(DEV.glob("*.json")))
    assert all(c.turns and c.questions for c in convs)
    for conv in convs:
        ids = {t.id for t in conv.turns}
        for q in conv.questions:
            assert set(q.evidence) <= ids
            assert q.skip is not None or q.evidence
    assert not any(SECRET in t.text for c in convs for t in c.turns)
    assert issues.counts["question_without_text"] == 0


@pytest.mark.skipif(not DEV.is_dir(), reason="no LoCoMo dev split in ../shared/bench")
def test_dev_split_bm25_finds_evidence(tmp_path: Path) -> None:
    results = run_locomo(_config(DEV, tmp_path / "dev", strategies=["bm25"], limit=1))
    assert results["n_questions"] > 50
    # Regression floor: on the first dev conversation BM25 recall@10 is ~0.6.
    assert results["recall_at"]["10"] > 0.4
    assert results["recall_at"]["1"] <= results["recall_at"]["5"] <= results["recall_at"]["10"]


def test_a_data_set_adds_its_own_figures_and_questions_carry_extras(
    locomo10: Path, tmp_path: Path
) -> None:
    """The hooks a data set uses for figures of its own: a question's `extra` and
    `as_of` reach its row, `Spec.figures` turns a strategy's rows into figures, and
    `Spec.markdown` adds a section to results.md."""
    from dataclasses import replace

    from memstrata.bench import locomo

    conversations, issues, info = locomo.load_locomo(locomo10)
    for conv in conversations:
        for n, q in enumerate(conv.questions):
            q.extra = {"n": n}
            q.as_of = "2023-06-01T00:00:00.000000Z" if n == 0 else None
    spec = replace(
        locomo.SPEC,
        figures=lambda rows: {"rows": len(rows), "ns": sorted({r["extra"]["n"] for r in rows})},
        markdown=lambda results: f"\n## Own figures\n\nrows: {results['figures']['rows']}\n",
    )
    out = tmp_path / "out"
    config = _config(locomo10, out, strategies=["bm25", "dense"])
    results = runner.run_benchmark(spec, conversations, issues, info, config)
    assert results["figures"]["rows"] == 12
    assert results["by_strategy"]["dense"]["figures"]["ns"] == sorted(
        {n for c in conversations for n in range(len(c.questions))}
    )
    assert "## Own figures\n\nrows: 12" in (out / "results.md").read_text()
    rows = _jsonl(out / "per_question.jsonl")
    asked = [r for r in rows if r["as_of"] is not None]
    takes = "as_of" in inspect.signature(Memory.search).parameters
    assert asked and all(r["as_of_applied"] is takes for r in asked)
    assert all(r["as_of_applied"] is None for r in rows if r["as_of"] is None)
