"""LoCoMo's evidence labels ("D<session>:<turn>"), read the same way from the data set
(`locomo.py`) and from a file of audited corrections (`audit.py`)."""

from __future__ import annotations

import re
from typing import Any

_DIA_ID = re.compile(r"^D:?(\d+):(\d+)$", re.IGNORECASE)
_SPLIT = re.compile(r"[;,\s]+")


def parse_evidence(raw: Any) -> tuple[list[str], list[str], int]:
    """Evidence ids from a `qa` entry's `evidence`: (distinct ids in order, entries
    that could not be parsed, entries that needed repair). An entry such as
    "D8:6; D9:17" is split; "D30:05" is read as "D30:5"; anything else that does not
    look like `D<session>:<turn>` is malformed."""
    if raw is None:
        return [], [], 0
    entries = [raw] if isinstance(raw, str) else raw
    if not isinstance(entries, list):
        return [], [repr(raw)[:80]], 0
    ids: dict[str, None] = {}
    malformed: list[str] = []
    repaired = 0
    for entry in entries:
        if not isinstance(entry, str):
            malformed.append(repr(entry)[:80])
            continue
        tokens = [t for t in _SPLIT.split(entry.strip()) if t]
        if not tokens:
            malformed.append(repr(entry))
            continue
        fixed = False
        for token in tokens:
            match = _DIA_ID.match(token)
            if match is None:
                malformed.append(token)
                continue
            dia_id = f"D{int(match.group(1))}:{int(match.group(2))}"
            fixed = fixed or dia_id != token
            ids.setdefault(dia_id, None)
        repaired += fixed or len(tokens) > 1
    return list(ids), malformed, repaired
