"""The HTTP API: the engine's verbs for the tenant of each API key.

`POST /v1/{verb}` takes the verb's keyword arguments as a JSON object and answers
`service.call`'s value:

    curl -s localhost:8420/v1/search -H "Authorization: Bearer $KEY" \\
         -d '{"query": "where does alice live?", "user_id": "alice", "k": 5}'

The key fixes the namespace. The MCP server is mounted at `/mcp` behind the same
keys. `/healthz` says the process is up, `/readyz` that the store answers; the
OpenAPI description is at `/openapi.json`, readable at `/docs`. Every error is
`{"error": {"code": "not_found", "message": "..."}}` with the status
`error_status` gives.
"""

from __future__ import annotations

import inspect
import ipaddress
import json
import logging
import typing
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

import anyio.to_thread
import orjson
from fastapi import FastAPI, Request, Security
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPBearer
from mcp.server.transport_security import TransportSecuritySettings
from pydantic import ConfigDict, create_model
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from memstrata._version import __version__
from memstrata.config import usable_cpus
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
from memstrata.memory import Memory
from memstrata.server import service
from memstrata.server.deadlines import BODY_TIMEOUT_S, BodyDeadline, RequestTimeout
from memstrata.server.gate import Gate
from memstrata.server.keys import Caller, KeyRing
from memstrata.server.mcp import create_mcp
from memstrata.server.models import (
    ANSWERS,
    ARGUMENTS,
    ERRORS,
    FILTER_ARGUMENTS,
    ErrorAnswer,
    HealthAnswer,
    NotReadyAnswer,
    ReadyAnswer,
)

MAX_BODY_BYTES = 2_000_000
log = logging.getLogger("memstrata.server")

# Who the request being served acts as (tenant and actor), set by the key check for
# the HTTP verbs and the MCP tools alike.
TENANT: ContextVar[Caller] = ContextVar("memstrata_tenant")
_BEARER = HTTPBearer(
    auto_error=False, description="An API key from `memstrata keys create`; it fixes the namespace."
)
_GUARDED = ("/v1/", "/mcp")


class PayloadTooLarge(InvalidInput):
    code = "payload_too_large"


class InvalidJSON(InvalidInput):
    code = "invalid_json"


class Unauthorized(MemstrataError):
    code = "unauthorized"


class Forbidden(MemstrataError):
    code = "forbidden"


_STATUS: tuple[tuple[type[MemstrataError], int], ...] = (
    (PayloadTooLarge, 413),
    (Unauthorized, 401),
    (Forbidden, 403),
    (RequestTimeout, 408),
    (ScopeViolation, 403),
    (NotFound, 404),
    (Conflict, 409),
    (InvalidInput, 400),
    (ConfigError, 400),
    (EmbeddingError, 503),
    (BackendError, 503),
)
# 5xx answers do not show the server's paths or internals to a tenant.
_HIDDEN = {
    "embedding_error": "the embedding model failed; try again later",
    "backend_error": "the store failed; try again later",
    "internal_error": "internal error",
}


def error_status(exc: BaseException) -> tuple[int, str]:
    """The one map from an exception to an HTTP status and an error code."""
    for kind, status in _STATUS:
        if isinstance(exc, kind):
            return status, type(exc).code
    if isinstance(exc, StarletteHTTPException):
        return exc.status_code, HTTPStatus(exc.status_code).phrase.lower().replace(" ", "_")
    return 500, "internal_error"


def error_response(exc: BaseException, message: str | None = None) -> JSONResponse:
    status, code = error_status(exc)
    if status >= 500:
        log.error("%s answered %d", type(exc).__name__, status, exc_info=exc)
        message = f"{_HIDDEN.get(code, 'internal error')} (the server log has the details)"
    elif message is None:
        message = str(exc.detail if isinstance(exc, StarletteHTTPException) else exc)
    # A message may quote the input; a lone surrogate in it must not break the answer.
    message = message.encode("utf-8", "backslashreplace").decode("utf-8")
    headers = dict(getattr(exc, "headers", None) or {})  # e.g. Allow on a 405
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="memstrata"'
    return JSONResponse({"error": {"code": code, "message": message}}, status, headers)


