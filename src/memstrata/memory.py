"""`Memory`: the one class users meet."""

from __future__ import annotations

import builtins
import contextlib
import copy
import dataclasses
import functools
import itertools
import os
import threading
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import IO, Any, TypeVar

import numpy as np

from memstrata import transfer
from memstrata.config import Settings, default_db_path
from memstrata.embed import Embedder, load_embedder
from memstrata.embed.queries import QueryVectors
from memstrata.errors import EmbeddingError, InvalidInput, NotFound
from memstrata.form.formation import Former, links_for, next_links
from memstrata.form.jobs import Formations, Job
from memstrata.form.worker import FormationWorker
from memstrata.ids import just_after, new_id, now, parse_stored_time
from memstrata.retrieve import layered
from memstrata.retrieve.context import Context, TokenCounter, assemble, estimate_tokens, excerpt
from memstrata.retrieve.fusion import rrf
from memstrata.retrieve.query import analyse, unnamed
from memstrata.store.backends import open_store
from memstrata.store.base import EmbedderInfo, Filters, Store
from memstrata.types import HistoryEntry, Hit, Hits, Page, Record, Scope
from memstrata.validate import (
    MESSAGE_FIELDS,
    check_actor,
    check_counter,
    check_destination,
    check_id,
    check_int,
    check_kind,
    check_kinds,
    check_metadata,
    check_metadata_filter,
    check_offset,
    check_positive_int,
    check_role,
    check_scope_part,
    check_seconds,
    check_source,
    check_statuses,
    check_str_list,
    check_text,
    check_time,
    check_version,
    describe,
    make_scope,
)

STRATEGIES = ("layered", "hybrid", "bm25", "dense")
MAX_BATCH = 10_000
MAX_K = 1_000
MAX_BUDGET = 1_000_000
MAX_REINDEX_BATCH = 10_000
_CANDIDATES = 100
_QUERY_CACHE = 256
_PREFETCH_MAX_CHARS = 2_000  # longer queries are embedded by their search, in its turn
_PREFETCH_BACKLOG = 64  # queries waiting to be embedded, beyond which prefetch stands back
_PROFILES = 50  # profiles considered for the stable prefix


_FORMATION_DEFER_S = 1.0  # how long background formation waits for searches to end

F = TypeVar("F", bound=Callable[..., Any])


def _tracked_search(method: F) -> F:
    """Counts the calls under way, so that background formation can wait for them."""

    @functools.wraps(method)
    def counted(self: Memory, *args: Any, **kwargs: Any) -> Any:
        with self._quiet:
            self._searching += 1
        try:
            return method(self, *args, **kwargs)
        finally:
            with self._quiet:
                self._searching -= 1
                if not self._searching:
                    self._quiet.notify_all()

    return counted  # type: ignore[return-value]


@dataclasses.dataclass
class _Add:
    """One add's records and vectors on their way to the store; `done` once stored
    or failed (`error`)."""

    records: list[Record]
    vectors: np.ndarray | None
    actor: str | None
    done: bool = False
    error: BaseException | None = None


