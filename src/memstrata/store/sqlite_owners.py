"""Who holds work in a SQLite store: a process on this machine (one file is one
host's), named by its pid and start time, and a nonce per open store.

An owner is gone when its process has ended; a restarted container that reuses the
pid is told apart by the process's start time (Linux). Where the system cannot
tell, no process is taken to have ended, so live work is never taken.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def new_owner() -> str:
    """This process and one open store in it: pid, the process's start time where
    the system tells it, and a nonce."""
    return f"{os.getpid()}.{_started(os.getpid()) or '-'}.{secrets.token_hex(4)}"


def owner_gone(owner: str) -> bool:
    """Whether the process that held `owner` has ended. A live process's owners are
    never gone (another store open in this very process may hold the work)."""
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
