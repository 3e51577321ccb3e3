"""Admission to the engine: a few calls at a time, reads before writes.

The engine's work is mostly Python, so calls beyond a few at once do not finish
sooner; they share one interpreter lock and all finish later. The gate lets in
`slots` calls at a time and queues the rest. A waiting read (search, context, get,
…) goes in before a waiting write (add, update, …): a read is on an agent's path to
its next answer, while a write can land a little later. No call waits for ever: one
that has waited `max_wait` seconds goes in before anything newer, read or write.
Concurrent adds let in together are stored in one transaction (`Memory` commits
them as a group).

>>> gate = Gate(slots=3)
>>> async with gate.slot("search"):
...     ...
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

MAX_WAIT_S = 5.0  # a write waits no longer than this behind reads
READS = frozenset({"search", "context", "get", "list", "history", "stats", "export"})


@dataclass(order=True)
class _Waiter:
    rank: int
    order: int
    since: float = field(compare=False)
    ready: asyncio.Future[None] = field(compare=False)


class Gate:
    """At most `slots` calls inside at once; waiting reads first, then writes, and
    anything that waited `max_wait` seconds before both. One event loop only."""

    def __init__(self, slots: int, *, max_wait: float = MAX_WAIT_S) -> None:
        if slots < 1:
            raise ValueError("slots must be >= 1")
        self.slots = slots
        self.max_wait = max_wait
        self._inside = 0
        self._waiting: list[_Waiter] = []
        self._order = itertools.count()

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    @asynccontextmanager
    async def slot(self, verb: str) -> AsyncIterator[None]:
        await self._enter(0 if verb in READS else 1)
        try:
            yield
        finally:
            self._leave()

    async def _enter(self, rank: int) -> None:
        if self._inside < self.slots and not self._waiting:
            self._inside += 1
            return
        waiter = _Waiter(rank, next(self._order), time.monotonic(),
                         asyncio.get_running_loop().create_future())  # fmt: skip
        self._waiting.append(waiter)
        try:
            await waiter.ready
        except BaseException:
            if waiter.ready.done() and not waiter.ready.cancelled():
                self._leave()  # let in as it was cancelled: pass the slot on
            else:
                self._waiting.remove(waiter)
            raise

    def _leave(self) -> None:
        self._inside -= 1
        while self._waiting and self._inside < self.slots:
            waiter = self._next()
            self._waiting.remove(waiter)
            self._inside += 1
            waiter.ready.set_result(None)

    def _next(self) -> _Waiter:
        oldest = min(self._waiting, key=lambda w: w.order)
        if time.monotonic() - oldest.since >= self.max_wait:
            return oldest
        return min(self._waiting)
