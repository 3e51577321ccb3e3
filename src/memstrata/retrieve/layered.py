"""The "layered" search: candidates from every stratum, scored per piece of evidence.

A piece of evidence is a record that carries its own content: an event, or a fact
or insight stored as such. A derived fact (one with `source_ids`) is a finer view of
its turn, so it scores for that turn instead of competing with it. Per evidence:

    text    = BM25 / the best BM25 among the candidates            (0..1)
              (a turn's: the better of its own and its windows', see `_windows`)
    vector  = (1 - fact_weight) * max(cos(query, evidence), cos(query, its windows))
              + fact_weight * max cos(query, its statements)        (min-max scaled)
    score   = text_weight * text + (1 - text_weight) * vector
              + name_boost      if its speaker (or its own entities) is named
              + time_boost      if its time or a fact's valid time is in the query's range
              + when_boost      for a "when" question, if it carries a resolved date
              + episode_boost   if it is part of one of the best-matching episodes
              + topic_boost     if it is in one of the nearest topic clusters
    score  *= the salience prior
    then each evidence passes neighbour_weight * score to the turns just before and
    after it in its session (an answer follows its question), and the best 50 gain
    feedback_weight * their cosine to the question moved toward its best 2 (scaled
    to the spread of their scores; `_feedback`). The order of the present
    (`present`) and of superseded values (`_successors`) comes last.

A convex combination of scaled scores keeps how much better the best match is than
the next, which rank fusion throws away (LoCoMo dev split, recall@10: rank fusion
0.617, this combination without the boosts 0.705).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timezone
from functools import lru_cache

import numpy as np

from memstrata.config import Settings
from memstrata.evolve import salience as salience_policy
from memstrata.evolve.topics import Topics
from memstrata.form import dedup
from memstrata.form.claims import Claim, claims_of, read_claims, speaks_of_values
from memstrata.form.entities import entity_key
from memstrata.form.formation import scope_key
from memstrata.form.statements import statements
from memstrata.ids import day_end, day_start, parse_stored_time
from memstrata.retrieve import present
from memstrata.retrieve.query import QueryInfo, names_match
from memstrata.retrieve.reads import SearchReads
from memstrata.store.base import Filters, Store
from memstrata.types import Record, Scope

TEXT_DEPTH = 100
VECTOR_DEPTH = 300
TIME_DEPTH = 50  # memories taken from a time range the query names
POOL = 120  # evidence kept after the combined score, for boosts and neighbours
SPREAD_FROM = 50  # the best evidence that passes score to its neighbours
EVIDENCE_KINDS = ("event", "fact", "insight")
_ONCE_DEPTH = 3  # repeats are looked for among the best 3 * k
_SUCCESSORS_FROM = 20  # the best this many turns are checked for a successor
_SOURCES_PER_FACT = 8  # the turns a repeated fact scores for, at most
_BEST_EPISODES = 2
_BEST_TOPICS = 2
FEEDBACK_FROM = 2  # the best matches the question is moved toward
FEEDBACK_DEPTH = 50  # the best evidence scored again with the moved question


@dataclass
class Evidence:
    record: Record
    text: float = 0.0
    own: float | None = None
    window: float | None = None  # the best cosine of its windows (with a neighbour turn)
    statement: float | None = None
    facts: list[tuple[float, Record]] = field(default_factory=list)
    score: float = 0.0
    ranks: dict[str, dict[str, float]] = field(default_factory=dict)
    until: str | None = None  # a newer fact superseded its fact then


def derived(record: Record) -> bool:
    return bool(record.source_ids) and record.kind == "fact"


def search(
    backend: Store,
    query: str,
    embedding: Callable[[], np.ndarray | None],
    info: QueryInfo,
    scope: Scope,
    filters: Filters,
    k: int,
    settings: Settings,
    text_query: str | None = None,
) -> list[Evidence]:
    """The best `k` pieces of evidence for the query, best first. `embedding` gives
    the query's vector (or None); it is asked for after the full-text search, so
    that the query can be embedded meanwhile. `text_query` is what full text looks
    for (the query by default; `Memory` leaves out the speakers it names)."""
    store = SearchReads(backend)
    kinds = filters.kinds or EVIDENCE_KINDS
    past = present.asks_about_past(query)
    statuses = filters.statuses
    if (past or filters.as_of is not None) and statuses == ("active",):
        statuses = ("active", "superseded")  # what was true then is evidence too
    flt = Filters(kinds=tuple(kinds), statuses=statuses, since=filters.since,
                  until=filters.until, metadata=filters.metadata,
                  as_of=filters.as_of)  # fmt: skip
    # A derived fact speaks for its turn through its vector; by its words it would
    # only repeat the turn's, which full text finds already.
    as_stored = replace(flt, derived=False)
    text_hits = store.text_search(text_query or query, scope, as_stored, TEXT_DEPTH)
    vector = embedding()
    vector_hits = (
        store.vector_search(vector, scope, flt, VECTOR_DEPTH) if vector is not None else []
    )
    ids = list(dict.fromkeys([i for i, _ in text_hits] + [i for i, _ in vector_hits]))
    records = {r.id: r for r in store.get_many(ids, scope)}
    units: dict[str, Evidence] = {}
    pending: dict[str, list[tuple[int, float, Record]]] = {}

    def unit(record: Record) -> Evidence:
        found = units.get(record.id)
        if found is None:
            found = units[record.id] = Evidence(record)
        return found

    for rank, (rid, score) in enumerate(text_hits, start=1):
        record = records.get(rid)
        if record is not None and not derived(record):
            evidence = unit(record)
            evidence.text = max(evidence.text, score)
            evidence.ranks["bm25"] = {"rank": rank, "score": score}
    for rank, (rid, score) in enumerate(vector_hits, start=1):
        record = records.get(rid)
        if record is None or not held(record, filters.as_of):
            continue
        if derived(record):  # a fact said in several turns (merged) speaks for each
            for source in record.source_ids[:_SOURCES_PER_FACT]:
                pending.setdefault(source, []).append((rank, score, record))
        else:
            evidence = unit(record)
            evidence.own = score
            evidence.ranks["dense"] = {"rank": rank, "score": score}
    # Statements reach their turn; turns reached only through a statement are fetched.
    missing = [u for u in pending if u not in units]
    for record in store.get_many(missing, scope):
        if record.status == "active" and _passes(record, filters):
            unit(record)
    # A time the query names is a source of its own: what happened then, even in
    # other words ("what did I do yesterday?").
    if info.time_range is not None and settings.time_boost:
        then = _in_time(store, scope, flt, info.time_range)
        if then and info.time_only:  # the time is the whole question: keep only then
            units = {r.id: units.get(r.id) or Evidence(r) for r in then}
        for record in then:
            unit(record)
    for uid, facts in pending.items():
        if uid in units:
            evidence = units[uid]
            evidence.facts = sorted(((s, r) for _, s, r in facts), key=lambda x: -x[0])
            evidence.statement = evidence.facts[0][0]
            evidence.ranks["facts"] = {
                "rank": min(rank for rank, _, _ in facts),
                "score": evidence.statement,
                "count": len(facts),
            }
    if not units:
        return []
    text_of = {rid: score for rid, score in text_hits}
    if vector is not None:
        _dense(store, units, vector, text_of, scope, settings)
    _combine(units, settings)
    # Boosts are small next to the combined score: only the best POOL can use them.
    if len(units) > POOL:
        keep = sorted(units, key=lambda u: -units[u].score)[:POOL]
        units = {u: units[u] for u in keep}
    _boost(store, units, vector, info, scope, settings)
    if settings.neighbour_weight:
        _spread(store, units, scope, filters, settings.neighbour_weight)
    if settings.feedback_weight and vector is not None:
        _feedback(store, units, vector, settings.feedback_weight)
    now_asked = filters.as_of is not None or not past
    if settings.supersede:
        _successors(store, units, scope, filters, move=now_asked)
    if settings.prefer_present and now_asked and _about_someone_now(query, info, units):
        _prefer_present(units, info, settings.rival_margin)
    elif settings.prefer_present and (later := present.named_before(query)):
        _prefer_present(units, info, settings.rival_margin, later)
    ordered = sorted(units.values(), key=lambda e: (-e.score, e.record.id))
    return _once(ordered, k) if settings.dedup else ordered[:k]


def _once(ordered: Sequence[Evidence], k: int) -> list[Evidence]:
    """The first `k` with a repeated turn (the same speaker and text once normalised)
    left out after its best-ranked copy, which counts the copies in its sources."""
    out: list[Evidence] = []
    seen: dict[tuple[str | None, str], Evidence] = {}
    for e in ordered[: _ONCE_DEPTH * k]:  # copies further down cannot reach the top k
        key = (e.record.speaker, _normalised(e.record.text))
        first = seen.get(key)
        if first is not None:
            count = first.ranks.setdefault("duplicates", {"count": 0.0})
            count["count"] += 1
            continue
        if len(out) < k:
            seen[key] = e
            out.append(e)
    return out


_normalised_short = lru_cache(maxsize=8192)(dedup.normalised)  # the same turns, query after query


def _normalised(text: str) -> str:
    return _normalised_short(text) if len(text) <= 2000 else dedup.normalised(text)


def held(record: Record, as_of: str | None) -> bool:
    """Whether the record held at `as_of` (now, when None): a superseded fact held
    until its `valid_to`."""
    if record.status != "superseded":
        return True
    return as_of is not None and record.valid_to is not None and record.valid_to > as_of


def _successors(
    store: SearchReads, units: dict[str, Evidence], scope: Scope, filters: Filters, *, move: bool
) -> None:
    """Each turn whose fact a newer fact superseded (by `as_of`, when given) says
    until when it held; with `move` (a question about the present), it ranks just
    below the newer fact's turn, which takes its place if it ranked lower or was not
    found."""
    best = sorted(units, key=lambda u: -units[u].score)[:_SUCCESSORS_FROM]
    facts = store.linked(best, "evidence", reverse=True)
    owner = {f: uid for uid, fs in facts.items() for f in fs}
    successors = store.linked(list(owner), "supersedes", reverse=True)
    if not successors:
        return
    wanted = [*successors, *(n for ns in successors.values() for n in ns)]
    found = {r.id: r for r in store.get_many(wanted, scope)}
    moves: dict[str, str] = {}  # older turn -> newer turn
    for old_fact, news in successors.items():
        old = found.get(old_fact)
        if old is None or old.status != "superseded":
            continue  # current again (its successor was deleted), or gone
        for n in news:
            fact = found.get(n)
            if fact is None or fact.status != "active" or not fact.source_ids:
                continue
            if filters.as_of is not None and fact.occurred_at > filters.as_of:
                continue
            moves.setdefault(owner[old_fact], fact.source_ids[0])
            until = fact.valid_from or fact.occurred_at
            e = units[owner[old_fact]]
            e.until = until if e.until is None else min(e.until, until)
    if not move:
        return
    missing = [t for t in moves.values() if t not in units]
    for newer in store.get_many(missing, scope):
        if newer.status == "active" and _passes(newer, filters):
            units[newer.id] = Evidence(newer, score=-1.0)
    for older, new in sorted(moves.items(), key=lambda m: -units[m[0]].score):
        if new not in units or older == new:
            continue
        a, b = units[older], units[new]
        if b.score <= a.score:
            a.score, b.score = (b.score if b.score >= 0 else a.score - 1e-6), a.score
        a.score = max(a.score, b.score - 1e-6)  # just below: what the newer value replaced


def _names(text: str, words: Sequence[str]) -> bool:
    found = set(re.findall(r"[^\W_]+", text.lower()))
    return all(w in found for w in words)


def _claims(e: Evidence) -> list[Claim]:
    """The claims of the evidence's best-matching statements, or of its own text."""
    found = [c for _, f in e.facts for c in claims_of(f)]
    if found or e.record.kind != "event" or not speaks_of_values(e.record.role):
        return found
    r = e.record
    return list(_turn_claims(r.text[:2000], r.speaker, tuple(r.entities)))


