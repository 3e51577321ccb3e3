"""Durability and concurrency on real SQLite files and real processes.

Children run the workloads in tests/helpers_proc.py and acknowledge each write on
stdout only after the call returned; a write acknowledged to the parent must
survive SIGKILL, and several processes or threads sharing one file must neither
fail nor lose or tear a write.
"""

from __future__ import annotations

import importlib.util
import json
import os
import queue
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import Any

import pytest

from memstrata import Memory
from memstrata.errors import Conflict, InvalidInput

HELPER = Path(__file__).with_name("helpers_proc.py")
_spec = importlib.util.spec_from_file_location("memstrata_test_helpers_proc", HELPER)
assert _spec is not None and _spec.loader is not None
hp = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(hp)

TIMEOUT = 60.0  # upper bound for any one wait on a child; normal runs take well under 1 s


# ------------------------------------------------------------------ children


class Child:
    """A helper process whose stdout lines arrive on a queue (so every read has a
    timeout) and whose stderr is collected in the background."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.args = args
        self.proc = subprocess.Popen(
            [sys.executable, str(HELPER), *args],
            env={**os.environ, **(env or {})},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._err: list[str] = []
        self._threads = [
            threading.Thread(target=self._pump, args=(self.proc.stdout, self._lines.put)),
            threading.Thread(target=self._pump, args=(self.proc.stderr, self._err.append)),
        ]
        for thread in self._threads:
            thread.daemon = True
            thread.start()

    @staticmethod
    def _pump(stream: Any, sink: Callable[[Any], None]) -> None:
        for line in stream:
            sink(line)
        sink(None)

    @property
    def stderr(self) -> str:
        return "".join(x for x in self._err if x is not None)

    def line(self, timeout: float = TIMEOUT) -> str | None:
        """The next complete stdout line (None once stdout is closed)."""
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"{self.args[0]}: no output for {timeout} s") from None
        if line is not None and not line.endswith("\n"):
            return None  # torn by a kill: never acknowledged
        return None if line is None else line.rstrip("\n")

    def expect(self, wanted: str) -> None:
        got = self.line()
        assert got == wanted, f"{self.args[0]}: expected {wanted!r}, got {got!r}\n{self.stderr}"

    def send(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()

    def finish(self) -> list[str]:
        """Wait for the end; return the rest of stdout. Fails on a non-zero exit."""
        rest = self.drain()
        code = self.proc.returncode
        assert code == 0, f"{self.args[0]} exited {code}:\n{self.stderr}"
        return rest

    def drain(self) -> list[str]:
        self.proc.wait(timeout=TIMEOUT)
        rest = []
        while (line := self.line()) is not None:
            rest.append(line)
        for thread in self._threads:
            thread.join(timeout=TIMEOUT)
        return rest

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=TIMEOUT)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def spawn() -> Iterator[Callable[..., Child]]:
    """Start helper processes; every one still running at the end is killed."""
    children: list[Child] = []

    def start(*args: Any, env: dict[str, str] | None = None) -> Child:
        child = Child(*map(str, args), env=env)
        children.append(child)
        return child

    yield start
    for child in children:
        child.stop()


def start_together(children: list[Child]) -> None:
    for child in children:
        child.expect("READY")
    for child in children:
        child.send("GO")


def acks(lines: list[str]) -> list[dict[str, Any]]:
    return [json.loads(x) for x in lines if x.startswith("{")]


# ------------------------------------------------------------------- checks


def unique_word(text: str) -> str:
    """Every text the helpers write has a word of its own in second place."""
    return text.split()[1]


def raw(path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Run one query on a plain sqlite3 connection (no memstrata code involved)."""
    conn = sqlite3.connect(path, timeout=TIMEOUT)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def check_store(
    path: Path,
    expected: dict[str, str],
    gone_words: Collection[str] = (),
    searched: Collection[str] | None = None,
) -> None:
    """The file is sound and holds exactly `expected` (id -> text) as live records,
    each readable, and each of `searched` (default: all) found by its own word in
    the full-text index and by its text in the vector index; words of replaced texts
    are found nowhere."""
    assert raw(path, "PRAGMA integrity_check") == [("ok",)]
    rows = dict(raw(path, EVENTS))
    assert rows == expected
    # The FTS index holds one document per live record, no more (its own counts).
    docs = raw(path, "SELECT doc FROM records_vocab WHERE term = ?", (hp.COMMON,))
    assert docs == [(len(expected),)]
    # Each record and its history entries were committed together: one "add", then
    # one entry per version bump (feedback is logged without bumping the version).
    torn = raw(
        path,
        "SELECT r.id, r.version, count(h.seq), sum(h.op = 'add') FROM records r "
        "LEFT JOIN history h ON h.record_id = r.id GROUP BY r.id "
        "HAVING sum(h.op != 'feedback') != r.version OR sum(h.op = 'add') != 1",
    )
    assert torn == []
    with Memory(path, embedder="hash") as m:
        for record_id, text in expected.items():
            assert m.get(record_id).text == text
        for record_id in expected if searched is None else searched:
            text = expected[record_id]
            hits = m.search(unique_word(text), k=2, strategy="bm25")
            assert [h.record.id for h in hits] == [record_id], text
            dense = m.search(text, k=5, strategy="dense")
            assert any(
                h.record.id == record_id and h.sources["dense"]["score"] > 0.9999 for h in dense
            ), text
        for word in gone_words:
            assert m.search(word, k=2, strategy="bm25") == [], word


