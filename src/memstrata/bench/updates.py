"""`memstrata bench updates`: does search find a person's current value of an
attribute, the value before a change, and the value at a past date?

The conversations are generated (`updates_gen`, no external data): each person
states values of a few attributes and changes them once or twice, among small talk,
replies and other people's values. Every question's evidence is the one turn that
holds its answer; its `extra` names the turn of every value the attribute had, the
distractor turns, and how each value was worded. The shared runner measures
recall@k by question form; `update_figures` adds, per strategy, overall and by
attribute:

- current: the share of questions where the current value's turn ranks above every
  older value's turn ("above older"; an older turn that is not retrieved ranks below),
  at rank 1, within 5; and, of questions with distractor turns, the share where one
  ranks above the current value's turn;
- before: the older value's turn at rank 1 and within 5; and any turn that says
  the older value was the person's within 5 (its own turn, or the named value's turn
  when that also names the one it replaced: "I left Lisbon and settled in Porto");
- as_of: the value's turn at rank 1 and within 5 when `search` took `as_of`; when it
  does not, these are null ("not applicable") and the questions are counted.

>>> results = run_updates(RunConfig(data=Path("generated"), out=Path("out")), people=5)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from memstrata.bench import plots, report
from memstrata.bench.model import (
    Conversation,
    DataIssues,
    Question,
    RunConfig,
    Spec,
    Turn,
    describe,
)
from memstrata.bench.report import fmt_share
from memstrata.bench.runner import run_benchmark
from memstrata.bench.updates_gen import FORMS, GenConversation, GenQuestion, generate
from memstrata.bench.updates_pool import SPLITS
from memstrata.errors import InvalidInput

DEFAULT_PEOPLE = 30
FORM_NAMES = {"current": "current value", "before": "value before a change",
              "as_of": "value at a date"}  # fmt: skip
Row = Mapping[str, Any]


# ------------------------------------------------------------------ figures


def rank_of(ranked: Sequence[str], turn: str) -> int | None:
    """1-based rank of `turn` among the ranked turns, None when it was not retrieved."""
    try:
        return ranked.index(turn) + 1
    except ValueError:
        return None


def _share(count: int, n: int) -> float | None:
    return count / n if n else None


def _current(rows: Sequence[Row]) -> dict[str, Any]:
    above = at_1 = within_5 = with_distractors = distracted = 0
    for row in rows:
        ranked, extra = row["ranked_turns"], row["extra"]
        current = rank_of(ranked, extra["current_turn"])
        older = [rank_of(ranked, t) for t in extra["older_turns"]]
        if current is not None and all(r is None or r > current for r in older):
            above += 1
        at_1 += current == 1
        within_5 += current is not None and current <= 5
        if extra["distractor_turns"]:
            with_distractors += 1
            ranks = [rank_of(ranked, t) for t in extra["distractor_turns"]]
            distracted += any(r is not None and (current is None or r < current) for r in ranks)
    n = len(rows)
    return {
        "n": n,
        "above_older": _share(above, n),
        "at_1": _share(at_1, n),
        "within_5": _share(within_5, n),
        "with_distractors": with_distractors,
        "distractor_above": _share(distracted, with_distractors),
    }


def _target(rows: Sequence[Row], key: str = "turn") -> tuple[float | None, float | None]:
    """Shares of rows whose best-ranked turn among extra[key] (a turn or a list of
    turns) is at rank 1, and within 5."""
    ranks = []
    for row in rows:
        wanted = row["extra"][key]
        found = [rank_of(row["ranked_turns"], t) for t in ([wanted] if isinstance(wanted, str)
                                                            else wanted)]  # fmt: skip
        ranks.append(min((r for r in found if r is not None), default=None))
    at_1 = sum(r == 1 for r in ranks)
    within_5 = sum(r is not None and r <= 5 for r in ranks)
    return _share(at_1, len(rows)), _share(within_5, len(rows))


def _before(rows: Sequence[Row]) -> dict[str, Any]:
    at_1, within_5 = _target(rows)
    _, any_within_5 = _target(rows, "answer_turns")
    return {"n": len(rows), "older_at_1": at_1, "older_within_5": within_5,
            "answer_within_5": any_within_5}  # fmt: skip


def _as_of(rows: Sequence[Row]) -> dict[str, Any]:
    applied = [r for r in rows if r.get("as_of_applied") is True]
    at_1, within_5 = _target(applied)
    return {
        "n": len(rows),
        "applied": len(applied),
        "not_applied": len(rows) - len(applied),
        "at_1": at_1,
        "within_5": within_5,
    }


def _forms(rows: Sequence[Row]) -> dict[str, Any]:
    def form(name: str) -> list[Row]:
        return [r for r in rows if r["extra"]["form"] == name]

    return {
        "questions": len(rows),
        "current": _current(form("current")),
        "before": _before(form("before")),
        "as_of": _as_of(form("as_of")),
    }


def _group(rows: Sequence[Row], key: str) -> dict[str, list[Row]]:
    groups: dict[str, list[Row]] = {}
    for row in rows:
        groups.setdefault(str(row["extra"][key]), []).append(row)
    return dict(sorted(groups.items()))


def update_figures(rows: Sequence[Row]) -> dict[str, Any]:
    """The suite's figures from one strategy's rows (keys in the module docstring):
    overall, `by_attribute` (every form), and for current-value questions
    `by_wording` (how the current value was said), `by_density` (of distractors) and
    `by_other_speaker` (an assistant or a friend)."""
    rows = [r for r in rows if r.get("extra", {}).get("form") in FORMS]
    current = [r for r in rows if r["extra"]["form"] == "current"]
    return {
        **_forms(rows),
        "by_attribute": {k: _forms(v) for k, v in _group(rows, "attribute").items()},
        "by_wording": {k: _current(v) for k, v in _group(current, "current_wording").items()},
        "by_density": {k: _current(v) for k, v in _group(current, "density").items()},
        "by_other_speaker": {k: _current(v) for k, v in _group(current, "other_speaker").items()},
    }


# ------------------------------------------------------------------ Markdown


def _as_of_cell(block: Mapping[str, Any]) -> str:
    if block["n"] and not block["applied"]:
        return f"n/a ({block['not_applied']} not applied)"
    return f"{fmt_share(block['at_1'])} / {fmt_share(block['within_5'])}"


def _overall_table(results: Mapping[str, Any]) -> str:
    rows = []
    for strategy, block in results["by_strategy"].items():
        fig = block["figures"]
        cur, bef, aof = fig["current"], fig["before"], fig["as_of"]
        rows.append([
            strategy, cur["n"], fmt_share(cur["above_older"]), fmt_share(cur["at_1"]),
            fmt_share(cur["within_5"]),
            f"{fmt_share(cur['distractor_above'])} ({cur['with_distractors']})",
            bef["n"], fmt_share(bef["older_at_1"]), fmt_share(bef["older_within_5"]),
            fmt_share(bef["answer_within_5"]),
            aof["n"], _as_of_cell(aof),
        ])  # fmt: skip
    return report.markdown_table(
        ["strategy", "current Qs", "above older", "current @1", "current @5",
         "distractor above (Qs)", "before Qs", "older @1", "older @5", "answer @5", "as-of Qs",
         "value @1 / @5 at date"],
        rows,
    )  # fmt: skip


def _by_table(
    results: Mapping[str, Any], group: str, label: str, cell: Callable[[Mapping[str, Any]], str]
) -> str:
    blocks = results["by_strategy"]
    keys = list(dict.fromkeys(k for b in blocks.values() for k in b["figures"][group]))
    rows = []
    for key in keys:
        found = [b["figures"][group].get(key) for b in blocks.values()]
        n = next((f["questions"] if "questions" in f else f["n"] for f in found if f), 0)
        rows.append([key, n, *[cell(f) if f else "-" for f in found]])
    counted = "Qs (all forms)" if group == "by_attribute" else "current Qs"
    return report.markdown_table([label, counted, *blocks], rows)


def _attribute_cell(forms: Mapping[str, Any]) -> str:
    cur, bef = forms["current"], forms["before"]
    cells = (cur["above_older"], cur["at_1"], bef["older_within_5"])
    return " / ".join(fmt_share(value) for value in cells)


def _current_cell(block: Mapping[str, Any]) -> str:
    return f"{fmt_share(block['above_older'])} / {fmt_share(block['at_1'])}"


def updates_markdown(results: Mapping[str, Any]) -> str:
    """The suite's section of results.md."""
    gen = results["data"].get("generator", {})
    as_of = results["figures"]["as_of"]
    note = (
        f"`search` took no `as_of` in this run: the {as_of['not_applied']} value-at-a-date "
        "questions are not applicable for rank at the date (never counted as zero); their "
        "recall above is of the question text alone."
        if as_of["n"] and not as_of["applied"]
        else "`search` took each value-at-a-date question's date as `as_of`."
    )
    return "\n".join([
        "\n## Knowledge updates\n",
        f"Generated suite: split `{gen.get('split')}`, seed {gen.get('seed')}, "
        f"{gen.get('people')} people. Ranks are of the distinct turns the hits stand for. "
        "Above older: the current value's turn ranks above every older value's turn (one "
        "not retrieved ranks below). Distractor above: of the current-value questions with "
        "turns that name someone else's value, a plan or an old value in the past tense, the "
        "share where one of them ranks above the current value's turn. Older @k: the value "
        "before the named one, for before questions; answer @5: that turn or the named value's "
        "turn when it also names the value it replaced. " + note + "\n",
        _overall_table(results),
        "\n### By attribute\n",
        "Cells: current above older / current @1 / older @5 (before questions).\n",
        _by_table(results, "by_attribute", "attribute", _attribute_cell),
        "\n### By how the current value was said\n",
        "Cells: above older / current @1.\n",
        _by_table(results, "by_wording", "wording", _current_cell),
        "\n### By density of distractors\n",
        _by_table(results, "by_density", "density", _current_cell),
        "\n### By the other speaker\n",
        _by_table(results, "by_other_speaker", "other speaker", _current_cell),
    ])  # fmt: skip