class Memory:
    """Long-term memory on one SQLite file (a path), or in a PostgreSQL database with
    pgvector (a ``postgresql://`` DSN; ``pip install 'memstrata[postgres]'``).

    >>> m = Memory("agent.db")
    >>> m.add("I moved to Lisbon in March", user_id="alice")
    >>> [h.record.text for h in m.search("where does alice live?", user_id="alice")]

    Every verb takes the same scope arguments: `namespace` (the tenant, default
    "default"), `user_id`, `agent_id`, `session_id`. Reads see only records in that
    scope; ids from another scope behave exactly as ids that do not exist.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        embedder: str | Embedder | None = None,
        migrate: bool = False,
        store: Store | None = None,
        settings: Settings | Mapping[str, Any] | None = None,
        **overrides: Any,
    ) -> None:
        self.settings = Settings.build(settings, **overrides)
        self.embedder = load_embedder(embedder)
        # Questions name people ("what did Caroline…"); turns seldom name their speaker.
        # Embedding "speaker: text" lets dense search see who said it (LoCoMo dev split:
        # dense recall@10 0.26 -> 0.49). The stored text stays verbatim.
        self.embed_speaker = self.settings.embed_speaker
        self.max_text_bytes = self.settings.max_text_bytes
        self.store: Store = (
            store
            if store is not None
            else open_store(path if path is not None else default_db_path(), migrate=migrate)
        )
        self.store.bind_embedder(_info(self.embedder))
        self._queries = QueryVectors(self.embedder.embed, cache=_QUERY_CACHE)
        self._former = Former(self.store, self.embedder.embed, self.settings)
        # Formation, and the delete, purge and update that drop what it derived, run one
        # at a time (`_formations.lock`): else a fact could outlive its turn's purge.
        owes = self.settings.facts or self.settings.episodes or self.settings.topics
        self._formations = Formations(self.store, self._former, owes=owes)
        self._write_lock = threading.Lock()  # one add at a time forms a session's episodes
        self._pending_lock = threading.Lock()
        self._pending: builtins.list[_Add] = []  # adds waiting for the write lock
        self._searching = 0  # searches under way; background formation yields to them
        self._quiet = threading.Condition()
        self._worker = (
            FormationWorker(self._formations.run_batch, before=self._while_searching)
            if self.settings.background_formation
            else None
        )
        if self._formations.owes:  # what a process that ended still owed
            self._formations.resume(self._worker.submit if self._worker else self._form_now)

    # ------------------------------------------------------------------ write

    def add(
        self,
        messages: str | Mapping[str, Any] | Iterable[str | Mapping[str, Any]],
        *,
        namespace: str = "default",
        user_id: str | None = None,
        agent_id: str | None = None,
        session_id: str | None = None,
        occurred_at: Any = None,
        metadata: Mapping[str, Any] | None = None,
        actor: str | None = None,
    ) -> list[Record]:
        """Store messages verbatim and index them; return the stored records.

        `messages` is a text, a message dict, or a list of them. A message dict has
        `content` and optionally `role`, `name` (the speaker), `occurred_at`,
        `metadata`, `kind` and `tags`. Either every message is stored or none is.

        >>> m.add([{"role": "user", "name": "alice", "content": "I moved to Lisbon"}],
        ...       user_id="alice", session_id="s1", occurred_at="2026-03-02T10:00:00Z")
        """
        scope = make_scope(namespace, user_id, agent_id, session_id)
        default_time = check_time(occurred_at, "occurred_at")
        base_meta = check_metadata(metadata)
        actor = check_actor(actor)
        records = [
            self._record(msg, i, scope, default_time, base_meta)
            for i, msg in enumerate(_as_messages(messages))
        ]
        vectors: np.ndarray | None
        try:
            vectors = self._embed_records(records)
        except EmbeddingError as exc:
            # Raw is never lost: keep the records, embed them later (reindex).
            warnings.warn(
                f"stored {len(records)} records without vectors ({exc}); they are found by "
                "full text until `memstrata reindex` embeds them",
                stacklevel=2,
            )
            vectors = None
        self._commit(_Add(records, vectors, actor))
        if vectors is None:
            self._count_after_commit("embedding_failures", len(records))
        return records

    def _count_after_commit(self, name: str, n: int) -> None:
        """Count something a committed write went through; the write stays a success
        whatever happens here (a caller told otherwise would store it again)."""
        try:
            self.store.count(name, n)
        except Exception as exc:
            warnings.warn(f"could not count {name} ({exc!r})", stacklevel=3)

    def _commit(self, add: _Add) -> None:
        """Store `add` with the adds that queued beside it, in one transaction (group
        commit): the first thread to take the write lock stores what is pending,
        and the others find theirs done. Raises `add`'s error, if it failed."""
        with self._pending_lock:
            self._pending.append(add)
        with self._write_lock:
            if not add.done:
                with self._pending_lock:
                    batch, self._pending = self._pending, []
                if not any(a is add for a in batch):  # taken by a run that raised
                    batch.append(add)
                self._store_adds(batch)
        if add.error is not None:
            raise add.error

    def _store_adds(self, batch: builtins.list[_Add]) -> None:
        """Under the write lock: insert `batch` in one transaction (each add on its
        own if that fails, so one bad add fails alone), then form or queue the
        formation of each stored add, in order."""
        try:
            jobs = self._insert_adds(batch)
        except Exception as exc:
            if len(batch) == 1:
                batch[0].error, batch[0].done = exc, True
                return
            for add in batch:  # one by one, each with what the others stored
                self._store_adds([add])
            return
        for add in batch:
            add.done = True  # stored, whatever formation does next
        for job in jobs:
            if self._worker is not None:
                # Jobs run in the order the adds stored their turns (FIFO, one worker).
                self._worker.submit(job)
            else:
                self._form(job)

    def _form(self, job: Job) -> None:
        """Form a stored add's job inline. The turns are committed: a formation that
        fails is counted and warned about, never raised (the caller would take its
        stored add for a failed one and store it again), and its marks stay, so the
        next process to open the store tries again."""
        try:
            self._formations.form(job)
        except Exception as exc:
            self._formations.failed(exc, len(job.records))

    def _form_now(self, job: Job) -> None:
        with self._write_lock:
            self._form(job)

    def _insert_adds(self, batch: Sequence[_Add]) -> builtins.list[Job]:
        last: dict[Scope, Record] = {}  # each session's newest turn, this batch's included
        rows, jobs, marks = [], [], {}
        for add in batch:
            scope = add.records[0].scope
            previous = last.get(scope)
            if previous is None and scope.session_id:
                previous = self.store.last_of_session(scope, "event")
            topics = self._former.prepare(add.records, add.vectors)
            rows.append((add.records, add.vectors, add.actor, next_links(previous, add.records)))
            before = [previous] if previous else []
            job, owed = self._formations.job(add.records, add.vectors, before, topics)
            jobs.append(job)
            marks.update(owed)
            last[scope] = add.records[-1]
        self.store.insert_many(rows, state=marks)
        return jobs

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until background formation has caught up with every `add` so far
        (with `background_formation`; otherwise there is nothing to wait for).
        Returns False if `timeout` seconds passed first."""
        timeout = check_seconds(timeout, "timeout")
        return True if self._worker is None else self._worker.flush(timeout)

    def _while_searching(self) -> None:
        """Background formation's wait before each batch: until no search is under
        way, for _FORMATION_DEFER_S seconds at most (so it never falls behind for
        good under a steady stream of searches)."""
        with self._quiet:
            self._quiet.wait_for(lambda: not self._searching, _FORMATION_DEFER_S)

    def _record(
        self,
        message: str | Mapping[str, Any],
        position: int,
        scope: Scope,
        default_time: str | None,
        base_meta: dict[str, Any],
    ) -> Record:
        where = f"message {position}"
        if isinstance(message, str):
            message = {"content": message}
        if not isinstance(message, Mapping):
            raise InvalidInput(f"{where} must be a str or a dict, got {type(message).__name__}")
        unknown = set(message) - MESSAGE_FIELDS
        if unknown:
            raise InvalidInput(
                f"{where} has unknown field(s) {', '.join(sorted(map(str, unknown)))}; "
                f"allowed: {', '.join(sorted(MESSAGE_FIELDS))}"
            )
        if "content" not in message:
            raise InvalidInput(f"{where} has no 'content'")
        text = check_text(
            message["content"], field=f"{where} content", max_bytes=self.max_text_bytes
        )
        recorded = now()
        meta = {**base_meta, **check_metadata(message.get("metadata"), f"{where} metadata")}
        name = message.get("name")
        return Record(
            id=new_id(),
            kind=check_kind(message.get("kind", "event"), f"{where} kind"),
            text=text,
            scope=scope,
            role=check_role(message.get("role"), f"{where} role"),
            speaker=check_scope_part(name, f"{where} name"),
            occurred_at=check_time(message.get("occurred_at"), f"{where} occurred_at")
            or default_time
            or recorded,
            recorded_at=recorded,
            metadata=meta,
            tags=check_str_list(message.get("tags"), f"{where} tags"),
        )

    def update(
        self,
        record_id: str,
        *,
        text: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        tags: list[str] | None = None,
        occurred_at: Any = None,
        expected_version: int | None = None,
        namespace: str = "default",
        user_id: str | None = None,
        agent_id: str | None = None,
        session_id: str | None = None,
        actor: str | None = None,
    ) -> Record:
        """Write a new version of a record; the old one stays in `history`.
        Fields left as None keep their value; `metadata` replaces the whole dict.
        With `expected_version`, raise Conflict if someone changed it meanwhile."""
        scope = make_scope(namespace, user_id, agent_id, session_id)
        record_id = _check_id(record_id)
        expected_version = check_version(expected_version)
        actor = check_actor(actor)
        if all(v is None for v in (text, metadata, tags, occurred_at)):
            raise InvalidInput("update needs at least one of text, metadata, tags, occurred_at")
        changes: dict[str, Any] = {}
        vector = None
        if text is not None:
            changes["text"] = check_text(text, field="text", max_bytes=self.max_text_bytes)
        if metadata is not None:
            changes["metadata"] = check_metadata(metadata)
        if tags is not None:
            changes["tags"] = check_str_list(tags, "tags")
        if occurred_at is not None:
            changes["occurred_at"] = check_time(occurred_at, "occurred_at")
        current = self.store.get(record_id, scope)  # NotFound before paying for an embedding
        if text is not None:
            revised = dataclasses.replace(current, text=changes["text"])
            vector = self._embed_records([revised])[0]
        reform = text is not None or occurred_at is not None
        with self._formations.lock:
            with self.store.atomic():  # the new version and its cascade, or neither
                record = self.store.revise(
                    record_id,
                    scope,
                    lambda _: changes,
                    vector,
                    op="update",
                    expected_version=expected_version,
                    actor=actor,
                )
                job = None
                if reform:
                    # Derived memories carry the old words or dates: replace them. The
                    # formation the new version is owed is marked with it, so that a
                    # process killed before it runs leaves it to the next one.
                    self._drop_derived(record.id, scope.namespace, purge=False)
                    if record.kind == "event":
                        job, marks = self._formations.job([record], None, [], {})
                        self.store.set_state(marks)
            if job is not None:
                self._form(job)
        return record

    def delete(
        self,
        record_id: str,
        *,
        namespace: str = "default",
        user_id: str | None = None,
        agent_id: str | None = None,
        session_id: str | None = None,
        actor: str | None = None,
    ) -> Record:
        """Tombstone a record and every memory derived from it (its facts, the
        episode summaries that quote it, the profiles that hold those facts), all in
        one transaction: gone from search, get and list; kept in history. Deleting a
        record that is already gone returns its tombstone and finishes the job (what
        was derived from it goes too). Use `purge` to erase its content."""
        scope = make_scope(namespace, user_id, agent_id, session_id)
        record_id = _check_id(record_id)
        actor = check_actor(actor)
        with self._formations.lock, self.store.atomic():
            try:
                record = self.store.revise(
                    record_id,
                    scope,
                    lambda _: {"status": "deleted"},
                    None,
                    op="delete",
                    expected_version=None,
                    actor=actor,
                )
            except NotFound:
                record = self.store.get(record_id, scope, include_gone=True)
                if record.status not in ("deleted", "purged"):
                    raise
            self._drop_derived(record.id, scope.namespace, purge=False)
        return record

    def _drop_derived(self, record_id: str, namespace: str, *, purge: bool) -> None:
        """Delete (or purge) every derived memory that carries this record's content:
        its facts, the episode summaries that quote it, the profiles that hold those
        facts, recursively; a fact that one of them superseded is current again.
        Callers run it in the transaction of the change itself."""
        todo, found = [record_id], [record_id]
        while todo:
            carriers = self.store.linked(todo, "evidence", reverse=True)
            todo = [d for ds in carriers.values() for d in ds if d not in found]
            found.extend(dict.fromkeys(todo))
        superseded = self.store.linked(found, "supersedes")  # before a purge erases links
        for derived_id in found[1:]:
            try:
                if purge:
                    self.store.purge(derived_id, Scope(namespace), actor="formation")
                else:
                    self.store.revise(derived_id, Scope(namespace),
                                      lambda _: {"status": "deleted"}, None, op="delete",
                                      expected_version=None, actor="formation")  # fmt: skip
            except NotFound:
                continue  # gone already (deleted: a purge still erases it)
        self._restore_superseded(superseded, namespace)

    def _restore_superseded(self, superseded: Mapping[str, Sequence[str]], namespace: str) -> None:
        """The facts that gone records had superseded (`superseded`: gone id -> the
        facts it superseded) become current again (status active, their `valid_to`
        as before), each change in history."""
        scope = Scope(namespace)
        for by, olds in superseded.items():
            for old in self.store.get_many(olds, scope):
                note = old.metadata.get("superseded")
                if old.status != "superseded" or not isinstance(note, dict) or note.get("by") != by:
                    continue

                def restore(r: Record, note: dict[str, Any] = note) -> dict[str, Any]:
                    rest = {k: v for k, v in r.metadata.items() if k != "superseded"}
                    return {"status": "active", "valid_to": note.get("valid_to"), "metadata": rest}

                self.store.revise(old.id, scope, restore, None, op="restore",
                                  expected_version=None, actor="formation")  # fmt: skip

    def purge(
        self,
        record_id: str,
        *,
        namespace: str = "default",
        user_id: str | None = None,
        agent_id: str | None = None,
        session_id: str | None = None,
        actor: str | None = None,
    ) -> None:
        """Erase a record's content (text, speaker, metadata, tags, vector), here and in
        its history, and erase every memory derived from it the same way, in one
        transaction (privacy erasure): the names of the people and things it spoke of
        leave the file with it, unless other memories still name them. The erasure
        itself is recorded. Purging again is harmless and finishes an older erasure."""
        scope = make_scope(namespace, user_id, agent_id, session_id)
        record_id = _check_id(record_id)
        actor = check_actor(actor)
        with self._formations.lock, self.store.atomic():
            self.store.get(record_id, scope, include_gone=True)  # NotFound out of scope
            topics, episodes = self._former.forget(record_id)  # before its vector goes
            self.store.purge(record_id, scope, actor=actor)
            self._drop_derived(record_id, scope.namespace, purge=True)
            if topics:
                self.store.set_state(topics)
            for episode_id, vector in episodes:  # those not erased with it
                with contextlib.suppress(NotFound):
                    self.store.revise(episode_id, Scope(scope.namespace), lambda _: {}, vector,
                                      op="form", expected_version=None, actor="formation",
                                      bump_version=False)  # fmt: skip

    def feedback(
        self,
        record_id: str,
        useful: bool,
        *,
        namespace: str = "default",
        user_id: str | None = None,
        agent_id: str | None = None,
        session_id: str | None = None,
        actor: str | None = None,
    ) -> Record:
        """Count whether a retrieved memory was useful."""
        if not isinstance(useful, bool):
            raise InvalidInput(f"useful must be a bool, got {type(useful).__name__}")
        scope = make_scope(namespace, user_id, agent_id, session_id)
        record_id = _check_id(record_id)
        actor = check_actor(actor)
        field = "useful" if useful else "not_useful"
        return self.store.revise(
            record_id,
            scope,
            lambda r: {field: getattr(r, field) + 1},
            None,
            op="feedback",
            expected_version=None,
            actor=actor,
            bump_version=False,
        )

    # ------------------------------------------------------------------- read

    def get(
        self,
        record_id: str,
        *,
        namespace: str = "default",
        user_id: str | None = None,
        agent_id: str | None = None,
        session_id: str | None = None,
    ) -> Record:
        """The record with this id in this scope; NotFound otherwise."""
        scope = make_scope(namespace, user_id, agent_id, session_id)
        return self.store.get(_check_id(record_id), scope)

    def list(
        self,
        *,
        namespace: str = "default",
        user_id: str | None = None,
        agent_id: str | None = None,
        session_id: str | None = None,
        kinds: Iterable[str] | None = None,
        statuses: Iterable[str] = ("active",),
        since: Any = None,
        until: Any = None,
        metadata: Mapping[str, Any] | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        """Records in scope, newest first, a page at a time."""
        scope = make_scope(namespace, user_id, agent_id, session_id)
        filters = _filters(kinds, since, until, metadata, statuses)
        limit = check_positive_int(limit, "limit", maximum=MAX_K)
        cursor = None if cursor is None else check_id(cursor, "cursor")
        return self.store.list_records(scope, filters, limit=limit, cursor=cursor)

    def history(
        self,
        record_id: str,
        *,
        namespace: str = "default",
        user_id: str | None = None,
        agent_id: str | None = None,
        session_id: str | None = None,
    ) -> builtins.list[HistoryEntry]:
        """Every change to a record, oldest first (deleted and purged ones too)."""
        scope = make_scope(namespace, user_id, agent_id, session_id)
        return self.store.history(_check_id(record_id), scope)

    @_tracked_search
    def search(
        self,
        query: str,
        *,
        namespace: str = "default",
        user_id: str | None = None,
        agent_id: str | None = None,
        session_id: str | None = None,
        k: int = 10,
        offset: int = 0,
        kinds: Iterable[str] | None = None,
        since: Any = None,
        until: Any = None,
        metadata: Mapping[str, Any] | None = None,
        strategy: str = "layered",
        as_of: Any = None,
        now: Any = None,
    ) -> builtins.list[Hit]:
        """The memories that best match `query`, best first.

        `strategy` "layered" (the default) scores each piece of evidence (a turn, or
        a fact or insight stored as such) by full text, by its vector and its
        statements' vectors, by the names and times the query mentions, by the
        episodes and topics it belongs to and by its salience; each hit's `facts`
        are the statements drawn from it that matched, with resolved dates.
        "hybrid" fuses BM25 and dense ranks of the records as stored (derived ones
        only when `kinds` asks for them) by reciprocal rank fusion; "bm25" and
        "dense" use one source. `sources` says which source
        ranked a hit where. `offset` pages through the ranking.

        `as_of` (a datetime or ISO 8601 time) answers as the memory stood then: turns
        that occurred by then, facts that were valid then (a fact superseded later
        counts as current). Without it, a fact that a newer one superseded, and its
        turn, rank below the newer one, unless the query asks about the past.

        The query's relative times ("last week", "in May") are resolved against `now`
        when given, else against the memory's own time: when its newest turn in scope
        occurred (by `as_of`), so that a question about a conversation held in 2023
        asks about 2023; the wall clock only for an empty scope.

        >>> for hit in m.search("where does alice live?", user_id="alice", k=5):
        ...     print(hit.score, hit.record.text)
        """
        scope = make_scope(namespace, user_id, agent_id, session_id)
        query = check_text(query, field="query", max_bytes=self.max_text_bytes)
        k = check_positive_int(k, "k", maximum=MAX_K)
        offset = check_offset(offset)
        if not isinstance(strategy, str) or strategy not in STRATEGIES:
            raise InvalidInput(
                f"strategy must be one of {', '.join(STRATEGIES)}; got {describe(strategy)}"
            )
        filters = _filters(kinds, since, until, metadata, as_of=as_of)
        reference = check_time(now, "now")
        if kinds is None and strategy != "layered":
            # Flat search is over memories as stored, not the views formation derives.
            filters = dataclasses.replace(filters, derived=False)
        depth = max(_CANDIDATES, k + offset)
        dense_job = None
        plain = self._unnamed(query, scope) if strategy == "layered" else query
        if strategy != "bm25":
            # The query's embedding runs beside the full-text query (both release the GIL).
            dense_job = self._queries.submit(plain)
        notes: builtins.list[str] = []
        if strategy == "layered":
            info = analyse(query, lambda: self._reference_time(scope, filters, reference))
            found = layered.search(
                self.store, query, lambda: self._query_vector(dense_job, False, notes),
                info, scope, filters, k + offset, self.settings, text_query=plain,
            )[offset:]  # fmt: skip
            if self.settings.count_hits:
                self.store.touch([e.record.id for e in found])
            return Hits([
                Hit(record=copy.copy(e.record), score=e.score, sources=layered.as_sources(e),
                    facts=[copy.copy(f) for f in layered.fact_records(e)], until=e.until)
                for e in found
            ], notes)  # fmt: skip
        ranked: dict[str, builtins.list[tuple[str, float]]] = {}
        if filters.as_of is not None:  # a fact superseded after then held then
            filters = dataclasses.replace(filters, statuses=(*filters.statuses, "superseded"))
        if strategy in ("hybrid", "bm25"):
            ranked["bm25"] = self.store.text_search(query, scope, filters, depth)
        vector = self._query_vector(dense_job, strategy == "dense", notes)
        if vector is not None:
            ranked["dense"] = self.store.vector_search(vector, scope, filters, depth)
        if filters.as_of is not None:
            ids = {i for found in ranked.values() for i, _ in found}
            held = {r.id for r in self.store.get_many(list(ids), scope, shared=True)
                    if layered.held(r, filters.as_of)}  # fmt: skip
            ranked = {s: [(i, x) for i, x in found if i in held] for s, found in ranked.items()}
        fused = rrf(ranked)[offset : offset + k]
        records = {r.id: r for r in self.store.get_many([f[0] for f in fused], scope)}
        if self.settings.count_hits:
            self.store.touch(list(records))
        hits = [
            Hit(record=records[i], score=score, sources=sources)
            for i, score, sources in fused
            if i in records
        ]
        return Hits(hits, notes)

    def _reference_time(self, scope: Scope, filters: Filters, now: str | None) -> datetime:
        """What a query's relative times are resolved against (see `search`)."""
        moment = now or self.store.latest(scope, until=filters.as_of)
        return parse_stored_time(moment) if moment else datetime.now(timezone.utc)

    def _unnamed(self, query: str, scope: Scope) -> str:
        """What the layered search embeds and looks for in full text (see `unnamed`):
        the name boost rewards a named speaker's turns once."""
        if not self.settings.unnamed_query:
            return query
        return unnamed(query, self.store.speakers(Scope(scope.namespace, scope.user_id)))

    def _query_vector(
        self, job: Any, required: bool, notes: builtins.list[str]
    ) -> np.ndarray | None:
        """The query's vector; without one (the model failed), None and a note in
        `notes` (and a warning), unless the search cannot go on without it."""
        if job is None:
            return None
        try:
            return job.result()  # type: ignore[no-any-return]
        except EmbeddingError as exc:
            if required:
                raise
            note = f"dense search skipped, full text only: {exc}"
            notes.append(note)
            warnings.warn(note, stacklevel=4)
            return None

    def context(
        self,
        query: str,
        *,
        budget_tokens: int = 1000,
        namespace: str = "default",
        user_id: str | None = None,
        agent_id: str | None = None,
        session_id: str | None = None,
        k: int = 50,
        recent: int = 8,
        token_counter: TokenCounter | None = None,
        as_of: Any = None,
        now: Any = None,
    ) -> Context:
        """A prompt-ready block for `query` that never exceeds `budget_tokens`: first a
        stable prefix of profiles (the most salient facts about the people and things
        with the most facts, in a fixed order, within `profile_share` of the budget, so
        that an LLM's prompt cache keeps hitting), then the relevant memories (searched
        across the whole scope, best first, each with its date, its speaker and the
        dates its relative times meant; a long turn as the sentence of it that matched,
        see `Settings.excerpt_sentences`), then the last `recent` turns of `session_id`,
        the current session, in order. `token_counter` counts exactly (e.g. a tokenizer's
        `len(encode(text))`); the default is a fast estimate. `.text` goes into the
        prompt; `.parts` say which records each line came from. `as_of` builds the
        block as the memory stood at that time, and `now` resolves the query's relative
        times (see `search`).

        >>> ctx = m.context("where does alice live?", user_id="alice", budget_tokens=500)
        """
        if isinstance(budget_tokens, bool) or not isinstance(budget_tokens, int):
            raise InvalidInput(f"budget_tokens must be an int, got {type(budget_tokens).__name__}")
        if not 1 <= budget_tokens <= MAX_BUDGET:
            raise InvalidInput(f"budget_tokens must be between 1 and {MAX_BUDGET:,}")
        recent = check_int(recent, "recent", minimum=0, maximum=MAX_K)
        token_counter = check_counter(token_counter)
        when = check_time(as_of, "as_of")
        hits = self.search(query, k=k, namespace=namespace, user_id=user_id, agent_id=agent_id,
                           as_of=when, now=now)  # fmt: skip
        tail: list[Record] = []
        if session_id is not None and recent:
            page = self.list(
                namespace=namespace, user_id=user_id, agent_id=agent_id,
                session_id=session_id, kinds=["event"], limit=min(recent, MAX_K),
                until=None if when is None else just_after(when),
            )  # fmt: skip
            tail = list(reversed(page.records))
        prefix = self._profiles(namespace, user_id, agent_id)
        if when is not None:  # a profile holds what is true now: only one made by then
            prefix = [p for p in prefix if p.occurred_at <= when]
        cap = int(budget_tokens * self.settings.profile_share)
        shown = [excerpt(h.record, h.facts, self.settings.excerpt_sentences) for h in hits]
        sections: builtins.list[Any] = [("profile", prefix, cap), ("relevant", shown),
                                        ("recent", tail)]  # fmt: skip
        until = {h.record.id: h.until for h in hits if h.until is not None}
        context = assemble(sections, budget_tokens, token_counter or estimate_tokens, until)
        context.warnings = list(getattr(hits, "warnings", []))
        return context

    def _profiles(
        self, namespace: str, user_id: str | None, agent_id: str | None
    ) -> builtins.list[Record]:
        """The stable prefix: profiles of the entities with the most facts, in a fixed
        order (most facts first, then name), so the block starts the same way from one
        question to the next and an LLM's prompt cache keeps hitting."""
        if not self.settings.profiles or not self.settings.profile_share:
            return []
        page = self.list(namespace=namespace, user_id=user_id, agent_id=agent_id,
                         kinds=["profile"], limit=_PROFILES)  # fmt: skip
        mine = [p for p in page.records if p.scope.session_id is None]
        return sorted(mine, key=lambda p: (-int(p.metadata.get("facts", 0)),
                                           str(p.metadata.get("entity", ""))))  # fmt: skip

    def _embed_records(self, records: Sequence[Record]) -> np.ndarray:
        # A derived record's text names its speaker already ("Caroline went …").
        texts = [
            f"{r.speaker}: {r.text}"
            if self.embed_speaker and r.speaker and not r.source_ids
            else r.text
            for r in records
        ]
        return self.embedder.embed(texts)

    def prefetch(
        self, query: Any, *, namespace: str = "default", user_id: str | None = None,
        strategy: str = "layered",
    ) -> None:  # fmt: skip
        """Start embedding `query` now, so that a search (or context) for it soon
        after finds its vector ready: a server calls this while the search waits for
        its turn. A query the search would refuse is left for it to refuse; a long
        one, or one asked for while many wait, is left for the search to embed (so
        callers cannot pile up embedding work beside the calls being served)."""
        if not isinstance(query, str) or len(query) > _PREFETCH_MAX_CHARS:
            return
        try:
            query = check_text(query, field="query", max_bytes=self.max_text_bytes)
        except InvalidInput:
            return
        if self._queries.backlog < _PREFETCH_BACKLOG:
            try:
                scope = make_scope(namespace, user_id, None, None)
            except InvalidInput:
                return
            self._queries.submit(self._unnamed(query, scope) if strategy == "layered" else query)

    # ------------------------------------------------------------ maintenance

    def warm_up(self) -> None:
        """Load what the first search would otherwise load: the embedding model and
        the vector index (a server calls this before it takes requests)."""
        try:
            self.embedder.embed(["warm up"])
        except EmbeddingError as exc:  # served all the same: stored and found by full text
            warnings.warn(
                f"the embedding model failed ({exc}); adds are stored without vectors and "
                "searches use full text until it works again",
                stacklevel=2,
            )
        self.store.load_index()

    def stats(
        self,
        *,
        namespace: str = "default",
        user_id: str | None = None,
        agent_id: str | None = None,
        session_id: str | None = None,
    ) -> dict[str, Any]:
        """Counts by kind and status, vectors still to embed, turns of the namespace
        still to be formed (`pending_formation`), file size, model."""
        scope = make_scope(namespace, user_id, agent_id, session_id)
        stats = dict(self.store.stats(scope))
        stats["pending_formation"] = self._formations.owed(scope.namespace)
        return stats

    def reindex(self, *, batch_size: int = 256) -> int:
        """Embed every live record that has no vector (after an embedding failure, or
        after switching models with `Memory.open_for_reindex`). Returns how many."""
        batch_size = check_positive_int(batch_size, "batch_size", maximum=MAX_REINDEX_BATCH)
        done = 0
        while True:
            todo = self.store.missing_vectors(batch_size)
            if not todo:
                return done
            self.store.set_vectors([r.id for r in todo], self._embed_records(todo))
            done += len(todo)

    @classmethod
    def open_for_reindex(
        cls, path: str | os.PathLike[str], *, embedder: str | Embedder | None = None
    ) -> Memory:
        """Open a store built with another embedding model, switch it to `embedder`
        and drop the old vectors; call `reindex()` next to embed everything again."""
        store = open_store(path)
        model = load_embedder(embedder)
        store.rebind_embedder(_info(model))
        return cls(embedder=model, store=store)

    def export(
        self,
        destination: str | os.PathLike[str] | IO[str],
        *,
        namespace: str = "default",
        user_id: str | None = None,
        agent_id: str | None = None,
        session_id: str | None = None,
    ) -> int:
        """Write every record in scope (any status), with its vector and history, as
        JSON lines. Returns the number of records."""
        scope = make_scope(namespace, user_id, agent_id, session_id)
        destination = check_destination(destination)
        try:
            return transfer.export_jsonl(self.store, scope, _info(self.embedder), destination)
        except OSError as exc:  # the caller's file, not the store
            raise InvalidInput(f"cannot write the export to {destination!r:.80}: {exc}") from exc

    def import_(
        self,
        source: str | os.PathLike[str] | IO[str],
        *,
        namespace: str | None = None,
        actor: str | None = None,
    ) -> int:
        """Load an export. Records keep their ids, versions and times; ids already here
        are skipped. With `namespace`, every record moves into that namespace;
        without it, each keeps its own. Returns the number inserted."""
        target = None if namespace is None else make_scope(namespace).namespace
        actor = check_actor(actor)
        source = check_source(source)
        try:
            inserted = transfer.import_jsonl(
                self.store,
                source,
                self._embed_records,
                _info(self.embedder),
                target,
                actor,
                self.max_text_bytes,
            )
        except (OSError, UnicodeDecodeError) as exc:  # the caller's file, not the store
            raise InvalidInput(f"cannot read the export {source!r:.80}: {exc}") from exc
        if inserted:
            # Links are not exported: rebuild them (provenance, sessions, entities).
            for ns in [target] if target else self.store.namespaces():
                records = [r for r, _ in self.store.iter_records(Scope(ns))]
                self.store.add_links(links_for(records))
        return inserted

    def store_scope(
        self,
        namespace: str = "default",
        user_id: str | None = None,
        agent_id: str | None = None,
        session_id: str | None = None,
    ) -> Scope:
        """A validated Scope, for calling the store directly."""
        return make_scope(namespace, user_id, agent_id, session_id)

    def close(self) -> None:
        """Finish background formation, then close the store."""
        if self._worker is not None:
            self._worker.close()
        self._queries.close()
        self.store.close()

    def __enter__(self) -> Memory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _info(embedder: Embedder) -> EmbedderInfo:
    return EmbedderInfo(name=embedder.name, dim=embedder.dim, fingerprint=embedder.fingerprint)