EVENTS = "SELECT id, text FROM records WHERE status = 'active' AND kind = 'event'"


def store_dump(path: Path) -> list[list[tuple[Any, ...]]]:
    """Everything a write can touch, read without memstrata."""
    return [
        raw(path, "SELECT * FROM records ORDER BY rowid"),
        raw(path, "SELECT * FROM history ORDER BY seq"),
        raw(path, "SELECT * FROM meta ORDER BY key"),
        raw(path, "SELECT term, doc, cnt FROM records_vocab ORDER BY term"),
    ]


# ---------------------------------------------------------------- 1. SIGKILL


def kill_mid_write(child: Child, adds: int, pause: float) -> list[str]:
    """Read the child's lines until `adds` adds were acknowledged, then SIGKILL it
    `pause` seconds after its next write transaction began. Returns every complete
    line it wrote: a line that reached the pipe was an acknowledgement."""
    lines: list[str] = []
    while sum('"add"' in x for x in lines) < adds or lines[-1] != "TX":
        line = child.line()
        assert line is not None, child.stderr
        lines.append(line)
    time.sleep(pause)
    child.proc.send_signal(signal.SIGKILL)
    lines += child.drain()
    assert child.proc.returncode == -signal.SIGKILL
    return lines


def test_sigkill_mid_write_loses_no_acknowledged_write(tmp_path: Path, spawn) -> None:
    path = tmp_path / "crash.db"
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    expected: dict[str, str] = {}  # id -> text, as of the last acknowledged write
    gone: set[str] = set()  # unique words of texts that an update replaced
    for round_no in range(3):
        before = dict(expected)
        context = f"seed {seed}, round {round_no}"
        tag = f"k{round_no}"
        child = spawn("crash_writer", path, tag, rng.randrange(1 << 30))
        child.expect("READY")
        # 200 to 600 acknowledged records; then a kill within ~2 ms of the next BEGIN,
        # about the length of one write transaction.
        lines = kill_mid_write(child, rng.randint(10, 30), rng.uniform(0, 0.002))
        next_start = 0
        for ack in acks(lines):
            if ack["op"] == "add":
                for i, record_id in enumerate(ack["ids"]):
                    expected[record_id] = hp.turn_text(tag, ack["start"] + i)
                next_start = ack["start"] + len(ack["ids"])
            else:
                gone.add(unique_word(expected[ack["id"]]))
                expected[ack["id"]] = ack["text"]
        # The write in flight may have landed, but only whole: either the next batch
        # of 20 or the next revision, never part of one, never anything else.
        stored = dict(raw(path, EVENTS))
        assert set(expected) <= set(stored), context
        unacked = {i: t for i, t in stored.items() if expected.get(i) != t}
        batch = {hp.turn_text(tag, next_start + i) for i in range(20)}
        if len(unacked) == 1:
            ((record_id, text),) = unacked.items()
            assert text == hp.revised_text(tag, next_start), context
            gone.add(unique_word(expected[record_id]))
        else:
            assert not unacked or set(unacked.values()) == batch, (context, unacked)
            assert set(unacked).isdisjoint(expected), context
        expected.update(unacked)
        # Search for what this round wrote; the rest was searched for after its round.
        changed = [i for i, t in expected.items() if before.get(i) != t]
        check_store(path, expected, gone, searched=changed)
        with Memory(path, embedder="hash") as m:  # and the file takes new writes
            text = f"{hp.COMMON} after{round_no} written once the crash was over"
            record_id = m.add(text)[0].id
        expected[record_id] = text
        check_store(path, expected, gone, searched=[record_id])