def is_loopback(host: str) -> bool:
    """Whether `host` (a name or an address, no port) is this machine only."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def default_slots() -> int:
    """Verb calls the server runs at once: one fewer than the CPUs it may use (at
    least one). The engine's work is mostly Python, so one call at a time uses the
    interpreter fully; the other CPUs embed, parse HTTP and form memories."""
    return max(1, usable_cpus() - 1)


def create_app(
    memory: Memory,
    *,
    auth: bool = True,
    max_body_bytes: int = MAX_BODY_BYTES,
    slots: int | None = None,
    body_timeout: float = BODY_TIMEOUT_S,
) -> FastAPI:
    """The HTTP API (and MCP at `/mcp`) over an open `memory`, which the caller
    closes. With `auth`, every request to /v1 and /mcp needs a key of the store's
    (`memstrata keys create`); without it, everything is in namespace "default".
    `slots` verb calls run at once (default: `default_slots()`); the others wait in
    `Gate`'s order, reads first. A request whose body has not all arrived
    `body_timeout` seconds after its headers is answered 408 and its connection
    closed (`deadlines.header_deadline` bounds the headers, in the uvicorn config)."""
    keys = KeyRing(memory.store) if auth else None
    gate = Gate(slots or default_slots())
    mcp = create_mcp(
        memory, lambda: TENANT.get().namespace, gate, actor_of=lambda: TENANT.get().actor
    )
    # Stateless: each MCP request runs in its own task, so the tenant set for this
    # request is the one its tools see. Host checks are ours (see `_Gate`).
    mcp_routes = mcp.streamable_http_app(
        streamable_http_path="/mcp",
        stateless_http=True,
        json_response=True,
        max_request_body_size=max_body_bytes,
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    ).routes

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Before the first request: the model and the index load here, not while
        # the first clients wait.
        await run_in_threadpool(memory.warm_up)
        async with mcp.session_manager.run():
            yield

    app = FastAPI(
        title="memstrata",
        version=__version__,
        description=(__doc__ or "").split("\n\n", 1)[-1],
        lifespan=lifespan,
    )
    app.add_middleware(_Gate, keys=keys)
    app.add_middleware(BodyDeadline, seconds=body_timeout)  # outermost: MCP's bodies too
    app.add_exception_handler(StarletteHTTPException, _handle_error)
    app.add_exception_handler(Exception, _handle_error)
    # Declared for the OpenAPI description (and the Authorize button of /docs); the
    # key itself is checked by `_Gate`, before any route runs.
    security = [Security(_BEARER)] if auth else []
    components: dict[str, Any] = {}  # types the request bodies refer to
    for verb in service.VERBS:
        _add_verb(app, memory, gate, verb, max_body_bytes, security, components)
    _with_components(app, components)

    @app.get(
        "/v1/stats",
        summary="Counts for this tenant (GET form)",
        tags=["memory"],
        dependencies=security,
        response_model=None,
        responses=_responses("stats"),
        openapi_extra={"parameters": [
            {"name": name, "in": "query", "required": False,
             "schema": {"type": "string", "minLength": 1, "maxLength": 256}}
            for name in ("user_id", "agent_id", "session_id")
        ]},
    )  # fmt: skip
    async def stats_get(request: Request) -> Response:
        return await _answer(memory, gate, "stats", lambda: _query_args(request))

    @app.get(
        "/healthz",
        summary="The process is up",
        tags=["health"],
        response_model=None,
        responses={200: {"model": HealthAnswer}},
    )
    async def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    @app.get(
        "/readyz",
        summary="The store opens and answers a query",
        tags=["health"],
        response_model=None,
        responses={200: {"model": ReadyAnswer}, 503: {"model": NotReadyAnswer}},
    )
    async def readyz() -> JSONResponse:
        try:
            await run_in_threadpool(memory.list, limit=1)
        except Exception as exc:
            log.error("readiness check failed", exc_info=exc)
            _, code = error_status(exc)
            error = {"code": code, "message": "the store does not answer (the server log says why)"}
            return JSONResponse({"status": "unavailable", "error": error}, 503)
        return JSONResponse({"status": "ready"})

    app.router.routes.extend(mcp_routes)
    return app


def _with_components(app: FastAPI, components: dict[str, Any]) -> None:
    """Add `components` to the schemas of the app's OpenAPI document."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = build()
            spec.setdefault("components", {}).setdefault("schemas", {}).update(components)
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]


