"""Tenant isolation matrix: tenant A, with its own key, against everything of tenant B.

A live server (uvicorn on loopback, in this process) serves one store with two
tenants, each with its own key and data (turns, and the facts, episodes and
profiles formed from them). With A's key, every verb route (POST /v1/{verb}, GET
/v1/stats) and every MCP tool over /mcp is called against B's record ids, B's
user, agent and session ids, B's cursor, metadata filters that match B's data, a
`namespace` in the body, headers and query strings that try to pick a namespace,
and odd paths. A leak is any of B's unique strings (tokens of its texts, its names,
its scope ids, its metadata values, its record ids) in any answer to A, other than
strings A itself sent in that request; B's records are also compared before and
after, so a write that crossed over counts too.

Then cross-tenant availability: A sends input that is valid JSON but hostile
(times at the calendar's ends, a year below 1000, metadata nested 1,000 deep,
integers past 64 bits, arguments of the wrong type), and B must still be served,
and the store must still close and open again (as a restarted server would).
"""

from __future__ import annotations

import contextlib
import io
import json
import random
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from memstrata.bench.reliability.workload import token
from memstrata.errors import MemstrataError
from memstrata.server.service import VERBS
from memstrata.types import KINDS, STATUSES

A, B = "tenant-a", "tenant-b"
STRATEGIES = ("layered", "hybrid", "bm25", "dense")
ID_VERBS = ("get", "history", "update", "delete", "purge", "feedback")
NAMESPACE_HEADERS = ("X-Namespace", "X-Memstrata-Namespace", "Namespace", "X-Tenant", "X-Scope")
_EXAMPLES = 8

Log = Callable[[str], None]


@dataclass
class Tenant:
    """One tenant's data and the strings that belong to it alone."""

    namespace: str
    key: str = ""
    user: str = ""
    agent: str = ""
    session: str = ""
    speaker: str = ""
    person: str = ""
    meta: str = ""
    tokens: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    cursor: str | None = None

    def needles(self) -> list[str]:
        scope = [self.user, self.agent, self.session, self.speaker, self.person, self.meta]
        return [*scope, *self.tokens, *self.ids, *([self.cursor] if self.cursor else [])]


@dataclass
class Tally:
    attempts: int = 0
    leaks: list[str] = field(default_factory=list)
    server_errors: list[str] = field(default_factory=list)
    by_route: dict[str, int] = field(default_factory=dict)

    def see(self, route: str, label: str, request: str, status: int, answer: str,
            needles: Sequence[str]) -> None:  # fmt: skip
        self.attempts += 1
        self.by_route[route] = self.by_route.get(route, 0) + 1
        said = request.lower()
        heard = answer.lower()
        for needle in needles:
            low = needle.lower()
            if low in heard and low not in said:
                self.leaks.append(f"{label}: answer holds {needle!r} (status {status})")
        if status >= 500:
            self.server_errors.append(f"{label}: {status} {answer[:160]}")


def seed_tenant(memory: Any, name: str, rng: random.Random) -> Tenant:
    """Store a tenant's turns (formation makes facts, an episode and profiles)."""
    word = lambda: token(rng)[2:]  # noqa: E731 - ten random letters
    t = Tenant(name, user=f"user-{word()}", agent=f"agent-{word()}", session=f"sess-{word()}",
               speaker=f"Sp{word()}", person=f"Zy{word()}", meta=f"meta-{word()}")  # fmt: skip
    texts = []
    for template in (
        "I met {p} at the {t} market yesterday. The {t} market was busy.",
        "My friend {p} bought a {t} lamp last week. {p} loves the {t} lamp.",
        "Yesterday {p} told me about the {t} festival. The {t} festival is in May.",
        "I went hiking with {p} near the {t} lake. The {t} lake was cold.",
    ):
        tok = token(rng)
        t.tokens.append(tok)
        texts.append(template.format(p=t.person, t=tok))
    memory.add(
        [
            {"role": "user", "name": t.speaker, "content": x, "metadata": {"tag": t.meta}}
            for x in texts
        ],
        namespace=name,
        user_id=t.user,
        agent_id=t.agent,
        session_id=t.session,
    )
    page = memory.list(namespace=name, statuses=STATUSES, limit=1000)
    t.ids = [r.id for r in page.records]
    t.cursor = memory.list(namespace=name, limit=1).next_cursor
    return t


