"""LoCoMo (Maharana et al., ACL 2024): evidence recall of search on very long
conversations, at turn level.

`load_locomo(path)` reads either the official `locomo10.json` (a list of samples
with `sample_id`, `conversation`, `qa`) or a folder of per-conversation files
(`speaker_a`, `speaker_b`, `session_N`, `session_N_date_time`, `qa`). Only the
turns and their session dates are input: the authors' annotations (`events_*`,
`*_observation`, `*_summary`) hold answers and are never read.

Each turn becomes one message: the speaker as `name`, role "user" (both speakers
are people), the session's date as `occurred_at`, `dia_id` in metadata; a shared
photo's `blip_caption` is appended to the text as "[shared a photo: …]" and kept in
metadata (the photo's URL and the authors' image `query` are not input). With
`speaker_in_text` (an ablation of the input, off by default) the text also starts
with "Speaker: ", for engines that neither embed nor index the speaker field.

>>> results = run_locomo(RunConfig(data=Path("locomo10.json"), out=Path("out")))
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from memstrata.bench import audit
from memstrata.bench.evidence import parse_evidence
from memstrata.bench.model import (
    BenchDataError,
    Conversation,
    DataIssues,
    Question,
    RunConfig,
    Spec,
    Turn,
    describe,
    read_json,
)
from memstrata.bench.runner import run_benchmark

CATEGORY_NAMES = {
    "1": "multi-hop",
    "2": "temporal",
    "3": "open-domain",
    "4": "single-hop",
    "5": "adversarial",
}
OVERALL_CATEGORIES = frozenset({"1", "2", "3", "4"})
SPEC = Spec(
    name="locomo",
    turn_key="dia_id",
    units=("turn",),
    headline="turn",
    category_names=CATEGORY_NAMES,
    overall=lambda category: category in OVERALL_CATEGORIES,
)

_SESSION = re.compile(r"^session_(\d+)$")
_DATE_FORMATS = ("%I:%M %p on %d %B, %Y", "%I:%M %p on %d %b, %Y", "%I:%M %p on %d %B %Y")


def parse_session_date(text: Any) -> str | None:
    """ "1:56 pm on 8 May, 2023" -> "2023-05-08T13:56:00Z"; None if unreadable."""
    if not isinstance(text, str):
        return None
    cleaned = " ".join(text.split())
    for fmt in _DATE_FORMATS:
        try:
            moment = datetime.strptime(cleaned, fmt)
        except ValueError:
            continue
        return moment.replace(tzinfo=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return None


def _sort_key(path: Path) -> tuple[int, int, str]:
    return (0, int(path.stem), path.name) if path.stem.isdigit() else (1, 0, path.name)


def _samples(data: Any, source: Path) -> Iterator[tuple[str, Mapping[str, Any], Any]]:
    """(sample id, conversation dict, qa) from either layout."""
    items = data if isinstance(data, list) else [data]
    for index, item in enumerate(items):
        where = f"{source}" if not isinstance(data, list) else f"{source}, sample {index}"
        if not isinstance(item, Mapping):
            raise BenchDataError(f"{where}: expected a JSON object, got {type(item).__name__}")
        if "conversation" in item:
            conv = item["conversation"]
            if not isinstance(conv, Mapping):
                raise BenchDataError(f"{where}: 'conversation' must be an object")
        elif any(_SESSION.match(str(k)) for k in item):
            conv = item
        else:
            raise BenchDataError(
                f"{where}: not LoCoMo data: expected a list of samples with 'conversation' and "
                "'qa' (locomo10.json) or a conversation object with speaker_a, session_N and "
                f"qa; found keys {', '.join(sorted(map(str, item))[:8]) or 'none'}"
            )
        if "qa" not in item:
            raise BenchDataError(f"{where}: has no 'qa' list of questions")
        default_id = source.stem if not isinstance(data, list) else f"{source.stem}-{index}"
        sample_id = item.get("sample_id", default_id)
        yield str(sample_id), conv, item["qa"]


def _turns(conv: Mapping[str, Any], sample: str, where: str, issues: DataIssues) -> list[Turn]:
    numbered = sorted((int(m.group(1)), key) for key in conv if (m := _SESSION.match(str(key))))
    sessions = [key for _, key in numbered]
    if not sessions:
        raise BenchDataError(f"{where}: no session_N turn lists in the conversation")
    turns: list[Turn] = []
    seen: set[str] = set()
    for key in sessions:
        session = conv[key]
        if not isinstance(session, list):
            raise BenchDataError(f"{where}: {key} must be a list of turns")
        date = parse_session_date(conv.get(f"{key}_date_time"))
        if date is None:
            issues.add("session_without_date", f"{sample} {key}: {conv.get(f'{key}_date_time')!r}")
        for index, turn in enumerate(session):
            if not isinstance(turn, Mapping):
                raise BenchDataError(f"{where}: {key}[{index}] must be an object")
            made = _turn(turn, key, index, date, sample, issues)
            if made is None:
                continue
            if made.id in seen:
                issues.add("duplicate_dia_id", f"{sample} {made.id}")
            seen.add(made.id)
            turns.append(made)
    return turns


def _text(turn: Mapping[str, Any], key: str) -> str:
    value = turn.get(key)
    return value if isinstance(value, str) else ""


def _turn(
    turn: Mapping[str, Any], session: str, index: int, date: str | None, sample: str,
    issues: DataIssues,
) -> Turn | None:  # fmt: skip
    dia_id = turn.get("dia_id")
    if not isinstance(dia_id, str) or not dia_id.strip():
        dia_id = f"{session}#{index}"
        issues.add("turn_without_dia_id", f"{sample} {session}[{index}]")
    text, caption = _text(turn, "text"), _text(turn, "blip_caption")
    content = " ".join(p for p in (text.strip(), caption and f"[shared a photo: {caption}]") if p)
    if not content:
        issues.add("empty_turn_not_added", f"{sample} {dia_id}")
        return None
    speaker = _text(turn, "speaker").strip()[:256] or None
    metadata: dict[str, Any] = {"dia_id": dia_id}
    if caption:
        metadata["blip_caption"] = caption
    return Turn(
        id=dia_id, session=session, text=content, plain_text=text.strip() or content,
        speaker=speaker,
        role="user", occurred_at=date, metadata=metadata,
    )  # fmt: skip


def _questions(
    qa: Any, sample: str, where: str, turn_ids: set[str], issues: DataIssues
) -> list[Question]:
    if not isinstance(qa, list):
        raise BenchDataError(f"{where}: 'qa' must be a list of questions")
    questions = []
    for index, item in enumerate(qa):
        qid = f"{sample}:q{index}"
        if not isinstance(item, Mapping):
            issues.add("question_not_an_object", f"{qid}: {item!r:.60}")
            continue
        text = item.get("question")
        if not isinstance(text, str) or not text.strip():
            issues.add("question_without_text", qid)
            continue
        ids, malformed, repaired = parse_evidence(item.get("evidence"))
        if repaired:
            example = f"{qid}: {item.get('evidence')!r:.60}"
            issues.add("evidence_entries_repaired", example, repaired)
        evidence = [i for i in ids if i in turn_ids]
        unknown = [i for i in ids if i not in turn_ids]
        skip = None
        if not evidence:
            skip = "evidence_not_in_conversation" if ids or malformed else "no_evidence"
        category = item.get("category")
        questions.append(Question(
            id=qid, text=text.strip(), category="unknown" if category is None else str(category),
            evidence=evidence, raw_evidence=item.get("evidence"), unknown=unknown,
            malformed=malformed, skip=skip,
        ))  # fmt: skip
    return questions


def load_locomo(path: Path) -> tuple[list[Conversation], DataIssues, dict[str, Any]]:
    """Read LoCoMo in either layout. BenchDataError names the file and what is wrong
    when the data cannot be read; smaller problems are counted in the DataIssues."""
    path = Path(path)
    if not path.exists():
        raise BenchDataError(
            f"LoCoMo data {path} does not exist; pass locomo10.json or a folder of "
            "per-conversation JSON files"
        )
    if path.is_dir():
        files = sorted(path.glob("*.json"), key=_sort_key)
        if not files:
            raise BenchDataError(f"LoCoMo folder {path} holds no .json files")
        layout = "folder of conversation files"
    else:
        files, layout = [path], "single file"
    issues = DataIssues()
    conversations: list[Conversation] = []
    ids: set[str] = set()
    for file in files:
        data = read_json(file, "LoCoMo")
        if isinstance(data, list) and path.is_file():
            layout = "locomo10.json (list of samples)"
        for sample, conv, qa in _samples(data, file):
            if sample in ids:
                raise BenchDataError(f"{file}: sample id {sample!r} appears twice in {path}")
            ids.add(sample)
            where = f"{file} (sample {sample})"
            turns = _turns(conv, sample, where, issues)
            questions = _questions(qa, sample, where, {t.id for t in turns}, issues)
            conversations.append(Conversation(sample, sample, str(file), turns, questions))
    info = {"path": str(path), "layout": layout, "files": [f.name for f in files]}
    return conversations, issues, {**info, **_describe(conversations)}


def _describe(conversations: list[Conversation]) -> dict[str, Any]:
    photos = sum("blip_caption" in t.metadata for c in conversations for t in c.turns)
    return {**describe(conversations), "turns_with_photo_caption": photos}


def with_speaker_in_text(conversations: list[Conversation]) -> list[Conversation]:
    """The same conversations with each turn's text prefixed by "Speaker: " (its
    `plain_text`, used for context coverage, stays the turn's own words)."""

    def prefixed(turn: Turn) -> Turn:
        return replace(turn, text=f"{turn.speaker}: {turn.text}") if turn.speaker else turn

    return [replace(c, turns=[prefixed(t) for t in c.turns]) for c in conversations]


def run_locomo(config: RunConfig, corrections: Path | None = None) -> dict[str, Any]:
    """Load the data, run every strategy, write the outputs; return results.json's dict.
    With `corrections` (a file of audited evidence, `bench.audit`) every figure is also
    scored against the corrected evidence, in results["figures"]."""
    conversations, issues, info = load_locomo(config.data)
    if config.speaker_in_text:
        conversations = with_speaker_in_text(conversations)
    if config.limit is not None:
        conversations = conversations[: config.limit]
        info = {**info, **_describe(conversations), "limited_to": config.limit}
    spec = SPEC
    if corrections is not None:
        summary = audit.apply_corrections(conversations, audit.load_corrections(corrections))
        info = {**info, "evidence_corrections": summary}
        spec = audit.audited_spec(SPEC)
    return run_benchmark(spec, conversations, issues, info, config)