def _as_messages(messages: Any) -> builtins.list[Any]:
    if isinstance(messages, (str, Mapping)):
        items = [messages]
    elif isinstance(messages, Iterable) and not isinstance(messages, (bytes, bytearray)):
        items = list(itertools.islice(messages, MAX_BATCH + 1))
    else:
        raise InvalidInput(
            f"messages must be a str, a dict or a list of them, got {type(messages).__name__}"
        )
    if not items:
        raise InvalidInput("messages is empty; give at least one message")
    if len(items) > MAX_BATCH:
        raise InvalidInput(f"over {MAX_BATCH:,} messages in one add; send at most {MAX_BATCH:,}")
    return items


def _check_id(record_id: Any) -> str:
    return check_id(record_id, "record id")


def _filters(
    kinds: Iterable[str] | None,
    since: Any,
    until: Any,
    metadata: Mapping[str, Any] | None,
    statuses: Iterable[str] = ("active",),
    as_of: Any = None,
) -> Filters:
    when = check_time(as_of, "as_of")
    end = check_time(until, "until")
    if when is not None:  # what occurred by then: `until` is exclusive
        end = min(end, just_after(when)) if end is not None else just_after(when)
    return Filters(
        kinds=check_kinds(kinds),
        statuses=check_statuses(statuses),
        since=check_time(since, "since"),
        until=end,
        metadata=check_metadata_filter(metadata),
        as_of=when,
    )
