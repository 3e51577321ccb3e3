"""The server's admission gate: how many calls run at once, and in which order the
waiting ones go in."""

from __future__ import annotations

import asyncio

import pytest

from memstrata.server.gate import Gate


async def _run(gate: Gate, calls: list[tuple[str, float]], log: list[str]) -> None:
    """Start `calls` (verb, seconds inside) in order, a moment apart, so they queue
    in that order; record the order they get in."""

    async def call(name: str, verb: str, seconds: float) -> None:
        async with gate.slot(verb):
            log.append(name)
            await asyncio.sleep(seconds)

    tasks = []
    for n, (verb, seconds) in enumerate(calls):
        tasks.append(asyncio.create_task(call(f"{verb}{n}", verb, seconds)))
        await asyncio.sleep(0.001)
    await asyncio.gather(*tasks)


def test_no_more_than_slots_calls_inside_at_once() -> None:
    gate, inside, most = Gate(2), 0, 0

    async def call() -> None:
        nonlocal inside, most
        async with gate.slot("search"):
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0.01)
            inside -= 1

    async def main() -> None:
        await asyncio.gather(*(call() for _ in range(10)))

    asyncio.run(main())
    assert most == 2 and inside == 0 and gate.waiting == 0


def test_waiting_reads_go_in_before_waiting_writes() -> None:
    log: list[str] = []
    calls = [("search", 0.05), ("add", 0.0), ("add", 0.0), ("search", 0.0), ("context", 0.0)]
    asyncio.run(_run(Gate(1), calls, log))
    assert log == ["search0", "search3", "context4", "add1", "add2"]


def test_a_write_that_waited_max_wait_goes_in_first() -> None:
    log: list[str] = []
    # The first search holds the slot past the add's max_wait: the add goes next,
    # before the reads that queued after it.
    calls = [("search", 0.1), ("add", 0.0), ("search", 0.0), ("search", 0.0)]
    asyncio.run(_run(Gate(1, max_wait=0.05), calls, log))
    assert log == ["search0", "add1", "search2", "search3"]


def test_a_cancelled_waiter_gives_up_its_place_and_slots_are_not_lost() -> None:
    gate = Gate(1)

    async def main() -> list[str]:
        log: list[str] = []

        async def call(name: str, seconds: float) -> None:
            async with gate.slot("search"):
                log.append(name)
                await asyncio.sleep(seconds)

        first = asyncio.create_task(call("first", 0.05))
        await asyncio.sleep(0.001)
        doomed = asyncio.create_task(call("doomed", 0.0))
        await asyncio.sleep(0.001)
        doomed.cancel()
        await first
        with pytest.raises(asyncio.CancelledError):
            await doomed
        await call("after", 0.0)  # the slot came back
        return log

    assert asyncio.run(main()) == ["first", "after"]
    assert gate.waiting == 0


def test_slots_must_be_positive() -> None:
    with pytest.raises(ValueError, match="slots"):
        Gate(0)


def test_a_slow_call_stops_holding_its_slot_up_to_most() -> None:
    gate = Gate(1, slow_after=0.05, most=2)

    async def main() -> dict[str, float]:
        began: dict[str, float] = {}
        loop = asyncio.get_running_loop()
        start = loop.time()

        async def call(name: str, seconds: float) -> None:
            async with gate.slot("export" if name == "slow" else "search"):
                began[name] = loop.time() - start
                await asyncio.sleep(seconds)

        slow = asyncio.create_task(call("slow", 0.5))
        await asyncio.sleep(0.001)
        quick = [asyncio.create_task(call(f"quick{n}", 0.2)) for n in range(2)]
        await asyncio.gather(slow, *quick)
        return began

    began = asyncio.run(main())
    # quick0 goes in once the export has run 0.05 s, not after its 0.5 s; quick1 has to
    # wait for a call to leave, since `most` is 2 and quick0 is not slow yet.
    assert 0.04 <= began["quick0"] < 0.2
    assert began["quick1"] >= began["quick0"] + 0.19  # after quick0 left
    assert gate.inside == 0 and gate.waiting == 0