# ------------------------------------------------------------- 2. processes


def test_concurrent_writer_processes_create_and_fill_one_file(tmp_path: Path, spawn) -> None:
    path = tmp_path / "shared.db"  # created by the writers themselves, all at once
    tags = ["a", "b", "c"]
    children = [spawn("writer", path, tag, 300, n) for n, tag in enumerate(tags)]
    start_together(children)
    expected: dict[str, str] = {}
    transactions = 0
    for tag, child in zip(tags, children):
        out = child.finish()
        assert out[-1] == "DONE"
        assert child.stderr == ""  # no exception, no warning, no "database is locked"
        for ack in acks(out):
            transactions += 1
            if ack["op"] == "sentinel":
                expected[ack["id"]] = hp.sentinel_text(tag)
            else:
                for i, record_id in enumerate(ack["ids"]):
                    expected[record_id] = hp.turn_text(tag, ack["start"] + i)
    assert len(expected) == 3 * 301
    check_store(path, expected)
    # Each add took a change number of its own (formation takes more, after it).
    seqs = raw(path, "SELECT seq, count(DISTINCT session_id) FROM records WHERE kind = 'event' "
                     "GROUP BY seq")  # fmt: skip
    assert len(seqs) == transactions and all(n <= 1 for _, n in seqs)
    (last,) = raw(path, "SELECT value FROM meta WHERE key = 'seq'")
    assert int(last[0]) >= transactions


@pytest.mark.parametrize("graph_at", [None, 300], ids=["exact", "graph"])
def test_reader_process_follows_writer_processes(
    tmp_path: Path, spawn, graph_at: int | None
) -> None:
    """With `graph_at`, every process builds (or loads from the cache file) the HNSW
    graph once the store passes that many rows, and dense search goes through it."""
    path = tmp_path / "shared.db"
    env = {} if graph_at is None else {hp.GRAPH_AT: str(graph_at)}
    with Memory(path, embedder="hash") as m:
        m.add([hp.turn_text("base", i) for i in range(50)])
    reader = spawn("reader", path, "w1,w2", 30, env=env)
    reader.expect("READY")
    writers = [spawn("writer", path, tag, 300, n, env=env) for n, tag in enumerate(["w1", "w2"])]
    start_together(writers)
    for writer in writers:
        writer.finish()
        assert writer.stderr == ""
    out = reader.finish()
    assert reader.stderr == ""
    report = json.loads(out[0])
    assert report["missing"] == []  # both sentinels found, by dense and by BM25 search
    counts = report["counts"]
    assert counts == sorted(counts), counts  # a reader never sees a write undone
    assert counts[-1] == 50 + 2 * 301
    assert len(counts) >= 3, counts  # it searched while the writers wrote
    if graph_at is not None:  # the graph was really built (and its cache file saved)
        assert path.with_name(path.name + ".ann").exists()