# ------------------------------------------------------------------- plot

_HEADLINES = (("current", "above_older", "current above older"),
              ("current", "at_1", "current @1"), ("current", "within_5", "current @5"),
              ("before", "older_within_5", "older @5 (before)"),
              ("as_of", "at_1", "value @1 at date"))  # fmt: skip


def write_plot(results: Mapping[str, Any], out: Path) -> Path:
    """updates.png: the headline figures per strategy (a figure that is not applicable
    is left out and says so), and current above older per attribute."""
    blocks = {s: b["figures"] for s, b in results["by_strategy"].items()}
    attributes = sorted({a for f in blocks.values() for a in f["by_attribute"]})
    labels = [label for _, _, label in _HEADLINES]
    if all(f["as_of"]["n"] and not f["as_of"]["applied"] for f in blocks.values()):
        labels[-1] += "\n(n/a: search takes no as_of)"
    overall = plots.BarPanel(
        "overall", labels,
        {s: [f[form][key] for form, key, _ in _HEADLINES] for s, f in blocks.items()},
        xlabel="share of questions",
    )  # fmt: skip
    by_attribute = plots.BarPanel(
        "current above older, by attribute", attributes,
        {s: [f["by_attribute"].get(a, {}).get("current", {}).get("above_older")
             for a in attributes] for s, f in blocks.items()},
        xlabel="share of current-value questions",
    )  # fmt: skip
    gen = results["data"].get("generator", {})
    title = (f"updates ({gen.get('split')} split, {gen.get('people')} people, "
             f"{results['config']['embedder']})")  # fmt: skip
    return plots.bars_plot(out / "updates.png", [overall, by_attribute], title=title)


