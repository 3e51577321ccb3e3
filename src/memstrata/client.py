"""`Client`: the verbs of `Memory`, answered by a memstrata server over HTTP.

Code moves from an embedded store to a server by changing the line that opens it:

>>> m = Memory("agent.db")                                   # embedded
>>> m = Client("http://127.0.0.1:8420", api_key="ms_…")      # remote
>>> m.add("I moved to Lisbon in March", user_id="alice")
>>> [h.record.text for h in m.search("where does alice live?", user_id="alice")]

Every verb takes the same arguments and returns the same types as `Memory`'s, and
raises the same exceptions (`except NotFound` works either way). The one difference
is who you are: the API key fixes the namespace and the actor that history records
for your changes (`key:<key id>`), so passing `namespace=` or `actor=` raises
InvalidInput. A refused key raises ConfigError; a server that cannot be reached, or
that answers with something other than the API's JSON, raises BackendError.

The pieces that know the wire format are pure functions (`encode_args`,
`decode_response`, `error_from` and the `*_from_dict` converters), so that an async
shell can share them.
"""

from __future__ import annotations

import builtins
import datetime as dt
import functools
import inspect
import json
import os
from collections.abc import Callable, Iterable, Mapping
from typing import IO, Any, TypeVar

import httpx

from memstrata._version import __version__
from memstrata.errors import (
    BackendError,
    ConfigError,
    Conflict,
    EmbeddingError,
    InvalidInput,
    MemstrataError,
    NotFound,
    ScopeViolation,
)
from memstrata.retrieve.context import Context, ContextPart, TokenCounter
from memstrata.types import HistoryEntry, Hit, Hits, Page, Record
from memstrata.validate import check_time

T = TypeVar("T")

# The server's error codes (an exception class's `code`, and the HTTP layer's own
# names for the same failures) back onto the classes `Memory` raises.
_CLASSES = (InvalidInput, NotFound, Conflict, ScopeViolation, ConfigError, EmbeddingError,
            BackendError)  # fmt: skip
ERROR_CODES: dict[str, type[MemstrataError]] = {
    **{cls.code: cls for cls in _CLASSES},
    "payload_too_large": InvalidInput,
    "invalid_json": InvalidInput,
    "unauthorized": ConfigError,
    "forbidden": ConfigError,
    "internal_error": BackendError,
}
# When a body carries no code we know: the class for the HTTP status.
_STATUS_ERRORS: dict[int, type[MemstrataError]] = {
    400: InvalidInput, 401: ConfigError, 403: ConfigError, 404: NotFound, 409: Conflict,
    413: InvalidInput, 422: InvalidInput,
}  # fmt: skip


