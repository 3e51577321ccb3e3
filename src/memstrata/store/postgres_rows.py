"""How records travel between Python and PostgreSQL rows, and the SQL of scopes and
filters (pure functions; `%s` placeholders for psycopg).

JSON fields are `json` columns, which keep the text as written (key order too);
vectors are pgvector values, read back as float32 numpy arrays.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import psycopg
from psycopg.conninfo import conninfo_to_dict

from memstrata.store import fts, rows
from memstrata.store.base import Filters
from memstrata.types import RECORD_FIELDS, Record, Scope

COLUMNS = RECORD_FIELDS
JSON_COLUMNS = ("metadata", "source_ids", "entities", "tags")
SELECT = ", ".join(COLUMNS)
# What full text indexes of a record: the terms SQLite's index holds of its text
# (weight A) and of its speaker (weight D), which the store passes in
# (`fts.index_terms`), and how many there are.
DOCUMENT = "setweight(to_tsvector('simple', %s), 'A') || setweight(to_tsvector('simple', %s), 'D')"
INSERT = (
    f"INSERT INTO records ({SELECT}, tsv, doc_length, embedding) "
    f"VALUES ({', '.join(['%s'] * len(COLUMNS))}, {DOCUMENT}, %s, %b)"
)
# Every column but the id, for UPDATE ... SET.
SETS = ", ".join([*(f"{c} = %s" for c in COLUMNS[1:]), f"tsv = {DOCUMENT}", "doc_length = %s"])


def select(alias: str) -> str:
    return ", ".join(f"{alias}.{c}" for c in COLUMNS)


def row_to_record(row: Sequence[Any]) -> Record:
    """A record from the `SELECT` columns (psycopg has already decoded the JSON)."""
    return rows.row_to_record(row, decoded=True)


def record_params(record: Record) -> list[Any]:
    """The `COLUMNS` values of a record, JSON fields as text, then what full text
    indexes of it (`DOCUMENT`'s two values and their length)."""
    data = record.to_dict()
    for name in JSON_COLUMNS:
        data[name] = json.dumps(data[name], ensure_ascii=False)
    return [data[name] for name in COLUMNS] + document_params(record.text, record.speaker)


def document_params(text: str, speaker: str | None) -> list[Any]:
    """`DOCUMENT`'s values for a text and speaker, and how many terms they hold."""
    words, names = fts.index_terms([text, speaker or ""])
    return [" ".join(words), " ".join(names), len(words) + len(names)]


def vector_param(vector: np.ndarray | None) -> np.ndarray | None:
    return None if vector is None else np.ascontiguousarray(vector, dtype=np.float32)


def as_array(value: Any) -> np.ndarray | None:
    """A stored pgvector value as a float32 array (a copy the caller may keep)."""
    if value is None:
        return None
    return np.array(value.to_numpy(), dtype=np.float32)


def scope_sql(scope: Scope, alias: str = "") -> tuple[str, list[Any]]:
    """SQL for a scope: its namespace, and each other part that is given (a part
    left None matches any value)."""
    prefix = f"{alias}." if alias else ""
    clauses = [f"{prefix}namespace = %s"]
    params: list[Any] = [scope.namespace]
    for name in ("user_id", "agent_id", "session_id"):
        value = getattr(scope, name)
        if value is not None:
            clauses.append(f"{prefix}{name} = %s")
            params.append(value)
    return " AND ".join(clauses), params


def filter_sql(filters: Filters, alias: str = "") -> tuple[str, list[Any]]:
    """SQL for `Filters`, matching what SQLite's `rows.filter_sql` selects: times
    compare in their stored form; a metadata value matches the top-level key's JSON
    value (a bool also matches 1 or 0, as SQLite's json_extract reads it)."""
    prefix = f"{alias}." if alias else ""
    clauses: list[str] = []
    params: list[Any] = []
    if filters.kinds is not None:
        clauses.append(f"{prefix}kind = ANY(%s)")
        params.append(list(filters.kinds))
    if filters.statuses:
        clauses.append(f"{prefix}status = ANY(%s)")
        params.append(list(filters.statuses))
    if filters.derived is not None:
        clauses.append(f"{'' if filters.derived else 'NOT '}{prefix}derived")
    if filters.since is not None:
        clauses.append(f"{prefix}occurred_at >= %s")
        params.append(filters.since)
    if filters.until is not None:
        clauses.append(f"{prefix}occurred_at < %s")
        params.append(filters.until)
    for key, value in filters.metadata.items():
        item = f"({prefix}metadata -> %s)"
        if value is None:
            clauses.append(f"json_typeof{item} = 'null'")
            params.append(key)
        elif isinstance(value, bool):
            clauses.append(f"{item}::jsonb IN (%s::jsonb, %s::jsonb)")
            params.extend([key, json.dumps(value), str(int(value))])
        else:
            clauses.append(f"{item}::jsonb = %s::jsonb")
            params.extend([key, json.dumps(value, ensure_ascii=False)])
    return " AND ".join(clauses) or "true", params


def where(dsn: str) -> str:
    """The DSN to show in messages: user, host, port and database, never a password."""
    try:
        parts = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:  # an unparseable DSN is shown as nothing of it
        return "the PostgreSQL DSN given (unparseable)"
    user = f"{parts['user']}@" if parts.get("user") else ""
    host = str(parts.get("host") or parts.get("hostaddr") or "")
    port = f":{parts['port']}" if parts.get("port") else ""
    db = str(parts.get("dbname") or "")
    if host.startswith("/"):  # a Unix socket directory
        return f"postgresql://{user}/{db}?host={host}{port.replace(':', '&port=')}"
    return f"postgresql://{user}{host}{port}/{db}"


_PASSWORDS = (
    (re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE), r"\1***"),
    (re.compile(r"(://[^:/@\s]*:)[^@\s]*@"), r"\1***@"),
)


def scrub(text: str) -> str:
    """`text` (an error message that may quote a DSN) with any password masked."""
    for pattern, masked in _PASSWORDS:
        text = pattern.sub(masked, text)
    return text