def test_open_memory_sees_other_process_writes_in_dense_search(tmp_path: Path, spawn) -> None:
    path = tmp_path / "shared.db"
    with Memory(path, embedder="hash") as m:
        kept, changed, deleted = (r.id for r in m.add(["ferry timetable to Porto",
                                                       "violin lessons on Tuesday",
                                                       "allergic to walnuts"]))  # fmt: skip
        assert m.search("violin lessons on Tuesday", k=1, strategy="dense")[0].record.id == changed
        new_text, new_changed = "kayak rental in Sesimbra", "cello lessons on Thursday"
        child = spawn("mutate", path, new_text, changed, new_changed, deleted)
        added = json.loads(child.finish()[0])["added"]

        def dense(text: str) -> dict[str, float]:
            hits = m.search(text, k=10, strategy="dense")
            return {h.record.id: h.sources["dense"]["score"] for h in hits}

        assert dense(new_text)[added] > 0.9999  # added by the other process
        assert dense(new_changed)[changed] > 0.9999  # its new vector
        assert dense("violin lessons on Tuesday").get(changed, 0.0) < 0.99  # not the old one
        assert deleted not in dense("allergic to walnuts")
        assert set(dense("ferry timetable to Porto")) == {kept, changed, added}


def test_optimistic_updates_from_two_processes_lose_nothing(tmp_path: Path, spawn) -> None:
    path = tmp_path / "shared.db"
    with Memory(path, embedder="hash") as m:
        record_id = m.add({"content": "a shared counter", "metadata": {"n": 0}})[0].id
    children = [spawn("bump", path, record_id, 40) for _ in range(2)]
    start_together(children)
    for child in children:
        assert child.finish()[-1] == "DONE"
        assert child.stderr == ""
    with Memory(path, embedder="hash") as m:
        record = m.get(record_id)
        assert record.metadata == {"n": 80}
        assert record.version == 81
        assert [e.op for e in m.history(record_id)] == ["add"] + ["update"] * 80


# ---------------------------------------------------------------- 3. threads


def run_threads(workers: list[Callable[[], None]]) -> list[BaseException]:
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(workers))

    def run(work: Callable[[], None]) -> None:
        try:
            barrier.wait(timeout=TIMEOUT)
            work()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=TIMEOUT)
    assert not any(t.is_alive() for t in threads), "a worker thread hung"
    return errors


def test_threads_sharing_one_memory(tmp_path: Path) -> None:
    path = tmp_path / "threads.db"
    m = Memory(path, embedder="hash")
    shared = {"counter": f"{hp.COMMON} counter bumped by every thread",
              "liked": f"{hp.COMMON} favourite liked by every thread"}  # fmt: skip
    counter = m.add({"content": shared["counter"], "metadata": {"n": 0}})[0].id
    liked = m.add(shared["liked"])[0].id
    expected = {counter: shared["counter"], liked: shared["liked"]}
    gone: set[str] = set()
    lock = threading.Lock()
    rounds, bumps = 15, 5

    def worker(tag: str, seed: int) -> Callable[[], None]:
        def work() -> None:
            rng = random.Random(seed)
            mine: dict[str, str] = {}
            start = 0
            for _ in range(rounds):
                size = rng.randint(1, 10)
                records = m.add([hp.turn_text(tag, start + i) for i in range(size)])
                mine.update((r.id, r.text) for r in records)
                start += size
                probe = rng.choice(sorted(mine))
                hits = m.search(unique_word(mine[probe]), k=1, strategy="bm25")
                assert [h.record.id for h in hits] == [probe]
                assert probe in {h.record.id for h in m.search(mine[probe], k=5)}
                text = hp.revised_text(tag, start)
                assert m.update(probe, text=text).text == text
                with lock:
                    gone.add(unique_word(mine[probe]))
                mine[probe] = text
                m.feedback(liked, True)
            for _ in range(bumps):
                while True:
                    current = m.get(counter)
                    try:
                        m.update(counter, metadata={"n": current.metadata["n"] + 1},
                                 expected_version=current.version)  # fmt: skip
                        break
                    except Conflict:
                        pass
            with lock:
                expected.update(mine)

        return work

    errors = run_threads([worker(f"t{n}", n) for n in range(4)])
    assert errors == []
    assert m.get(counter).metadata == {"n": 4 * bumps}
    assert m.get(liked).useful == 4 * rounds
    assert m.stats()["records"] == len(expected)
    m.close()
    check_store(path, expected, gone)