def snapshot(memory: Any, namespace: str) -> dict[str, Any]:
    """Every record and history entry of a namespace (its export), by id."""
    buffer = io.StringIO()
    memory.export(buffer, namespace=namespace)
    out: dict[str, Any] = {}
    for line in buffer.getvalue().splitlines():
        item = json.loads(line)
        if item["type"] == "record":
            out[item["record"]["id"]] = item["record"]
        elif item["type"] == "history":
            out.setdefault(f"history:{item['entry']['record_id']}", []).append(item["entry"])
    return out


# ------------------------------------------------------------------ the attempts


@dataclass(frozen=True)
class Attempt:
    label: str
    method: str
    path: str
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    raw: str | None = None  # a body sent as is (not JSON-encoded here)


def _scopes(b: Tenant) -> list[dict[str, str]]:
    return [{}, {"user_id": b.user}, {"agent_id": b.agent}, {"session_id": b.session},
            {"user_id": b.user, "agent_id": b.agent, "session_id": b.session}]  # fmt: skip


def http_attempts(a: Tenant, b: Tenant) -> Iterator[Attempt]:
    """Every route against B's ids, scopes, cursor and filters, then the ways to name
    B's namespace (body, query string, headers, paths, raw bodies)."""
    for record_id in b.ids:
        for verb in ID_VERBS:
            body: dict[str, Any] = {"record_id": record_id}
            if verb == "update":
                body["text"] = "overwritten by tenant a"
            if verb == "feedback":
                body["useful"] = True
            yield Attempt(f"{verb} B's {record_id[:13]}", "POST", f"/v1/{verb}", body)
        yield Attempt("update B's metadata", "POST", "/v1/update",
                      {"record_id": record_id, "metadata": {"tag": "a"}})  # fmt: skip
    queries = [" ".join(b.tokens[:2]), b.person, f"what did {b.speaker} say"]
    filters: list[dict[str, Any]] = [{}, {"metadata": {"tag": b.meta}}, {"kinds": list(KINDS)}]
    for strategy in STRATEGIES:
        for query in queries:
            for scope in _scopes(b):
                for extra in filters:
                    body = {"query": query, "strategy": strategy, "k": 50, **scope, **extra}
                    yield Attempt(f"search {strategy} {sorted(scope)} {sorted(extra)}", "POST",
                                  "/v1/search", body)  # fmt: skip
    for query in queries:
        for scope in _scopes(b):
            body = {"query": query, "budget_tokens": 4000, "recent": 50, **scope}
            yield Attempt(f"context {sorted(scope)}", "POST", "/v1/context", body)
    lists: list[dict[str, Any]] = [
        {},
        {"cursor": b.cursor},
        {"metadata": {"tag": b.meta}},
        {"statuses": list(STATUSES)},
        {"kinds": list(KINDS), "statuses": list(STATUSES), "limit": 1000},
    ]
    for scope in _scopes(b):
        for extra in lists:
            yield Attempt(f"list {sorted(scope)} {sorted(extra)}", "POST", "/v1/list",
                          {**scope, **extra})  # fmt: skip
        yield Attempt(f"export {sorted(scope)}", "POST", "/v1/export", scope)
        yield Attempt(f"stats {sorted(scope)}", "POST", "/v1/stats", scope)
        yield Attempt(f"GET stats {sorted(scope)}", "GET", "/v1/stats", params=scope)
    # Ways to name B's namespace: body, query string, headers, paths, raw bodies.
    named: list[tuple[str, dict[str, Any]]] = [
        ("list", {}),
        ("export", {}),
        ("stats", {}),
        ("search", {"query": b.person}),
        ("get", {"record_id": b.ids[0]}),
    ]
    for verb, body in named:
        yield Attempt(f"{verb} namespace in body", "POST", f"/v1/{verb}",
                      {**body, "namespace": B})  # fmt: skip
        yield Attempt(f"{verb} ?namespace=", "POST", f"/v1/{verb}", body, params={"namespace": B})
        for header in NAMESPACE_HEADERS:
            yield Attempt(f"{verb} {header}", "POST", f"/v1/{verb}", body, headers={header: B})
    yield Attempt("GET stats ?namespace=", "GET", "/v1/stats", params={"namespace": B})
    yield Attempt("duplicate namespace keys", "POST", "/v1/list",
                  raw=f'{{"namespace": "{A}", "namespace": "{B}"}}')  # fmt: skip
    yield Attempt("kwargs namespace", "POST", "/v1/list", {"kwargs": {"namespace": B}})
    yield Attempt("scope object", "POST", "/v1/list", {"scope": {"namespace": B}})
    for path in ("/v1/list/", "//v1/list", "/v1/./list", "/v1/../v1/list", "/V1/list",
                 f"/v1/{B}/list", "/v1/list%00"):  # fmt: skip
        yield Attempt(f"path {path}", "POST", path, {})


