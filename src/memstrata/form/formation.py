"""Formation: what `add` derives from new events, with no LLM.

After the events of an `add` are stored (raw first, in their own transaction), this
module derives, for the same scope:

- facts (L3): each statement of a turn, first person resolved to the speaker and
  relative times resolved against the turn's date ("yesterday (7 May 2023)"), with
  its valid time, its entities, and `source_ids` naming the turn;
- episodes (L2): the session's topic segments, each with an extractive summary (its
  `source_ids` name only the turns the summary quotes) and the segment's centroid as
  its vector; events link to their episode (`part_of`);
- profiles (L4): per entity, the most salient facts about it;
- topics (L4): online k-means over event vectors; events link to their topic;
- `next` links between consecutive events of a session, and each event's novelty.

Everything derived goes in one transaction after the events. A step that fails on
one event leaves that event untouched, is counted (`stats()["counters"]`) and
warned about, and never fails the `add`.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from memstrata.config import Settings
from memstrata.evolve.topics import Topics
from memstrata.form import episodes as episode_policy
from memstrata.form import settle
from memstrata.form.claims import Claim, answer_claim, read_claims, speaks_of_values
from memstrata.form.entities import entity_key, find_entities
from memstrata.form.statements import statements
from memstrata.form.times import TimeMention, annotate, find_times
from memstrata.ids import day_end, day_start, new_id, now, parse_stored_time
from memstrata.store.base import Change, Link, Store
from memstrata.types import Record, Scope

Embed = Callable[[Sequence[str]], np.ndarray]

MAX_FACTS_PER_EVENT = 64
ANSWER_MAX_CHARS = 200  # a reply this short is read with the question it answers
PROFILE_FACTS = 6  # facts a profile holds
PROFILE_MIN_FACTS = 3  # facts about an entity before it gets a profile
EPISODE_MAX_TURNS = 48  # an episode never grows past this: re-forming the open one stays cheap
_SUMMARY_SENTENCES = 3
_TOPICS_MAX = 64
_MODELS_KEPT = 256  # topic models kept in memory (one per user scope, ~100 KB each)


@dataclass
class Derived:
    """What formation adds: records with their vectors, and links."""

    records: list[Record] = field(default_factory=list)
    vectors: list[np.ndarray | None] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    revised: list[tuple[Record, np.ndarray | None]] = field(default_factory=list)
    state: dict[str, bytes] = field(default_factory=dict)
    failures: int = 0
    changes: list[Change] = field(default_factory=list)  # facts superseded, in place
    superseded: set[str] = field(default_factory=set)
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, record: Record, vector: np.ndarray | None) -> None:
        self.records.append(record)
        self.vectors.append(vector)

    def matrix(self) -> np.ndarray | None:
        if not self.records or any(v is None for v in self.vectors):
            return None
        return np.stack([v for v in self.vectors if v is not None]).astype(np.float32)


def scope_key(scope: Scope) -> str:
    """The user-level part of a scope, as one string (entities and topics live there)."""
    return "\x1f".join((scope.namespace, scope.user_id or "", scope.agent_id or ""))


def entity_link(scope: Scope, key: str) -> str:
    return f"entity:{scope_key(scope)}\x1f{key}"


def _day_time(mention: TimeMention, end: bool) -> str:
    return day_end(mention.last) if end else day_start(mention.first)


def facts_of(
    event: Record, addressee: str | None, known: Sequence[str], asked: Record | None = None
) -> list[Record]:
    """The statements of one turn as fact records (questions and filler dropped; a
    statement identical to a one-sentence turn is left out: the turn says it), each
    with the claims it makes (`metadata["claims"]`, see `claims`). `asked`: the turn
    before, by another speaker, when it asked a question: a short reply then also
    gives the fact "question + reply", which says what the reply is about."""
    anchor = parse_stored_time(event.occurred_at)
    found = [s for s in statements(event.text, event.speaker, addressee) if not s.question]
    # A long document would make thousands of facts: the first ones stand for it, and
    # full text and its own vector still find the rest.
    found = found[:MAX_FACTS_PER_EVENT]
    out = []
    for st in found:
        mentions = find_times(st.text, anchor)
        text = annotate(st.text, mentions)
        if text.strip() == event.text.strip():
            continue
        entities = find_entities(st.text, known)
        if event.speaker and all(entity_key(e) != entity_key(event.speaker) for e in entities):
            entities.insert(0, event.speaker)
        dated = mentions[0] if mentions else None
        metadata: dict[str, Any] = {"span": [st.start, st.end]}
        if said := [c.to_dict() for c in _claims(st.text, event, [*known, *entities])]:
            metadata["claims"] = said
        out.append(
            Record(
                id=new_id(),
                kind="fact",
                text=text,
                scope=event.scope,
                occurred_at=event.occurred_at,
                recorded_at=now(),
                role=event.role,
                speaker=event.speaker,
                valid_from=_day_time(dated, False) if dated else None,
                valid_to=_day_time(dated, True) if dated else None,
                metadata=metadata,
                source_ids=[event.id],
                entities=entities,
            )
        )
    if asked is not None and found and len(event.text) <= ANSWER_MAX_CHARS:
        reply = answer_fact(event, asked, " ".join(st.text for st in found), known)
        if reply is not None:
            out.append(reply)
    return out


def _claims(text: str, event: Record, names: Sequence[str]) -> list[Claim]:
    """What a statement claims about whom it names (nothing, for an assistant's)."""
    return read_claims(text, event.speaker, names) if speaks_of_values(event.role) else []


def answer_fact(event: Record, asked: Record, reply: str, known: Sequence[str]) -> Record | None:
    """ "Which city is Alice in? Galway, for a few weeks now." as one fact of the
    reply's turn, with the claim the reply makes (its slot from the question)."""
    question = next((s for s in reversed(statements(asked.text, asked.speaker, event.speaker))
                     if s.question), None)  # fmt: skip
    if question is None:
        return None
    text = f"{question.text} {reply}"
    entities = find_entities(text, known)
    if event.speaker and all(entity_key(e) != entity_key(event.speaker) for e in entities):
        entities.insert(0, event.speaker)
    metadata: dict[str, Any] = {"answers": asked.id}
    claim = None
    if speaks_of_values(event.role):
        claim = answer_claim(question.text, reply, event.speaker, [*known, *entities])
    if claim is not None:
        metadata["claims"] = [claim.to_dict()]
    return Record(
        id=new_id(), kind="fact", text=text, scope=event.scope, occurred_at=event.occurred_at,
        recorded_at=now(), role=event.role, speaker=event.speaker, metadata=metadata,
        source_ids=[event.id], entities=entities,
    )  # fmt: skip


def next_links(previous: Record | None, events: Sequence[Record]) -> list[Link]:
    """`next` links along a session: the session's last event before this batch,
    then the batch in order (events without a session are not chained)."""
    links: list[Link] = []
    last = {previous.scope.session_id: previous.id} if previous is not None else {}
    for event in events:
        session = event.scope.session_id
        if session is None:
            continue
        if session in last:
            links.append((last[session], event.id, "next", 1.0))
        last[session] = event.id
    return links


def links_for(records: Sequence[Record]) -> list[Link]:
    """Every link formation makes, rebuilt from records alone (`import_` uses it;
    topic links are not rebuilt: topics start afresh). `records`: a namespace's
    records, any status, in id order."""
    links: list[Link] = []
    last_event: dict[Scope, str] = {}
    sessions: dict[Scope, list[str]] = {}
    for r in records:
        if r.status in ("deleted", "purged"):
            continue
        for source in r.source_ids:
            links.append((r.id, source, "evidence", 1.0))
        if r.kind == "event" and r.scope.session_id is not None:
            if r.scope in last_event:
                links.append((last_event[r.scope], r.id, "next", 1.0))
            last_event[r.scope] = r.id
            sessions.setdefault(r.scope, []).append(r.id)
        elif r.kind == "fact" and r.source_ids:
            links.extend((r.id, entity_link(r.scope, entity_key(e)), "about", 1.0)
                         for e in r.entities)  # fmt: skip
        elif r.kind == "profile" and isinstance(r.metadata.get("entity"), str):
            links.append((r.id, entity_link(r.scope, r.metadata["entity"]), "profile", 1.0))
    for r in records:
        first, last = r.metadata.get("first"), r.metadata.get("last")
        if r.kind == "episode" and r.status == "active" and isinstance(first, str):
            members = sessions.get(r.scope, [])
            links.extend((e, r.id, "part_of", 1.0) for e in members
                         if first <= e <= (last if isinstance(last, str) else first))  # fmt: skip
    return links


def _asks(prior: Record, event: Record) -> bool:
    """Whether `prior` is another speaker's turn that ends with a question."""
    other = prior.speaker != event.speaker or prior.role != event.role
    return other and prior.text.rstrip().rstrip(_CLOSERS).endswith("?")


_CLOSERS = "\"')]}»”’ \t\n"


class Former:
    """Runs formation for one `add` against a store (I/O here, policies elsewhere).

    `prepare` runs before the events are stored (it sets each event's novelty, its
    initial salience); `run` after, and returns what to save."""

    def __init__(self, store: Store, embed: Embed, settings: Settings) -> None:
        self.store = store
        self.embed = embed
        self.settings = settings
        # One model per scope in memory: adds and a background worker share it, so
        # neither overwrites the other's updates (state is saved with each formation).
        self._models: dict[str, Topics] = {}
        self.topics_lock = threading.Lock()

    def _load_topics(self, key: str, dim: int) -> Topics:
        raw = self.store.get_state(f"topics:{key}")
        if raw:
            try:
                return Topics.from_bytes(raw)
            except ValueError as exc:  # derived state: rebuilt from here on, and said so
                self.store.count("formation_failures")
                warnings.warn(f"topic state unreadable, started anew: {exc}", stacklevel=3)
        return Topics(dim, max_topics=_TOPICS_MAX)

    def prepare(self, events: Sequence[Record], vectors: np.ndarray | None) -> dict[str, Topics]:
        """Each event's novelty (1 - cosine to the nearest topic centroid: how unlike
        what is stored it is) as its salience; returns the topics loaded."""
        if vectors is None or not events or not (self.settings.novelty or self.settings.topics):
            return {}
        key = scope_key(events[0].scope)
        with self.topics_lock:
            topics = self._models.pop(key, None) or self._load_topics(key, vectors.shape[1])
            self._models[key] = topics  # most recently used last
            while len(self._models) > _MODELS_KEPT:
                self._models.pop(next(iter(self._models)))
            if self.settings.novelty:
                for event, vector in zip(events, vectors):
                    best = topics.nearest(vector, 1) if np.abs(vector).sum() > 0 else []
                    event.salience = round(1.0 - max(0.0, best[0][1]), 4) if best else 1.0
        return {key: topics}

    def run(
        self,
        events: Sequence[Record],
        vectors: np.ndarray | None,
        previous: Sequence[Record],
        topics: dict[str, Topics],
    ) -> Derived:
        """What formation derives from stored `events` (in the order they were
        stored, of one or more sessions) and their `vectors`. `previous` holds, for
        sessions that had turns before these, the last of them (whose speaker the
        first new turn answers); `topics` the models `prepare` returned."""
        derived = Derived()
        if not events:
            return derived
        if self.settings.facts:
            turn_vectors = {} if vectors is None else dict(zip((e.id for e in events), vectors))
            self._facts(events, previous, derived, turn_vectors)
            if self.settings.profiles:
                self._profiles(events, derived)
        if vectors is not None:
            if self.settings.topics:
                self._topics(events, vectors, topics, derived)
            if self.settings.episodes:
                sessions = dict.fromkeys(e.scope for e in events if e.scope.session_id)
                for scope in sessions:
                    self._episodes(scope, derived, {e.id: v for e, v in zip(events, vectors)})
        to_embed = [i for i, v in enumerate(derived.vectors) if v is None]
        if to_embed:
            embedded = self.embed([derived.records[i].text for i in to_embed])
            for i, vector in zip(to_embed, embedded):
                derived.vectors[i] = vector
        revised = [i for i, (_, v) in enumerate(derived.revised) if v is None]
        if revised:
            embedded = self.embed([derived.revised[i][0].text for i in revised])
            for i, vector in zip(revised, embedded):
                derived.revised[i] = (derived.revised[i][0], vector)
        if derived.failures:
            self.store.count("formation_failures", derived.failures)
            warnings.warn(
                f"formation failed on {derived.failures} of {len(events)} events; they are "
                "stored and searchable as they are (counted in stats()['counters'])",
                stacklevel=4,
            )
        return derived

    # ------------------------------------------------------------------ facts

    def _facts(
        self, events: Sequence[Record], previous: Sequence[Record], out: Derived,
        turn_vectors: dict[str, np.ndarray],
    ) -> None:  # fmt: skip
        # The names known in a session: its speakers here and the one just before
        # (the same whether its turns came in one add or in many).
        last_speaker: dict[str | None, str | None] = {}
        last_turn: dict[str | None, Record] = {}
        known: dict[str | None, set[str]] = {}
        for record in [*previous, *events]:
            if record.speaker:
                known.setdefault(record.scope.session_id, set()).add(record.speaker)
        for record in previous:
            last_speaker.setdefault(record.scope.session_id, record.speaker)
            last_turn.setdefault(record.scope.session_id, record)
        made: list[Record] = []
        for event in events:
            session = event.scope.session_id
            before = last_speaker.get(session)
            addressee = before if before and before != event.speaker else None
            prior = last_turn.get(session) if session is not None else None
            asked = (
                prior
                if prior is not None and self.settings.answer_facts and _asks(prior, event)
                else None
            )
            try:
                facts = facts_of(event, addressee, sorted(known.get(session, ())), asked)
            except Exception as exc:  # counted and warned, never blocks the add
                out.failures += 1
                warnings.warn(f"no facts from event {event.id}: {exc!r}", stacklevel=2)
                continue
            made.extend(facts)
            if event.speaker:
                last_speaker[session] = event.speaker
            last_turn[session] = event
        if not made:
            return
        vectors = self._fact_vectors(made, turn_vectors)
        unread = sum(1 for f in made if "claims" not in f.metadata and speaks_of_values(f.role))
        if unread:
            out.counts["facts_without_claims"] = unread
        if self.settings.supersede or self.settings.dedup:
            settled = settle.against_earlier(self.store, self.settings, made, vectors)
            made, vectors = settled.facts, settled.vectors
            out.changes += settled.changes
            out.links += settled.links
            out.superseded |= settled.superseded
            if settled.merged:
                out.counts["facts_merged"] = settled.merged
        for fact, vector in zip(made, vectors):
            out.add(fact, vector)
            out.links.append((fact.id, fact.source_ids[0], "evidence", 1.0))
            for name in fact.entities:
                out.links.append((fact.id, entity_link(fact.scope, entity_key(name)), "about", 1.0))

    def _fact_vectors(self, made: Sequence[Record], turns: dict[str, np.ndarray]) -> np.ndarray:
        """The facts' vectors: a reply read with its question is the mean of the two
        turns' vectors (no new embedding: one would cost more than the turn's own,
        for a text made of two turns); every other fact is embedded."""
        asked = [str(f.metadata["answers"]) for f in made if "answers" in f.metadata]
        stored = self.store.vectors_of([a for a in asked if a not in turns]) if asked else {}
        out: list[np.ndarray | None] = []
        for fact in made:
            pair = None
            if "answers" in fact.metadata:
                q = turns.get(
                    str(fact.metadata["answers"]), stored.get(str(fact.metadata["answers"]))
                )
                a = turns.get(fact.source_ids[0])
                pair = (
                    episode_policy.centroid(np.stack([q, a]))
                    if q is not None and a is not None
                    else None
                )
            out.append(pair)
        todo = [i for i, v in enumerate(out) if v is None]
        if todo:
            for i, vector in zip(todo, self.embed([made[i].text for i in todo])):
                out[i] = vector
        return np.stack([v for v in out if v is not None]).astype(np.float32)

    # ------------------------------------------------------------ supersession

    # --------------------------------------------------------------- profiles

    def _profiles(self, events: Sequence[Record], out: Derived) -> None:
        """Refresh the profile of every entity the new facts are about, once it has
        PROFILE_MIN_FACTS facts: its PROFILE_FACTS most salient facts (novelty of
        their turn, plus a little for each date and other entity they carry), newest
        first on ties. The same facts make the same profile whether they came in one
        add or many."""
        store = self.store
        novelty = {e.id: e.salience for e in events}
        new_facts: dict[str, list[Record]] = {}
        names: dict[str, str] = {}
        for fact in out.records:
            if fact.kind != "fact":
                continue
            for name in fact.entities:
                link = entity_link(fact.scope, entity_key(name))
                new_facts.setdefault(link, []).append(fact)
                names.setdefault(link, name)
        if not new_facts:
            return
        counts = store.link_counts(list(new_facts), "about")
        current = store.linked(list(new_facts), "profile", reverse=True)
        for link, facts in new_facts.items():
            total = counts.get(link, 0) + len(facts)
            if total < PROFILE_MIN_FACTS:
                continue
            scope = facts[0].scope
            user_scope = Scope(scope.namespace, scope.user_id, scope.agent_id, None)
            held_by = store.get_many(current.get(link, []), user_scope)
            profile = next((p for p in held_by if p.status == "active"), None)
            # A new profile weighs every fact about the entity (those from before it
            # had enough); a standing one, the facts it holds against the new ones.
            earlier = (
                profile.source_ids
                if profile
                else store.linked([link], "about", reverse=True).get(link, [])
            )
            held = store.get_many(earlier, user_scope)
            pool = {f.id: f for f in [*held, *facts]
                    if f.status == "active" and f.id not in out.superseded}  # fmt: skip
            if not pool:  # every fact about it was superseded: nothing current to show
                continue

            def weight(fact: Record) -> tuple[float, str]:
                bonus = 0.1 * (len(fact.entities) - 1) + 0.1 * (fact.valid_from is not None)
                return (novelty.get(fact.source_ids[0], fact.salience) + bonus, fact.id)

            top = sorted(pool.values(), key=weight, reverse=True)[:PROFILE_FACTS]
            top.sort(key=lambda f: f.id)  # time order: a stable text for prompt caches
            record = Record(
                id=profile.id if profile else new_id(),
                kind="profile",
                text=f"{names[link]}: " + " ".join(f.text for f in top),
                scope=user_scope,
                occurred_at=top[-1].occurred_at,
                recorded_at=profile.recorded_at if profile else now(),
                entities=[names[link]],
                metadata={"entity": entity_key(names[link]), "facts": total},
                source_ids=[f.id for f in top],
            )
            if profile is not None and record.source_ids == profile.source_ids:
                continue  # the same facts: the profile stands
            vector = self._centroid(top, out)
            if profile is None:
                out.add(record, vector)
                out.links.append((record.id, link, "profile", 1.0))
            else:
                out.revised.append((record, vector))
            out.links.extend((record.id, f, "evidence", 1.0) for f in record.source_ids)

    def _centroid(self, facts: Sequence[Record], out: Derived) -> np.ndarray | None:
        """A profile's vector: the centroid of its facts' vectors, as an episode's is
        of its turns' (embedding the joined text again would cost more than the add
        that made it). None, to embed the text, if a fact has no vector."""
        fresh = {r.id: v for r, v in zip(out.records, out.vectors) if v is not None}
        stored = self.store.vectors_of([f.id for f in facts if f.id not in fresh])
        vectors = [v for f in facts if (v := fresh.get(f.id, stored.get(f.id))) is not None]
        if len(vectors) < len(facts):
            return None
        return episode_policy.centroid(np.stack(vectors))

    def forget(self, record_id: str) -> tuple[dict[str, bytes], list[tuple[str, np.ndarray]]]:
        """What erasing a record's vector changes beyond the records derived from it:
        the topic models it joined, without it (state to save), and the episodes it
        belongs to, each with its centroid made again from the other members (episode
        id, vector). Call it before the vector is erased, in the purge's transaction."""
        store = self.store
        vector = store.vectors_of([record_id]).get(record_id)
        if vector is None or not np.abs(vector).sum():
            return {}, []
        state: dict[str, bytes] = {}
        episodes: list[tuple[str, np.ndarray]] = []
        for group in store.linked([record_id], "part_of").get(record_id, []):
            if group.startswith("topic:"):
                key, _, index = group[len("topic:") :].rpartition("\x1f")
                with self.topics_lock:
                    model = self._models.get(key) or self._load_topics(key, len(vector))
                    self._models[key] = model
                    if index.isdigit() and int(index) < len(model):
                        model.remove(int(index), vector)
                        state[f"topics:{key}"] = model.to_bytes()
                continue
            members = store.linked([group], "part_of", reverse=True).get(group, [])
            others = store.vectors_of([m for m in members if m != record_id])
            if others:
                episodes.append((group, episode_policy.centroid(np.stack(list(others.values())))))
        return state, episodes

    # ----------------------------------------------------------------- topics

    def _topics(
        self, events: Sequence[Record], vectors: np.ndarray, topics: dict[str, Topics],
        out: Derived,
    ) -> None:  # fmt: skip
        """Each event joins its nearest topic cluster (events whose vector has no
        direction, e.g. text with no word the model knows, join none)."""
        finite = np.isfinite(vectors).all(axis=1) & (np.abs(vectors).sum(axis=1) > 0)
        keys = [scope_key(e.scope) for e in events]
        for key, model in topics.items():
            usable = [i for i in map(int, np.flatnonzero(finite)) if keys[i] == key]
            if not usable:
                continue
            with self.topics_lock:
                assigned = model.add(vectors[usable])
                out.state[f"topics:{key}"] = model.to_bytes()
            for i, topic in zip(usable, assigned):
                out.links.append((events[i].id, f"topic:{key}\x1f{int(topic)}", "part_of", 1.0))

    # --------------------------------------------------------------- episodes

    def _episodes(self, scope: Scope, out: Derived, fresh: dict[str, np.ndarray]) -> None:
        """Re-form the session's open (last) episode with the new events; segments
        after the first become new episodes."""
        store = self.store
        session = Scope(scope.namespace, scope.user_id, scope.agent_id, scope.session_id)
        open_episode = store.last_of_session(session, "episode")
        start = open_episode.metadata.get("first") if open_episode is not None else None
        stored = store.session_records(session, "event", after=start)
        rows = [(r, v) for r, u in stored if (v := fresh.get(r.id, u)) is not None]
        if not rows:
            return
        matrix = np.stack([v for _, v in rows]).astype(np.float32)
        spans = episode_policy.segment(matrix, max_len=EPISODE_MAX_TURNS)
        for n, (lo, hi) in enumerate(spans):
            members = rows[lo:hi]
            record, vector = self._episode(members, matrix[lo:hi])
            if n == 0 and open_episode is not None:
                record = replace(record, id=open_episode.id, recorded_at=open_episode.recorded_at)
                out.revised.append((record, vector))
            else:
                out.add(record, vector)
            for event, _ in members:
                out.links.append((event.id, record.id, "part_of", 1.0))
            out.links.extend((record.id, e, "evidence", 1.0) for e in record.source_ids)

    def _episode(
        self, members: Sequence[tuple[Record, np.ndarray]], matrix: np.ndarray
    ) -> tuple[Record, np.ndarray]:
        texts = [e.text for e, _ in members]
        chosen = episode_policy.summarize(texts, matrix, max_sentences=_SUMMARY_SENTENCES)
        lines = []
        for i in chosen:
            event = members[i][0]
            who = f"{event.speaker}: " if event.speaker else ""
            lines.append(f"{who}{' '.join(event.text.split())}")
        first, last = members[0][0], members[-1][0]
        record = Record(
            id=new_id(),
            kind="episode",
            text="\n".join(lines) or " ".join(texts[0].split()),
            scope=first.scope,
            occurred_at=first.occurred_at,
            recorded_at=now(),
            valid_from=first.occurred_at,
            valid_to=last.occurred_at,
            metadata={"first": first.id, "last": last.id, "events": len(members)},
            source_ids=[members[i][0].id for i in chosen] or [first.id],
        )
        return record, episode_policy.centroid(matrix)
