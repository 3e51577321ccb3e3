"""Writing results: JSON (NaN as null), JSON lines, text, Markdown tables, and the
numbers in them for people.

Every benchmark writes `results.json`, `results.md` and (most) a `per_question.jsonl`
through these, so that their files read alike. `plots` draws the PNGs, `machine`
describes where a result was measured, `measure` times and counts.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

RESULTS_SCHEMA = 1

# ----------------------------------------------------------------- writing


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity: replace them with None, recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def write_json(path: str | os.PathLike[str], data: Mapping[str, Any]) -> Path:
    """Write `data` as indented JSON (NaN written as null); return the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(_finite(data), indent=2, default=_json_default, allow_nan=False)
    target.write_text(text + "\n", encoding="utf-8")
    return target


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write a text file (creating its folder); return the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    return target


def fmt_number(value: float | None, digits: int = 1) -> str:
    """A number for a table: thousands separators, `digits` decimals, "–" for none."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.{digits}f}"


def fmt_share(value: float | None, digits: int = 3) -> str:
    """A share, rate or recall for a table: three decimals unless told, "–" for none."""
    return fmt_number(value, digits)


def fmt_bytes(value: float | None) -> str:
    """A byte count for people: 512 B, 3.4 KiB, 120.5 MiB, 2.1 GiB."""
    if value is None:
        return "–"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(size) < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


def short_count(value: float) -> str:
    """1500 -> "1.5k", 100000 -> "100k", 2000000 -> "2M"."""
    for div, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(value) >= div:
            return f"{value / div:g}{suffix}"
    return f"{value:g}"


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A GitHub-flavoured Markdown table; the first column left-aligned, the rest
    right-aligned. Cells are converted with str()."""
    lines = [
        "| " + " | ".join(headers) + " |",
        "| " + " | ".join([":---"] + ["---:"] * (len(headers) - 1)) + " |",
    ]
    lines.extend("| " + " | ".join(str(c) for c in row) + " |" for row in rows)
    return "\n".join(lines) + "\n"


def append_jsonl(path: str | os.PathLike[str], rows: Iterable[Mapping[str, Any]]) -> Path:
    """Append rows as JSON lines (NaN written as null); return the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("a", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(_finite(row), default=_json_default, allow_nan=False))
            handle.write("\n")
    return target
