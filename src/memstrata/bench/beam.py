"""BEAM (Tavakoli et al., "Beyond a Million Tokens", ICLR 2026): evidence recall of
search on long user-assistant chats, at message level, per ability (the ten kinds of
probing question).

`load_beam(path)` finds every `chat.json` under `path` (or `path` itself, a chat
folder or its `chat.json`) and its questions: `probing_questions/probing_questions.json`
beside it (the BEAM repository's layout) or `probing_questions.json` in the chat
folder (a flat copy). Only those two files are read: the plans, labels and pickles
the repository keeps beside a chat are answers-adjacent or unsafe, never opened.

`chat.json` is a list of batches `{batch_number, time_anchor, turns}`; `turns` is a
list of exchanges, each a list of messages `{role, id, content, time_anchor?}`. Every
message becomes one turn, in order, with its role and its `id` in metadata
(`message_id`, the key the evidence names). A session is a batch: a batch is the
chat's unit of time (it carries the date the conversation is set at) and the only
grouping the data gives above an exchange of a few messages. The batch's
`time_anchor` ("March-15-2024") dates its first message, the next ones follow one
second apart; a message's own `time_anchor` restarts the clock there (in BEAM's
100K chats the batches' anchors are null and the first message of each batch holds
it); a batch with no date continues the previous one's clock, counted.

Evidence is `source_chat_ids`: message ids as a list, or a dict of lists
(`original_info`/`updated_info`, `first_statement`/`second_statement`,
`first_event`/`second_event`), kept by part for the ability figures
(`bench.abilities`). Malformed ids are counted, never fatal; questions without ids
(abstention) are counted, not scored.

>>> results = run_beam(RunConfig(data=Path("BEAM/chats/100K"), out=Path("out")))
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from memstrata.bench import abilities, report
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
from memstrata.bench.report import fmt_number, fmt_share
from memstrata.bench.runner import run_benchmark

BUDGETS: tuple[int, ...] = (500, 1000, 2000, 4000)
SEARCH_K = 20
ABILITIES: tuple[str, ...] = (
    "abstention", "contradiction_resolution", "event_ordering", "information_extraction",
    "instruction_following", "knowledge_update", "multi_session_reasoning",
    "preference_following", "summarization", "temporal_reasoning",
)  # fmt: skip
CHAT_FILE = "chat.json"
QUESTIONS_FILE = "probing_questions.json"
_ROLES = ("user", "assistant")
_ANCHOR_FORMATS = ("%B-%d-%Y", "%b-%d-%Y", "%Y-%m-%d", "%B %d, %Y", "%b %d, %Y")
_DIGITS = re.compile(r"^\s*\d+\s*$")


def _markdown(results: Mapping[str, Any]) -> str:
    return abilities_markdown(results)


SPEC = Spec(
    name="beam",
    turn_key="message_id",
    units=("turn",),
    headline="turn",
    category_names={},
    overall=lambda ability: ability != "abstention",
    category_label="ability",
    figures=abilities.ability_figures,
    markdown=_markdown,
)


# --------------------------------------------------------------- evidence


@dataclass
class Evidence:
    """`source_chat_ids` parsed: distinct ids in order, the parts of a dict (None for
    a list), entries that are not message ids, and what needed repair."""

    ids: list[str] = field(default_factory=list)
    parts: dict[str, list[str]] | None = None
    malformed: list[str] = field(default_factory=list)
    flattened: int = 0  # nested lists read as their items
    duplicates: int = 0  # an id listed again (BEAM lists a message once per event)


def _entries(raw: Any, out: Evidence, ids: list[str]) -> None:
    for entry in raw if isinstance(raw, list) else [raw]:
        if isinstance(entry, list):
            out.flattened += 1
            for inner in entry:
                _one(inner, out, ids)
        else:
            _one(entry, out, ids)


def _one(entry: Any, out: Evidence, ids: list[str]) -> None:
    if isinstance(entry, int) and not isinstance(entry, bool) and entry >= 0:
        value = str(entry)
    elif isinstance(entry, str) and _DIGITS.match(entry):
        value = str(int(entry))
    else:
        out.malformed.append(repr(entry)[:80])
        return
    if value in ids:
        out.duplicates += 1
    else:
        ids.append(value)


def parse_source_ids(raw: Any) -> Evidence:
    """Message ids from a question's `source_chat_ids`: a list of ids, or a dict of
    lists (its parts kept in order). Ids are ints or digit strings; a nested list is
    read as its items (counted); anything else is malformed.

    >>> parse_source_ids({"original_info": [86], "updated_info": [114]}).parts
    {'original_info': ['86'], 'updated_info': ['114']}
    """
    out = Evidence()
    if raw is None:
        return out
    if isinstance(raw, Mapping):
        out.parts = {}
        for name, value in raw.items():
            part: list[str] = []
            _entries(value, out, part)
            out.parts[str(name)] = part
            out.ids.extend(i for i in part if i not in out.ids)
        return out
    if isinstance(raw, (list, int)) and not isinstance(raw, bool):
        _entries(raw, out, out.ids)
        return out
    out.malformed.append(repr(raw)[:80])
    return out


# ------------------------------------------------------------------ files


@dataclass(frozen=True)
class ChatFiles:
    """One chat: its id (its folder relative to the data path), its messages and its
    questions."""

    id: str
    chat: Path
    questions: Path
    layout: str


def _natural(path: Path) -> list[tuple[int, int | str]]:
    return [(0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"(\d+)", str(path)) if p]


def questions_path(folder: Path) -> tuple[Path, str]:
    """The probing questions of the chat in `folder`, in either layout."""
    nested = folder / "probing_questions" / QUESTIONS_FILE
    if nested.is_file():
        return nested, "probing_questions/probing_questions.json"
    flat = folder / QUESTIONS_FILE
    if flat.is_file():
        return flat, "probing_questions.json beside chat.json"
    raise BenchDataError(
        f"BEAM chat {folder / CHAT_FILE} has no questions: expected {nested} or {flat}"
    )


def find_chats(path: Path) -> list[ChatFiles]:
    """Every chat under `path`: a chat.json file, a chat folder, or a folder of chat
    folders (any depth), in natural order (100K/2 before 100K/10)."""
    path = Path(path)
    if not path.exists():
        raise BenchDataError(
            f"BEAM data {path} does not exist; pass a folder of BEAM chats (such as the "
            "repository's chats/100K) or one chat's folder"
        )
    if path.is_file():
        folders, root = [path.parent], path.parent.parent
    elif (path / CHAT_FILE).is_file():
        folders, root = [path], path.parent
    else:
        found = sorted(path.rglob(CHAT_FILE), key=lambda p: _natural(p.relative_to(path)))
        folders, root = [p.parent for p in found if p.is_file()], path
        if not folders:
            raise BenchDataError(f"BEAM folder {path} holds no {CHAT_FILE} at any depth")
    chats = []
    for folder in folders:
        questions, layout = questions_path(folder)
        name = "-".join(folder.relative_to(root).parts) or folder.name
        chats.append(ChatFiles(name, folder / CHAT_FILE, questions, layout))
    return chats


# ------------------------------------------------------------------ turns


def parse_anchor(text: Any) -> datetime | None:
    """ "March-15-2024" -> 2024-03-15 00:00 UTC; None if absent or unreadable."""
    if not isinstance(text, str):
        return None
    cleaned = " ".join(text.split())
    for fmt in _ANCHOR_FORMATS:
        try:
            return datetime.strptime(cleaned, fmt).replace(tzinfo=timezone.utc)
        except ValueError:
            continue
    return None


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class _Clock:
    """The date of each message: an anchor, then one second per message."""

    def __init__(self, chat: str, issues: DataIssues) -> None:
        self.now: datetime | None = None
        self.chat, self.issues = chat, issues

    def anchor(self, raw: Any, where: str) -> bool:
        """Restart at `raw` when it is a readable date; count it when it is not."""
        if raw is None:
            return False
        moment = parse_anchor(raw)
        if moment is None:
            self.issues.add("time_anchor_unreadable", f"{self.chat} {where}: {raw!r:.40}")
            return False
        if self.now is not None and moment < self.now:
            self.issues.add("time_anchor_before_previous_message", f"{self.chat} {where}")
        self.now = moment - timedelta(seconds=1)  # the next message is at the anchor
        return True

    def tick(self) -> str | None:
        if self.now is None:
            return None
        self.now += timedelta(seconds=1)
        return _iso(self.now)


def _field(message: Mapping[str, Any], name: str, where: str) -> Any:
    if name not in message:
        raise BenchDataError(f"{where}: message has no '{name}' field")
    return message[name]


def _message_id(message: Mapping[str, Any], where: str) -> str:
    raw = _field(message, "id", where)
    if isinstance(raw, int) and not isinstance(raw, bool) and raw >= 0:
        return str(raw)
    if isinstance(raw, str) and _DIGITS.match(raw):
        return str(int(raw))
    raise BenchDataError(f"{where}: 'id' must be a message number (an int >= 0), got {raw!r:.40}")


def _message(
    message: Any, where: str, clock: _Clock, session: str, batch: Any, chat: str,
    issues: DataIssues,
) -> Turn | None:  # fmt: skip
    if not isinstance(message, Mapping):
        raise BenchDataError(f"{where}: a message must be an object, got {type(message).__name__}")
    mid = _message_id(message, where)
    role = _field(message, "role", where)
    if role not in _ROLES:
        raise BenchDataError(f"{where}: 'role' must be 'user' or 'assistant', got {role!r:.40}")
    content = _field(message, "content", where)
    if not isinstance(content, str):
        raise BenchDataError(f"{where}: 'content' must be text, got {type(content).__name__}")
    clock.anchor(message.get("time_anchor"), f"message {mid}")
    occurred = clock.tick()
    if occurred is None:
        issues.add("message_without_date", f"{chat} message {mid}")
    if not content.strip():
        issues.add("empty_message_not_added", f"{chat} message {mid}")
        return None
    return Turn(
        id=mid, session=session, text=content, plain_text=content, role=role,
        occurred_at=occurred, metadata={"message_id": mid, "batch": batch},
    )  # fmt: skip


def load_turns(data: Any, file: Path, chat: str, issues: DataIssues) -> list[Turn]:
    """The messages of one chat.json, in order. BenchDataError names the file, the
    batch, the message and the field when the file is not in BEAM's shape."""
    if not isinstance(data, list):
        raise BenchDataError(
            f"{file}: expected a JSON list of batches ({{batch_number, time_anchor, turns}}), "
            f"got {type(data).__name__}"
        )
    clock = _Clock(chat, issues)
    turns: list[Turn] = []
    seen: set[str] = set()
    for b, batch in enumerate(data):
        where = f"{file}: batch [{b}]"
        if not isinstance(batch, Mapping):
            raise BenchDataError(f"{where}: a batch must be an object, got {type(batch).__name__}")
        exchanges = batch.get("turns")
        if not isinstance(exchanges, list):
            raise BenchDataError(f"{where}: 'turns' must be a list of exchanges")
        number = batch.get("batch_number", b + 1)
        session = f"batch-{number}"
        if not clock.anchor(batch.get("time_anchor"), f"batch {number}"):
            first = next((m for t in exchanges if isinstance(t, list) for m in t), None)
            if not (isinstance(first, Mapping) and parse_anchor(first.get("time_anchor"))):
                issues.add("batch_without_time_anchor", f"{chat} batch {number}")
        for t, exchange in enumerate(exchanges):
            if not isinstance(exchange, list):
                raise BenchDataError(f"{where}: turns[{t}] must be a list of messages")
            for m, message in enumerate(exchange):
                turn = _message(message, f"{where} turns[{t}][{m}]", clock, session, number,
                                chat, issues)  # fmt: skip
                if turn is None:
                    continue
                if turn.id in seen:
                    raise BenchDataError(
                        f"{where} turns[{t}][{m}]: message id {turn.id} appears twice in the "
                        "chat; evidence could not tell the two apart"
                    )
                seen.add(turn.id)
                turns.append(turn)
    if not turns:
        raise BenchDataError(f"{file}: the chat holds no messages")
    return turns


