"""Checks on everything a caller hands in. Each failure raises InvalidInput with a
message that names the field and says how to fix it; nothing is stored before all
inputs of a call have passed.

Every verb of `Memory` runs its arguments through these checks first, so the HTTP
API and the MCP tools (thin layers over the same verbs) refuse the same inputs
with the same messages."""

from __future__ import annotations

import io
import json
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from itertools import islice
from pathlib import Path
from typing import Any

from memstrata.errors import InvalidInput
from memstrata.ids import format_time
from memstrata.types import KINDS, ROLES, STATUSES, HistoryEntry, Record, Scope

MESSAGE_FIELDS = frozenset({"role", "content", "name", "occurred_at", "metadata", "kind", "tags"})
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SCOPE_PART = re.compile(r"^[^\x00-\x1f]{1,256}$")
MAX_METADATA_BYTES = 64 * 1024
MAX_METADATA_DEPTH = 32  # nesting of dicts and lists inside metadata
MAX_METADATA_VALUES = 10_000
MAX_LIST_ITEMS = 256  # tags, kinds, statuses
MAX_OFFSET = 10_000  # search ranks this deep at most
MAX_ID_CHARS = 64
MAX_ACTOR_CHARS = 128
# The actor the engine writes into history for what formation derives and drops: a
# caller may not sign its own changes with it.
ENGINE_ACTOR = "formation"
INT64 = (-(2**63), 2**63 - 1)  # what SQLite stores as an integer


def describe(value: Any) -> str:
    """A short, safe description of a value for an error message."""
    text = repr(value)
    return f"{type(value).__name__} {text[:60]}{'…' if len(text) > 60 else ''}"


def _unicode(value: str, field: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInput(
            f"{field} is not valid Unicode (a lone surrogate at position {exc.start}); "
            "fix the text's encoding"
        ) from None


def check_text(text: Any, *, field: str = "content", max_bytes: int) -> str:
    """A non-empty str with no NUL byte or lone surrogate, at most `max_bytes` in UTF-8."""
    if isinstance(text, (bytes, bytearray)):
        raise InvalidInput(f"{field} must be a str, got bytes; decode it (e.g. .decode('utf-8'))")
    if not isinstance(text, str):
        raise InvalidInput(f"{field} must be a str, got {type(text).__name__}")
    if not text.strip():
        raise InvalidInput(f"{field} is empty or only whitespace; there is nothing to remember")
    if "\x00" in text:
        raise InvalidInput(f"{field} contains a NUL byte (\\x00); remove it")
    _unicode(text, field)
    size = len(text.encode("utf-8"))
    if size > max_bytes:
        raise InvalidInput(
            f"{field} is {size:,} bytes, over the limit of {max_bytes:,}; split it, or raise "
            "max_text_bytes"
        )
    return text


def check_scope_part(value: Any, field: str, *, required: bool = False) -> str | None:
    if value is None:
        if required:
            raise InvalidInput(f"{field} is required")
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be a str, got {type(value).__name__}")
    if not _SCOPE_PART.match(value) or not value.strip():
        raise InvalidInput(
            f"{field} must be 1 to 256 characters with no control characters, got {value!r:.80}"
        )
    _unicode(value, field)
    return value


def make_scope(
    namespace: Any = "default",
    user_id: Any = None,
    agent_id: Any = None,
    session_id: Any = None,
) -> Scope:
    return Scope(
        namespace=check_scope_part(namespace, "namespace", required=True) or "default",
        user_id=check_scope_part(user_id, "user_id"),
        agent_id=check_scope_part(agent_id, "agent_id"),
        session_id=check_scope_part(session_id, "session_id"),
    )


def check_id(value: Any, field: str = "record id") -> str:
    """A record id (or a cursor, which is one): a str of 1 to 64 printable characters."""
    if not isinstance(value, str) or not 0 < len(value) <= MAX_ID_CHARS:
        raise InvalidInput(
            f"{field} must be a non-empty str of at most {MAX_ID_CHARS} characters, as add, "
            f"search or list return it; got {describe(value)}"
        )
    if _CONTROL.search(value):
        raise InvalidInput(f"{field} contains a control character; ids have none")
    _unicode(value, field)
    return value


def check_time(value: Any, field: str) -> str | None:
    """Accept a datetime, a date or an ISO 8601 string; return the stored form (UTC).
    A time with no zone is taken as UTC. Its UTC form must fall in years 1 to 9999."""
    if value is None:
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day, tzinfo=timezone.utc)
    elif isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise InvalidInput(
                f"{field} {value!r:.60} is not an ISO 8601 time; use e.g. '2026-03-02T10:00:00Z'"
            ) from None
    else:
        raise InvalidInput(
            f"{field} must be an ISO 8601 str or a datetime, got {type(value).__name__}"
        )
    try:
        offset = moment.utcoffset() or timedelta(0)
        utc = moment.replace(tzinfo=None) - offset
    except (OverflowError, ValueError, TypeError):
        # Its zone moves it past the calendar's ends (0001-01-01T00:00+05:00 is in year 0).
        raise InvalidInput(
            f"{field} {value!s:.60} is outside the years 1 to 9999 once converted to UTC; "
            "give a time inside them"
        ) from None
    return format_time(utc.replace(tzinfo=timezone.utc))


