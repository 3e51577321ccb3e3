"""The CLI, run as a user runs it: the installed entry point in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest


def run(db: Path, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "MEMSTRATA_DB": str(db), "MEMSTRATA_EMBEDDER": "hash", "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "memstrata.cli", *args],
        input=stdin,
        capture_output=True,
        env=env,
        timeout=60,
    )


def ok(db: Path, *args: str, stdin: bytes | None = None) -> Any:
    result = run(db, *args, stdin=stdin)
    assert result.returncode == 0, result.stderr.decode()
    return json.loads(result.stdout) if result.stdout.strip().startswith(b"{") else result.stdout


def test_add_search_get_update_history_delete(db_path: Path) -> None:
    added = ok(
        db_path,
        "add",
        "I moved to Lisbon in March",
        "--user",
        "alice",
        "--at",
        "2026-03-02T10:00:00Z",
        "--name",
        "alice",
        "--meta",
        "mood=happy",
    )
    [record] = added["records"]
    assert record["occurred_at"] == "2026-03-02T10:00:00.000000Z"
    assert record["metadata"] == {"mood": "happy"} and record["speaker"] == "alice"
    ok(db_path, "add", "Bob owns a greyhound", "--user", "bob")
    hits = ok(db_path, "search", "Lisbon March", "--user", "alice")["hits"]
    assert [h["record"]["id"] for h in hits] == [record["id"]]
    assert ok(db_path, "get", record["id"], "--user", "alice")["text"] == record["text"]
    updated = ok(db_path, "update", record["id"], "--text", "I moved to Porto", "--user", "alice")
    assert updated["version"] == 2
    ops = [e["op"] for e in ok(db_path, "history", record["id"], "--user", "alice")["history"]]
    assert ops == ["add", "update"]
    ok(db_path, "delete", record["id"], "--user", "alice")
    assert ok(db_path, "list", "--user", "alice")["records"] == []
    stats = ok(db_path, "stats")
    assert stats["by_kind"]["event"] == {"active": 1, "deleted": 1}
    # The fact drawn from the first text went with the update, the one from the new
    # text with the delete: nothing derived from alice's turn is left active.
    assert stats["by_kind"]["fact"] == {"deleted": 2}


def test_errors_are_one_line_with_exit_codes(db_path: Path) -> None:
    missing = run(db_path, "get", "01a20a7a-0000-7000-8000-000000000000")
    assert missing.returncode == 3 and b"error: no record" in missing.stderr
    empty = run(db_path, "add", "  ")
    assert empty.returncode == 2 and b"empty" in empty.stderr
    assert b"Traceback" not in missing.stderr + empty.stderr


def test_stdin_json_lines_and_bad_utf8(db_path: Path) -> None:
    lines = b'{"content": "first turn", "role": "user"}\n{"content": "second", "name": "bo"}\n'
    added = ok(db_path, "add", "-", "--session", "s9", stdin=lines)
    assert [r["text"] for r in added["records"]] == ["first turn", "second"]
    bad = run(db_path, "add", "-", stdin=b'{"content": "caf\xe9"}\n')
    assert bad.returncode == 2 and b"not valid UTF-8" in bad.stderr
    assert ok(db_path, "stats")["by_kind"]["event"] == {"active": 2}


def test_export_import_purge(db_path: Path, tmp_path: Path) -> None:
    [record] = ok(db_path, "add", "secret 12345")["records"]
    dump = tmp_path / "dump.jsonl"
    ok(db_path, "export", str(dump))
    other = tmp_path / "other.db"
    assert ok(other, "import", str(dump), "--namespace", "acme") == {"imported": 1}
    assert ok(other, "get", record["id"], "--namespace", "acme")["text"] == "secret 12345"
    ok(db_path, "purge", record["id"], "--yes")
    assert run(db_path, "get", record["id"]).returncode == 3


def test_table_output_for_people(db_path: Path) -> None:
    ok(db_path, "add", "a readable row")
    out = ok(db_path, "--table", "search", "readable")
    assert b"a readable row" in out and b"bm25#1" in out


@pytest.mark.parametrize("command", ["add", "search", "list", "export", "demo"])
def test_help_teaches(db_path: Path, command: str) -> None:
    result = run(db_path, command, "--help")
    assert result.returncode == 0 and b"Usage" in result.stdout


def test_context_command(db_path: Path) -> None:
    ok(db_path, "add", "I adopted a greyhound named Pixel", "--user", "u", "--name", "ann")
    block = ok(db_path, "context", "greyhound", "--user", "u", "--budget", "60")
    assert "ann: I adopted a greyhound named Pixel" in block["text"]
    assert block["tokens"] <= 60 and block["parts"][0]["section"] == "relevant"


def test_search_and_context_as_of(db_path: Path) -> None:
    for text, when in [("I live in Lisbon", "2025-01-15T10:00:00Z"),
                       ("I moved to Porto", "2025-03-15T10:00:00Z")]:  # fmt: skip
        ok(db_path, "add", text, "--user", "dora", "--at", when)
    query = ("search", "where does dora live", "--user", "dora")
    assert len(ok(db_path, *query)["hits"]) == 2
    hits = ok(db_path, *query, "--as-of", "2025-02-01T00:00:00Z")["hits"]
    assert [h["record"]["text"] for h in hits] == ["I live in Lisbon"]
    block = ok(db_path, "context", "where does dora live", "--user", "dora",
               "--as-of", "2025-02-01")["text"]  # fmt: skip
    assert "Lisbon" in block and "Porto" not in block
    for command in ("search", "context"):
        for option in ("--as-of", "--now"):
            bad = run(db_path, command, "x", option, "not a time")
            field = option.strip("-").replace("-", "_").encode()
            assert bad.returncode == 2 and b"error: " + field + b" 'not a time'" in bad.stderr
    # "last week" counts from --now: the week before 20 January holds Lisbon only.
    week = ("search", "what did we talk about last week?", "--user", "dora")
    first = ok(db_path, *week, "--now", "2025-01-20T00:00:00Z")["hits"][0]
    assert first["record"]["text"] == "I live in Lisbon"
    first = ok(db_path, *week, "--now", "2025-03-20T00:00:00Z")["hits"][0]
    assert first["record"]["text"] == "I moved to Porto"
