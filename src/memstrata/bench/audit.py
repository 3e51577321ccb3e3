"""LoCoMo scored twice: against the evidence its authors cited and against audited
evidence (corrections such as the locomo-audit project's `WRONG_CITATION` rows).

A corrections file is `{"source", "corrections": [{conversation, question_index,
question, cited_evidence, correct_evidence}]}`. `question_index` is the position in
the conversation's `qa` list. `apply_corrections` matches an entry by conversation and
index, checks the question text (an entry whose text differs is counted and not
applied: it was made for another version of the data), and puts the corrected
evidence in the question's `extra["audit"]`; the search itself is the same for both
scorings. `audited_spec` adds the figures of both scorings (`results["figures"]`:
`recall_at` and `recall_at_audited`, the same for all@k, MRR and context coverage,
overall and in `by_category`) and a Markdown section.

>>> corrections = load_corrections(Path("evidence_corrections.json"))
>>> summary = apply_corrections(conversations, corrections)
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from memstrata.bench import report
from memstrata.bench.evidence import parse_evidence
from memstrata.bench.metrics import KS, coverage, mean, mean_scores, question_scores
from memstrata.bench.model import (
    BenchDataError,
    Conversation,
    DataIssues,
    Question,
    Spec,
    read_json,
)
from memstrata.bench.report import fmt_share

_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})


@dataclass(frozen=True)
class Correction:
    """One corrected question: where it is, its text, and both evidence lists."""

    conversation: str
    question_index: int
    question: str
    cited: Any
    correct: Any
    entry: int  # position in the file, for messages


@dataclass(frozen=True)
class Corrections:
    path: Path
    source: str | None
    entries: list[Correction]


def _entry(item: Any, index: int, path: Path) -> Correction:
    where = f"{path}: corrections[{index}]"
    if not isinstance(item, Mapping):
        raise BenchDataError(f"{where} must be an object, got {type(item).__name__}")
    for name in ("conversation", "question_index", "question", "correct_evidence"):
        if name not in item:
            raise BenchDataError(f"{where} has no '{name}' field")
    conversation = item["conversation"]
    if isinstance(conversation, bool) or not isinstance(conversation, (str, int)):
        raise BenchDataError(f"{where}: 'conversation' must be a conversation id (text)")
    position = item["question_index"]
    if isinstance(position, bool) or not isinstance(position, int) or position < 0:
        raise BenchDataError(
            f"{where}: 'question_index' must be an int >= 0 (the position in the "
            f"conversation's qa list), got {position!r:.40}"
        )
    if not isinstance(item["question"], str) or not item["question"].strip():
        raise BenchDataError(f"{where}: 'question' must be the question's text")
    correct = item["correct_evidence"]
    if not isinstance(correct, (list, str)):
        raise BenchDataError(
            f"{where}: 'correct_evidence' must be a list of dia_ids such as [\"D1:3\"]"
        )
    return Correction(
        str(conversation), position, item["question"], item.get("cited_evidence"), correct,
        index,
    )  # fmt: skip


def load_corrections(path: Path) -> Corrections:
    """Read a corrections file; BenchDataError names the file, the entry and the field
    when it is not in the expected shape."""
    path = Path(path)
    data = read_json(path, "evidence corrections")
    if not isinstance(data, Mapping) or not isinstance(data.get("corrections"), list):
        raise BenchDataError(
            f"{path}: expected an object with a 'corrections' list of {{conversation, "
            "question_index, question, cited_evidence, correct_evidence}}"
        )
    source = data.get("source")
    entries = [_entry(item, i, path) for i, item in enumerate(data["corrections"])]
    return Corrections(path, source if isinstance(source, str) else None, entries)


def _same_text(a: str, b: str) -> bool:
    def norm(text: str) -> str:
        return " ".join(unicodedata.normalize("NFKC", text).translate(_QUOTES).casefold().split())

    return norm(a) == norm(b)


def _digits(name: str) -> str:
    return re.sub(r"\D", "", name)


def _find_conversation(conversations: Sequence[Conversation], name: str) -> Conversation | None:
    """By id; else by the number in it ("26" is "conv-26" of locomo10.json)."""
    for conv in conversations:
        if conv.id == name:
            return conv
    number = _digits(name)
    matches = [c for c in conversations if number and _digits(c.id) == number]
    return matches[0] if len(matches) == 1 else None


def apply_corrections(
    conversations: Sequence[Conversation], corrections: Corrections
) -> dict[str, Any]:
    """Put each matching entry's evidence in its question's `extra["audit"]` (ids in
    the conversation as "evidence", others as "unknown"/"malformed"). Returns what
    happened to the entries: applied, and counted by reason when not (or when the
    cited evidence differs from the data's, which is applied but reported)."""
    problems = DataIssues()
    applied = 0
    done: set[str] = set()
    for entry in corrections.entries:
        label = f"entry {entry.entry} ({entry.conversation} q{entry.question_index})"
        conv = _find_conversation(conversations, entry.conversation)
        if conv is None:
            problems.add("conversation_not_found", label)
            continue
        question = _question(conv, entry.question_index)
        if question is None:
            problems.add("question_index_not_found", label)
            continue
        if not _same_text(question.text, entry.question):
            texts = f"{entry.question!r:.50} vs {question.text!r:.50}"
            problems.add("question_text_mismatch", f"{label}: {texts}")
            continue
        if question.id in done:
            problems.add("duplicate_entry_ignored", label)
            continue
        done.add(question.id)
        cited, _, _ = parse_evidence(entry.cited)
        if entry.cited is not None and set(cited) != set(question.evidence + question.unknown):
            problems.add("cited_evidence_differs_from_data", f"{label}: {entry.cited!r:.50}")
        ids, malformed, _ = parse_evidence(entry.correct)
        turn_ids = {t.id for t in conv.turns}
        known = [i for i in ids if i in turn_ids]
        unknown = [i for i in ids if i not in turn_ids]
        if unknown or malformed:
            problems.add("correct_evidence_not_in_conversation", f"{label}: {unknown + malformed}")
        question.extra = {**question.extra, "audit": {
            "evidence": known, "unknown": unknown, "malformed": malformed,
            "cited": entry.cited, "entry": entry.entry,
        }}  # fmt: skip
        applied += 1
    counted = problems.as_dict()
    return {
        "file": str(corrections.path),
        "source": corrections.source,
        "entries": len(corrections.entries),
        "applied": applied,
        "not_applied": len(corrections.entries) - applied,
        "counts": counted["counts"],
        "examples": counted["examples"],
    }


def _question(conv: Conversation, index: int) -> Question | None:
    wanted = f"{conv.id}:q{index}"  # LoCoMo's question ids keep the qa position
    return next((q for q in conv.questions if q.id == wanted), None)


# ------------------------------------------------------------------ scoring


def audited_evidence(row: Mapping[str, Any]) -> list[str] | None:
    """The evidence a row is scored against after the audit (its own when it has no
    correction); None when there is none to score."""
    audit = (row.get("extra") or {}).get("audit")
    if audit is not None:
        return list(audit["evidence"]) or None
    return list(row["evidence"]) if not row["skip"] and row["evidence"] else None


def _coverage(rows: Sequence[Mapping[str, Any]], evidence_of: Callable) -> dict[str, Any]:
    budgets = sorted({b for r in rows for b in (r.get("context_covered") or {})}, key=int)
    out: dict[str, float | None] = {}
    for budget in budgets:
        shares = []
        for row in rows:
            evidence = evidence_of(row)
            covered = (row.get("context_covered") or {}).get(budget)
            if evidence and covered is not None:
                shares.append(coverage(covered, evidence))
        out[budget] = mean(shares)
    return out


def _original(row: Mapping[str, Any]) -> list[str] | None:
    return list(row["evidence"]) if "turn" in row["scores"] else None


def both_scorings(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """recall@k, all@k, MRR and context coverage of `rows` against the original and
    the audited evidence (keys with and without `_audited`)."""
    out: dict[str, Any] = {}
    for suffix, evidence_of in (("", _original), ("_audited", audited_evidence)):
        scores = []
        for row in rows:
            evidence = evidence_of(row)
            if evidence:
                scores.append(question_scores(row["ranked_turns"], evidence))
        summary = mean_scores(scores)
        out[f"n_questions{suffix}"] = summary["n"]
        out[f"recall_at{suffix}"] = summary["recall_at"]
        out[f"all_hit_at{suffix}"] = summary["all_hit_at"]
        out[f"mrr{suffix}"] = summary["mrr"]
        out[f"context_coverage{suffix}"] = _coverage(rows, evidence_of)
    return out


def _corrected(row: Mapping[str, Any]) -> dict[str, Any]:
    audit = row["extra"]["audit"]
    ranked = row["ranked_turns"]
    fixed = audit["evidence"]
    return {
        "id": row["id"],
        "category": row["category"],
        "evidence": row["evidence"],
        "evidence_audited": fixed,
        "recall_at_10": question_scores(ranked, row["evidence"])["recall_at"]["10"]
        if row["evidence"]
        else None,
        "recall_at_10_audited": question_scores(ranked, fixed)["recall_at"]["10"]
        if fixed
        else None,
    }


def audit_figures(
    rows: Sequence[Mapping[str, Any]], overall: Callable[[str], bool]
) -> dict[str, Any]:
    """Both scorings over the categories in the overall figure and per category, and
    the corrected questions one by one."""
    categories = sorted({r["category"] for r in rows}, key=lambda c: (len(c), c))
    corrected = [r for r in rows if "audit" in (r.get("extra") or {})]
    return {
        **both_scorings([r for r in rows if overall(r["category"])]),
        "questions_corrected": len(corrected),
        "by_category": {
            c: {"in_overall": overall(c), **both_scorings([r for r in rows if r["category"] == c])}
            for c in categories
        },
        "corrected_questions": [_corrected(r) for r in corrected],
    }


def audited_spec(spec: Spec) -> Spec:
    """`spec` with the figures of both scorings and their Markdown section."""
    return replace(
        spec,
        figures=lambda rows: audit_figures(rows, spec.overall),
        markdown=lambda results: audit_markdown(results, spec.category_names),
    )


# ----------------------------------------------------------------- markdown


def _pair(fig: Mapping[str, Any], key: str, k: str | None = None) -> str:
    def get(name: str) -> Any:
        value = fig.get(name)
        return value.get(k) if k is not None and isinstance(value, Mapping) else value

    return f"{fmt_share(get(key))} / {fmt_share(get(f'{key}_audited'))}"


def _row(label: Sequence[str], fig: Mapping[str, Any]) -> list[str]:
    return [
        *label,
        f"{fig.get('n_questions')} / {fig.get('n_questions_audited')}",
        *[_pair(fig, "recall_at", str(k)) for k in KS],
        _pair(fig, "all_hit_at", "10"),
        _pair(fig, "mrr"),
    ]


def audit_markdown(results: Mapping[str, Any], names: Mapping[str, str]) -> str:
    """Original / audited figures by strategy and by category, and what happened to
    the corrections."""
    blocks = results["by_strategy"]
    headers = ["questions", *[f"R@{k}" for k in KS], "all@10", "MRR"]
    rows = [_row([s], b.get("figures") or {}) for s, b in blocks.items()]
    by_cat = []
    first = next(iter(blocks.values())).get("figures") or {}
    for cat, info in first.get("by_category", {}).items():
        name = f"{cat} {names[cat]}" if cat in names else cat
        name += "" if info["in_overall"] else " (apart)"
        for strategy, block in blocks.items():
            by_cat.append(_row([name, strategy], block["figures"]["by_category"][cat]))
    summary = results.get("data", {}).get("evidence_corrections") or {}
    counts = ", ".join(f"{k} {v}" for k, v in summary.get("counts", {}).items()) or "none"
    return "\n".join([
        "\n## Audited evidence (original / audited)\n",
        f"Corrections `{summary.get('file')}` ({summary.get('source') or 'no source given'}): "
        f"{summary.get('entries')} entries, {summary.get('applied')} applied; counted: "
        f"{counts}. Each cell is the figure against the cited evidence / against the "
        f"corrected evidence, from the same searches ({first.get('questions_corrected')} "
        "questions corrected).\n",
        report.markdown_table(["strategy", *headers], rows),
        report.markdown_table([results["category_label"], "strategy", *headers], by_cat),
    ])  # fmt: skip


def headline(results: Mapping[str, Any]) -> str:
    """One line per strategy for the terminal: recall@k original / audited."""
    lines = []
    for strategy, block in results["by_strategy"].items():
        fig = block.get("figures") or {}
        cells = ", ".join(f"@{k} {_pair(fig, 'recall_at', str(k))}" for k in KS)
        lines.append(f"{results['dataset']} {strategy}: recall original / audited {cells}")
    return "\n".join(lines)