SPEC = Spec(
    name="updates",
    turn_key="turn_id",
    units=("turn",),
    headline="turn",
    category_names=FORM_NAMES,
    overall=lambda form: True,
    category_label="question form",
    figures=update_figures,
    markdown=updates_markdown,
)


# ---------------------------------------------------------------------- run


def _extra(
    question: GenQuestion, conv: GenConversation, wording: Mapping[str, str]
) -> dict[str, Any]:
    history = question.history
    return {
        "attribute": question.attribute,
        "form": question.form,
        "value": question.value,
        "turn": question.turn,
        "named_value": question.named_value,
        "answer_turns": [question.turn, *question.also],
        "values": [asdict(span) for span in history],
        "current_turn": history[-1].turn,
        "older_turns": [s.turn for s in history[:-1]],
        "distractor_turns": list(question.distractors),
        "wording": wording[question.turn],
        "current_wording": history[-1].wording,
        "density": conv.density,
        "other_speaker": "assistant" if conv.other is None else "friend",
        "template": question.template,
    }


def to_conversations(suite: Sequence[GenConversation]) -> list[Conversation]:
    """The generated conversations as the shared runner takes them. Only the words,
    speakers, roles and dates are input; the labels stay in the questions' extras."""
    out = []
    for conv in suite:
        turns = [
            Turn(id=t.id, session=t.session, text=t.text, plain_text=t.text, speaker=t.speaker,
                 role=t.role, occurred_at=t.at, metadata={"turn_id": t.id})
            for t in conv.turns
        ]  # fmt: skip
        wording = {t.id: t.wording or "" for t in conv.turns}
        questions = [
            Question(id=q.id, text=q.text, category=q.form, evidence=[q.turn],
                     raw_evidence=q.turn, as_of=q.as_of, extra=_extra(q, conv, wording))
            for q in conv.questions
        ]  # fmt: skip
        out.append(Conversation(conv.id, conv.person.lower(), f"generated ({conv.split})",
                                turns, questions))  # fmt: skip
    return out


