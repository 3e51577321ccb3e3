"""The crash loop's workload: a random mix of add / update / delete / purge / feedback
on one store, each operation written to the ledger before and after it runs.

Run as a child process, killed by the parent at a random moment:

    python -m memstrata.bench.reliability.workload --db PATH --ledger PATH --seed N
        [--background] [--url URL --key KEY] [--break-after N]

It acts through `Memory(PATH)` (embedded; `--background` turns background formation
on) or, with `--url`, through `memstrata.Client` against a running `memstrata serve`.
It prints `READY` once open, `OP <n> <kind> <carriers>` as each operation is sent
(carriers: how many derived records hold the target turn's content, -1 if unknown)
and, with `--break-after N`, `BREAK` when it stops itself inside an operation:
from the N-th operation on, the first delete, purge or update of a turn with
derived records, or an inline add, waits forever at the start of one of its write
transactions (chosen at random), so that the parent's SIGKILL lands between the
change to a turn and the clean-up of what was derived from it.

Texts carry unique tokens ("zq" + 10 letters) in every sentence, and names of people
that recur, so that formation makes facts, episodes and profiles that carry them.
"""

from __future__ import annotations

import argparse
import random
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from memstrata.bench.reliability import ledger as ledger_mod
from memstrata.store.sqlite import SQLiteStore

NAMES = ("Marta", "Jonas", "Priya", "Tomas", "Keiko", "Ilse")
SPEAKERS = ("alice", "bob")
USERS = ("u1", "u2")
SESSIONS = ("s1", "s2", "s3")
WEIGHTS = {"add": 40, "update": 15, "delete": 15, "purge": 10, "feedback": 20}
_TEMPLATES = (
    "I met {name} at the {tok} market yesterday. The {tok} market was busy.",
    "My friend {name} bought a {tok} lamp last week. {name} loves the {tok} lamp.",
    "We talked about the {tok} trip and {name} agreed to come. The {tok} trip is in May.",
    "{name} told me the {tok} cafe closed. I will miss the {tok} cafe.",
    "I started learning {tok} dances with {name}. The {tok} dances are hard.",
)


def token(rng: random.Random) -> str:
    return "zq" + "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(10))


def turn_text(rng: random.Random) -> str:
    return rng.choice(_TEMPLATES).format(name=rng.choice(NAMES), tok=token(rng))


def messages(rng: random.Random, count: int) -> list[dict[str, Any]]:
    out = []
    for _ in range(count):
        text = turn_text(rng)
        out.append({
            "role": "user", "name": rng.choice(SPEAKERS), "content": text,
            "metadata": {"tok": sorted(ledger_mod.tokens(text))[0], "n": rng.randrange(10**6)},
        })  # fmt: skip
    return out


