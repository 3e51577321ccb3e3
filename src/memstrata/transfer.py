"""Export and import as JSON lines: a header, then each record with its vector
(base64 float32, little-endian) followed by its history entries."""

from __future__ import annotations

import base64
import contextlib
import json
import os
from collections.abc import Callable, Iterator, Sequence
from typing import IO, Any

import numpy as np

from memstrata.errors import InvalidInput
from memstrata.ids import now
from memstrata.store.base import EmbedderInfo, Store
from memstrata.types import RECORD_FIELDS, HistoryEntry, Record, Scope
from memstrata.validate import check_history_entry, check_record

FORMAT = "memstrata-export"
FORMAT_VERSION = 1
_CHUNK = 1000
_RECORD_FIELDS = frozenset(RECORD_FIELDS)
_MAX_SNAPSHOT_BYTES = 8 * 1024 * 1024  # a history entry's before/after: a record as JSON


@contextlib.contextmanager
def _open(target: str | os.PathLike[str] | IO[str], mode: str) -> Iterator[IO[str]]:
    if hasattr(target, "read") or hasattr(target, "write"):
        yield target  # type: ignore[misc]
    else:
        with open(target, mode, encoding="utf-8", newline="\n") as handle:  # type: ignore[arg-type]
            yield handle


def export_jsonl(
    store: Store, scope: Scope, info: EmbedderInfo, destination: str | os.PathLike[str] | IO[str]
) -> int:
    count = 0
    with _open(destination, "w") as out:
        header = {
            "type": "header",
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "embedder": info.__dict__,
            "exported_at": now(),
        }
        out.write(json.dumps(header) + "\n")
        for record, vector in store.iter_records(scope):
            encoded = None if vector is None else base64.b64encode(vector.astype("<f4").tobytes())
            line = {
                "type": "record",
                "record": record.to_dict(),
                "vector": None if encoded is None else encoded.decode(),
            }
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
            for entry in store.history_entries(record.id):
                out.write(
                    json.dumps({"type": "history", "entry": entry.to_dict()}, ensure_ascii=False)
                    + "\n"
                )
            count += 1
    return count


def import_jsonl(
    store: Store,
    source: str | os.PathLike[str] | IO[str],
    embed: Callable[[Sequence[Record]], np.ndarray],
    info: EmbedderInfo,
    namespace: str | None,
    actor: str | None,
    max_text_bytes: int,
) -> int:
    inserted = 0
    batch: list[tuple[Record, np.ndarray | None, list[HistoryEntry]]] = []
    with _open(source, "r") as lines:
        header = _header(next(iter(lines), ""))
        same_space = header.get("embedder") == info.__dict__
        for number, line in enumerate(lines, start=2):
            if not line.strip():
                continue
            item = _parse(line, number)
            if item["type"] == "record":
                record = _record(item.get("record"), number, namespace, max_text_bytes)
                vector = _vector(item.get("vector"), info.dim, number) if same_space else None
                batch.append((record, vector, []))
            elif item["type"] == "history":
                if not batch:
                    raise InvalidInput(f"line {number}: a history entry before any record")
                batch[-1][2].append(_history(item.get("entry"), batch[-1][0], number))
            else:
                raise InvalidInput(f"line {number}: unknown line type {item['type']!r:.30}")
            if len(batch) > _CHUNK:
                inserted += _flush(store, batch[:-1], embed, actor)
                batch = batch[-1:]
        inserted += _flush(store, batch, embed, actor)
    return inserted


def _flush(
    store: Store,
    batch: list[Any],
    embed: Callable[[Sequence[Record]], np.ndarray],
    actor: str | None,
) -> int:
    missing = [i for i, (r, v, _) in enumerate(batch) if v is None and r.text]
    if missing:
        vectors = embed([batch[i][0] for i in missing])
        for row, i in enumerate(missing):
            record, _, entries = batch[i]
            batch[i] = (record, vectors[row], entries)
    return int(store.import_records(batch, actor=actor))


def _parse(line: str, number: int) -> dict[str, Any]:
    try:
        item = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"line {number} is not valid JSON: {exc.msg}") from None
    if not isinstance(item, dict) or "type" not in item:
        raise InvalidInput(f"line {number} is not an export line (no 'type')")
    return item


def _header(line: str) -> dict[str, Any]:
    item = _parse(line, 1) if line.strip() else {}
    if item.get("type") != "header" or item.get("format") != FORMAT:
        raise InvalidInput(f"line 1 is not a {FORMAT} header; is this a memstrata export?")
    if item.get("version") != FORMAT_VERSION:
        raise InvalidInput(f"export format version {item.get('version')!r} is not supported")
    return item


def _record(data: Any, number: int, namespace: str | None, max_bytes: int) -> Record:
    if not isinstance(data, dict) or set(data) - _RECORD_FIELDS or "id" not in data:
        raise InvalidInput(f"line {number}: malformed record")
    data = dict(data)
    if namespace is not None:
        data["namespace"] = namespace
    try:
        record = Record.from_dict(data)
    except (TypeError, KeyError) as exc:
        raise InvalidInput(f"line {number}: malformed record ({exc})") from None
    try:
        return check_record(record, max_text_bytes=max_bytes)
    except InvalidInput as exc:
        raise InvalidInput(f"line {number}: {exc}") from None


def _vector(encoded: Any, dim: int, number: int) -> np.ndarray | None:
    if encoded is None:
        return None
    try:
        vector = np.frombuffer(base64.b64decode(encoded, validate=True), dtype="<f4").copy()
    except (ValueError, TypeError):
        raise InvalidInput(f"line {number}: vector is not base64 float32") from None
    if vector.shape != (dim,) or not np.isfinite(vector).all():
        raise InvalidInput(f"line {number}: vector has the wrong size or non-finite values")
    return vector


def _history(data: Any, record: Record, number: int) -> HistoryEntry:
    if not isinstance(data, dict) or data.get("record_id") != record.id:
        raise InvalidInput(f"line {number}: history entry does not belong to the record before it")
    try:
        entry = HistoryEntry(**data)
    except TypeError as exc:
        raise InvalidInput(f"line {number}: malformed history entry ({exc})") from None
    try:
        return check_history_entry(entry, max_bytes=_MAX_SNAPSHOT_BYTES)
    except InvalidInput as exc:
        raise InvalidInput(f"line {number}: {exc}") from None