def check_metadata(value: Any, field: str = "metadata") -> dict[str, Any]:
    """A JSON object: str keys, values that JSON carries exactly (None, bool, int,
    finite float, str, lists and objects of them), nested at most
    MAX_METADATA_DEPTH deep, at most MAX_METADATA_BYTES as JSON. Returns a copy."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidInput(f"{field} must be a dict, got {type(value).__name__}")
    _check_json_tree(value, field)
    encoded = json.dumps(_plain(value), allow_nan=False, ensure_ascii=False)
    size = len(encoded.encode("utf-8"))
    if size > MAX_METADATA_BYTES:
        raise InvalidInput(
            f"{field} is {size:,} bytes as JSON, over the limit of {MAX_METADATA_BYTES:,}; "
            "keep large data outside memory and store a reference to it"
        )
    result: dict[str, Any] = json.loads(encoded)
    return result


def _check_json_tree(root: Mapping[str, Any], field: str) -> None:
    """Walks the tree without recursion (a deep tree must not reach Python's stack
    limit), refusing what JSON cannot carry as given."""
    todo: list[tuple[Any, str, int]] = [(root, field, 1)]
    seen = 0
    while todo:
        value, where, depth = todo.pop()
        seen += 1
        if seen > MAX_METADATA_VALUES:
            raise InvalidInput(f"{field} holds over {MAX_METADATA_VALUES:,} values; store less")
        if value is None or isinstance(value, (bool, int)):
            continue
        if isinstance(value, float):
            if not math.isfinite(value):
                raise InvalidInput(
                    f"{where} is {value}, which is not JSON-serialisable (JSON has no NaN or "
                    "infinity; use None or a string)"
                )
            continue
        if isinstance(value, str):
            if "\x00" in value:
                raise InvalidInput(f"{where} contains a NUL character; remove it")
            _unicode(value, where)
            continue
        if isinstance(value, (Mapping, list, tuple)):
            if depth > MAX_METADATA_DEPTH:
                raise InvalidInput(
                    f"{field} is nested over {MAX_METADATA_DEPTH} levels deep; flatten it"
                )
            if isinstance(value, Mapping):
                for key, item in value.items():
                    if not isinstance(key, str):
                        raise InvalidInput(
                            f"{where} keys must be str, got {type(key).__name__} {key!r:.30}"
                        )
                    if "\x00" in key:
                        raise InvalidInput(f"{where} has a key with a NUL character; remove it")
                    _unicode(key, f"{where} key")
                    todo.append((item, f"{where}.{key[:40]}", depth + 1))
            else:
                todo.extend((item, f"{where}[{i}]", depth + 1) for i, item in enumerate(value))
            continue
        raise InvalidInput(
            f"{where} must be JSON-serialisable (None, bool, int, float, str, list or dict), "
            f"got {type(value).__name__}"
        )


def _plain(value: Any) -> Any:
    """`value` (checked by _check_json_tree) as plain dicts and lists, for json.dumps
    (which does not take every Mapping)."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def check_metadata_filter(value: Any) -> dict[str, Any]:
    """A metadata filter: each key a top-level metadata key, each value a scalar the
    record's value must equal (None matches a JSON null)."""
    field = "metadata filter"
    meta = check_metadata(value, field)
    for key, item in meta.items():
        if not key or '"' in key or "\\" in key or _CONTROL.search(key):
            raise InvalidInput(
                f"{field} key {key!r:.40}: keys must be non-empty, with no '\"', '\\' or "
                "control characters"
            )
        if not isinstance(item, (str, int, float, bool, type(None))):
            raise InvalidInput(
                f"{field} {key!r:.40}: values must be str, number, bool or None, got "
                f"{type(item).__name__}"
            )
        if isinstance(item, int) and not INT64[0] <= item <= INT64[1]:
            raise InvalidInput(
                f"{field} {key!r:.40}: {item} is outside the 64-bit range the store "
                "compares integers in (-2**63 to 2**63-1)"
            )
    return meta