def write_attempts(b: Tenant) -> Iterator[Attempt]:
    """A's own writes carrying B's scope strings, sent after every read (HTTP and
    MCP): their answers echo what A sent, and later answers would rightly show A's
    records holding those strings."""
    yield Attempt("add into B's scope ids", "POST", "/v1/add",
                  {"messages": [{"content": "tenant a writes here", "name": b.speaker,
                                 "metadata": {"tag": b.meta}}],
                   "user_id": b.user, "agent_id": b.agent, "session_id": b.session})  # fmt: skip


def mcp_calls(b: Tenant, *, writes: bool) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every MCP tool against B's ids and scopes (`writes`: only the add carrying
    B's scope strings, sent last as `write_attempts` are)."""
    if writes:
        yield "add", {"text": "tenant a writes here", "speaker": b.speaker, "user_id": b.user,
                      "session_id": b.session}  # fmt: skip
        return
    for record_id in b.ids:
        for tool in ("get", "history", "delete"):
            yield tool, {"record_id": record_id}
    for query in (" ".join(b.tokens[:2]), b.person):
        for scope in _scopes(b):
            yield "search", {"query": query, "k": 100, **scope}
            yield "context", {"query": query, "budget_tokens": 4000, **scope}
    yield "search", {"query": b.person, "namespace": B}  # not a tool argument


def _send(http: Any, attempt: Attempt) -> tuple[int, str, str]:
    """Send one attempt; (status, answer text, what was sent as one string)."""
    if attempt.raw is not None:
        content = attempt.raw.encode()
    else:
        content = b"" if attempt.body is None else json.dumps(attempt.body).encode()
    headers = {"Content-Type": "application/json", **attempt.headers}
    response = http.request(attempt.method, attempt.path, content=content or None,
                            headers=headers, params=attempt.params)  # fmt: skip
    sent = " ".join([attempt.path, json.dumps(attempt.params), json.dumps(attempt.headers),
                     content.decode()])  # fmt: skip
    return response.status_code, response.text, sent


def _attempt(http: Any, attempt: Attempt, b: Tenant, tally: Tally) -> None:
    status, answer, sent = _send(http, attempt)
    route = attempt.path if attempt.path in {f"/v1/{v}" for v in VERBS} else "odd paths"
    tally.see(route, attempt.label, sent, status, answer, b.needles())


def _mcp_matrix(url: str, key: str, b: Tenant, tally: Tally, *, writes: bool) -> None:
    import anyio
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    async def main() -> None:
        headers = {"Authorization": f"Bearer {key}", "X-Namespace": B}
        http = create_mcp_http_client(headers=headers)
        async with http, Client(streamable_http_client(f"{url}/mcp", http_client=http)) as client:
            for tool, args in mcp_calls(b, writes=writes):
                sent = json.dumps(args)
                try:
                    result = await client.call_tool(tool, args)
                    answer = json.dumps([getattr(c, "text", "") for c in result.content])
                    answer += json.dumps(result.structured_content or {})
                    status = 400 if result.is_error else 200
                except Exception as exc:  # a protocol error is an answer too: read it
                    answer, status = f"{type(exc).__name__}: {exc}", 400
                tally.see("mcp", f"mcp {tool} {sorted(args)}", sent, status, answer, b.needles())

    anyio.run(main)