@lru_cache(maxsize=4096)  # the same turns come up for question after question
def _turn_claims(text: str, speaker: str | None, names: tuple[str, ...]) -> tuple[Claim, ...]:
    return tuple(c for st in statements(text, speaker)[:8]
                 for c in read_claims(st.text, speaker, names))  # fmt: skip


def _about_someone_now(query: str, info: QueryInfo, units: dict[str, Evidence]) -> bool:
    """Whether the present preference applies: the question names a speaker ("where
    does alice live?") or says it asks about now ("what is the current deadline?").
    Without either, a question about a thing ("how should I index this table?")
    keeps its order: its best matches are not values that replace each other."""
    if present.asks_now(query):
        return True
    return any(e.record.speaker and names_match([e.record.speaker], info.words)
               for e in units.values())  # fmt: skip


def _prefer_present(
    units: dict[str, Evidence], info: QueryInfo, margin: float, later: Sequence[str] = ()
) -> None:
    """The best-matching statements of the person asked about, newest first (see
    `present`); with `later` (the words of a "before X" question's X), those said
    before the first turn that names X, newest first."""
    top = sorted(units.values(), key=lambda e: -e.score)[: present.depth(bool(later))]
    speakers = {entity_key(e.record.speaker) for e in top if e.record.speaker}
    named = frozenset(s for s in speakers if names_match([s], info.words))
    candidates = [
        present.Candidate(e.record.id, e.score, max(e.own or 0.0, e.statement or 0.0),
                          e.record.occurred_at,
                          entity_key(e.record.speaker) if e.record.speaker else "", _claims(e))
        for e in top
    ]  # fmt: skip
    before = None
    if later:
        naming = [c.at for c, e in zip(candidates, top)
                  if present.rival(c, named) and _names(e.record.text, later)]  # fmt: skip
        if not naming:
            return
        before = min(naming)
    for uid, score in present.order(candidates, named, margin, before, info.kind).items():
        units[uid].score = score