async def _handle_error(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, StarletteHTTPException) and exc.status_code in (404, 405):
        method, path = request.method, request.url.path
        where = f"no route {path}" if exc.status_code == 404 else f"{path} does not take {method}"
        verbs = ", ".join(service.VERBS)
        return error_response(exc, f"{where}; the API is POST /v1/{{verb}} for {verbs}")
    return error_response(exc)


async def _answer(
    memory: Memory, gate: Gate, verb: str, read: Callable[[], Awaitable[dict[str, Any]]]
) -> Response:
    try:
        args = await read()
        service.prepare(memory, TENANT.get().namespace, verb, args)
        async with gate.slot(verb):
            body = await run_in_threadpool(_call, memory, TENANT.get(), verb, args)
    except Exception as exc:
        return error_response(exc)
    return Response(body, media_type="application/json")


def _call(memory: Memory, caller: Caller, verb: str, args: dict[str, Any]) -> bytes:
    # Encoded in the worker thread, so that the event loop only moves bytes.
    return encode(service.call(memory, caller.namespace, verb, args, actor=caller.actor))


def encode(value: Any) -> bytes:
    """`value` as compact JSON: orjson, or the standard library for what orjson
    refuses (integers over 64 bits, which metadata may hold exactly)."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


async def _query_args(request: Request) -> dict[str, Any]:
    return dict(request.query_params)


async def _json_args(request: Request, limit: int) -> dict[str, Any]:
    """The body as a JSON object, read no further than `limit` bytes."""
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > limit):
        raise PayloadTooLarge(f"the request body is {length} bytes; the limit is {limit:,}")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge(f"the request body is over the limit of {limit:,} bytes")
    if not body:
        return {}  # no body: no arguments (whitespace alone is not JSON)
    try:
        args = json.loads(body)  # not orjson: it reads integers over 64 bits as floats
    except (ValueError, RecursionError) as exc:
        raise InvalidJSON(f"the request body is not valid JSON: {exc}") from None
    if not isinstance(args, dict):
        raise InvalidInput(
            "the request body must be a JSON object of the verb's keyword arguments, "
            f"got a JSON {type(args).__name__.replace('dict', 'object').replace('list', 'array')}"
        )
    return args


_REF = "#/components/schemas/{model}"


def _add_verb(
    app: FastAPI,
    memory: Memory,
    gate: Gate,
    verb: str,
    limit: int,
    security: list[Any],
    components: dict[str, Any],
) -> None:
    async def endpoint(request: Request) -> Response:
        return await _answer(memory, gate, verb, lambda: _json_args(request, limit))

    doc = [
        line
        for line in (inspect.getdoc(getattr(Memory, verb)) or "").splitlines()
        if not line.lstrip().startswith((">>>", "..."))
    ]
    app.add_api_route(
        f"/v1/{verb}",
        endpoint,
        methods=["POST"],
        name=verb,
        tags=["memory"],
        summary=doc[0].rstrip(".") if doc else verb,
        description="\n".join(doc).strip() + f"\n\nAnswers {_ANSWERS[verb]}",
        response_model=None,
        responses=_responses(verb),
        dependencies=security,
        openapi_extra={"requestBody": _request_body(verb, components)},
    )


def _responses(verb: str) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI answers of `verb`: its typed 200 and every error, with the body
    `{"error": {"code", "message"}}`."""
    answers: dict[int | str, dict[str, Any]] = {
        200: {"model": ANSWERS[verb], "description": _ANSWERS[verb]}
    }
    for status, description in ERRORS.items():
        answers[status] = {"model": ErrorAnswer, "description": description}
    return answers


