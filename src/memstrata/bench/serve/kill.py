"""A kill run: mid-run, SIGKILL the server process (`server`) or the throwaway
PostgreSQL server (`database`), start it again on the same store, and count what
the clients saw while it was down.

The kill comes when half the planned requests are answered (or half the time cap
has passed). The outage runs from the kill until the restarted process answers: the
server its `/readyz`, PostgreSQL a query. Clients retry what fails with BackendError
(see load.py); the writes are checked afterwards as in any run, so an add the server
acknowledged before the kill must be in the store after it.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from memstrata.bench.measure import Log
from memstrata.bench.serve.load import Sample
from memstrata.bench.serve.server import RunningServer
from memstrata.bench.serve.target import StoreTarget
from memstrata.errors import InvalidInput

_POLL_S = 0.01
_EXAMPLES = 5


@dataclass
class Outage:
    """When the kill came and the service was back, in seconds from the load's start."""

    kill: str
    killed_at: float | None = None
    restored_at: float | None = None
    restart_s: float | None = None


def disruption(
    kill: str,
    server: RunningServer,
    store: StoreTarget,
    planned: int,
    seconds: float,
    log: Log,
) -> tuple[Callable[[Callable[[], int | None], float], None], Outage]:
    """The `disrupt` of run_load for `kill`, and the Outage it fills in."""
    if kill == "server":
        if server.child is None:
            raise InvalidInput("kill='server' needs the server in a child process")
        down, up = server.child.kill, server.child.restart
    elif store.pg is not None:
        down, up = store.pg.kill, store.pg.start
    else:
        raise InvalidInput("kill='database' needs the throwaway PostgreSQL (backend='postgres')")
    outage = Outage(kill)

    def disrupt(progress: Callable[[], int | None], origin: float) -> None:
        while (done := progress()) is not None:
            if done >= planned // 2 or time.perf_counter() - origin >= seconds / 2:
                break
            time.sleep(_POLL_S)
        else:
            log(f"kill {kill}: the run ended before the kill")
            return
        outage.killed_at = time.perf_counter() - origin
        down()
        outage.restart_s = up()
        outage.restored_at = time.perf_counter() - origin
        log(f"kill {kill}: killed at {outage.killed_at:.2f} s after {done} requests, back "
            f"{outage.restored_at - outage.killed_at:.2f} s later")  # fmt: skip

    return disrupt, outage


def outage_figures(outage: Outage, samples: Sequence[Sample]) -> dict[str, Any]:
    """The errors the clients saw while the killed process was down (a request that
    overlapped the outage) and outside it, retries, give-ups, and how long after the
    kill the first request sent after it succeeded."""
    failed = [s for s in samples if s.error is not None]
    killed, restored = outage.killed_at, outage.restored_at
    figures: dict[str, Any] = {
        "kill": outage.kill,
        "killed_at_s": killed,
        "restored_at_s": restored,
        "down_s": None if killed is None or restored is None else restored - killed,
        "restart_s": outage.restart_s,
        "retried_requests": len({s.index for s in samples if s.retried}),
        "gave_up": sum(1 for s in failed if not s.retried),
    }
    if killed is None or restored is None:
        return figures | {"errors_during": _errors([]), "errors_outside": _errors(failed)}
    during = [s for s in failed if s.start <= restored and s.start + s.seconds >= killed]
    before = [s for s in failed if s.start + s.seconds < killed]
    after = [s for s in failed if s.start > restored]
    answered = [s.start + s.seconds for s in samples if s.error is None and s.start >= killed]
    return figures | {
        "errors_during": _errors(during),
        "errors_outside": _errors(before + after),
        "errors_before_kill": len(before),
        "errors_after_restore": len(after),
        "service_back_after_s": min(answered) - killed if answered else None,
    }


def _errors(failed: Sequence[Sample]) -> Any:
    return {
        "count": len(failed),
        "by_type": dict(Counter(str(s.error).split(":", 1)[0] for s in failed)),
        "examples": list(dict.fromkeys(str(s.error) for s in failed))[:_EXAMPLES],
    }
