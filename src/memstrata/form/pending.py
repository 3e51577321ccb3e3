"""Formation owed to stored turns, kept in the store so a killed process's backlog
is formed by the next process that opens the file.

An add writes a mark in the transaction that stores its turns:

    formation:pending:<owner>:<a new id>  ->  {"namespace": ..., "ids": [...]}

and formation deletes it in the transaction that saves what it derived. The owner
is a name the store grants to one open store (`State.new_owner`); a mark whose
owner is gone (`State.owner_gone`: its process ended, or its session with the
database) is taken over, atomically, by the next `Memory` that opens the store, and
formed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

PREFIX = "formation:pending:"


@dataclass(frozen=True)
class Mark:
    key: str
    owner: str
    namespace: str
    ids: list[str]


def key(owner: str, unique: str) -> str:
    return f"{PREFIX}{owner}:{unique}"


def value(namespace: str, ids: list[str]) -> bytes:
    return json.dumps({"namespace": namespace, "ids": ids}).encode("utf-8")


def parse(mark_key: str, raw: bytes) -> Mark:
    """The mark stored under `mark_key`; ValueError if it is not one."""
    owner, sep, _ = mark_key.removeprefix(PREFIX).partition(":")
    try:
        data = json.loads(raw)
        namespace, ids = data["namespace"], data["ids"]
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"unreadable formation mark {mark_key!r}: {exc}") from None
    if not (sep and owner and isinstance(namespace, str) and isinstance(ids, list) and ids):
        raise ValueError(f"unreadable formation mark {mark_key!r}")
    return Mark(mark_key, owner, namespace, [str(i) for i in ids])