def test_reads_on_many_short_lived_threads_keep_few_connections(tmp_path: Path) -> None:
    """Each thread reads on its own connection; those of threads that ended are
    closed, so a server whose pool retires threads does not pile them up."""
    m = Memory(tmp_path / "readers.db", embedder="hash")
    [stored] = m.add(f"{hp.COMMON} a turn to read")
    seen: list[str] = []
    for _ in range(20):  # one thread after another, each reading once
        thread = threading.Thread(target=lambda: seen.append(m.list().records[0].text))
        thread.start()
        thread.join(TIMEOUT)
    assert seen == [stored.text] * 20
    assert 1 <= len(m.store._readers) <= 2  # the last thread's, and perhaps this one's
    m.close()
    assert m.store._readers == {}


# -------------------------------------------------------------- 4. atomicity


BAD_FIFTH = {
    "empty": "",
    "blank": "   \n\t",
    "nul": "has a \x00 byte",
    "unknown field": {"content": "ok", "colour": "red"},
    "no content": {"role": "user"},
    "bad role": {"role": "narrator", "content": "ok"},
    "not a message": 42,
}


@pytest.mark.parametrize("bad", list(BAD_FIFTH.values()), ids=list(BAD_FIFTH))
def test_invalid_message_mid_batch_stores_nothing(tmp_path: Path, bad: Any) -> None:
    path = tmp_path / "atomic.db"
    with Memory(path, embedder="hash") as m:
        kept = m.add([hp.turn_text("old", i) for i in range(3)])
        before = store_dump(path)
        batch: list[Any] = [hp.turn_text("new", i) for i in range(10)]
        batch[4] = bad
        with pytest.raises(InvalidInput):
            m.add(batch)
        assert store_dump(path) == before
        assert [m.get(r.id).text for r in kept] == [r.text for r in kept]
        assert m.search(hp.token("new", 0), strategy="bm25") == []


def test_failure_inside_the_write_transaction_rolls_back_whole_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The 5th record collides with a stored id, so the INSERT itself fails after
    four rows (and their FTS and history rows) went in: all must be rolled back."""
    import memstrata.memory

    path = tmp_path / "atomic.db"
    with Memory(path, embedder="hash") as m:
        kept = m.add([hp.turn_text("old", i) for i in range(3)])
        before = store_dump(path)
        real_new_id = memstrata.memory.new_id
        calls = iter(range(100))
        monkeypatch.setattr(
            memstrata.memory,
            "new_id",
            lambda: kept[0].id if next(calls) == 4 else real_new_id(),
        )
        with pytest.raises(Exception, match="UNIQUE"):
            m.add([hp.turn_text("new", i) for i in range(10)])
        monkeypatch.undo()
        assert store_dump(path) == before
        # The connection is not left inside the failed transaction.
        added = m.add(hp.turn_text("after", 0))[0]
    expected = {r.id: r.text for r in kept} | {added.id: added.text}
    check_store(path, expected, {hp.token("new", i) for i in range(10)})
