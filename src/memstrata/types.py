"""The data model: scopes, records, hits, history entries and pages."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["event", "episode", "fact", "insight", "profile"]
Status = Literal["active", "superseded", "archived", "deleted", "purged"]

KINDS: tuple[str, ...] = ("event", "episode", "fact", "insight", "profile")
STATUSES: tuple[str, ...] = ("active", "superseded", "archived", "deleted", "purged")
ROLES: tuple[str, ...] = ("user", "assistant", "system", "tool", "observation", "document")


@dataclass(frozen=True)
class Scope:
    """Who a record belongs to. `namespace` is the tenant; the rest narrow it.

    On reads, a field left as None matches any value inside the namespace.
    """

    namespace: str = "default"
    user_id: str | None = None
    agent_id: str | None = None
    session_id: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {
            "namespace": self.namespace,
            "user_id": self.user_id,
            "agent_id": self.agent_id,
            "session_id": self.session_id,
        }


SCOPE_FIELDS: tuple[str, ...] = ("namespace", "user_id", "agent_id", "session_id")


@dataclass
class Record:
    """One memory. Times are ISO 8601 UTC strings (`2026-03-02T10:00:00.000000Z`)."""

    id: str
    kind: str
    text: str
    scope: Scope
    occurred_at: str
    recorded_at: str
    role: str | None = None
    speaker: str | None = None
    valid_from: str | None = None
    valid_to: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    source_ids: list[str] = field(default_factory=list)
    entities: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    salience: float = 0.0
    hits: int = 0
    last_hit_at: str | None = None
    useful: int = 0
    not_useful: int = 0
    version: int = 1
    status: str = "active"
    updated_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict with the scope flattened, keys in `RECORD_FIELDS` order."""
        out: dict[str, Any] = {"id": self.id, "kind": self.kind, "text": self.text}
        out.update(self.scope.as_dict())
        for name in RECORD_FIELDS[7:]:
            out[name] = getattr(self, name)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Record:
        data = dict(data)
        scope = Scope(
            namespace=data.pop("namespace"),
            user_id=data.pop("user_id", None),
            agent_id=data.pop("agent_id", None),
            session_id=data.pop("session_id", None),
        )
        return cls(scope=scope, **data)


# A record's fields with the scope flattened: the export format and the store's columns.
RECORD_FIELDS: tuple[str, ...] = (
    "id", "kind", "text", *SCOPE_FIELDS,
    *(f for f in Record.__dataclass_fields__ if f not in ("id", "kind", "text", "scope")),
)  # fmt: skip


@dataclass
class Hit:
    """A search result: the record, its fused score, and where the score came from.

    `until`: when what it says stopped being true (see `Memory.search`).
    `sources` maps each retrieval source ("bm25", "dense", …) to a dict with that
    source's `rank` (1-based) and raw `score`. `facts`: the statements drawn from the
    record that matched the query (layered search), best first.
    """

    record: Record
    score: float
    sources: dict[str, dict[str, float]] = field(default_factory=dict)
    facts: list[Record] = field(default_factory=list)
    # When what it says stopped being true: a newer fact superseded its fact (the
    # newer one's valid time); None while it holds.
    until: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {"score": self.score, "sources": self.sources, "record": self.record.to_dict()}
        if self.facts:
            out["facts"] = [f.to_dict() for f in self.facts]
        if self.until is not None:
            out["until"] = self.until
        return out


class Hits(list):  # type: ignore[type-arg]
    """What `search` returns: a list of `Hit`s, best first, and `warnings`: what the
    search could not do (dense search skipped when the embedding model fails, so the
    hits come from full text alone)."""

    def __init__(self, hits: Iterable[Hit] = (), warnings: Iterable[str] = ()) -> None:
        super().__init__(hits)
        self.warnings: list[str] = list(warnings)


@dataclass
class HistoryEntry:
    """One change in the append-only log."""

    seq: int
    record_id: str
    op: str
    at: str
    actor: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "record_id": self.record_id,
            "op": self.op,
            "at": self.at,
            "actor": self.actor,
            "before": self.before,
            "after": self.after,
        }


@dataclass
class Page:
    """A page of records; pass `next_cursor` back as `cursor` to get the next one."""

    records: list[Record]
    next_cursor: str | None