# -------------------------------------------------------------- questions


def _question(
    item: Any, qid: str, ability: str, position: Mapping[str, int], issues: DataIssues
) -> Question | None:
    if not isinstance(item, Mapping):
        issues.add("question_not_an_object", f"{qid}: {item!r:.60}")
        return None
    text = item.get("question")
    if not isinstance(text, str) or not text.strip():
        issues.add("question_without_text", qid)
        return None
    raw = item.get("source_chat_ids")
    ev = parse_source_ids(raw)
    if ev.malformed:
        issues.add("evidence_ids_malformed", f"{qid}: {', '.join(ev.malformed)[:60]}",
                   len(ev.malformed))  # fmt: skip
    if ev.flattened:
        issues.add("evidence_nested_list_flattened", f"{qid}: {raw!r:.60}", ev.flattened)
    if ev.duplicates:
        issues.add("evidence_id_listed_twice", f"{qid}: {raw!r:.60}", ev.duplicates)
    if ev.parts is not None and len(ev.ids) < sum(len(p) for p in ev.parts.values()):
        issues.add("evidence_parts_share_a_message", f"{qid}: {raw!r:.60}")
    evidence = [i for i in ev.ids if i in position]
    unknown = [i for i in ev.ids if i not in position]
    extra: dict[str, Any] = {}
    if ev.parts is not None:
        extra["parts"] = {k: [i for i in v if i in position] for k, v in ev.parts.items()}
    if ability == "event_ordering" and evidence:
        extra["true_order"] = sorted(evidence, key=position.__getitem__)
        if extra["true_order"] != evidence:
            issues.add("event_order_listed_out_of_chat_order", qid)
    skip = None
    if not evidence:
        if ev.ids or ev.malformed:
            skip = "evidence_not_in_chat"
        elif ability == "abstention":
            skip = "abstention"
        else:
            skip = "no_evidence"
            issues.add("question_without_source_chat_ids", qid)
    return Question(
        id=qid, text=text.strip(), category=ability, evidence=evidence, raw_evidence=raw,
        unknown=unknown, malformed=ev.malformed, skip=skip, extra=extra,
    )  # fmt: skip