def check_str_list(value: Any, field: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise InvalidInput(f"{field} must be a list of str, got {type(value).__name__}")
    if len(value) > MAX_LIST_ITEMS:
        raise InvalidInput(f"{field} has {len(value):,} items; give at most {MAX_LIST_ITEMS}")
    out = []
    for item in value:
        out.append(check_scope_part(item, f"{field} item"))
    return [x for x in out if x is not None]


def _choices(value: Any, field: str, one: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
    """A str or a list (tuple, set, …) of strs, each one of `allowed`."""
    if isinstance(value, str):
        items: list[Any] = [value]
    elif isinstance(value, Iterable) and not isinstance(value, (bytes, bytearray, Mapping)):
        items = list(islice(value, MAX_LIST_ITEMS + 1))
    else:
        raise InvalidInput(
            f"{field} must be a list of {', '.join(allowed)} (or one of them as a str), "
            f"got {describe(value)}"
        )
    if len(items) > MAX_LIST_ITEMS:
        raise InvalidInput(f"{field} has over {MAX_LIST_ITEMS} items")
    if not items:
        raise InvalidInput(f"{field} is empty; give at least one of {', '.join(allowed)}")
    for item in items:
        if not isinstance(item, str) or item not in allowed:
            raise InvalidInput(
                f"{field}: each {one} must be one of {', '.join(allowed)}; got {describe(item)}"
            )
    return tuple(dict.fromkeys(items))


def check_kinds(value: Any, field: str = "kinds") -> tuple[str, ...] | None:
    """None (every kind) or the kinds to keep."""
    return None if value is None else _choices(value, field, "kind", KINDS)


def check_statuses(value: Any, field: str = "statuses") -> tuple[str, ...]:
    return _choices(value, field, "status", STATUSES)


def check_kind(value: Any, field: str = "kind") -> str:
    if not isinstance(value, str) or value not in KINDS:
        raise InvalidInput(f"{field} must be one of {', '.join(KINDS)}; got {value!r:.40}")
    return str(value)


def check_role(value: Any, field: str = "role") -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or value not in ROLES:
        raise InvalidInput(f"{field} must be one of {', '.join(ROLES)}; got {value!r:.40}")
    return str(value)


def check_int(value: Any, field: str, *, minimum: int, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{field} must be an int, got {type(value).__name__}")
    if not minimum <= value <= maximum:
        raise InvalidInput(f"{field} must be between {minimum:,} and {maximum:,}, got {value}")
    return int(value)


def check_positive_int(value: Any, field: str, *, maximum: int) -> int:
    return check_int(value, field, minimum=1, maximum=maximum)


def check_offset(value: Any, field: str = "offset", *, maximum: int = MAX_OFFSET) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput(f"{field} must be an int >= 0, got {describe(value)}")
    if value > maximum:
        raise InvalidInput(
            f"{field} is {value}; it may be {maximum:,} at most (ranking deeper than that "
            "is not useful: narrow the query or the filters instead)"
        )
    return int(value)


def check_bool(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput(f"{field} must be a bool (true or false), got {type(value).__name__}")
    return value


def check_version(value: Any, field: str = "expected_version") -> int | None:
    """None, or the version a change expects the record to be at."""
    if value is None:
        return None
    return check_int(value, field, minimum=1, maximum=INT64[1])


def check_actor(value: Any) -> str | None:
    """Who a change is recorded as made by, in history: None, or a short name with
    no control characters. "formation" is the engine's own and is refused."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"actor must be a str (who made the change), got {describe(value)}")
    if not value.strip() or len(value) > MAX_ACTOR_CHARS or _CONTROL.search(value):
        raise InvalidInput(
            f"actor must be 1 to {MAX_ACTOR_CHARS} characters with no control characters, "
            f"got {value!r:.60}"
        )
    _unicode(value, "actor")
    if value.strip().lower() == ENGINE_ACTOR:
        raise InvalidInput(
            f"actor {ENGINE_ACTOR!r} is the engine's own (what formation derives); sign "
            "changes with another name"
        )
    return value


def check_seconds(value: Any, field: str) -> float | None:
    """None (no limit) or a number of seconds >= 0 (infinity: no limit)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInput(f"{field} must be a number of seconds or None, got {describe(value)}")
    if (isinstance(value, float) and math.isnan(value)) or value < 0:
        raise InvalidInput(f"{field} must be >= 0 seconds (or None), got {value}")
    if isinstance(value, float) and math.isinf(value):
        return None
    return float(min(value, 10**9))  # beyond 30 years: as good as no limit


def check_counter(counter: Any) -> Callable[[str], int] | None:
    """None, or a token counter (text -> int) whose answers are checked as they come:
    a counter that fails or answers something other than an int >= 0 raises
    InvalidInput naming it, instead of an error deep inside context assembly."""
    if counter is None:
        return None
    if not callable(counter):
        raise InvalidInput(
            f"token_counter must be a function from text to a number of tokens, got "
            f"{describe(counter)}"
        )

    def count(text: str) -> int:
        try:
            tokens = counter(text)
        except Exception as exc:
            raise InvalidInput(f"token_counter raised {type(exc).__name__}: {exc}") from exc
        if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 0:
            raise InvalidInput(f"token_counter must return an int >= 0, got {describe(tokens)}")
        return tokens

    return count


def _path(value: Any, field: str) -> Path:
    if isinstance(value, (bytes, bytearray)):
        raise InvalidInput(f"{field} must be a str path or a text stream, got bytes")
    try:
        text = os.fspath(value)
    except TypeError:
        raise InvalidInput(
            f"{field} must be a path or a text stream, got {type(value).__name__}"
        ) from None
    if not isinstance(text, str) or not text.strip() or "\x00" in text:
        raise InvalidInput(f"{field} must be a non-empty path with no NUL, got {text!r:.60}")
    try:
        os.fsencode(text)
    except UnicodeError:
        raise InvalidInput(f"{field} is not a path this system can name: {text!r:.60}") from None
    return Path(text)


def _binary(stream: Any) -> bool:
    return isinstance(stream, (io.RawIOBase, io.BufferedIOBase)) or "b" in str(
        getattr(stream, "mode", "")
    )


def check_destination(value: Any, field: str = "destination") -> Any:
    """A path to write (its folder must exist) or a writable text stream."""
    if hasattr(value, "write") and not isinstance(value, (str, os.PathLike)):
        if _binary(value):
            raise InvalidInput(f"{field} is a binary stream; open it in text mode ('w')")
        return value
    path = _path(value, field)
    try:
        folder, parent = path.is_dir(), path.parent.is_dir()
    except OSError as exc:
        raise InvalidInput(f"{field} {str(path)!r:.80} cannot be used: {exc.strerror}") from None
    if folder:
        raise InvalidInput(f"{field} {str(path)!r:.80} is a folder; give a file path")
    if not parent:
        raise InvalidInput(f"{field}: the folder {str(path.parent)!r:.80} does not exist")
    return path


def check_source(value: Any, field: str = "source") -> Any:
    """A path of an existing file or a readable text stream."""
    if hasattr(value, "read") and not isinstance(value, (str, os.PathLike)):
        if _binary(value):
            raise InvalidInput(f"{field} is a binary stream; open it in text mode ('r')")
        return value
    path = _path(value, field)
    try:
        found = path.is_file()
    except OSError as exc:
        raise InvalidInput(f"{field} {str(path)!r:.80} cannot be used: {exc.strerror}") from None
    if not found:
        raise InvalidInput(f"{field}: no file at {str(path)!r:.80}")
    return path


def check_json_object(value: Any, field: str, *, max_bytes: int) -> dict[str, Any]:
    """A JSON object of any keys and values JSON carries, within `max_bytes`."""
    if not isinstance(value, Mapping):
        raise InvalidInput(f"{field} must be a JSON object, got {type(value).__name__}")
    _check_json_tree(value, field)
    encoded = json.dumps(_plain(value), allow_nan=False, ensure_ascii=False)
    if len(encoded.encode("utf-8")) > max_bytes:
        raise InvalidInput(f"{field} is over {max_bytes:,} bytes as JSON")
    result: dict[str, Any] = json.loads(encoded)
    return result


_COUNTERS = ("hits", "useful", "not_useful")
_TIMES = ("occurred_at", "recorded_at", "valid_from", "valid_to", "last_hit_at", "updated_at")


def check_record(record: Record, *, max_text_bytes: int) -> Record:
    """A record read from outside (an export): every field of the type and form the
    store keeps, times in the stored form. Returns the record as it will be stored."""
    check_id(record.id, "id")
    check_kind(record.kind)
    make_scope(*record.scope.as_dict().values())
    if not isinstance(record.text, str) or "\x00" in record.text:
        raise InvalidInput("text must be a str with no NUL byte")
    _unicode(record.text, "text")
    if len(record.text.encode("utf-8")) > max_text_bytes:
        raise InvalidInput(f"text is over the limit of {max_text_bytes:,} bytes")
    times = {name: check_time(getattr(record, name), name) for name in _TIMES}
    for name in ("occurred_at", "recorded_at"):
        if times[name] is None:
            raise InvalidInput(f"record has no {name}")
    stored = replace(record, **times)  # type: ignore[arg-type]
    check_role(record.role)
    check_scope_part(record.speaker, "speaker")
    if not isinstance(record.source_ids, list):
        raise InvalidInput(f"source_ids must be a list of ids, got {describe(record.source_ids)}")
    for source in record.source_ids:
        check_id(source, "source_ids item")
    if not isinstance(record.entities, list) or len(record.entities) > MAX_METADATA_VALUES:
        raise InvalidInput(f"entities must be a list of names, got {describe(record.entities)}")
    for name in record.entities:
        check_scope_part(name, "entities item")
    if isinstance(record.salience, bool) or not isinstance(record.salience, (int, float)):
        raise InvalidInput(f"salience must be a number, got {describe(record.salience)}")
    if not math.isfinite(record.salience):
        raise InvalidInput(f"salience must be finite, got {record.salience}")
    for name in _COUNTERS:
        check_int(getattr(record, name), name, minimum=0, maximum=INT64[1])
    check_int(record.version, "version", minimum=1, maximum=INT64[1])
    if not isinstance(record.status, str) or record.status not in STATUSES:
        raise InvalidInput(
            f"status must be one of {', '.join(STATUSES)}; got {record.status!r:.40}"
        )
    return replace(
        stored,
        metadata=check_metadata(record.metadata),
        tags=check_str_list(record.tags, "tags"),
        salience=float(record.salience),
    )


def check_history_entry(entry: HistoryEntry, *, max_bytes: int) -> HistoryEntry:
    """A history entry read from outside (an export)."""
    check_int(entry.seq, "seq", minimum=0, maximum=INT64[1])
    if not isinstance(entry.op, str) or not 0 < len(entry.op) <= 32 or _CONTROL.search(entry.op):
        raise InvalidInput(f"op must be a short name such as 'update', got {describe(entry.op)}")
    _unicode(entry.op, "op")
    at = check_time(entry.at, "at")
    if at is None:
        raise InvalidInput("history entry has no time ('at')")
    if entry.actor is not None:  # the engine's own "formation" is a fair actor here
        if not isinstance(entry.actor, str) or len(entry.actor) > MAX_ACTOR_CHARS:
            raise InvalidInput(f"actor must be a short str or null, got {describe(entry.actor)}")
        _unicode(entry.actor, "actor")
    before, after = (
        None if snap is None else check_json_object(snap, name, max_bytes=max_bytes)
        for name, snap in (("before", entry.before), ("after", entry.after))
    )
    return replace(entry, at=at, before=before, after=after)