# ---------------------------------------------------------------- availability

POISON: tuple[tuple[str, str, dict[str, Any]], ...] = (
    # Reads first, then writes that are refused or stored alone; the year below 1000
    # last, since once stored it breaks every vector search (issue 10, defect 1).
    ("a question naming 9999-12-31", "/v1/search", {"query": "what happened on 9999-12-31"}),
    ("metadata filter 2**63", "/v1/search", {"query": "poison", "metadata": {"n": 2**63}}),
    ("offset 2**63", "/v1/search", {"query": "poison", "offset": 2**63, "strategy": "bm25"}),
    ("kinds not a list", "/v1/search", {"query": "poison", "kinds": 5}),
    ("statuses not a list", "/v1/list", {"statuses": 5}),
    (
        "year 1 with an offset",
        "/v1/add",
        {"messages": ["poison two"], "occurred_at": "0001-01-01T00:00:00+05:00"},
    ),
    (
        "year 9999 with an offset",
        "/v1/add",
        {"messages": ["poison three"], "occurred_at": "9999-12-31T23:59:59-01:00"},
    ),
    ("metadata nested 1,000 deep", "/v1/add", {"messages": ["poison four"], "metadata": "DEEP"}),
    ("actor a list", "/v1/add", {"messages": ["poison five"], "actor": ["x"]}),
    (
        "a year below 1000",
        "/v1/add",
        {"messages": ["poison one"], "occurred_at": "0999-12-31T00:00:00Z"},
    ),
)


def _poison_body(body: dict[str, Any]) -> str:
    text = json.dumps(body)
    # Written out, not encoded: json.dumps itself recurses too deep for it.
    return text.replace('"DEEP"', '{"d": ' * 1000 + "{}" + "}" * 1000)


B_ADD_TEXT = "tenant b is still here"


def _stored(db: Path, text: str) -> bool:
    """Whether a turn with `text` is in the file (read beside the live server)."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        row = conn.execute("SELECT count(*) FROM records WHERE text = ?", (text,)).fetchone()
    return bool(row[0])


def b_probes(b: Tenant) -> list[tuple[str, str, dict[str, Any]]]:
    """What B does after A's poison: each must answer 2xx."""
    probes: list[tuple[str, str, dict[str, Any]]] = [
        (f"search {s}", "/v1/search", {"query": b.person, "strategy": s}) for s in STRATEGIES
    ]
    return [
        ("add", "/v1/add", {"messages": [B_ADD_TEXT], "user_id": b.user}),
        *probes,
        ("context", "/v1/context", {"query": b.person}),
        ("list", "/v1/list", {}),
        ("get", "/v1/get", {"record_id": b.ids[-1]}),
    ]


# ------------------------------------------------------------------- the run


@dataclass
class IsolationConfig:
    seed: int = 0
    work: Path = Path("isolation")


