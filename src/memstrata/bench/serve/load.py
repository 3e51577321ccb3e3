"""The load of a serving run: `clients` threads, each with its own `memstrata.Client`,
taking the next planned request until the plan or the time runs out."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from memstrata.bench.measure import progress
from memstrata.bench.serve.plan import K, Op, ServeConfig
from memstrata.errors import MemstrataError

if TYPE_CHECKING:  # imported where used: `memstrata --help` need not load httpx
    from memstrata.client import Client


@dataclass
class Sample:
    """One request as the client saw it (times in seconds from the run's start)."""

    index: int
    verb: str
    start: float
    seconds: float
    error: str | None = None


@dataclass
class LoadResult:
    samples: list[Sample]
    acked: list[tuple[str, str, str, str | None]]  # record id, text, user_id, session_id
    errors: list[str]
    stopped_by: str
    wall_s: float


@dataclass
class _Shared:
    plan: Sequence[Op]
    deadline: float
    origin: float
    counter: Iterator[int] = field(default_factory=itertools.count)
    lock: threading.Lock = field(default_factory=threading.Lock)
    samples: list[Sample] = field(default_factory=list)
    acked: list[tuple[str, str, str, str | None]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    timed_out: bool = False

    def take(self) -> tuple[int, Op] | None:
        """The next planned request and its index; None when the plan is done or the
        time is up."""
        with self.lock:
            index = next(self.counter)
            if index >= len(self.plan):
                return None
            if time.perf_counter() >= self.deadline:
                self.timed_out = True
                return None
            return index, self.plan[index]


def _client_loop(client: Client, shared: _Shared, bar: Any) -> None:
    """Take the next planned request until the plan or the time runs out. Errors the
    client raises (MemstrataError) are counted; anything else is a bug and ends the
    run."""
    while (taken := shared.take()) is not None:
        index, op = taken
        start = time.perf_counter()
        error = None
        try:
            if op.verb == "add":
                records = client.add(op.message or {}, user_id=op.user_id,
                                     session_id=op.session_id)  # fmt: skip
            else:
                client.search(op.query or "", user_id=op.user_id, k=K)
                records = []
        except MemstrataError as exc:
            error, records = f"{type(exc).__name__}: {exc}", []
        end = time.perf_counter()
        with shared.lock:
            shared.samples.append(Sample(index, op.verb, start - shared.origin, end - start, error))
            if error is not None:
                shared.errors.append(error)
            shared.acked.extend((r.id, r.text, op.user_id, op.session_id) for r in records)
            bar.update(1)


def run_load(url: str, secret: str, plan: Sequence[Op], config: ServeConfig) -> LoadResult:
    """Run the plan from `config.clients` threads, each with its own Client (its own
    connection pool). One warm-up search per client, untimed, opens its connection."""
    from memstrata.client import Client

    clients = [
        Client(url, secret, timeout=max(60.0, config.seconds)) for _ in range(config.clients)
    ]
    try:
        with ThreadPoolExecutor(config.clients, thread_name_prefix="bench-client") as pool:
            list(pool.map(lambda c: c.search("warm up the server", k=1), clients))
            origin = time.perf_counter()
            shared = _Shared(plan=plan, deadline=origin + config.seconds, origin=origin)
            bar = progress(len(plan), "requests", config.progress)
            try:
                futures = [pool.submit(_client_loop, c, shared, bar) for c in clients]
                for future in futures:
                    future.result()  # a bug in a client thread surfaces here
            finally:
                bar.close()
        wall = time.perf_counter() - origin
    finally:
        for client in clients:
            client.close()
    return LoadResult(
        samples=sorted(shared.samples, key=lambda s: s.start), acked=shared.acked,
        errors=shared.errors, stopped_by="time" if shared.timed_out else "requests",
        wall_s=wall,
    )  # fmt: skip
