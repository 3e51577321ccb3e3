"""The crash loop's ledger: what a workload sent and what it was told had been done.

A workload writes one JSON line before each operation (`"s": "sent"`) and one after
the call returned (`"s": "acked"`), each fsynced before it goes on, so a SIGKILL at
any moment leaves a ledger that says, for every operation, whether its caller had
been told it was done. An operation sent but not acked may have been applied or
not (never half); an acked one must be there.

`replay(entries)` turns a ledger into what the store must hold: per turn, the texts
it may have now, the statuses it may be in, its metadata and feedback bounds.
Every text carries unique nonsense tokens (`TOKEN`), so whether a record carries a
turn's content is a plain substring test.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TOKEN = re.compile(r"\bzq[a-z]{10}\b")
KINDS = ("add", "update", "delete", "purge", "feedback")


def tokens(text: str) -> set[str]:
    """The unique tokens a text carries."""
    return set(TOKEN.findall(text))


class Ledger:
    """An append-only JSON-lines file; each line is on disk before `write` returns."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def write(self, entry: dict[str, Any]) -> None:
        data = (json.dumps(entry, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8")
        os.write(self._fd, data)  # one write of one line: a kill cannot interleave lines
        os.fsync(self._fd)

    def close(self) -> None:
        os.close(self._fd)


def read(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The ledger's entries; a last line torn by a kill is left out (it was never
    on disk whole, so nobody was told of it)."""
    target = Path(path)
    if not target.exists():
        return []
    entries = []
    for line in target.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and "n" in entry:
            entries.append(entry)
    return entries


def next_number(entries: Iterable[dict[str, Any]]) -> int:
    return 1 + max((int(e["n"]) for e in entries), default=0)


@dataclass
class Turn:
    """One stored turn as the ledger knows it. `texts` is every text it was given,
    in order; `text_ok` and `status_ok` what it may hold now; `certain` is False
    once an operation on it was sent and never acked."""

    id: str | None
    texts: list[str]
    metadata: dict[str, Any]
    acked: bool
    text_ok: set[str] = field(default_factory=set)
    status_ok: set[str] = field(default_factory=lambda: {"active"})
    useful: int = 0  # acked feedback
    not_useful: int = 0
    useful_unacked: int = 0
    not_useful_unacked: int = 0
    certain: bool = True
    last_op: str = "add"

    @property
    def all_tokens(self) -> set[str]:
        return set().union(*(tokens(t) for t in self.texts)) if self.texts else set()


@dataclass
class Replay:
    """What a ledger says the store holds."""

    turns: dict[str, Turn]  # by record id
    unacked_adds: list[list[Turn]]  # adds sent and never acked: all stored, or none
    acked: dict[str, int]  # acked operations by kind
    sent: dict[str, int]  # sent operations by kind

    def usable(self) -> list[Turn]:
        """Turns a workload may act on next: active, every operation on them acked."""
        return [t for t in self.turns.values() if t.certain and t.status_ok == {"active"}]


def replay(entries: Iterable[dict[str, Any]]) -> Replay:
    """Fold a ledger's entries (in any order: they are grouped by number)."""
    ops: dict[int, dict[str, Any]] = {}
    for entry in entries:
        slot = ops.setdefault(int(entry["n"]), {})
        slot[entry.get("s", "")] = entry
    turns: dict[str, Turn] = {}
    unacked: list[list[Turn]] = []
    acked = dict.fromkeys(KINDS, 0)
    sent = dict.fromkeys(KINDS, 0)
    for number in sorted(ops):
        slot = ops[number]
        request, answer = slot.get("sent"), slot.get("acked")
        if request is None or request.get("op") not in KINDS:
            continue
        kind = request["op"]
        sent[kind] += 1
        done = answer is not None
        acked[kind] += done
        if kind == "add":
            group = [
                Turn(None, [m["content"]], dict(m.get("metadata") or {}), done)
                for m in request["messages"]
            ]
            for turn in group:
                turn.text_ok = {turn.texts[0]}
            if answer is not None:
                for turn, record_id in zip(group, answer["ids"]):
                    turn.id = record_id
                    turns[record_id] = turn
            else:
                unacked.append(group)
            continue
        target = turns.get(request["id"])
        if target is None:
            continue  # acts on a turn the ledger never saw acked (not made by workloads)
        _apply(target, kind, request, done)
    return Replay(turns, unacked, acked, sent)


def _apply(turn: Turn, kind: str, request: dict[str, Any], done: bool) -> None:
    turn.last_op = kind
    if not done:
        turn.certain = False
    if kind == "update":
        turn.texts.append(request["text"])
        turn.text_ok = {request["text"]} if done else {*turn.text_ok, request["text"]}
    elif kind in ("delete", "purge"):
        status = "deleted" if kind == "delete" else "purged"
        turn.status_ok = {status} if done else {*turn.status_ok, status}
    elif kind == "feedback":
        name = "useful" if request["useful"] else "not_useful"
        if done:
            setattr(turn, name, getattr(turn, name) + 1)
        else:
            setattr(turn, f"{name}_unacked", getattr(turn, f"{name}_unacked") + 1)