def load_questions(
    data: Any, file: Path, chat: str, position: Mapping[str, int], issues: DataIssues
) -> list[Question]:
    """The probing questions of one chat: an object of abilities, each a list."""
    if not isinstance(data, Mapping):
        raise BenchDataError(
            f"{file}: expected a JSON object of abilities (abstention, knowledge_update, ...), "
            f"each a list of questions; got {type(data).__name__}"
        )
    questions = []
    for ability, items in data.items():
        if not isinstance(items, list):
            raise BenchDataError(f"{file}: '{ability}' must be a list of questions")
        if ability not in ABILITIES:
            issues.add("unknown_ability", f"{chat}: {ability!r:.40}")
        for index, item in enumerate(items):
            made = _question(item, f"{chat}:{ability}:{index}", str(ability), position, issues)
            if made is not None:
                questions.append(made)
    return questions


def load_beam(
    path: Path, limit: int | None = None
) -> tuple[list[Conversation], DataIssues, dict[str, Any]]:
    """Read the first `limit` chats (all by default) under `path`. BenchDataError
    names the file, entry and field when the data cannot be read; smaller problems
    are counted in the DataIssues."""
    chats = find_chats(path)
    found = len(chats)
    chats = chats[:limit] if limit is not None else chats
    issues = DataIssues()
    conversations = []
    for files in chats:
        turns = load_turns(read_json(files.chat, "BEAM chat"), files.chat, files.id, issues)
        position = {t.id: i for i, t in enumerate(turns)}
        data = read_json(files.questions, "BEAM questions")
        questions = load_questions(data, files.questions, files.id, position, issues)
        conversations.append(Conversation(files.id, files.id, str(files.chat), turns, questions))
    info = {
        "path": str(path),
        "layout": ", ".join(sorted({c.layout for c in chats})),
        "files": [str(c.chat) for c in chats] + [str(c.questions) for c in chats],
        "chats_found": found,
        **_describe(conversations),
    }
    if limit is not None:
        info["limited_to"] = limit
    return conversations, issues, info