class Client:
    """A memstrata server, with the verbs and types of `Memory`.

    >>> with Client("http://127.0.0.1:8420", api_key=secret) as m:
    ...     m.add("I moved to Lisbon in March", user_id="alice")
    ...     m.get(record_id).text

    `api_key` is a secret made by `memstrata keys create` (None for a server run
    without auth); it fixes the namespace every verb acts in. `timeout`
    is in seconds (or an `httpx.Timeout`). `transport` replaces the HTTP transport
    (for tests, or an `httpx.HTTPTransport(retries=…)`). Connections are pooled and
    kept alive; one Client may be shared by threads. Close it with `close()` or a
    `with` block.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        timeout: float | httpx.Timeout | None = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise ConfigError(
                f"base_url must be an http:// or https:// URL such as "
                f"'http://127.0.0.1:8420', got {base_url!r:.80}"
            )
        if api_key is not None and (not isinstance(api_key, str) or not api_key.strip()):
            raise ConfigError("api_key must be a non-empty str (or None for a server without auth)")
        self.base_url = base_url.rstrip("/")
        headers = {"Accept": "application/json", "User-Agent": f"memstrata-client/{__version__}"}
        if api_key is not None:
            headers["Authorization"] = f"Bearer {api_key}"
        self._http = httpx.Client(
            base_url=self.base_url, headers=headers, timeout=timeout, transport=transport
        )

    def __repr__(self) -> str:
        return f"Client({self.base_url!r})"

    # ------------------------------------------------------------------ write

    def add(
        self,
        messages: str | Mapping[str, Any] | Iterable[str | Mapping[str, Any]],
        *,
        namespace: str | None = None,
        user_id: str | None = None,
        agent_id: str | None = None,
        session_id: str | None = None,
        occurred_at: Any = None,
        metadata: Mapping[str, Any] | None = None,
        actor: str | None = None,
    ) -> builtins.list[Record]:
        """Store messages verbatim and index them; return the stored records
        (see `Memory.add`).

        >>> m.add([{"role": "user", "name": "alice", "content": "I moved to Lisbon"}],
        ...       user_id="alice", session_id="s1", occurred_at="2026-03-02T10:00:00Z")
        """
        return self._call("add", locals(), lambda d: [Record.from_dict(r) for r in d["records"]])

    def update(
        self,
        record_id: str,
        *,
        text: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        tags: builtins.list[str] | None = None,
        occurred_at: Any = None,
        expected_version: int | None = None,
        namespace: str | None = None,
        user_id: str | None = None,
        agent_id: str | None = None,
        session_id: str | None = None,
        actor: str | None = None,
    ) -> Record:
        """Write a new version of a record; Conflict if `expected_version` is stale
        (see `Memory.update`)."""
        return self._call("update", locals(), Record.from_dict)

    def delete(
        self,
        record_id: str,
        *,
        namespace: str | None = None,
        user_id: str | None = None,
        agent_id: str | None = None,
        session_id: str | None = None,
        actor: str | None = None,
    ) -> Record:
        """Tombstone a record (see `Memory.delete`)."""
        return self._call("delete", locals(), Record.from_dict)

    def purge(
        self,
        record_id: str,
        *,
        namespace: str | None = None,
        user_id: str | None = None,
        agent_id: str | None = None,
        session_id: str | None = None,
        actor: str | None = None,
    ) -> None:
        """Erase a record's content for good (see `Memory.purge`)."""
        self._call("purge", locals(), lambda d: None)

    def feedback(
        self,
        record_id: str,
        useful: bool,
        *,
        namespace: str | None = None,
        user_id: str | None = None,
        agent_id: str | None = None,
        session_id: str | None = None,
        actor: str | None = None,
    ) -> Record:
        """Count whether a retrieved memory was useful (see `Memory.feedback`)."""
        return self._call("feedback", locals(), Record.from_dict)

    # ------------------------------------------------------------------- read

    def get(
        self,
        record_id: str,
        *,
        namespace: str | None = None,
        user_id: str | None = None,
        agent_id: str | None = None,
        session_id: str | None = None,
    ) -> Record:
        """The record with this id in this scope; NotFound otherwise."""
        return self._call("get", locals(), Record.from_dict)

    def list(
        self,
        *,
        namespace: str | None = None,
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
        """Records in scope, newest first, a page at a time (see `Memory.list`)."""
        return self._call("list", locals(), page_from_dict)

    def history(
        self,
        record_id: str,
        *,
        namespace: str | None = None,
        user_id: str | None = None,
        agent_id: str | None = None,
        session_id: str | None = None,
    ) -> builtins.list[HistoryEntry]:
        """Every change to a record, oldest first."""
        return self._call(
            "history", locals(), lambda d: [history_entry_from_dict(e) for e in d["history"]]
        )

    def search(
        self,
        query: str,
        *,
        namespace: str | None = None,
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
        """The memories that best match `query`, best first (see `Memory.search`).

        >>> for hit in m.search("where does alice live?", user_id="alice", k=5):
        ...     print(hit.score, hit.record.text, [f.text for f in hit.facts])
        """
        return self._call("search", locals(), hits_from_dict)

    def context(
        self,
        query: str,
        *,
        budget_tokens: int = 1000,
        namespace: str | None = None,
        user_id: str | None = None,
        agent_id: str | None = None,
        session_id: str | None = None,
        k: int = 50,
        recent: int = 8,
        token_counter: TokenCounter | None = None,
        as_of: Any = None,
        now: Any = None,
    ) -> Context:
        """A prompt-ready block for `query` within `budget_tokens` (see
        `Memory.context`). The server counts tokens with its estimate: a
        `token_counter` cannot travel and raises InvalidInput.

        >>> print(m.context("where does alice live?", user_id="alice", budget_tokens=500).text)
        """
        if token_counter is not None:
            raise InvalidInput(
                "token_counter is a Python function and cannot be sent to a server, which "
                "counts tokens with its own estimate; leave it out, or use an embedded Memory"
            )
        return self._call("context", locals(), context_from_dict)

    # ------------------------------------------------------------ maintenance

    def stats(
        self,
        *,
        namespace: str | None = None,
        user_id: str | None = None,
        agent_id: str | None = None,
        session_id: str | None = None,
    ) -> dict[str, Any]:
        """Counts by kind, vectors still to embed, the model and the schema version
        (what a tenant may see of `Memory.stats`: not the server's file)."""
        return self._call("stats", locals(), dict)

    def export(
        self,
        destination: str | os.PathLike[str] | IO[str],
        *,
        namespace: str | None = None,
        user_id: str | None = None,
        agent_id: str | None = None,
        session_id: str | None = None,
    ) -> int:
        """Write every record in scope, with its vector and history, as JSON lines
        to a path or a text stream (the format of `Memory.export`, which
        `Memory.import_` loads). Returns the number of records."""
        args = {k: v for k, v in locals().items() if k != "destination"}
        if not isinstance(destination, (str, os.PathLike)) and not hasattr(destination, "write"):
            raise InvalidInput(
                f"destination must be a path or a writable text stream, got "
                f"{type(destination).__name__}"
            )
        count, jsonl = self._call("export", args, lambda d: (int(d["count"]), str(d["jsonl"])))
        if isinstance(destination, (str, os.PathLike)):
            with open(destination, "w", encoding="utf-8", newline="\n") as handle:
                handle.write(jsonl)
        else:
            destination.write(jsonl)
        return count

    # ---------------------------------------------------------------- plumbing

    def _call(self, verb: str, values: dict[str, Any], convert: Callable[[Any], T]) -> T:
        """POST the verb's arguments (those the caller set) and return the answer
        converted to the verb's type; raise the exception the server's error body
        names."""
        body = encode_args(verb, _explicit(getattr(Client, verb), values))
        try:
            response = self._http.post(
                f"/v1/{verb}", content=body, headers={"Content-Type": "application/json"}
            )
        except httpx.TimeoutException as exc:
            raise BackendError(
                f"no answer from {self.base_url} to {verb} within the timeout ({exc}); a write "
                "may or may not have been applied: check with get/list before retrying"
            ) from None
        except httpx.TransportError as exc:
            raise BackendError(
                f"cannot reach the memstrata server at {self.base_url} ({exc}); is it running?"
            ) from None
        data = decode_response(verb, response.status_code, response.content, self.base_url)
        try:
            return convert(data)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise BackendError(
                f"{self.base_url} answered {verb} with an unexpected shape ({exc!r}); are the "
                "client and the server the same memstrata version?"
            ) from None

    def close(self) -> None:
        """Close the pooled connections."""
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ------------------------------------------------------------------ requests


@functools.cache
def _defaults(method: Any) -> dict[str, Any]:
    return {
        name: p.default
        for name, p in inspect.signature(method).parameters.items()
        if p.default is not inspect.Parameter.empty
    }


def _explicit(method: Any, values: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments the caller gave: required ones, and optional ones not left at
    the default (so the server applies its own defaults, and an older server is not
    sent arguments nobody set)."""
    defaults = _defaults(method)
    return {
        name: value
        for name, value in values.items()
        if name != "self" and (name not in defaults or value is not defaults[name])
    }


def encode_args(verb: str, args: Mapping[str, Any]) -> bytes:
    """The JSON body for a verb: datetimes in the stored ISO form, iterables as
    lists. InvalidInput for a namespace or an actor (the key fixes both) or a value
    JSON cannot carry."""
    if "namespace" in args:
        raise InvalidInput(
            "namespace is fixed by the API key on a server; remove namespace= (to act "
            "for another tenant, use a key made for that namespace)"
        )
    if args.get("actor") is not None:
        raise InvalidInput(
            "actor is set by the server from the API key (history records 'key:<key id>'); "
            "remove actor= (to sign changes apart, give each signer a key of its own)"
        )
    body = {name: _jsonable(value, name) for name, value in args.items()}
    try:
        return json.dumps(body, ensure_ascii=False, allow_nan=False).encode("utf-8")
    except (TypeError, ValueError, UnicodeEncodeError) as exc:
        raise InvalidInput(f"the arguments of {verb} cannot be sent as JSON: {exc}") from None


def _jsonable(value: Any, field: str) -> Any:
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (dt.datetime, dt.date)):
        return check_time(value, field)  # what Memory would store: UTC, ISO 8601
    if isinstance(value, Mapping):
        for key in value:
            if not isinstance(key, str):
                raise InvalidInput(f"{field} keys must be str, got {type(key).__name__}")
        return {key: _jsonable(item, f"{field}.{key}") for key, item in value.items()}
    if isinstance(value, (bytes, bytearray)):
        raise InvalidInput(f"{field} must be a str, got bytes; decode it (e.g. .decode('utf-8'))")
    if isinstance(value, Iterable):
        return [_jsonable(item, field) for item in value]
    raise InvalidInput(f"{field}: a {type(value).__name__} cannot be sent to a server as JSON")


# ----------------------------------------------------------------- answers


def decode_response(verb: str, status: int, content: bytes, where: str = "the server") -> Any:
    """The JSON answer of a 2xx response; the matching MemstrataError otherwise."""
    try:
        data = json.loads(content) if content else None
    except ValueError:
        data = None
        if status < 400:
            raise BackendError(
                f"{where} answered {verb} with something other than JSON "
                f"(HTTP {status}: {content[:120]!r}); is base_url a memstrata server?"
            ) from None
    if status >= 400:
        raise error_from(status, data, where)
    return data


def error_from(status: int, body: Any, where: str = "the server") -> MemstrataError:
    """The exception an error response stands for: by the code in its
    `{"error": {"code", "message"}}` body, else by the HTTP status."""
    error = body.get("error") if isinstance(body, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    if not isinstance(message, str):
        message = f"HTTP {status} from {where}"
    cls = ERROR_CODES.get(code) if isinstance(code, str) else None
    if cls is None and error is None and status == 404:
        # Not the API's error body: the path itself is unknown.
        return ConfigError(f"no memstrata API at {where}: HTTP 404; check base_url")
    if cls is None:
        cls = _STATUS_ERRORS.get(status, BackendError if status >= 500 else InvalidInput)
    if status == 401 or code == "unauthorized":
        return ConfigError(
            f"{where} refused the request: {message} (a Client sends its api_key= as the "
            "bearer token)"
        )
    return cls(message)


def hits_from_dict(data: Mapping[str, Any]) -> Hits:
    """The `Hits` of a search answer: `{"hits": [...], "warnings": [...]}`."""
    return Hits(
        [hit_from_dict(h) for h in data["hits"]], [str(w) for w in data.get("warnings", [])]
    )


def hit_from_dict(data: Mapping[str, Any]) -> Hit:
    """A `Hit` from `Hit.to_dict()`."""
    return Hit(
        record=Record.from_dict(dict(data["record"])),
        score=float(data["score"]),
        sources={str(k): dict(v) for k, v in data.get("sources", {}).items()},
        facts=[Record.from_dict(dict(f)) for f in data.get("facts", [])],
        until=data.get("until"),
    )


def history_entry_from_dict(data: Mapping[str, Any]) -> HistoryEntry:
    """A `HistoryEntry` from `HistoryEntry.to_dict()`."""
    return HistoryEntry(
        seq=int(data["seq"]),
        record_id=data["record_id"],
        op=data["op"],
        at=data["at"],
        actor=data["actor"],
        before=data["before"],
        after=data["after"],
    )


def context_from_dict(data: Mapping[str, Any]) -> Context:
    """A `Context` (with its `ContextPart`s) from `Context.to_dict()`."""
    return Context(
        text=data["text"],
        parts=[
            ContextPart(
                section=p["section"],
                text=p["text"],
                record_id=p["record_id"],
                source_ids=list(p["source_ids"]),
                tokens=int(p["tokens"]),
            )
            for p in data["parts"]
        ],
        tokens=int(data["tokens"]),
        budget_tokens=int(data["budget_tokens"]),
    )


def page_from_dict(data: Mapping[str, Any]) -> Page:
    """A `Page` from the `{"records", "next_cursor"}` answer of `list`."""
    return Page(
        records=[Record.from_dict(dict(r)) for r in data["records"]],
        next_cursor=data["next_cursor"],
    )


__all__ = [
    "Client",
    "context_from_dict",
    "decode_response",
    "encode_args",
    "error_from",
    "history_entry_from_dict",
    "hit_from_dict",
    "hits_from_dict",
    "page_from_dict",
]
