"""A background worker for formation: one thread, jobs in order.

With `Settings.background_formation`, `Memory.add` stores and embeds the turns, then
hands their formation to this worker and returns: an add costs the embedding and
one transaction, not the facts' embeddings and the episode's re-forming. Searches
meanwhile see the turns; their facts, episodes and profiles follow.

A job that raises is counted by the job itself (formation counts its failures);
anything that escapes is reported as a warning and the worker goes on. If the
process dies with jobs queued, their turns are stored and searchable, without the
memories formation would have derived from them.
"""

from __future__ import annotations

import queue
import threading
import traceback
import warnings
from collections.abc import Callable
from typing import Any

_STOP = object()


class FormationWorker:
    def __init__(self) -> None:
        self._jobs: queue.Queue[Any] = queue.Queue()
        self._idle = threading.Condition()
        self._pending = 0
        self._thread = threading.Thread(target=self._loop, name="memstrata-formation")
        self._thread.start()

    def submit(self, job: Callable[..., None], *args: Any) -> None:
        with self._idle:
            if not self._thread.is_alive():
                raise RuntimeError("formation worker is closed")
            self._pending += 1
        self._jobs.put((job, args))

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every job submitted so far has run; False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def close(self) -> None:
        """Run what is queued, then stop."""
        if self._thread.is_alive():
            self._jobs.put(_STOP)
            self._thread.join()

    def _loop(self) -> None:
        while True:
            item = self._jobs.get()
            if item is _STOP:
                return
            job, args = item
            try:
                job(*args)
            except Exception:  # reported, never silent; the turns are stored already
                warnings.warn(
                    f"background formation failed: {traceback.format_exc(limit=3)}", stacklevel=1
                )
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()
