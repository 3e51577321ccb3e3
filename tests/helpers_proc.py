"""Child-process workloads for tests/test_durability.py.

Run as ``python helpers_proc.py MODE PATH [ARGS...]``. Every mode opens a real
``Memory(PATH, embedder="hash")`` and talks to the parent through lines on stdout,
each flushed as soon as it is written (with $MEMSTRATA_TEST_GRAPH_AT set, dense
search goes through the HNSW graph from that many rows on):

* ``READY`` when the child is set up; modes that wait for a start signal then
  block until the parent writes ``GO`` on stdin, so several children can start
  writing at the same moment.
* one JSON object per acknowledged operation (written only after the call returned).
* ``DONE`` at a clean end. Any exception ends the child with its traceback on
  stderr and a non-zero exit code.

The texts are a pure function of (tag, index) so the parent can check them.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time

from memstrata import Memory
from memstrata.store import sqlite_vectors as vectors

COMMON = "memo"  # a word every turn contains: its FTS document count is the live count
GRAPH_AT = "MEMSTRATA_TEST_GRAPH_AT"  # env: row count from which the HNSW graph is used

if os.environ.get(GRAPH_AT):
    vectors.ANN_MIN = vectors.EXACT_MAX = int(os.environ[GRAPH_AT])


def turn_text(tag: str, i: int) -> str:
    """The text of turn `i` written by the child tagged `tag`; `token(tag, i)` is
    a word no other turn contains."""
    return f"{COMMON} {token(tag, i)} the user said something about coffee and trains"


def token(tag: str, i: int) -> str:
    return f"{tag}n{i}"


def revised_text(tag: str, i: int) -> str:
    return f"{COMMON} {tag}r{i} revised wording after a correction"


def sentinel_text(tag: str) -> str:
    return f"{COMMON} sentinel{tag} final marker written by {tag}"


def _emit(obj: object) -> None:
    print(obj if isinstance(obj, str) else json.dumps(obj), flush=True)


def _wait_go() -> None:
    _emit("READY")
    line = sys.stdin.readline()
    if line.strip() != "GO":
        raise SystemExit(f"expected GO on stdin, got {line!r}")


def _messages(tag: str, start: int, size: int) -> list[dict[str, str]]:
    return [
        {"role": "user" if i % 2 else "assistant", "content": turn_text(tag, i)}
        for i in range(start, start + size)
    ]


def crash_writer(path: str, tag: str, seed: str) -> None:
    """Add batches of 20 (and now and then revise an earlier turn) until killed.
    Prints TX as each write transaction begins, so the parent can aim its kill."""
    rng = random.Random(int(seed))
    m = Memory(path, embedder="hash")
    # Reaches into the store's connection: there is no public hook inside a write.
    m.store._conn.set_trace_callback(lambda sql: sql.startswith("BEGIN") and _emit("TX"))
    _emit("READY")
    ids: list[str] = []
    start = 0
    while True:
        records = m.add(_messages(tag, start, 20), session_id=tag)
        ids.extend(r.id for r in records)
        _emit({"op": "add", "start": start, "ids": [r.id for r in records]})
        start += 20
        if start % 60 == 0:
            i = rng.randrange(len(ids))
            text = revised_text(tag, start)
            record = m.update(ids[i], text=text)
            _emit({"op": "update", "id": record.id, "version": record.version, "text": text})


def writer(path: str, tag: str, count: str, seed: str) -> None:
    """After GO: open the file, add `count` turns in batches of assorted sizes with
    searches in between (each must find this process's own acknowledged writes),
    then one sentinel record."""
    rng = random.Random(int(seed))
    _wait_go()
    m = Memory(path, embedder="hash")
    total, start = int(count), 0
    while start < total:
        size = min(rng.choice((1, 2, 5, 13, 20, 40)), total - start)
        records = m.add(_messages(tag, start, size), session_id=tag)
        _emit({"op": "add", "start": start, "ids": [r.id for r in records]})
        start += size
        probe = rng.randrange(start)
        for strategy in ("bm25", "hybrid"):
            hits = m.search(token(tag, probe), k=3, strategy=strategy)
            if not any(h.record.text == turn_text(tag, probe) for h in hits):
                raise AssertionError(f"{strategy} search lost own turn {probe}: {hits!r:.300}")
        m.search("coffee trains", k=5, strategy="dense")
    record = m.add(sentinel_text(tag), session_id=tag)[0]
    _emit({"op": "sentinel", "id": record.id})
    m.close()
    _emit("DONE")


def reader(path: str, tags: str, timeout: str) -> None:
    """Search in a loop until every tag's sentinel is found by both dense and BM25
    search, printing the record counts seen on the way."""
    m = Memory(path, embedder="hash")
    m.search("coffee", k=3, strategy="dense")  # loads the vector index now
    _emit("READY")
    pending = {(tag, s) for tag in tags.split(",") for s in ("dense", "bm25")}
    counts: list[int] = []
    loops = 0
    deadline = time.monotonic() + float(timeout)
    while pending and time.monotonic() < deadline:
        loops += 1
        for tag, strategy in sorted(pending):
            query = sentinel_text(tag) if strategy == "dense" else f"sentinel{tag}"
            hits = m.search(query, k=1, strategy=strategy)
            if hits and hits[0].record.text == sentinel_text(tag):
                pending.discard((tag, strategy))
        m.search("what did the user say about trains?", k=10)
        count = m.stats()["by_kind"].get("event", {}).get("active", 0)
        if not counts or counts[-1] != count:
            counts.append(count)
    _emit({"loops": loops, "counts": counts, "missing": sorted(map(list, pending))})
    m.close()
    _emit("DONE")


def mutate(path: str, new_text: str, update_id: str, update_text: str, delete_id: str) -> None:
    """One add, one update, one delete, then exit."""
    with Memory(path, embedder="hash") as m:
        added = m.add(new_text)[0]
        m.update(update_id, text=update_text)
        m.delete(delete_id)
    _emit({"added": added.id})


def bump(path: str, record_id: str, times: str) -> None:
    """After GO: increment metadata["n"] of one record `times` times with optimistic
    concurrency (expected_version), retrying on Conflict. A short pause after each
    update lets the other processes in (SQLite's busy wait is not fair)."""
    from memstrata.errors import Conflict

    _wait_go()
    conflicts = 0
    with Memory(path, embedder="hash") as m:
        for _ in range(int(times)):
            time.sleep(random.uniform(0, 0.002))
            while True:
                current = m.get(record_id)
                try:
                    m.update(record_id, metadata={"n": current.metadata["n"] + 1},
                             expected_version=current.version)  # fmt: skip
                    break
                except Conflict:
                    conflicts += 1
    _emit({"conflicts": conflicts})
    _emit("DONE")


def cascade_kill(path: str, op: str, record_id: str, kill_at: str) -> None:
    """Run one `op` (delete, purge or update) on a turn, killing this process with
    SIGKILL just before the writer's statement number `kill_at` (0: never). Prints
    how many statements the op ran."""
    import signal

    m = Memory(path, embedder="hash")
    count = 0

    def trace(sql: str) -> None:
        nonlocal count
        count += 1
        if count == int(kill_at):
            os.kill(os.getpid(), signal.SIGKILL)

    # Reaches into the store's connection: there is no public hook inside a write.
    m.store._conn.set_trace_callback(trace)
    if op == "update":
        m.update(record_id, text=CASCADE_UPDATE, user_id="u")
    else:
        getattr(m, op)(record_id, user_id="u")
    m.store._conn.set_trace_callback(None)
    _emit({"statements": count})
    m.close()


CASCADE_TURN = {
    "name": "Quenby",
    "content": "I adopted a dog called Zorblix. Zorblix sleeps all day. I walk Zorblix "
    "in the park. My sister Mirelda visits Zorblix on Sundays.",
}
CASCADE_UPDATE = "I adopted a cat called Pemberly. Pemberly sleeps all day."


MODES = {
    "crash_writer": crash_writer,
    "writer": writer,
    "reader": reader,
    "mutate": mutate,
    "bump": bump,
    "cascade_kill": cascade_kill,
}

if __name__ == "__main__":
    MODES[sys.argv[1]](*sys.argv[2:])