def _in_time(
    store: SearchReads, scope: Scope, filters: Filters, span: tuple[date, date]
) -> list[Record]:
    """The newest TIME_DEPTH memories (as stored) that occurred in the span, and the
    turns whose facts held in it ("yesterday" said the day after)."""
    since, until = day_start(span[0]), day_end(span[1])
    if filters.since is not None:
        since = max(since, filters.since)
    if filters.until is not None:
        until = min(until, filters.until)
    if since >= until:
        return []
    narrowed = replace(filters, since=since, until=until, derived=False)
    page = store.list_records(scope, narrowed, limit=TIME_DEPTH, cursor=None)
    found = {r.id: r for r in page.records}
    told = [i for i in store.valid_between(scope, since, until, TIME_DEPTH) if i not in found]
    for record in store.get_many(told, scope):
        if record.status == "active" and _passes(record, filters):
            found[record.id] = record
    return list(found.values())


def _passes(record: Record, filters: Filters) -> bool:
    if filters.kinds and record.kind not in filters.kinds:
        return False
    if filters.since and record.occurred_at < filters.since:
        return False
    if filters.until and record.occurred_at >= filters.until:
        return False
    return all(record.metadata.get(k) == v for k, v in filters.metadata.items())


def _dense(
    store: SearchReads, units: dict[str, Evidence], vector: np.ndarray, text_of: dict[str, float],
    scope: Scope, settings: Settings,
) -> None:  # fmt: skip
    """Each evidence's own cosine where the vector search did not give it, and each
    turn's windows' scores (`_windows`). A window's vector is v + window_weight *
    v_neighbour, formed from the stored vectors (nothing is embedded), and its cosine
    counts when it is better than the turn's own; its full-text score is (text +
    window_text * text_neighbour) / (1 + window_text), kept when better than the
    turn's own."""
    weight, text_weight = settings.window_weight, settings.window_text
    unscored = [u for u, e in units.items() if e.own is None]
    pairs = _windows(store, units, scope) if weight or text_weight else []
    vectors = store.vectors(list(dict.fromkeys([*unscored, *(x for p in pairs for x in p)])))
    if not vectors:
        return
    at = {uid: i for i, uid in enumerate(vectors)}
    matrix = np.stack(list(vectors.values()))
    cosines = matrix @ vector
    for uid in unscored:
        if uid in at:
            units[uid].own = float(cosines[at[uid]])
    found = [(u, o) for u, o in pairs if u in at and o in at] if weight else []
    if found:
        a = np.array([at[u] for u, _ in found])
        b = np.array([at[o] for _, o in found])
        # |v + w v'|^2 from the two vectors' norms and their dot product: no copies.
        norms = (np.einsum("ij,ij->i", matrix[a], matrix[a]) + weight**2
                 * np.einsum("ij,ij->i", matrix[b], matrix[b])
                 + 2 * weight * np.einsum("ij,ij->i", matrix[a], matrix[b]))  # fmt: skip
        scores = (cosines[a] + weight * cosines[b]) / np.sqrt(np.maximum(norms, 1e-12))
        for (uid, _), score in zip(found, scores.tolist()):
            e = units[uid]
            e.window = score if e.window is None else max(e.window, score)
            e.ranks["window"] = {"score": e.window}
    if text_weight:
        for uid, other in pairs:
            e = units[uid]
            joint = (e.text + text_weight * text_of.get(other, 0.0)) / (1 + text_weight)
            e.text = max(e.text, joint)


