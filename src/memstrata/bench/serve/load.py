"""The load of a serving run: `clients` threads, each with its own `memstrata.Client`,
taking the next planned request until the plan or the time runs out.

In a kill run (`retry`), a request that fails with BackendError (the server cannot be
reached, or its store cannot) is sent again after a pause that doubles from 50 ms to
1 s, for up to `RETRY_FOR_S`; every attempt is a sample, the failed ones marked
`retried` but the last."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from memstrata.bench.measure import progress
from memstrata.bench.serve.plan import K, Op, ServeConfig
from memstrata.errors import BackendError, MemstrataError

if TYPE_CHECKING:  # imported where used: `memstrata --help` need not load httpx
    from memstrata.client import Client

RETRY_FOR_S = 120.0  # a request is given up this long after its first attempt
_PAUSES_S = (0.05, 0.1, 0.2, 0.4, 0.8, 1.0)


@dataclass
class Sample:
    """One request as the client saw it (times in seconds from the run's start)."""

    index: int
    verb: str
    start: float
    seconds: float
    error: str | None = None
    retried: bool = False  # a failed attempt that was sent again


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
    finished: int = 0  # requests answered (or given up)
    abandoned: bool = False  # the disruption failed: no new request, no retry

    def take(self) -> tuple[int, Op] | None:
        """The next planned request and its index; None when the plan is done or the
        time is up."""
        with self.lock:
            index = next(self.counter)
            if index >= len(self.plan) or self.abandoned:
                return None
            if time.perf_counter() >= self.deadline:
                self.timed_out = True
                return None
            return index, self.plan[index]


def _send(client: Client, op: Op) -> list[Any]:
    """The request; the records an add stored (none for a search)."""
    if op.verb == "add":
        return client.add(op.message or {}, user_id=op.user_id, session_id=op.session_id)
    client.search(op.query or "", user_id=op.user_id, k=K)
    return []


def _client_loop(client: Client, shared: _Shared, bar: Any, retry: bool) -> None:
    """Take the next planned request until the plan or the time runs out. Errors the
    client raises (MemstrataError) are counted; anything else is a bug and ends the
    run. With `retry`, a BackendError is retried (see the module's docstring)."""
    while (taken := shared.take()) is not None:
        index, op = taken
        first = time.perf_counter()
        for attempt in itertools.count():
            start = time.perf_counter()
            error, again = None, False
            try:
                records = _send(client, op)
            except MemstrataError as exc:
                error, records = f"{type(exc).__name__}: {exc}", []
                again = retry and isinstance(exc, BackendError)
                again = again and time.perf_counter() - first < RETRY_FOR_S
                again = again and not shared.abandoned
            end = time.perf_counter()
            with shared.lock:
                shared.samples.append(Sample(index, op.verb, start - shared.origin, end - start,
                                             error, retried=again))  # fmt: skip
                if error is not None:
                    shared.errors.append(error)
                shared.acked.extend((r.id, r.text, op.user_id, op.session_id) for r in records)
                if not again:
                    shared.finished += 1
                    bar.update(1)
            if not again:
                break
            time.sleep(_PAUSES_S[min(attempt, len(_PAUSES_S) - 1)])


Disrupt = Callable[[Callable[[], int | None], float], None]


def run_load(
    url: str,
    secret: str,
    plan: Sequence[Op],
    config: ServeConfig,
    disrupt: Disrupt | None = None,
) -> LoadResult:
    """Run the plan from `config.clients` threads, each with its own Client (its own
    connection pool). One warm-up search per client, untimed, opens its connection.

    `disrupt(progress, origin)`, if given, runs on this thread while the clients
    work (a kill and a restart); `progress()` is the number of requests finished, or
    None once the clients are done. Its requests are retried (see the module)."""
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
                futures = [
                    pool.submit(_client_loop, c, shared, bar, disrupt is not None) for c in clients
                ]
                if disrupt is not None:

                    def finished() -> int | None:
                        return None if all(f.done() for f in futures) else shared.finished

                    try:
                        disrupt(finished, origin)
                    except BaseException:
                        shared.abandoned = True
                        raise
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
