"""The HTTP API's types, for its OpenAPI document: the arguments of each verb and
what it answers, including the error body. They document; they do not serve: the
routes answer the bytes `service.call` makes, and the engine checks the arguments
(the same way for HTTP, MCP and Python). The schemathesis suite checks that the real
answers conform to these schemas, and that whatever breaks an argument's schema is
refused with a 4xx.

A constraint here must never be stricter than the engine's check: a request that
breaks the document must be refused."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from memstrata.memory import MAX_BATCH, MAX_BUDGET, MAX_K, STRATEGIES
from memstrata.types import KINDS, ROLES, STATUSES
from memstrata.validate import MAX_ID_CHARS, MAX_LIST_ITEMS, MAX_OFFSET

Kind = Literal[KINDS]  # type: ignore[valid-type]
Status = Literal[STATUSES]  # type: ignore[valid-type]
Role = Literal[ROLES]  # type: ignore[valid-type]
Strategy = Literal[STRATEGIES]  # type: ignore[valid-type]

ScopePart = Annotated[
    str, Field(min_length=1, max_length=256, description="1 to 256 characters, no control ones.")
]
RecordId = Annotated[
    str,
    Field(min_length=1, max_length=MAX_ID_CHARS, description="A record id, as add returns it."),
]
Time = Annotated[
    str,
    Field(description="An ISO 8601 time, e.g. '2026-03-02T10:00:00Z' (no zone: UTC)."),
]
Text = Annotated[str, Field(min_length=1, description="Text, at most max_text_bytes in UTF-8.")]
Tags = Annotated[list[ScopePart], Field(max_length=MAX_LIST_ITEMS)]
Metadata = Annotated[
    dict[str, Any], Field(description="A JSON object, at most 32 levels deep and 64 KiB.")
]
MetadataFilter = Annotated[
    dict[str, str | float | bool | None],
    Field(description="Top-level metadata keys and the values they must equal."),
]


def _one_or_many(item: Any, description: str) -> Any:
    return Annotated[
        item | Annotated[list[item], Field(min_length=1, max_length=MAX_LIST_ITEMS)],
        Field(description=description),
    ]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Message(_Strict):
    """One message of an add."""

    content: Text
    role: Role | None = None
    name: ScopePart | None = Field(None, description="Who said it.")
    occurred_at: Time | None = None
    metadata: Metadata | None = None
    kind: Kind = "event"
    tags: Tags | None = None


Messages = Annotated[
    Text | Message | Annotated[list[Text | Message], Field(min_length=1, max_length=MAX_BATCH)],
    Field(description="A text, a message, or a list of them (stored together, or none)."),
]

# The type of each argument, by name, for every verb that takes it. A name missing
# here is documented from `Memory`'s own type hints.
ARGUMENTS: dict[str, Any] = {
    "messages": Messages,
    "user_id": ScopePart | None,
    "agent_id": ScopePart | None,
    "session_id": ScopePart | None,
    "record_id": RecordId,
    "cursor": RecordId | None,
    "query": Text,
    "text": Text | None,
    "occurred_at": Time | None,
    "since": Time | None,
    "until": Time | None,
    "as_of": Annotated[
        Time | None,
        Field(
            description="Answer as the memory stood at this ISO 8601 time: turns that "
            "occurred by then, facts that were valid then (default: now)."
        ),
    ],
    "now": Annotated[
        Time | None,
        Field(
            description='Resolve the query\'s relative times ("last week", "in May") '
            "against this ISO 8601 time (default: when the newest memory in scope occurred)."
        ),
    ],
    "metadata": Metadata | None,
    "tags": Tags | None,
    "kinds": _one_or_many(Kind, "Only these kinds (default: every kind).") | None,
    "statuses": _one_or_many(Status, "Only these statuses."),
    "strategy": Strategy,
    "k": Annotated[int, Field(ge=1, le=MAX_K)],
    "offset": Annotated[int, Field(ge=0, le=MAX_OFFSET)],
    "limit": Annotated[int, Field(ge=1, le=MAX_K)],
    "budget_tokens": Annotated[int, Field(ge=1, le=MAX_BUDGET)],
    "recent": Annotated[int, Field(ge=0, le=MAX_K)],
    "expected_version": Annotated[int, Field(ge=1, le=2**63 - 1)] | None,
    "useful": bool,
}
FILTER_ARGUMENTS = {"metadata": MetadataFilter | None}  # `metadata` of search and list


# ------------------------------------------------------------------ answers


class RecordOut(_Strict):
    """One memory."""

    id: str
    kind: Kind
    text: str
    namespace: str
    user_id: str | None
    agent_id: str | None
    session_id: str | None
    occurred_at: str
    recorded_at: str
    role: Role | None
    speaker: str | None
    valid_from: str | None
    valid_to: str | None
    metadata: dict[str, Any]
    source_ids: list[str]
    entities: list[str]
    tags: list[str]
    salience: float
    hits: int
    last_hit_at: str | None
    useful: int
    not_useful: int
    version: int
    status: Status
    updated_at: str | None


class HitOut(_Strict):
    """A search hit: the record, its fused score, where each source ranked it, and
    the statements drawn from it that matched (layered search)."""

    score: float
    sources: dict[str, dict[str, float]]
    record: RecordOut
    facts: list[RecordOut] = Field(default_factory=list)
    until: str | None = Field(
        default=None,
        description="When what it says stopped being true: a newer fact superseded it.",
    )


class HistoryEntryOut(_Strict):
    seq: int
    record_id: str
    op: str
    at: str
    actor: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None


class ContextPartOut(_Strict):
    section: str
    text: str
    record_id: str
    source_ids: list[str]
    tokens: int


class EmbedderOut(BaseModel):
    name: str
    dim: int
    fingerprint: str


class AddAnswer(_Strict):
    records: list[RecordOut]


class SearchAnswer(_Strict):
    hits: list[HitOut]
    warnings: list[str] = Field(
        default_factory=list,
        description="What the search could not do (e.g. dense search skipped when the "
        "embedding model failed: the hits come from full text alone). Absent when none.",
    )


class ContextAnswer(_Strict):
    text: str
    tokens: int
    budget_tokens: int
    parts: list[ContextPartOut]


class PageAnswer(_Strict):
    records: list[RecordOut]
    next_cursor: str | None


class HistoryAnswer(_Strict):
    history: list[HistoryEntryOut]


class PurgeAnswer(_Strict):
    purged: str


class ExportAnswer(_Strict):
    count: int
    jsonl: str = Field(description="Every record in scope as JSON lines (Memory.import_ reads it).")


class StatsAnswer(_Strict):
    records: int
    by_kind: dict[str, dict[str, int]]
    pending_vectors: int
    pending_formation: int
    embedder: EmbedderOut | None = None
    schema_version: int


ANSWERS: dict[str, type[BaseModel]] = {
    "add": AddAnswer,
    "search": SearchAnswer,
    "context": ContextAnswer,
    "get": RecordOut,
    "list": PageAnswer,
    "update": RecordOut,
    "delete": RecordOut,
    "history": HistoryAnswer,
    "purge": PurgeAnswer,
    "feedback": RecordOut,
    "export": ExportAnswer,
    "stats": StatsAnswer,
}


class ErrorDetail(BaseModel):
    code: str = Field(description="What went wrong, e.g. invalid_input, not_found.")
    message: str = Field(description="What is wrong and how to fix it.")


class ErrorAnswer(_Strict):
    error: ErrorDetail


# Every error a verb may answer, and when.
ERRORS: dict[int, str] = {
    400: "Bad input (invalid_input, invalid_json, config_error); nothing was stored.",
    401: "No API key, or a wrong or revoked one (unauthorized).",
    403: "Not allowed (forbidden: a server without keys answers only this machine).",
    404: "No such record in this tenant (not_found; also for another tenant's ids).",
    408: "The request's body did not arrive in time (request_timeout).",
    409: "The record changed since the expected_version (conflict).",
    413: "The request body is over the server's limit (payload_too_large).",
    503: "The store or the embedding model failed; try again later.",
}


class HealthAnswer(_Strict):
    status: Literal["ok"]


class ReadyAnswer(_Strict):
    status: Literal["ready"]


class NotReadyAnswer(_Strict):
    status: Literal["unavailable"]
    error: ErrorDetail