def _windows(store: SearchReads, units: dict[str, Evidence], scope: Scope) -> list[tuple[str, str]]:
    """(turn, neighbour) pairs read together: every turn with the turn before it in
    its session ("Yes, last Friday!" after "When did you go?"), and a user's turn
    also with the assistant's reply to it, which restates what was asked ("Got it:
    I'll always include the status codes"). A person's turn is not read with the
    reply after it: in a conversation between people the reply is the other's own
    news, and it lifted the question above its answer (LoCoMo dev R@10 0.795 ->
    0.812 without those windows)."""
    turns = [u for u, e in units.items() if e.record.kind == "event"]
    pairs = [
        (uid, others[0])
        for uid, others in store.linked(turns, "next", reverse=True).items()
        if others
    ]
    asked = [u for u in turns if units[u].record.role == "user"]
    after = {u: others[0] for u, others in store.linked(asked, "next").items() if others}
    unknown = [o for o in after.values() if o not in units]
    roles = {o: units[o].record.role for o in after.values() if o in units}
    roles.update((r.id, r.role) for r in store.get_many(unknown, scope))
    pairs.extend((u, o) for u, o in after.items() if roles.get(o) == "assistant")
    return pairs


def _combine(units: dict[str, Evidence], settings: Settings) -> None:
    best_text = max((e.text for e in units.values()), default=0.0)
    fw = settings.fact_weight
    dense: dict[str, float] = {}
    for uid, e in units.items():
        if e.own is None:
            continue
        own = e.own if e.window is None else max(e.own, e.window)
        statement = e.statement if e.statement is not None else own
        dense[uid] = (1 - fw) * own + fw * statement
    lo = min(dense.values(), default=0.0)
    hi = max(dense.values(), default=0.0)
    tw = settings.text_weight
    for uid, e in units.items():
        text = e.text / best_text if best_text > 0 else 0.0
        vec = (dense[uid] - lo) / (hi - lo) if uid in dense and hi > lo else 0.0
        e.score = tw * text + (1 - tw) * vec


