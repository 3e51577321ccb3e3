"""What a new fact does to the earlier ones: a repeat merges into the fact it repeats
(`dedup`), a change supersedes the fact it replaces (`supersede`).

Each new fact is checked against the nearest earlier facts of the same user (by its
vector: stored ones through the store's index, and this add's earlier ones), so the
cost of an add does not grow with the memory. The policies are pure functions of two
facts; this module gathers the candidates and collects what to change, which
formation saves with everything else it derives, in one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from memstrata.config import Settings
from memstrata.form import dedup
from memstrata.form.claims import ASSERTING, Claim, claims_of
from memstrata.form.supersede import Decision, Said, decide
from memstrata.store.base import Change, Filters, Link, Store
from memstrata.types import Record, Scope

CHANGING = ASSERTING | {"ended"}  # claims that may supersede an older one
DEPTH = 20  # the nearest earlier facts a new fact is checked against
_FACTS = Filters(kinds=("fact",), derived=True)


@dataclass
class Settled:
    """The new facts to keep (with their vectors) and what changes for earlier ones."""

    facts: list[Record]
    vectors: np.ndarray
    changes: list[Change] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    superseded: set[str] = field(default_factory=set)
    merged: int = 0


def against_earlier(
    store: Store, settings: Settings, made: Sequence[Record], vectors: np.ndarray
) -> Settled:
    """A new fact that repeats an earlier one is not kept: the earlier fact gains its
    turn as evidence and a mention (op "merge"). An earlier fact that a new one
    supersedes keeps its text and turn and gets status "superseded", `valid_to` (the
    new fact's valid time) and a note saying by which fact and why (op
    "supersede"), and a `supersedes` link from the new fact."""
    made = list(made)
    out = Settled(facts=[], vectors=vectors[:0])
    keep: list[int] = []
    merged: dict[str, Record] = {}  # stored fact id -> its merged state
    for i, fact in enumerate(made):
        s = fact.scope
        user = Scope(s.namespace, s.user_id, s.agent_id, None)
        scores = dict(store.vector_search(vectors[i], user, _FACTS, DEPTH))
        olds = [merged.get(r.id, r) for r in store.get_many(list(scores), user)
                if r.status == "active" and r.id not in out.superseded]  # fmt: skip
        mine = [j for j in keep if _user(made[j].scope) == _user(s)]
        if mine:  # this add's earlier facts, for the same user: the nearest
            sims = vectors[mine] @ vectors[i]
            for n in np.argsort(-sims)[:DEPTH]:
                scores[made[mine[n]].id] = float(sims[n])
                olds.append(made[mine[n]])
        twin = None
        if settings.dedup:
            twin = next((o for o in olds if dedup.duplicate(
                o, fact, scores[o.id], settings.dedup_similarity)), None)  # fmt: skip
        if twin is not None:
            _merge(twin, fact, made, merged, out)
            continue
        keep.append(i)
        if settings.supersede:
            _supersede(fact, olds, scores, settings.supersede_similarity, out)
    for old_id, record in merged.items():
        fields = {"source_ids": record.source_ids, "metadata": record.metadata}
        out.changes.append((old_id, fields, "merge", "active"))
    out.facts = [made[j] for j in keep]
    out.vectors = vectors[keep] if keep else vectors[:0]
    return out


def _user(scope: Scope) -> tuple[str, str | None, str | None]:
    return scope.namespace, scope.user_id, scope.agent_id


def _merge(
    twin: Record, fact: Record, made: list[Record], merged: dict[str, Record], out: Settled
) -> None:
    """The earlier fact `twin` gains the duplicate `fact`'s turn as evidence."""
    record = dedup.merged(twin, fact)
    out.merged += 1
    out.links.append((twin.id, fact.source_ids[0], "evidence", 1.0))
    for k, other in enumerate(made):
        if other.id == twin.id:  # new in this add: changed before it is stored
            made[k] = record
            return
    merged[twin.id] = record


def _supersede(
    fact: Record, olds: Sequence[Record], scores: dict[str, float], threshold: float,
    out: Settled,
) -> None:  # fmt: skip
    said = [c for c in claims_of(fact) if c.value and c.stance in CHANGING]
    if not said:
        return
    for old in olds:
        if old.id in out.superseded or old.id == fact.id:
            continue
        decision = _decision(old, fact, scores[old.id], said, threshold)
        if decision is None:
            continue
        until = fact.valid_from or fact.occurred_at
        note = {"by": fact.id, "turn": fact.source_ids[0], "at": until,
                "reason": decision.reason, "valid_to": old.valid_to}  # fmt: skip
        fields = {"status": "superseded", "valid_to": until,
                  "metadata": {**old.metadata, "superseded": note}}  # fmt: skip
        out.changes.append((old.id, fields, "supersede", "active"))
        out.superseded.add(old.id)
        out.links.append((fact.id, old.id, "supersedes", 1.0))


def _decision(
    old: Record, new: Record, similarity: float, said: Sequence[Claim], threshold: float
) -> Decision | None:
    """The first decision by which `new` supersedes `old` (over their claims)."""
    if old.kind != "fact" or not old.source_ids or old.source_ids == new.source_ids:
        return None
    for before in claims_of(old):
        for claim in said:
            older = Said(old.id, before, old.occurred_at)
            decision = decide(older, Said(new.id, claim, new.occurred_at), similarity, threshold)
            if decision.supersedes:
                return decision
    return None
