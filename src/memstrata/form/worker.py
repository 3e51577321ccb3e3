"""A background worker for formation: one thread, jobs in order, queued jobs run
together.

With `Settings.background_formation`, `Memory.add` stores and embeds the turns, then
hands their formation to this worker and returns: an add costs the embedding and
one transaction, not the facts' embeddings and the episode's re-forming. Searches
meanwhile see the turns; their facts, episodes and profiles follow.

When adds come faster than formation, jobs queue; the worker then takes all that
are waiting (up to `batch` of them) and hands them to `run` at once, in the order
they were submitted, so that a session's open episode is re-formed once for many
turns and their statements are embedded in one call. `before` runs ahead of each
batch: `Memory` uses it to hold formation back (a little) while searches run.

A batch that raises is counted by the job itself (formation counts its failures);
anything that escapes is reported as a warning and the worker goes on. If the
process dies with jobs queued, their turns are stored and searchable, and what they
are owed is marked in the store: the next process to open it forms them
(form/jobs.py, form/pending.py).
"""

from __future__ import annotations

import queue
import threading
import traceback
import warnings
from collections.abc import Callable, Sequence
from typing import Any

_STOP = object()
BATCH = 16


class FormationWorker:
    """Runs `run(jobs)` on one thread for the jobs `submit`ted, oldest first."""

    def __init__(
        self,
        run: Callable[[Sequence[Any]], None],
        *,
        batch: int = BATCH,
        before: Callable[[], None] | None = None,
    ) -> None:
        if batch < 1:
            raise ValueError("batch must be >= 1")
        self._run = run
        self._before = before
        self._batch = batch
        self._jobs: queue.Queue[Any] = queue.Queue()
        self._idle = threading.Condition()
        self._pending = 0
        self._thread = threading.Thread(target=self._loop, name="memstrata-formation")
        self._thread.start()

    def submit(self, job: Any) -> None:
        with self._idle:
            if not self._thread.is_alive():
                raise RuntimeError("formation worker is closed")
            self._pending += 1
        self._jobs.put(job)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every job submitted so far has run; False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def close(self) -> None:
        """Run what is queued, then stop."""
        if self._thread.is_alive():
            self._jobs.put(_STOP)
            self._thread.join()

    def _take(self) -> tuple[list[Any], bool]:
        """The next jobs (blocking for the first) and whether the worker must stop
        after them."""
        first = self._jobs.get()
        if first is _STOP:
            return [], True
        if self._before is not None:
            self._before()  # e.g. let searches under way finish; more jobs queue meanwhile
        jobs = [first]
        while len(jobs) < self._batch:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is _STOP:
                return jobs, True
            jobs.append(job)
        return jobs, False

    def _loop(self) -> None:
        stop = False
        while not stop:
            jobs, stop = self._take()
            if not jobs:
                continue
            try:
                self._run(jobs)
            except Exception:  # reported, never silent; the turns are stored already
                warnings.warn(
                    f"background formation failed: {traceback.format_exc(limit=3)}", stacklevel=1
                )
            finally:
                with self._idle:
                    self._pending -= len(jobs)
                    self._idle.notify_all()