def _emit(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class Breakpoint:
    """Stops the process at the start of the k-th write transaction (BEGIN) of one
    operation on the main thread, for the parent to kill it there."""

    def __init__(self, after: int, rng: random.Random) -> None:
        self.after = after
        self.rng = rng
        self.main = threading.get_ident()
        self.target = 0  # the BEGIN to stop at inside the armed operation; 0: unarmed
        self.begins = 0
        self.kind = ""

    def arm(self, op_index: int, kind: str, carriers: int, inline_add: bool) -> None:
        self.target, self.begins, self.kind = 0, 0, kind
        if op_index < self.after:
            return
        if kind in ("delete", "purge") and carriers > 0:
            # 1: before anything (now and then); 2: the turn changed, none of what was
            # derived from it yet; 3: one of those; ...
            low = 1 if self.rng.random() < 0.15 else 2
            self.target = self.rng.randint(low, 1 + carriers)
        elif kind == "update" and carriers > 0:
            self.target = self.rng.randint(2, 2 + carriers)  # +1: re-forming the new text
        elif kind == "add" and inline_add:
            self.target = 2  # the turns stored, their formation not yet

    def trace(self, sql: str) -> None:
        if not self.target or threading.get_ident() != self.main:
            return
        if sql.lstrip().upper().startswith("BEGIN"):
            self.begins += 1
            if self.begins >= self.target:
                _emit(f"BREAK {self.kind} {self.begins}")
                time.sleep(3600)  # the parent kills us here


def _nothing(index: int, kind: str, held: int) -> None:
    pass


def choose(rng: random.Random, usable: int) -> str:
    kinds = [k for k in WEIGHTS if k == "add" or usable]
    return rng.choices(kinds, weights=[WEIGHTS[k] for k in kinds])[0]


def run(
    target: Any,
    ledger: ledger_mod.Ledger,
    rng: random.Random,
    *,
    ops: int,
    carriers: Callable[[str], int],
    before: Callable[[int, str, int], None] = _nothing,
) -> int:
    """Run `ops` operations (0: until killed) on `target` (a Memory or a Client),
    each written to `ledger` before and after. Returns how many ran."""
    state = ledger_mod.replay(ledger_mod.read(ledger.path))
    pool = [t.id for t in state.usable() if t.id]
    number = ledger_mod.next_number(ledger_mod.read(ledger.path))
    done = 0
    while not ops or done < ops:
        kind = choose(rng, len(pool))
        request: dict[str, Any] = {"n": number, "s": "sent", "op": kind}
        held = -1
        if kind == "add":
            request["messages"] = messages(rng, rng.randint(1, 4))
            request["user_id"], request["session_id"] = rng.choice(USERS), rng.choice(SESSIONS)
        else:
            record_id = rng.choice(pool)
            request["id"] = record_id
            held = carriers(record_id)
            if kind == "update":
                request["text"] = turn_text(rng)
            elif kind == "feedback":
                request["useful"] = rng.random() < 0.7
        ledger.write(request)
        _emit(f"OP {number} {kind} {held}")
        before(done, kind, held)
        answer = _call(target, request)
        ledger.write({"n": number, "s": "acked", **answer})
        if kind == "add":
            pool.extend(answer["ids"])
        elif kind in ("delete", "purge"):
            pool.remove(request["id"])
        number += 1
        done += 1
    return done


def _call(target: Any, request: dict[str, Any]) -> dict[str, Any]:
    kind = request["op"]
    if kind == "add":
        records = target.add(
            request["messages"], user_id=request["user_id"], session_id=request["session_id"]
        )
        return {"ids": [r.id for r in records]}
    if kind == "update":
        return {"version": target.update(request["id"], text=request["text"]).version}
    if kind == "delete":
        return {"version": target.delete(request["id"]).version}
    if kind == "purge":
        target.purge(request["id"])
        return {}
    record = target.feedback(request["id"], request["useful"])
    return {"useful": record.useful, "not_useful": record.not_useful}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="memstrata.bench.reliability.workload")
    parser.add_argument("--db", required=True)
    parser.add_argument("--ledger", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ops", type=int, default=0, help="stop after this many (0: never)")
    parser.add_argument("--background", action="store_true")
    parser.add_argument("--url")
    parser.add_argument("--key")
    parser.add_argument("--break-after", type=int, default=-1)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    book = ledger_mod.Ledger(args.ledger)
    if args.url:
        from memstrata.client import Client

        with Client(args.url, api_key=args.key, timeout=60.0) as client:
            _emit("READY")
            run(client, book, rng, ops=args.ops, carriers=lambda _: -1)
        return
    from memstrata.memory import Memory

    memory = Memory(args.db, embedder="hash", background_formation=args.background)
    store = memory.store

    def carriers(record_id: str) -> int:
        # Reaches into the store: how many derived records a cascade will visit.
        linked = store.linked([record_id], "evidence", reverse=True)
        return len(linked.get(record_id, []))

    before = _nothing
    if args.break_after >= 0:
        stop = Breakpoint(args.break_after, random.Random(args.seed + 1))
        # No public hook inside a write: the writer connection's trace sees each BEGIN.
        if not isinstance(store, SQLiteStore):
            raise SystemExit("--break-after needs a SQLite store")
        store._conn.set_trace_callback(stop.trace)

        def before(index: int, kind: str, held: int) -> None:
            stop.arm(index, kind, held, inline_add=not args.background)

    _emit("READY")
    run(memory, book, rng, ops=args.ops, carriers=carriers, before=before)
    memory.close()


if __name__ == "__main__":
    main()