def _boost(
    store: SearchReads,
    units: dict[str, Evidence],
    vector: np.ndarray | None,
    info: QueryInfo,
    scope: Scope,
    settings: Settings,
) -> None:
    routed = _routed(store, units, vector, scope, settings)
    today = datetime.now(timezone.utc)
    for uid, e in units.items():
        record = e.record
        if settings.name_boost:
            # The speaker and the record's own entities; not its facts' entities: a
            # reply names whom it answers ("you" -> the addressee), and boosting on
            # those lifted the other speaker's turns (LoCoMo dev R@10 0.747 -> 0.764).
            names = [record.speaker] if record.speaker else []
            names += record.entities
            if names_match(names, info.words):
                e.score += settings.name_boost
        if settings.time_boost and info.time_range is not None and _in_range(e, info.time_range):
            e.score += settings.time_boost
        if settings.when_boost and info.kind == "when" and _dated(e):
            e.score += settings.when_boost
        e.score += routed.get(uid, 0.0)
        if settings.salience_weight:
            age = (today - parse_stored_time(record.recorded_at)).total_seconds() / 86_400
            value = salience_policy.salience(
                novelty=record.salience, hits=record.hits, useful=record.useful,
                not_useful=record.not_useful, age_days=age,
            )  # fmt: skip
            e.score *= salience_policy.prior(value, settings.salience_weight)


def _dated(e: Evidence) -> bool:
    """Whether the evidence says when something happened (a fact with a valid time)."""
    return e.record.valid_from is not None or any(f.valid_from for _, f in e.facts)


