"""LongMemEval (Wu et al., ICLR 2025): retrieval over each question's own chat
history, scored at session level (the answer sessions) and at turn level (turns
marked `has_answer`), per question type.

A file is a JSON list of questions; each has `question_id`, `question_type`,
`question`, `question_date`, `haystack_sessions` (lists of `{role, content,
has_answer?}` turns), `haystack_session_ids`, `haystack_dates` and
`answer_session_ids`. Every question's haystack goes into its own fresh store; each
turn is added with its session's date, its role, and `turn_id` ("<session id>:<n>")
and `session` in metadata (`has_answer` is a label, never input). Abstention
questions (ids ending in `_abs`) have no evidence to find: they are counted, not
scored, as in LongMemEval's own retrieval evaluation.

>>> results = run_longmemeval(RunConfig(data=Path("longmemeval_s.json"), out=Path("out")))
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

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
from memstrata.types import ROLES

SEARCH_K = 100  # hits per search: enough distinct sessions for session recall@20
SPEC = Spec(
    name="longmemeval",
    turn_key="turn_id",
    units=("session", "turn"),
    headline="session",
    category_names={},
    overall=lambda category: True,
    category_label="question type",
)
_WEEKDAY = re.compile(r"\([A-Za-z]{3}\)")
_REQUIRED = ("question", "haystack_sessions", "haystack_session_ids")


def parse_date(text: Any) -> str | None:
    """ "2023/05/20 (Sat) 02:21" -> "2023-05-20T02:21:00Z"; None if unreadable."""
    if not isinstance(text, str):
        return None
    cleaned = " ".join(_WEEKDAY.sub(" ", text).split())
    for fmt in ("%Y/%m/%d %H:%M", "%Y/%m/%d", "%Y-%m-%d %H:%M", "%Y-%m-%d"):
        try:
            moment = datetime.strptime(cleaned, fmt)
        except ValueError:
            continue
        return moment.replace(tzinfo=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return None


def _list(item: Mapping[str, Any], key: str, where: str, length: int | None = None) -> list:
    value = item.get(key)
    if not isinstance(value, list):
        raise BenchDataError(f"{where}: '{key}' must be a list, got {type(value).__name__}")
    if length is not None and len(value) != length:
        raise BenchDataError(
            f"{where}: '{key}' has {len(value)} entries but haystack_sessions has {length}"
        )
    return value


def _session_turns(
    session: Any, sid: str, date: str | None, where: str, qid: str, issues: DataIssues
) -> tuple[list[Turn], list[str]]:
    """The turns of one haystack session and the ids of those marked has_answer."""
    if not isinstance(session, list):
        raise BenchDataError(f"{where}: session {sid!r} must be a list of turns")
    turns, answers = [], []
    for index, turn in enumerate(session):
        if not isinstance(turn, Mapping):
            raise BenchDataError(f"{where}: session {sid!r} turn {index} must be an object")
        tid = f"{sid}:{index}"
        content = turn.get("content")
        if not isinstance(content, str) or not content.strip():
            issues.add("empty_turn_not_added", f"{qid} {tid}")
            if turn.get("has_answer") is True:
                issues.add("answer_turn_empty", f"{qid} {tid}")
            continue
        role = turn.get("role")
        if role not in ROLES:
            issues.add("unknown_role", f"{qid} {tid}: {role!r:.30}")
            role = None
        turns.append(Turn(
            id=tid, session=sid, text=content, plain_text=content.strip(), role=role,
            occurred_at=date, metadata={"turn_id": tid, "session": sid},
        ))  # fmt: skip
        if turn.get("has_answer") is True:
            answers.append(tid)
    return turns, answers


def _conversation(item: Any, index: int, source: Path, issues: DataIssues) -> Conversation:
    where = f"{source}, entry {index}"
    if not isinstance(item, Mapping):
        raise BenchDataError(f"{where}: expected a question object, got {type(item).__name__}")
    qid = str(item.get("question_id", f"q{index}"))
    where = f"{where} (question_id {qid})"
    missing = [k for k in _REQUIRED if k not in item]
    if missing:
        raise BenchDataError(f"{where}: missing {', '.join(missing)}; not LongMemEval data")
    sessions = _list(item, "haystack_sessions", where)
    sids = [str(s) for s in _list(item, "haystack_session_ids", where, len(sessions))]
    dates = item.get("haystack_dates")
    dates = [None] * len(sessions) if dates is None else _list(item, "haystack_dates", where,
                                                                len(sessions))  # fmt: skip
    turns: list[Turn] = []
    answer_turns: list[str] = []
    seen: Counter[str] = Counter()
    for sid, session, raw_date in zip(sids, sessions, dates):
        seen[sid] += 1
        if seen[sid] > 1:
            issues.add("duplicate_session_id", f"{qid} {sid}")
            sid = f"{sid}~{seen[sid]}"
        date = parse_date(raw_date)
        if date is None:
            issues.add("session_without_date", f"{qid} {sid}: {raw_date!r:.40}")
        made, answers = _session_turns(session, sid, date, where, qid, issues)
        turns.extend(made)
        answer_turns.extend(answers)
    text = item.get("question")
    if not isinstance(text, str) or not text.strip():
        raise BenchDataError(f"{where}: 'question' must be a non-empty string")
    return Conversation(
        id=qid, user_id=f"q{index}", source=str(source), turns=turns,
        questions=[_question(item, qid, text.strip(), set(sids), answer_turns)],
    )  # fmt: skip


def _question(
    item: Mapping[str, Any], qid: str, text: str, sids: set[str], answer_turns: list[str]
) -> Question:
    raw = item.get("answer_session_ids")
    answer_sessions = [str(s) for s in raw] if isinstance(raw, list) else []
    malformed = [] if raw is None or isinstance(raw, list) else [repr(raw)[:80]]
    evidence_sessions = [s for s in dict.fromkeys(answer_sessions) if s in sids]
    unknown = [s for s in dict.fromkeys(answer_sessions) if s not in sids]
    skip = None
    if qid.endswith("_abs"):
        skip = "abstention"
    elif not evidence_sessions and not answer_turns:
        skip = "evidence_not_in_haystack" if unknown or malformed else "no_evidence"
    return Question(
        id=qid, text=text, category=str(item.get("question_type", "unknown")),
        evidence=answer_turns, evidence_sessions=evidence_sessions, raw_evidence=raw,
        unknown=unknown, malformed=malformed, skip=skip,
    )  # fmt: skip


def load_longmemeval(path: Path) -> tuple[list[Conversation], DataIssues, dict[str, Any]]:
    """Read a LongMemEval file: one Conversation (its haystack) per question.
    BenchDataError names the file, entry and field when the data cannot be read."""
    path = Path(path)
    data = read_json(path, "LongMemEval")
    if not isinstance(data, list):
        raise BenchDataError(
            f"{path}: expected a JSON list of LongMemEval questions, got {type(data).__name__}"
        )
    if not data:
        raise BenchDataError(f"{path}: the list of questions is empty")
    issues = DataIssues()
    conversations = [_conversation(item, i, path, issues) for i, item in enumerate(data)]
    ids = Counter(c.id for c in conversations)
    for qid, count in ids.items():
        if count > 1:
            issues.add("duplicate_question_id", qid, count - 1)
    return conversations, issues, _info(path, conversations)


def _info(path: Path, conversations: list[Conversation]) -> dict[str, Any]:
    types = Counter(q.category for c in conversations for q in c.questions)
    return {
        "path": str(path),
        "layout": "LongMemEval list of questions",
        "files": [path.name],
        **describe(conversations),
        "question_types": dict(sorted(types.items())),
    }


def run_longmemeval(config: RunConfig) -> dict[str, Any]:
    """Load the file, run every strategy, write the outputs; return results.json's dict."""
    conversations, issues, info = load_longmemeval(config.data)
    if config.limit is not None:
        conversations = conversations[: config.limit]
        info = {**_info(config.data, conversations), "limited_to": config.limit}
    return run_benchmark(SPEC, conversations, issues, info, config)