def run_isolation(config: IsolationConfig, log: Log = lambda m: None) -> dict[str, Any]:
    import httpx

    from memstrata.bench.serve.server import start_server
    from memstrata.memory import Memory
    from memstrata.server.keys import create_key

    rng = random.Random(f"memstrata-isolation-{config.seed}")
    config.work.mkdir(parents=True, exist_ok=True)
    db = config.work / "tenants.db"
    for old in config.work.glob("tenants.db*"):
        old.unlink()
    memory = Memory(db, embedder="hash")
    closed = False
    tally, availability = Tally(), _Availability()
    try:
        a, b = seed_tenant(memory, A, rng), seed_tenant(memory, B, rng)
        a.key, b.key = create_key(memory.store, A)[1], create_key(memory.store, B)[1]
        before = snapshot(memory, B)
        log(f"isolation: tenant B holds {len(b.ids)} records; attacking with A's key")
        with start_server(db, "hash", "127.0.0.1", "thread", memory=memory) as server:
            headers = {"Authorization": f"Bearer {a.key}"}
            with httpx.Client(base_url=server.url, headers=headers, timeout=60) as http:
                for attempt in http_attempts(a, b):
                    _attempt(http, attempt, b, tally)
                _mcp_matrix(server.url, a.key, b, tally, writes=False)
                for attempt in write_attempts(b):
                    _attempt(http, attempt, b, tally)
                _mcp_matrix(server.url, a.key, b, tally, writes=True)
            log(f"isolation: {tally.attempts} attempts, {len(tally.leaks)} leaks; now poison")
            after = snapshot(memory, B)
            changed = sorted(k for k in {*before, *after} if before.get(k) != after.get(k))
            availability.poison(server.url, db, a, b)
        closed = True
        availability.restart(memory, db, b)
    finally:
        if not closed:
            memory.close()
    return {
        "attempts": tally.attempts,
        "leaks": len(tally.leaks),
        "b_records_changed": len(changed),
        "server_errors": len(tally.server_errors),
        "by_route": tally.by_route,
        # Verbs the server has that no attempt reached (a new verb needs its attempts).
        "untried_verbs": [v for v in VERBS if f"/v1/{v}" not in tally.by_route],
        "tenant_b_records": len(b.ids),
        "availability": availability.result(),
        "examples": {
            "leaks": tally.leaks[:_EXAMPLES],
            "b_records_changed": changed[:_EXAMPLES],
            "server_errors": tally.server_errors[:_EXAMPLES],
        },
    }


@dataclass
class _Availability:
    poison_answers: dict[str, int] = field(default_factory=dict)
    b_broken: list[str] = field(default_factory=list)
    failed_add_stored: bool = False  # an add answered with an error, yet stored
    close_error: str | None = None
    restart_error: str | None = None
    b_broken_after_restart: list[str] = field(default_factory=list)

    def poison(self, url: str, db: Path, a: Tenant, b: Tenant) -> None:
        import httpx

        with httpx.Client(base_url=url, timeout=60) as http:
            for label, path, body in POISON:
                answer = http.post(path, content=_poison_body(body),
                                   headers={"Authorization": f"Bearer {a.key}"})  # fmt: skip
                self.poison_answers[label] = answer.status_code
            for label, path, body in b_probes(b):
                answer = http.post(path, json=body, headers={"Authorization": f"Bearer {b.key}"})
                if answer.status_code >= 300:
                    self.b_broken.append(f"B's {label}: {answer.status_code} {answer.text[:120]}")
                    if label == "add":
                        self.failed_add_stored = _stored(db, B_ADD_TEXT)

    def restart(self, memory: Any, db: Path, b: Tenant) -> None:
        """Close the store and open it again, as a restarted server does (open, warm
        up), then serve B from it."""
        from memstrata.memory import Memory

        try:
            memory.close()
        except Exception as exc:
            self.close_error = f"{type(exc).__name__}: {exc}"[:300]
        try:
            with Memory(db, embedder="hash") as again:
                again.warm_up()
                for strategy in STRATEGIES:
                    try:
                        again.search(b.person, namespace=B, strategy=strategy)
                    except Exception as exc:
                        self.b_broken_after_restart.append(f"search {strategy}: {exc!r:.120}")
        except Exception as exc:
            kind = "" if isinstance(exc, MemstrataError) else " (raw)"
            self.restart_error = f"{type(exc).__name__}{kind}: {exc}"[:300]

    def result(self) -> dict[str, Any]:
        errors = {k: v for k, v in self.poison_answers.items() if v >= 500}
        return {
            "poison_sent": len(self.poison_answers),
            "poison_server_errors": len(errors),
            "b_calls_broken": len(self.b_broken),
            "failed_add_stored": self.failed_add_stored,
            "close_failed": self.close_error is not None,
            "restart_failed": self.restart_error is not None,
            "b_calls_broken_after_restart": len(self.b_broken_after_restart),
            "poison_answers": self.poison_answers,
            "examples": {
                "b_broken": self.b_broken[:_EXAMPLES],
                "close": self.close_error,
                "restart": self.restart_error,
                "b_broken_after_restart": self.b_broken_after_restart[:_EXAMPLES],
            },
        }