def _describe(conversations: Sequence[Conversation]) -> dict[str, Any]:
    roles = Counter(t.role for c in conversations for t in c.turns)
    asked = Counter(q.category for c in conversations for q in c.questions)
    return {
        **describe(conversations),
        "messages_by_role": dict(sorted((str(k), v) for k, v in roles.items())),
        "characters": sum(len(t.text) for c in conversations for t in c.turns),
        "questions_by_ability": dict(sorted(asked.items())),
    }


def run_beam(config: RunConfig) -> dict[str, Any]:
    """Load the data, run every strategy, write the outputs; return results.json's
    dict (its "figures" hold the ability figures of `bench.abilities`)."""
    conversations, issues, info = load_beam(config.data, config.limit)
    return run_benchmark(SPEC, conversations, issues, info, config)


# --------------------------------------------------------------- markdown


def abilities_markdown(results: Mapping[str, Any]) -> str:
    """The Markdown section of the ability figures: all@k and context coverage per
    ability, then the knowledge-update, two-part and ordering figures."""
    blocks = results["by_strategy"]
    budgets = results["config"]["budgets"]
    rows = []
    for ability, info in next(iter(blocks.values()))["by_category"].items():
        if not info["in_overall"]:
            continue
        for strategy, block in blocks.items():
            fig = block["by_category"][ability]
            rows.append([
                ability, strategy, fmt_number(fig.get("n_questions")),
                *[fmt_share(fig["all_hit_at"][str(k)]) for k in (1, 5, 10, 20)],
                *[fmt_share(fig["context_coverage"].get(str(b))) for b in budgets],
            ])  # fmt: skip
    parts = [
        "\n## All evidence found and context coverage by ability\n",
        "all@k: every evidence message in the first k; coverage: share of the evidence "
        "messages in `context(question, budget)`.\n",
        report.markdown_table(
            ["ability", "strategy", "scored", *[f"all@{k}" for k in (1, 5, 10, 20)]]
            + [f"ctx {b}" for b in budgets],
            rows,
        ),
        "\n## Ability figures\n",
        "- knowledge_update: share of questions where the updated message ranks above the "
        "original one (an update retrieved when the original is not counts; neither "
        "retrieved does not), and the median ranks among the first 20 turns.\n"
        "- contradiction_resolution, temporal_reasoning: share of questions with both "
        "statements (events) within the first k turns; a part naming several messages is "
        "found at its best-ranked one.\n"
        "- event_ordering: Kendall's tau between the order in which search returns the "
        "evidence messages (first 20 turns) and the order they were said, over the "
        "evidence retrieved (questions with fewer than two retrieved have none); the "
        "concordant share counts every evidence pair, so evidence not retrieved counts "
        "against it.\n",
        report.markdown_table(
            ["strategy", "KU updated above", "KU median rank upd / orig"]
            + [f"CR both@{k}" for k in abilities.PAIR_KS]
            + [f"TR both@{k}" for k in abilities.PAIR_KS]
            + ["EO tau (n)", "EO concordant", "EO retrieved"],
            [_ability_row(s, b.get("figures") or {}) for s, b in blocks.items()],
        ),
    ]
    return "\n".join(parts)


def _ability_row(strategy: str, fig: Mapping[str, Any]) -> list[str]:
    ku = fig.get("knowledge_update", {})
    cr = fig.get("contradiction_resolution", {})
    tr = fig.get("temporal_reasoning", {})
    eo = fig.get("event_ordering", {})
    return [
        strategy,
        f"{fmt_share(ku.get('updated_above_rate'))} (n={ku.get('n', 0)})",
        f"{fmt_number(ku.get('median_rank_updated'), 1)} / "
        f"{fmt_number(ku.get('median_rank_original'), 1)}",
        *[fmt_share(cr.get("both_within", {}).get(str(k))) for k in abilities.PAIR_KS],
        *[fmt_share(tr.get("both_within", {}).get(str(k))) for k in abilities.PAIR_KS],
        f"{fmt_share(eo.get('kendall_tau_mean'))} ({eo.get('n_with_tau', 0)})",
        fmt_share(eo.get("concordant_share_mean")),
        fmt_share(eo.get("retrieved_share_mean")),
    ]