def _in_range(e: Evidence, span: tuple[date, date]) -> bool:
    first, last = span
    day = e.record.occurred_at[:10]
    if first.isoformat() <= day <= last.isoformat():
        return True
    return any(
        fact.valid_from is not None
        and fact.valid_to is not None
        and fact.valid_from[:10] <= last.isoformat()
        and fact.valid_to[:10] > first.isoformat()
        for _, fact in e.facts
    )


def _routed(
    store: SearchReads, units: dict[str, Evidence], vector: np.ndarray | None, scope: Scope,
    settings: Settings,
) -> dict[str, float]:  # fmt: skip
    """Coarse to fine: the boost each evidence gets from being part of one of the
    best-matching episodes or topic clusters."""
    boost: dict[str, float] = {}
    if vector is None or not (settings.episode_boost or settings.topic_boost):
        return boost
    wanted: dict[str, float] = {}
    if settings.episode_boost:
        episodes = store.vector_search(vector, scope, Filters(kinds=("episode",)), _BEST_EPISODES)
        for eid, _ in episodes:
            wanted[eid] = settings.episode_boost
    if settings.topic_boost:
        key = scope_key(scope)
        raw = store.get_state(f"topics:{key}")
        if raw and np.abs(vector).sum() > 0:
            for topic, _ in Topics.from_bytes(raw).nearest(vector, _BEST_TOPICS):
                wanted[f"topic:{key}\x1f{topic}"] = settings.topic_boost
    if not wanted:
        return boost
    for uid, groups in store.linked(list(units), "part_of").items():
        boost[uid] = sum(wanted.get(g, 0.0) for g in groups)
    return boost


def _spread(
    store: SearchReads, units: dict[str, Evidence], scope: Scope, filters: Filters, weight: float
) -> None:
    ranked = sorted(units, key=lambda u: -units[u].score)[:SPREAD_FROM]
    after = store.linked(ranked, "next")
    before = store.linked(ranked, "next", reverse=True)
    gains: dict[str, float] = {}
    for uid in ranked:
        for other in (*after.get(uid, ()), *before.get(uid, ())):
            gains[other] = gains.get(other, 0.0) + weight * units[uid].score
    new = [u for u in gains if u not in units]
    for record in store.get_many(new, scope):
        if record.status == "active" and _passes(record, filters):
            units[record.id] = Evidence(record)
    for uid, gain in gains.items():
        if uid in units:
            units[uid].score += gain


def _feedback(
    store: SearchReads, units: dict[str, Evidence], vector: np.ndarray, weight: float
) -> None:
    """Pseudo-relevance feedback: the question moved toward its best `FEEDBACK_FROM`
    matches (q + their mean vector) scores the best `FEEDBACK_DEPTH` again, and
    `weight` times that cosine (scaled to the spread of their scores) is added. The
    items of a list are alike and unlike the question's words ("what activities has
    she done with her family?": camping, a pottery class, swimming with the kids)."""
    ranked = sorted(units, key=lambda u: -units[u].score)[:FEEDBACK_DEPTH]
    vectors = store.vectors(ranked)
    best = [vectors[u] for u in ranked[:FEEDBACK_FROM] if u in vectors]
    if not best or len(vectors) < 2:
        return
    moved = vector + np.mean(best, axis=0)
    moved /= max(float(np.linalg.norm(moved)), 1e-12)
    cosines = {u: float(v @ moved) for u, v in vectors.items()}
    lo, hi = min(cosines.values()), max(cosines.values())
    scores = [units[u].score for u in ranked]
    spread = max(scores) - min(scores)
    if hi <= lo or spread <= 0:
        return
    for uid in ranked:
        share = (cosines[uid] - lo) / (hi - lo) if uid in cosines else 0.0
        units[uid].score += weight * spread * share
        units[uid].ranks["feedback"] = {"score": cosines.get(uid, 0.0)}


def as_sources(e: Evidence) -> dict[str, dict[str, float]]:
    """Where the evidence ranked: "bm25", "dense" (its own vector) and "facts" (its
    best statement's rank and score among the vector hits, and how many matched)."""
    return dict(e.ranks)


def fact_records(e: Evidence) -> Sequence[Record]:
    return [r for _, r in e.facts]
