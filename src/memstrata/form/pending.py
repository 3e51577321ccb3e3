"""Formation owed to stored turns, kept in the store so a killed process's backlog
is formed by the next process that opens the file.

An add writes a mark in the transaction that stores its turns:

    formation:pending:<owner>:<a new id>  ->  {"namespace": ..., "ids": [...]}

and formation deletes it in the transaction that saves what it derived. The owner
names the process (its pid) and the `Memory` in it. A mark whose process has ended
is taken over, atomically, by the next `Memory` that opens the file, and formed.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

PREFIX = "formation:pending:"


@dataclass(frozen=True)
class Mark:
    key: str
    owner: str
    namespace: str
    ids: list[str]


def new_owner() -> str:
    """This process and one `Memory` in it: pid, the process's start time where the
    system tells it (a restarted container often reuses the pid), and a nonce."""
    return f"{os.getpid()}.{_started(os.getpid()) or '-'}.{secrets.token_hex(4)}"


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


def abandoned(owner: str) -> bool:
    """Whether the process that wrote marks as `owner` has ended. A live process's
    marks are never taken (another `Memory` in this very process may be forming
    them); where the system cannot tell, no process is taken to have ended."""
    pid_text, _, rest = owner.partition(".")
    started = rest.partition(".")[0]
    if not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if Path("/proc/self/stat").exists():  # Linux: the pid and its start time
        now_started = _started(pid)
        return now_started is None or (started != "-" and now_started != started)
    if os.name != "posix" or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)  # signal 0 only asks whether the process exists
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # it exists, under another user
    return False


def _started(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), else None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()
    return fields[19] if len(fields) > 19 else None