_ANSWERS = {
    "add": '`{"records": [record, ...]}`: the stored records, in order.',
    "search": '`{"hits": [{"score", "sources", "record", "facts"}, ...]}`, best first.',
    "context": '`{"text", "tokens", "budget_tokens", "parts"}`; `text` goes into a prompt.',
    "get": "the record.",
    "list": '`{"records": [...], "next_cursor": ...}`; pass `cursor` for the next page.',
    "update": "the new version of the record.",
    "delete": "the record, now a tombstone.",
    "history": '`{"history": [entry, ...]}`, oldest first.',
    "purge": '`{"purged": record_id}`.',
    "feedback": "the record with its counters.",
    "export": '`{"count": n, "jsonl": "..."}`: every record in scope as JSON lines.',
    "stats": "counts by kind and status, vectors still to embed, the model, the schema.",
}
_EXAMPLES = {
    "add": {
        "messages": [{"role": "user", "name": "alice", "content": "I moved to Lisbon"}],
        "user_id": "alice",
        "session_id": "s1",
    },
    "search": {"query": "where does alice live?", "user_id": "alice", "k": 5},
    "context": {"query": "where does alice live?", "user_id": "alice", "budget_tokens": 500},
}


def _json_default(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _request_body(verb: str, components: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI request body of `verb`, from `Memory.<verb>`'s signature and the
    argument types of `models.ARGUMENTS`; the types it names (a Message) go into
    `components`. It documents; the engine validates (the same way for HTTP, MCP
    and Python)."""
    hints = typing.get_type_hints(getattr(Memory, verb))
    types = {**ARGUMENTS, **(FILTER_ARGUMENTS if verb in ("search", "list") else {})}
    fields: dict[str, Any] = {
        name: (
            types.get(name, hints[name]),
            ... if p.default is inspect.Parameter.empty else _json_default(p.default),
        )
        for name, p in service.parameters(verb).items()
    }
    model = create_model(  # type: ignore[call-overload]
        f"{verb.title()}Arguments", __config__=ConfigDict(extra="forbid"), **fields
    )
    schema = model.model_json_schema(ref_template=_REF)
    components.update(schema.pop("$defs", {}))
    if verb in _EXAMPLES:
        schema["example"] = _EXAMPLES[verb]
    required = any(p.default is inspect.Parameter.empty for p in service.parameters(verb).values())
    return {"required": required, "content": {"application/json": {"schema": schema}}}


class _Gate:
    """Lets a request to /v1 or /mcp through only with a live API key, as the key's
    tenant. Without keys (`--no-auth`, loopback only), it lets through only requests
    addressed to this machine from no other web origin, so that a web page the user
    visits cannot reach the server (DNS rebinding, cross-site POSTs)."""

    def __init__(self, app: ASGIApp, keys: KeyRing | None) -> None:
        self.app = app
        self.keys = keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(_GUARDED):
            await self.app(scope, receive, send)
            return
        try:
            tenant = await self._tenant(Headers(scope=scope))
        except Exception as exc:
            await error_response(exc)(scope, receive, send)
            return
        token = TENANT.set(tenant)
        try:
            await self.app(scope, receive, send)
        finally:
            TENANT.reset(token)

    async def _tenant(self, headers: Headers) -> Caller:
        if self.keys is None:
            origin = headers.get("origin")
            hosts = [headers.get("host", ""), *([urlsplit(origin).netloc] if origin else [])]
            if not all(is_loopback(urlsplit(f"//{h}").hostname or "") for h in hosts):
                raise Forbidden("this server runs without API keys and answers only localhost")
            return Caller("default", service.NO_AUTH_ACTOR)
        scheme, _, secret = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise Unauthorized(
                "send an API key: 'Authorization: Bearer <key>' (`memstrata keys create` makes one)"
            )
        secret = secret.strip()
        tenant = self.keys.remembered(secret) or await anyio.to_thread.run_sync(
            self.keys.caller, secret
        )
        if tenant is None:
            raise Unauthorized("the API key is wrong or has been revoked")
        return tenant
