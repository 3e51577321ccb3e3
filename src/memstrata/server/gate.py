"""Admission to the engine: a few calls at a time, reads before writes.

The engine's work is mostly Python, so calls beyond a few at once do not finish
sooner; they share one interpreter lock and all finish later. The gate lets in
`slots` calls at a time and queues the rest. A waiting read (search, context, get,
…) goes in before a waiting write (add, update, …): a read is on an agent's path to
its next answer, while a write can land a little later. No call waits for ever: one
that has waited `max_wait` seconds goes in before anything newer, read or write,
and a call that has run for `slow_after` seconds (a large export, a huge add) no
longer keeps the others out.
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
SLOW_AFTER_S = 0.25  # a call inside longer than this no longer holds its slot
READS = frozenset({"search", "context", "get", "list", "history", "stats", "export"})


@dataclass(order=True)
class _Waiter:
    rank: int
    order: int
    since: float = field(compare=False)
    ready: asyncio.Future[None] = field(compare=False)


class Gate:
    """At most `slots` calls inside at once; waiting reads first, then writes, and
    anything that waited `max_wait` seconds before both. A call inside for longer
    than `slow_after` seconds stops holding its slot while others wait (a large
    export must not stall every search behind it), up to `most` calls inside. One
    event loop only."""

    def __init__(
        self,
        slots: int,
        *,
        max_wait: float = MAX_WAIT_S,
        slow_after: float = SLOW_AFTER_S,
        most: int | None = None,
    ) -> None:
        if slots < 1:
            raise ValueError("slots must be >= 1")
        self.slots = slots
        self.most = max(slots, most if most is not None else 4 * slots)
        self.max_wait = max_wait
        self.slow_after = slow_after
        self._inside: dict[int, float] = {}  # entry -> when it went in
        self._waiting: list[_Waiter] = []
        self._order = itertools.count()

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    @property
    def inside(self) -> int:
        return len(self._inside)

    @asynccontextmanager
    async def slot(self, verb: str) -> AsyncIterator[None]:
        entry = await self._enter(0 if verb in READS else 1)
        try:
            yield
        finally:
            self._leave(entry)

    async def _enter(self, rank: int) -> int:
        entry = next(self._order)
        if not self._waiting and self._room():
            self._go_in(entry)
            return entry
        waiter = _Waiter(rank, entry, time.monotonic(),
                         asyncio.get_running_loop().create_future())  # fmt: skip
        self._waiting.append(waiter)
        try:
            await waiter.ready
        except BaseException:
            if waiter.ready.done() and not waiter.ready.cancelled():
                self._leave(entry)  # let in as it was cancelled: pass the slot on
            else:
                self._waiting.remove(waiter)
            raise
        return entry

    def _room(self) -> bool:
        """Whether one more call may go in: a free slot, or every call inside has
        run past `slow_after` (and fewer than `most` are inside)."""
        if len(self._inside) < self.slots:
            return True
        now = time.monotonic()
        return len(self._inside) < self.most and all(
            now - since >= self.slow_after for since in self._inside.values()
        )

    def _go_in(self, entry: int) -> None:
        self._inside[entry] = time.monotonic()
        # Look again once this call counts as slow, in case others still wait then.
        asyncio.get_running_loop().call_later(self.slow_after, self._admit)

    def _leave(self, entry: int) -> None:
        self._inside.pop(entry, None)
        self._admit()

    def _admit(self) -> None:
        while self._waiting and self._room():
            waiter = self._next()
            self._waiting.remove(waiter)
            self._go_in(waiter.order)
            waiter.ready.set_result(None)

    def _next(self) -> _Waiter:
        oldest = min(self._waiting, key=lambda w: w.order)
        if time.monotonic() - oldest.since >= self.max_wait:
            return oldest
        return min(self._waiting)
