"""Formation jobs and how they run.

`Memory` stores an add's turns and hands their formation here, inline or through
the background worker. A job is checked against the store just before it runs (a
turn deleted, purged or given new words since is left out: its delete, purge or
update has dealt with what it derives), and queued jobs are merged into as few
runs as keep their order. What each add is owed is marked in the store with its
turns (form/pending.py) and cleared with what formation derives from them, so the
next process to open the store forms what a process that ended still owed.
"""

from __future__ import annotations

import dataclasses
import threading
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from memstrata.errors import EmbeddingError
from memstrata.form import pending
from memstrata.form.formation import Former
from memstrata.ids import new_id
from memstrata.store.base import Store
from memstrata.types import Record, Scope


@dataclasses.dataclass(frozen=True)
class Job:
    """One add's formation: its stored events and their vectors (None if they could
    not be embedded), the last earlier turn of each of their sessions, the topic
    models `Former.prepare` loaded for them, and its marks in the store."""

    records: list[Record]
    vectors: np.ndarray | None
    previous: list[Record]
    topics: dict[str, Any]
    marks: tuple[str, ...] = ()


class Formations:
    """Runs formation jobs against a store. `lock` is held while a job runs; hold it
    to change or remove a turn together with what was formed from it. With `owes`
    False (formation derives nothing), adds are not marked."""

    def __init__(self, store: Store, former: Former, *, owes: bool) -> None:
        self.store = store
        self.former = former
        self.owes = owes
        self.lock = threading.RLock()
        self.owner = store.new_owner()

    def job(
        self, records: list[Record], vectors: np.ndarray | None, previous: list[Record],
        topics: dict[str, Any],
    ) -> tuple[Job, dict[str, bytes]]:  # fmt: skip
        """The job of an add about to be stored, and the marks to store with its turns."""
        if not self.owes:
            return Job(records, vectors, previous, topics), {}
        mark = pending.key(self.owner, new_id())  # never another job's: it would replace it
        value = pending.value(records[0].scope.namespace, [r.id for r in records])
        return Job(records, vectors, previous, topics, (mark,)), {mark: value}

    def run_batch(self, jobs: Sequence[Job]) -> None:
        """Form queued jobs, merged into as few runs as keep their order (a job
        without vectors runs on its own)."""
        merged: list[Job] = []
        for job in jobs:
            last = merged[-1] if merged else None
            if last is None or last.vectors is None or job.vectors is None:
                merged.append(job)
                continue
            seen = {p.scope.session_id for p in last.previous} | {
                r.scope.session_id for r in last.records
            }
            merged[-1] = Job(
                [*last.records, *job.records],
                np.vstack([last.vectors, job.vectors]),
                [*last.previous, *(p for p in job.previous if p.scope.session_id not in seen)],
                {**last.topics, **job.topics},
                (*last.marks, *job.marks),
            )
        for job in merged:
            try:
                self.form(job)
            except Exception as exc:  # one job's failure never stops the others
                self.failed(exc, len(job.records))

    def failed(self, exc: BaseException, turns: int) -> None:
        """A formation that raised: its turns are stored and searchable as they are;
        its marks stay, so the next process to open the store tries again. Counted
        (stats()["counters"]["formation_failures"]) and warned about."""
        note = ""
        try:
            self.store.count("formation_failures")
        except Exception as count_exc:  # e.g. the disk is full: the warning says both
            note = f" (counting it failed too: {count_exc!r})"
        warnings.warn(
            f"formation of {turns} stored turns failed ({exc!r}){note}; the next process "
            "to open the store tries again",
            stacklevel=3,
        )

    def form(self, job: Job) -> None:
        """Derive facts, episodes, profiles and topics from stored events. The events
        are already safe: an embedding failure is counted and warned about (its
        marks stay, for the next process to try again), never raised."""
        with self.lock:
            job = self._as_stored(job)
            if not job.records:
                self.store.forget_state(job.marks)
                return
            try:
                derived = self.former.run(job.records, job.vectors, job.previous, job.topics)
            except EmbeddingError as exc:
                self.store.count("formation_skipped", len(job.records))
                warnings.warn(
                    f"formation skipped for {len(job.records)} events: {exc}", stacklevel=3
                )
                return
            if derived.records or derived.revised or derived.links or derived.state or job.marks:
                self.store.save_derived(
                    derived.records, derived.matrix(), links=derived.links,
                    revised=derived.revised, state=derived.state, forget=job.marks,
                    actor="formation", changes=derived.changes, counts=derived.counts,
                )  # fmt: skip

    def resume(self, run: Callable[[Job], None]) -> None:
        """Hand `run` the jobs that processes that ended still owed, oldest first,
        each mark taken over first so that no other process forms it too."""
        marks = [m for m in self.marks() if self.store.owner_gone(m.owner)]
        for mark in sorted(marks, key=lambda m: m.ids[0]):  # ids are time-ordered
            mine = pending.key(self.owner, new_id())
            if not self.store.take_state(mark.key, mine):
                continue  # another process took it
            try:
                run(self._owed(mark.namespace, mark.ids, mine))
            except Exception as exc:  # the store opens all the same; the mark stays
                self.failed(exc, len(mark.ids))

    def marks(self) -> list[pending.Mark]:
        """The formation owed, as the store's marks say (an unreadable one is dropped:
        the turns it named stay stored and searchable)."""
        marks = []
        for key, raw in self.store.state_items(pending.PREFIX):
            try:
                marks.append(pending.parse(key, raw))
            except ValueError as exc:
                self.store.count("formation_failures")
                warnings.warn(f"{exc}; dropped", stacklevel=3)
                self.store.forget_state([key])
        return marks

    def owed(self, namespace: str) -> int:
        """How many turns of `namespace` are owed formation."""
        return sum(len(m.ids) for m in self.marks() if m.namespace == namespace)

    def _owed(self, namespace: str, ids: list[str], mark: str) -> Job:
        """The job of stored turns `ids`, as their add would have made it."""
        records = [
            r for r in self.store.get_many(ids, Scope(namespace))
            if r.status == "active" and r.kind == "event"
        ]  # fmt: skip
        if not records:
            return Job([], None, [], {}, (mark,))
        stored = self.store.vectors_of([r.id for r in records])
        vectors = (
            np.stack([stored[r.id] for r in records])
            if all(r.id in stored for r in records)
            else None
        )
        before = self.store.linked([records[0].id], "next", reverse=True)
        previous = self.store.get_many(before.get(records[0].id, [])[:1], Scope(namespace))
        topics = self.former.prepare(records, vectors)
        return Job(records, vectors, previous, topics, (mark,))

    def _as_stored(self, job: Job) -> Job:
        """`job` without the events deleted, purged, or given new words or a new time
        since it was made: their delete, purge or update has dealt with what they
        derive (feedback or new metadata change nothing formation reads)."""
        wanted = {r.id: (r.text, r.occurred_at) for r in job.records}
        current: set[str] = set()
        for namespace in {r.scope.namespace for r in job.records}:
            stored = self.store.get_many(list(wanted), Scope(namespace), shared=True)
            current.update(
                r.id
                for r in stored
                if r.status == "active" and (r.text, r.occurred_at) == wanted[r.id]
            )
        keep = [i for i, r in enumerate(job.records) if r.id in current]
        if len(keep) == len(job.records):
            return job
        vectors = job.vectors[keep] if job.vectors is not None else None
        return dataclasses.replace(job, records=[job.records[i] for i in keep], vectors=vectors)
