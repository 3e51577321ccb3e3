"""The engine's verbs for one tenant, JSON in and JSON out: the one layer that the
HTTP API and the MCP server share.

`call(memory, namespace, verb, args, actor=…)` runs
`Memory.<verb>(**args, namespace=namespace, actor=actor)` and returns a JSON-ready
value. The tenant's namespace and the actor its changes are recorded under come from
its key, never from the request: an `args` that names a namespace or an actor is
refused, and ids of another tenant behave as ids that do not exist (the engine's
scope rules). The server records changes made with a key as `key:<id>`, those made
over `memstrata mcp` (stdio) as STDIO_ACTOR and those made on a `serve --no-auth`
server as NO_AUTH_ACTOR.

>>> call(memory, "acme", "search", {"query": "where does alice live", "user_id": "alice"})
{"hits": [...]}
"""

from __future__ import annotations

import inspect
import io
from collections.abc import Callable, Mapping
from typing import Any

from memstrata.errors import InvalidInput
from memstrata.memory import Memory
from memstrata.types import Page

VERBS: tuple[str, ...] = (
    "add",
    "search",
    "context",
    "get",
    "list",
    "update",
    "delete",
    "history",
    "purge",
    "feedback",
    "export",
    "stats",
)
# Arguments a remote caller may not pass: the tenant and the actor are fixed by the
# key; a store file, an IO object or a Python callable have no meaning over the wire.
_NOT_REMOTE = frozenset({"self", "namespace", "actor", "destination", "token_counter"})
STDIO_ACTOR = "mcp:stdio"  # changes made through `memstrata mcp`
NO_AUTH_ACTOR = "local:no-auth"  # changes made on a server run with --no-auth
# What a tenant may see of `stats` (not the server's file path or its other tenants).
_STATS_KEYS = (
    "records", "by_kind", "pending_vectors", "pending_formation", "embedder", "schema_version",
)  # fmt: skip


def parameters(verb: str) -> dict[str, inspect.Parameter]:
    """The keyword arguments a remote caller may pass to `verb`."""
    if verb not in VERBS:
        raise InvalidInput(f"unknown verb {verb!r}; verbs: {', '.join(VERBS)}")
    signature = inspect.signature(getattr(Memory, verb))
    return {n: p for n, p in signature.parameters.items() if n not in _NOT_REMOTE}


def call(
    memory: Memory,
    namespace: str,
    verb: str,
    args: Mapping[str, Any],
    *,
    actor: str | None = None,
) -> Any:
    """Run one verb for the tenant `namespace`, its changes recorded in history as
    made by `actor`; InvalidInput for an unknown verb, an unknown or missing argument,
    or a namespace or an actor in `args`."""
    if not isinstance(args, Mapping):
        raise InvalidInput(f"the arguments of {verb} must be a JSON object")
    allowed = parameters(verb)
    if "namespace" in args:
        raise InvalidInput("namespace is fixed by the API key; remove it from the request")
    if "actor" in args:
        raise InvalidInput(
            "actor is set by the server from the API key (history shows 'key:<key id>'); "
            "remove it from the request"
        )
    unknown = sorted(set(args) - set(allowed))
    if unknown:
        raise InvalidInput(
            f"{verb} has no argument {', '.join(map(repr, unknown))}; "
            f"it takes {', '.join(allowed) or 'none'}"
        )
    missing = [
        n
        for n, p in allowed.items()
        if p.default is inspect.Parameter.empty
        and p.kind is not inspect.Parameter.VAR_KEYWORD
        and n not in args
    ]
    if missing:
        raise InvalidInput(f"{verb} needs {', '.join(map(repr, missing))}")
    given = dict(args)
    if "actor" in inspect.signature(getattr(Memory, verb)).parameters:
        given["actor"] = actor
    return _HANDLERS.get(verb, _plain)(memory, namespace, verb, given)


def prepare(memory: Memory, namespace: str, verb: str, args: Mapping[str, Any]) -> None:
    """What can start before the call gets its turn: the query's vector, for a
    search or context that will use one."""
    if verb in ("search", "context") and args.get("strategy") != "bm25":
        user, strategy = args.get("user_id"), args.get("strategy")
        memory.prefetch(args.get("query"), namespace=namespace,
                        user_id=user if isinstance(user, str) else None,
                        strategy=strategy if isinstance(strategy, str) else "layered")  # fmt: skip


# Verbs that return a list answer with an object holding it under this key.
_LIST_KEYS = {"add": "records", "search": "hits", "history": "history"}


def _plain(memory: Memory, namespace: str, verb: str, args: dict[str, Any]) -> Any:
    result = to_json(getattr(memory, verb)(namespace=namespace, **args))
    return {_LIST_KEYS[verb]: result} if verb in _LIST_KEYS else result


def _search(memory: Memory, namespace: str, verb: str, args: dict[str, Any]) -> Any:
    hits = memory.search(namespace=namespace, **args)
    answer: dict[str, Any] = {"hits": to_json(hits)}
    warnings = getattr(hits, "warnings", None)
    if warnings:  # what the search could not do (dense search skipped: full text only)
        answer["warnings"] = list(warnings)
    return answer


def _export(memory: Memory, namespace: str, verb: str, args: dict[str, Any]) -> Any:
    buffer = io.StringIO()
    count = memory.export(buffer, namespace=namespace, **args)
    return {"count": count, "jsonl": buffer.getvalue()}


def _stats(memory: Memory, namespace: str, verb: str, args: dict[str, Any]) -> Any:
    stats = memory.stats(namespace=namespace, **args)
    return {key: stats[key] for key in _STATS_KEYS if key in stats}


def _purge(memory: Memory, namespace: str, verb: str, args: dict[str, Any]) -> Any:
    memory.purge(namespace=namespace, **args)
    return {"purged": args["record_id"]}


_HANDLERS: dict[str, Callable[[Memory, str, str, dict[str, Any]], Any]] = {
    "search": _search,
    "export": _export,
    "stats": _stats,
    "purge": _purge,
}


def to_json(value: Any) -> Any:
    """A verb's return value as JSON-ready data (records, hits, history entries and
    contexts by their `to_dict`, pages as records and a cursor)."""
    if isinstance(value, Page):
        return {"records": [r.to_dict() for r in value.records], "next_cursor": value.next_cursor}
    if isinstance(value, list):
        return [to_json(v) for v in value]
    if hasattr(value, "to_dict"):  # Record, Hit, HistoryEntry, Context
        return value.to_dict()
    return value