def check_options(people: Any, seed: Any, split: Any) -> None:
    """InvalidInput naming the option when the suite cannot be generated."""
    if isinstance(people, bool) or not isinstance(people, int) or people < 1:
        raise InvalidInput(f"--people must be a whole number >= 1; got {people!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InvalidInput(f"--seed must be a whole number >= 0; got {seed!r}")
    if split not in SPLITS:
        raise InvalidInput(f"--split must be one of {', '.join(SPLITS)}; got {split!r}")


def suite_info(suite: Sequence[GenConversation], conversations: Sequence[Conversation],
               people: int, seed: int, split: str) -> dict[str, Any]:  # fmt: skip
    """What was generated: counts by form, attribute, wording and density."""
    questions = [q for c in suite for q in c.questions]
    turns = [t for c in suite for t in c.turns]
    return {
        "path": None,
        "layout": "generated knowledge-update conversations",
        "generator": {"split": split, "seed": seed, "people": people},
        **describe(conversations),
        "question_forms": dict(sorted(Counter(q.form for q in questions).items())),
        "attributes": dict(sorted(Counter(q.attribute for q in questions).items())),
        "turn_kinds": dict(sorted(Counter(t.kind for t in turns).items())),
        "value_wordings": dict(sorted(
            Counter(t.wording for t in turns if t.kind == "value").items())),
        "distractor_kinds": dict(sorted(
            Counter(t.wording for t in turns if t.kind == "distractor").items())),
        "densities": dict(sorted(Counter(c.density for c in suite).items())),
        "other_speakers": dict(Counter("assistant" if c.other is None else "friend"
                                       for c in suite)),
    }  # fmt: skip


def _suite_json(suite: Sequence[GenConversation]) -> dict[str, Any]:
    return {"conversations": [asdict(c) for c in suite]}


def run_updates(
    config: RunConfig, *, people: int = DEFAULT_PEOPLE, seed: int = 0, split: str = "dev"
) -> dict[str, Any]:
    """Generate the suite, run every strategy, write the outputs (and `suite.json`,
    the generated conversations and questions, and with plots on `updates.png`);
    return results.json's dict."""
    check_options(people, seed, split)
    suite = generate(people, seed=seed, split=split)
    if config.limit is not None:
        suite = suite[: config.limit]
    conversations = to_conversations(suite)
    info = suite_info(suite, conversations, people, seed, split)
    if config.limit is not None:
        info["limited_to"] = config.limit
    config.out.mkdir(parents=True, exist_ok=True)
    report.write_json(config.out / "suite.json", _suite_json(suite))
    results = run_benchmark(SPEC, conversations, DataIssues(), info, config)
    if config.plots:
        write_plot(results, config.out)
    return results


def default_data_label(people: int, seed: int, split: str) -> Path:
    """What results.json's config.data says for a generated suite."""
    return Path(f"generated:updates/{split}/seed-{seed}/people-{people}")
