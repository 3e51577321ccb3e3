"""After a kill: open the store as the next process would and hold it to the ledger.

Run in a fresh process (the killed one's formation marks are then abandoned, and
`Memory(path)` resumes them):

    python -m memstrata.bench.reliability.verify --db PATH --ledger PATH
        [--namespace NS] [--background]

It prints one JSON object (`check(...)`'s result). Problems are keyed, so that the
parent can count each one once however many rounds see it:

- `lost`: an acked add missing, or its text or metadata not exact; an acked update
  whose text is not the current text; an acked delete that is not a tombstone
  (get -> NotFound, history ends with the delete); an acked purge not purged;
  fewer feedback counts than were acked (or more than were sent);
- `torn_adds`: an add sent and never acked of which some turns are stored and
  others not (an add is one transaction: all or none);
- `cascades`: an ACTIVE derived record (one with `source_ids`) that carries a token
  of a turn that is deleted, purged, or was updated away from that token;
- `unformed`: an active turn that no fact comes from after `flush()` (every
  workload text makes facts): an update killed between its new text and the
  formation of that text, or formation owed and lost;
- `retry_left`: such a record still active after the delete or purge is retried;
- `integrity`: `PRAGMA integrity_check` not "ok" (before opening, and after);
- `pending`: formation still owed after `flush()`;
- `raw`: an exception other than a `MemstrataError` reached the caller.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sqlite3
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from memstrata.bench.reliability import ledger as ledger_mod
from memstrata.bench.reliability.ledger import Replay, Turn, tokens
from memstrata.errors import MemstrataError, NotFound

PENDING_PREFIX = "formation:pending:"


def integrity(path: Path) -> str:
    """`PRAGMA integrity_check` of the file, as one string ("ok" when healthy)."""
    try:
        conn = sqlite3.connect(path)
        try:
            rows = conn.execute("PRAGMA integrity_check").fetchall()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return f"{type(exc).__name__}: {exc}"
    return "; ".join(str(r[0]) for r in rows)[:500]


def owed_marks(path: Path) -> int:
    """Formation marks in the file, read without opening it as a store."""
    try:
        conn = sqlite3.connect(path)
        try:
            row = conn.execute(
                "SELECT count(*) FROM state WHERE key LIKE ?", (PENDING_PREFIX + "%",)
            ).fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return -1
    return int(row[0])


def exported(memory: Any, namespace: str) -> tuple[dict[str, dict[str, Any]], dict[str, list]]:
    """Every record of the namespace (any status) and its history, through export."""
    buffer = io.StringIO()
    memory.export(buffer, namespace=namespace)
    records: dict[str, dict[str, Any]] = {}
    history: dict[str, list[dict[str, Any]]] = {}
    for line in buffer.getvalue().splitlines():
        item = json.loads(line)
        if item["type"] == "record":
            records[item["record"]["id"]] = item["record"]
        elif item["type"] == "history":
            history.setdefault(item["entry"]["record_id"], []).append(item["entry"])
    return records, history


# What the verifier finds, by kind (crashloop.py reports them in this order).
PROBLEMS = (
    "lost", "torn_adds", "cascades", "unformed", "retry_left", "integrity", "pending", "raw",
)  # fmt: skip


class Findings:
    def __init__(self) -> None:
        self.problems: dict[str, dict[str, str]] = {name: {} for name in PROBLEMS}

    def add(self, kind: str, key: str, detail: str) -> None:
        self.problems[kind].setdefault(key, detail[:300])


def check_turns(state: Replay, records: dict[str, dict[str, Any]], found: Findings) -> None:
    """Acked writes against the exported records."""
    for turn in state.turns.values():
        assert turn.id is not None
        record = records.get(turn.id)
        if record is None:
            found.add("lost", f"missing:{turn.id}", "an acked add is not in the store")
            continue
        status = record["status"]
        if status not in turn.status_ok:
            found.add("lost", f"status:{turn.id}",
                      f"status {status}, expected one of {sorted(turn.status_ok)}")  # fmt: skip
        if status != "purged":
            if record["text"] not in turn.text_ok:
                found.add("lost", f"text:{turn.id}", f"text {record['text']!r:.80} not as acked")
            if record["metadata"] != turn.metadata:
                found.add("lost", f"metadata:{turn.id}", f"metadata {record['metadata']!r:.80}")
        for name in ("useful", "not_useful"):
            low = getattr(turn, name)
            high = low + getattr(turn, f"{name}_unacked")
            if not low <= int(record[name]) <= high:
                found.add("lost", f"{name}:{turn.id}",
                          f"{name} = {record[name]}, acked {low}, sent {high}")  # fmt: skip


def check_tombstones(memory: Any, state: Replay, namespace: str, found: Findings) -> None:
    """Acked deletes and purges through get and history, as a caller sees them."""
    for turn in state.turns.values():
        if len(turn.status_ok) != 1 or turn.status_ok == {"active"}:
            continue
        (status,) = turn.status_ok
        op = "delete" if status == "deleted" else "purge"
        try:
            memory.get(turn.id, namespace=namespace)
            found.add("lost", f"get:{turn.id}", f"get of a {status} turn answered")
        except NotFound:
            pass
        ops = [e.op for e in memory.history(turn.id, namespace=namespace)]
        if op not in ops:
            found.add("lost", f"history:{turn.id}", f"history {ops} has no {op}")


def match_unacked(
    state: Replay, records: dict[str, dict[str, Any]], found: Findings
) -> list[tuple[Turn, dict[str, Any]]]:
    """Adds sent and never acked: all their turns stored, or none. Returns the stored
    ones with their records (their tokens count for the cascade check)."""
    by_token: dict[str, dict[str, Any]] = {}
    for record in records.values():
        if record["kind"] == "event" and not record["source_ids"]:
            for tok in tokens(record["text"]):
                by_token[tok] = record
            for tok in tokens(json.dumps(record["metadata"])):
                by_token.setdefault(tok, record)  # an updated turn keeps its first token here
    stored = []
    for group in state.unacked_adds:
        hits = [(t, by_token.get(str(t.metadata.get("tok")))) for t in group]
        present = [(t, r) for t, r in hits if r is not None]
        if present and len(present) != len(group):
            first = group[0].metadata.get("tok")
            found.add("torn_adds", f"torn:{first}",
                      f"{len(present)} of {len(group)} turns of an unacked add stored")  # fmt: skip
        for turn, record in present:
            if record["status"] != "purged" and record["text"] != turn.texts[0]:
                found.add("lost", f"unacked-text:{record['id']}", "stored text not as sent")
            stored.append((turn, record))
    return stored


def dead_tokens(turn: Turn, record: dict[str, Any]) -> set[str]:
    """Tokens of a turn that no live derived record may carry now: all of them once
    it is deleted or purged, else those of the texts it no longer has."""
    if record["status"] in ("deleted", "purged"):
        return turn.all_tokens
    return turn.all_tokens - tokens(record["text"])


def check_cascades(
    turns: Sequence[tuple[Turn, dict[str, Any]]], records: dict[str, dict[str, Any]],
    found: Findings, kind: str = "cascades",
) -> set[str]:  # fmt: skip
    """Active derived records carrying a dead token; returns the turns they came from."""
    owner: dict[str, str] = {}
    for turn, record in turns:
        for tok in dead_tokens(turn, record):
            owner[tok] = record["id"]
    bad: set[str] = set()
    for derived in records.values():
        if derived["status"] != "active" or not derived["source_ids"]:
            continue
        for tok in tokens(derived["text"]) & owner.keys():
            turn_id = owner[tok]
            bad.add(turn_id)
            status = records[turn_id]["status"]
            why = status if status in ("deleted", "purged") else "updated away from it"
            found.add(kind, f"{turn_id}:{derived['id']}",
                      f"active {derived['kind']} {derived['id']} carries {tok} of turn "
                      f"{turn_id} ({why})")  # fmt: skip
    return bad


def check_formed(
    turns: Sequence[tuple[Turn, dict[str, Any]]], records: dict[str, Any], found: Findings
) -> None:
    """Active turns that no live fact comes from (every workload text makes facts)."""
    sourced = {
        s
        for r in records.values()
        if r["kind"] == "fact" and r["status"] not in ("deleted", "purged")
        for s in r["source_ids"]
    }
    for turn, record in turns:
        if record["status"] == "active" and record["id"] not in sourced:
            found.add("unformed", record["id"],
                      f"active turn {record['id']} ({turn.last_op} last) has no facts")  # fmt: skip


def check(
    path: Path, ledger_path: Path, *, namespace: str = "default", background: bool = False
) -> dict[str, Any]:
    """Every check of one round, as a JSON-ready dict."""
    from memstrata.memory import Memory

    found = Findings()
    before = integrity(path)
    if before != "ok":
        found.add("integrity", "before", before)
    owed_at_open = owed_marks(path)
    state = ledger_mod.replay(ledger_mod.read(ledger_path))
    result: dict[str, Any] = {"acked": state.acked, "sent": state.sent,
                              "owed_at_open": owed_at_open}  # fmt: skip
    memory = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # formation warnings are counted, not read
            memory = Memory(path, embedder="hash", background_formation=background)
            memory.flush()
            pending = memory.stats(namespace=namespace)["pending_formation"]
            if pending:
                found.add("pending", "after-flush", f"{pending} turns still owed formation")
            records, _ = exported(memory, namespace)
            check_turns(state, records, found)
            check_tombstones(memory, state, namespace, found)
            known = [(t, records[t.id]) for t in state.turns.values() if t.id in records]
            known += match_unacked(state, records, found)
            bad = check_cascades(known, records, found)
            retried = _retry(memory, namespace, [(t, r) for t, r in known if r["id"] in bad])
            if retried:
                records, _ = exported(memory, namespace)
                again = [(t, records[r["id"]]) for t, r in known if r["id"] in retried]
                check_cascades(again, records, found, kind="retry_left")
            check_formed(known, records, found)
            result["records"] = len(records)
    except MemstrataError as exc:
        found.add("lost", "open", f"{type(exc).__name__}: {exc}")
    except Exception as exc:
        found.add("raw", type(exc).__name__, f"{type(exc).__name__}: {exc}")
    finally:
        if memory is not None:
            try:
                memory.close()
            except Exception as exc:
                found.add("raw", f"close:{type(exc).__name__}", f"close raised {exc!r}")
    after = integrity(path)
    if after != "ok":
        found.add("integrity", "after", after)
    result["problems"] = found.problems
    return result


def _retry(memory: Any, namespace: str, turns: Sequence[tuple[Turn, dict[str, Any]]]) -> set[str]:
    """Retry the delete or purge of turns whose clean-up was left half done, as a
    caller who never heard back would. Returns the ids retried."""
    done = set()
    for _, record in turns:
        verb = {"deleted": memory.delete, "purged": memory.purge}.get(record["status"])
        if verb is None:
            continue  # an update: retrying writes a new version, which proves nothing
        # NotFound is what today's engine answers for a tombstone: then the retry did nothing.
        with contextlib.suppress(NotFound):
            verb(record["id"], namespace=namespace)
        done.add(record["id"])
    return done


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="memstrata.bench.reliability.verify")
    parser.add_argument("--db", required=True, type=Path)
    parser.add_argument("--ledger", required=True, type=Path)
    parser.add_argument("--namespace", default="default")
    parser.add_argument("--background", action="store_true")
    args = parser.parse_args(argv)
    result = check(args.db, args.ledger, namespace=args.namespace, background=args.background)
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
