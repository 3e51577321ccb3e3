"""The shared runner on a small generated data set: what it stores is the data set's
turns, and every row and figure it reports can be computed again, outside the
runner, from the kept store (a search, a provenance expansion, a context per
budget). A change to the runner that changes a figure fails here."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("matplotlib")

from memstrata import Memory
from memstrata.bench import runner
from memstrata.bench.gen import generate_queries, generate_sessions
from memstrata.bench.metrics import (
    KS,
    covered_units,
    expand_provenance,
    mean_scores,
    question_scores,
)
from memstrata.bench.model import (
    Conversation,
    DataIssues,
    Question,
    RunConfig,
    Spec,
    Turn,
    describe,
)

SPEC = Spec(
    name="gen",
    turn_key="tid",
    units=("turn",),
    headline="turn",
    category_names={"fragment": "verbatim fragment"},
    overall=lambda category: category != "identifier",
)
STRATEGIES = ["bm25", "dense"]  # flat strategies: a search again ranks the same


def _conversations() -> list[Conversation]:
    """Two users' generated sessions, one conversation each; a question per query,
    its evidence the query's target turn (and the turn after it, for two-turn
    evidence), one question with no evidence."""
    sessions = generate_sessions(160, seed=7, users=2, session_turns=(20, 45))
    out = []
    for user in sorted({s.user_id for s in sessions}):
        gen_turns = [t for s in sessions if s.user_id == user for t in s.turns]
        turns = [
            Turn(id=f"t{t.index}", session=t.session_id, text=t.text, plain_text=t.text,
                 speaker=t.speaker, role=t.role, occurred_at=t.occurred_at,
                 metadata={"tid": f"t{t.index}"})
            for t in gen_turns
        ]  # fmt: skip
        ids = {t.id for t in turns}
        questions = []
        for n, query in enumerate(generate_queries(gen_turns, 12, seed=7)):
            evidence = [f"t{query.target}"]
            if n % 3 == 0 and f"t{query.target + 1}" in ids:
                evidence.append(f"t{query.target + 1}")
            questions.append(Question(id=f"{user}:q{n}", text=query.text, category=query.kind,
                                      evidence=evidence))  # fmt: skip
        questions.append(Question(id=f"{user}:none", text="anything new?", category="fragment",
                                  skip="no_evidence"))  # fmt: skip
        out.append(Conversation(id=user, user_id=user, source="generated", turns=turns,
                                questions=questions))  # fmt: skip
    return out


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path, list]:
    out = tmp_path_factory.mktemp("gen")
    conversations = _conversations()
    config = RunConfig(data=Path("generated"), out=out, strategies=STRATEGIES, embedder="hash",
                       keep_db=True, progress=False, plots=False, budgets=(300, 1200))  # fmt: skip
    info = describe(conversations)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(runner, "ADD_BATCH", 16)  # several add calls per session
        results = runner.run_benchmark(SPEC, conversations, DataIssues(), info, config,
                                       log=lambda _: None)  # fmt: skip
    return results, out, conversations


def _lookup(memory: Memory, user_id: str) -> Any:
    scope = memory.store_scope(user_id=user_id)
    return lambda ids: {r.id: r for r in memory.store.get_many(list(ids), scope)}


def _unit(record: Any) -> str | None:
    return record.metadata.get("tid")


def _rows(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "per_question.jsonl").read_text().splitlines()]


def test_the_store_holds_every_turn_as_given(run: tuple[dict[str, Any], Path, list]) -> None:
    results, out, conversations = run
    for conv in conversations:
        with Memory(out / "db" / f"gen-{conv.id}.db", embedder="hash") as memory:
            events = [r for r in memory.list(user_id=conv.user_id, limit=1000).records
                      if r.kind == "event"]  # fmt: skip
        by_id = {r.metadata["tid"]: r for r in events}
        assert sorted(by_id) == sorted(t.id for t in conv.turns)
        for turn in conv.turns:
            record = by_id[turn.id]
            assert record.text == turn.text and record.role == turn.role
            assert record.speaker == turn.speaker
            assert record.scope.session_id == turn.session
            assert record.occurred_at.startswith(turn.occurred_at[:19])
    assert results["ingest"]["turns"] == sum(len(c.turns) for c in conversations)
    assert results["ingest"]["conversations"] == 2


def test_rows_are_what_search_and_provenance_give(run: tuple[dict[str, Any], Path, list]) -> None:
    _, out, conversations = run
    rows = _rows(out)
    assert Counter(r["strategy"] for r in rows) == {
        s: sum(len(c.questions) for c in conversations) for s in STRATEGIES
    }
    by_key = {(r["id"], r["strategy"]): r for r in rows}
    for conv in conversations:
        with Memory(out / "db" / f"gen-{conv.id}.db", embedder="hash") as memory:
            lookup = _lookup(memory, conv.user_id)
            for question in conv.questions:
                for strategy in STRATEGIES:
                    hits = memory.search(question.text, k=20, user_id=conv.user_id,
                                         strategy=strategy)  # fmt: skip
                    expansion = expand_provenance([h.record for h in hits], lookup, _unit)
                    row = by_key[(question.id, strategy)]
                    assert row["ranked_turns"] == expansion.units
                    assert row["hits_turns"] == expansion.per_hit
                    if question.skip:
                        assert row["scores"] == {} and row["skip"] == question.skip
                    else:
                        assert row["scores"]["turn"] == question_scores(
                            expansion.units, question.evidence
                        )


def test_context_coverage_is_what_context_gives(run: tuple[dict[str, Any], Path, list]) -> None:
    _, out, conversations = run
    rows = {(r["id"], r["strategy"]): r for r in _rows(out)}
    conv = conversations[0]
    texts = {t.id: t.plain_text for t in conv.turns}
    with Memory(out / "db" / f"gen-{conv.id}.db", embedder="hash") as memory:
        lookup = _lookup(memory, conv.user_id)

        def units_of_ids(ids: Any) -> list[str]:
            found = lookup(ids)
            records = [found[i] for i in ids if i in found]
            return expand_provenance(records, lookup, _unit).units

        for question in conv.questions[:4]:
            row = rows[(question.id, "bm25")]
            for budget in (300, 1200):
                ctx = memory.context(question.text, budget_tokens=budget, user_id=conv.user_id)
                covered = covered_units(ctx, texts, units_of_ids)
                assert row["context_covered"][str(budget)] == covered


def test_figures_are_the_means_of_the_rows(run: tuple[dict[str, Any], Path, list]) -> None:
    results, out, _ = run
    rows = _rows(out)
    assert results["strategy"] == "bm25" and results["strategies"] == STRATEGIES
    for strategy in STRATEGIES:
        mine = [r for r in rows if r["strategy"] == strategy]
        block = results["by_strategy"][strategy]
        overall = [r["scores"]["turn"] for r in mine
                   if r["scores"] and r["category"] != "identifier"]  # fmt: skip
        expected = mean_scores(overall)
        assert block["n_questions"] == expected["n"] == len(overall)
        assert block["recall_at"] == pytest.approx(expected["recall_at"])
        assert block["all_hit_at"] == pytest.approx(expected["all_hit_at"])
        assert block["mrr"] == pytest.approx(expected["mrr"])
        for category, figures in block["by_category"].items():
            scored = [r["scores"]["turn"] for r in mine
                      if r["scores"] and r["category"] == category]  # fmt: skip
            assert figures["n_questions"] == len(scored)
            assert figures["in_overall"] is (category != "identifier")
            assert figures["recall_at"] == pytest.approx(mean_scores(scored)["recall_at"])
        for budget in ("300", "1200"):
            shares = [
                r["context_coverage"][budget]
                for r in mine
                if r["category"] != "identifier" and r["context_coverage"][budget] is not None
            ]
            assert block["context_coverage"][budget] == pytest.approx(sum(shares) / len(shares))
        assert block["latency_ms"]["search_p50"] > 0
    assert set(results["recall_at"]) == {str(k) for k in KS}
    assert results["recall_at"] == results["by_strategy"]["bm25"]["recall_at"]
    assert results["evidence"]["questions_skipped"] == {"no_evidence": 2}
    assert results["by_category"]["fragment"]["name"] == "verbatim fragment"
