"""The HTTP API on a real uvicorn server on loopback, driven by httpx."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("mcp")


import uvicorn
from helpers_server import running

from memstrata import Memory
from memstrata.errors import (
    BackendError,
    ConfigError,
    Conflict,
    EmbeddingError,
    InvalidInput,
    NotFound,
    ScopeViolation,
)
from memstrata.server import service
from memstrata.server.deadlines import header_deadline
from memstrata.server.http import (
    MAX_BODY_BYTES,
    Unauthorized,
    create_app,
    error_status,
)
from memstrata.server.keys import create_key, revoke_key

WORKERS = 32
ROUNDS = 8


@dataclass
class Live:
    url: str
    path: Path
    memory: Memory
    keys: dict[str, str]

    def client(self, tenant: str | None = "acme", **headers: str) -> httpx.Client:
        if tenant is not None:
            headers.setdefault("Authorization", f"Bearer {self.keys[tenant]}")
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    path = tmp_path_factory.mktemp("server") / "server.db"
    memory = Memory(path, embedder="hash")
    keys = {tenant: create_key(memory.store, tenant)[1] for tenant in ("acme", "beta")}
    with running(create_app(memory)) as url:
        yield Live(url, path, memory, keys)
    memory.close()


def call(client: httpx.Client, verb: str, status: int = 200, **args: Any) -> Any:
    response = client.post(f"/v1/{verb}", json=args)
    assert response.status_code == status, response.text
    return response.json()


def test_health_readiness_and_openapi(live: Live) -> None:
    with live.client(tenant=None) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        assert client.get("/readyz").json() == {"status": "ready"}
        spec = client.get("/openapi.json").json()
        assert client.get("/docs").status_code == 200
    for verb in service.VERBS:
        operation = spec["paths"][f"/v1/{verb}"]["post"]
        assert operation["summary"] and operation["description"]
        schema = operation["requestBody"]["content"]["application/json"]["schema"]
        assert set(schema["properties"]) == set(service.parameters(verb))
    search = spec["paths"]["/v1/search"]["post"]["requestBody"]["content"]["application/json"]
    assert search["schema"]["required"] == ["query"]
    assert search["schema"]["properties"]["k"]["type"] == "integer"


def test_every_verb(live: Live) -> None:
    with live.client() as client:
        added = call(
            client,
            "add",
            messages=[{"role": "user", "name": "alice", "content": "I moved to Lisbon in March"}],
            user_id="alice",
            session_id="s1",
            occurred_at="2026-04-10T09:00:00Z",
        )
        [record] = added["records"]
        rid = record["id"]
        assert record["namespace"] == "acme" and record["speaker"] == "alice"
        hits = call(client, "search", query="where does alice live", user_id="alice", k=5)["hits"]
        assert hits[0]["record"]["id"] == rid
        ctx = call(client, "context", query="where does alice live", user_id="alice")
        assert "Lisbon" in ctx["text"] and ctx["tokens"] <= ctx["budget_tokens"]
        assert call(client, "get", record_id=rid)["text"] == record["text"]
        listed = call(client, "list", user_id="alice")
        assert rid in [r["id"] for r in listed["records"]] and "next_cursor" in listed
        updated = call(client, "update", record_id=rid, text="I moved to Porto", expected_version=1)
        assert updated["version"] == 2 and updated["text"] == "I moved to Porto"
        call(client, "update", 409, record_id=rid, text="stale", expected_version=1)
        assert call(client, "feedback", record_id=rid, useful=True)["useful"] == 1
        ops = [entry["op"] for entry in call(client, "history", record_id=rid)["history"]]
        assert ops[:2] == ["add", "update"]
        exported = call(client, "export", user_id="alice")
        assert exported["count"] >= 1 and rid in exported["jsonl"]
        stats = call(client, "stats")
        assert stats["records"] >= 1 and "path" not in stats
        assert client.get("/v1/stats").json() == stats
        assert client.get("/v1/stats", params={"user_id": "nobody"}).json()["records"] == 0
        assert call(client, "delete", record_id=rid)["status"] == "deleted"
        assert call(client, "purge", record_id=rid) == {"purged": rid}
        assert call(client, "get", 404, record_id=rid)["error"]["code"] == "not_found"


def test_search_and_context_answer_as_of_a_time(live: Live) -> None:
    with live.client() as client:
        for text, when in [("I live in Lisbon", "2025-01-15T10:00:00Z"),
                           ("I moved to Porto", "2025-03-15T10:00:00Z")]:  # fmt: skip
            call(client, "add", messages=text, user_id="dora", occurred_at=when)
        query = {"query": "where does dora live", "user_id": "dora"}
        now = call(client, "search", **query)["hits"]
        assert {h["record"]["text"] for h in now} >= {"I live in Lisbon", "I moved to Porto"}
        then = call(client, "search", **query, as_of="2025-02-01T00:00:00Z")["hits"]
        assert [h["record"]["text"] for h in then] == ["I live in Lisbon"]
        ctx = call(client, "context", **query, as_of="2025-02-01T00:00:00Z")
        assert "Lisbon" in ctx["text"] and "Porto" not in ctx["text"]
        for verb in ("search", "context"):
            error = call(client, verb, 400, **query, as_of="not a time")["error"]
            assert error["code"] == "invalid_input" and "as_of" in error["message"], verb


def test_tenants_are_isolated(live: Live) -> None:
    with live.client("beta") as beta, live.client("acme") as acme:
        call(acme, "add", messages="acme knows about zanzibar too", user_id="u")
        acme_stats = call(acme, "stats")
        [theirs] = call(beta, "add", messages="zanzibar secret of beta", user_id="u")["records"]
        assert call(acme, "stats") == acme_stats
        other = theirs["id"]
        attempts: list[tuple[str, dict[str, Any]]] = [
            ("get", {}),
            ("history", {}),
            ("update", {"text": "overwritten by acme"}),
            ("feedback", {"useful": False}),
            ("delete", {}),
            ("purge", {}),
        ]
        for verb, args in attempts:
            error = call(acme, verb, 404, record_id=other, **args)["error"]
            assert error["code"] == "not_found", verb
        found = call(acme, "search", query="zanzibar secret beta", k=50)["hits"]
        assert found and all(h["record"]["namespace"] == "acme" for h in found)
        assert all("beta" not in h["record"]["text"] for h in found)
        listed = call(acme, "list", limit=1000)["records"]
        assert listed and {r["namespace"] for r in listed} == {"acme"}
        exported = call(acme, "export")
        assert "zanzibar secret of beta" not in exported["jsonl"] and exported["count"] >= 1
        call(acme, "search", 400, query="zanzibar", namespace="beta")
        kept = call(beta, "get", record_id=other)  # untouched by acme's attempts
        assert kept["version"] == 1 and kept["status"] == "active" and kept["useful"] == 0


def test_auth_failures(live: Live) -> None:
    wrong = [
        {},
        {"Authorization": f"Basic {live.keys['acme']}"},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer not-a-key"},
        {"Authorization": "Bearer ms_0123456789abcdef_" + "x" * 43},
        {"Authorization": f"Bearer {live.keys['acme']}x"},
    ]
    for headers in wrong:
        for method, route in [("POST", "/v1/search"), ("GET", "/v1/stats"), ("POST", "/mcp")]:
            response = httpx.request(method, live.url + route, headers=headers, json={"query": "x"})
            assert response.status_code == 401, (headers, route, response.text)
            assert response.headers["www-authenticate"].startswith("Bearer")
            assert response.json()["error"]["code"] == "unauthorized"


def test_a_revoked_key_stops_within_a_second(live: Live) -> None:
    key_id, secret = create_key(live.path, "gamma")  # another connection, as the CLI does
    with live.client(tenant=None, Authorization=f"Bearer {secret}") as client:
        assert client.post("/v1/stats").status_code == 200
        revoke_key(live.path, key_id)
        revoked_at = time.monotonic()
        while client.post("/v1/stats").status_code == 200:
            assert time.monotonic() - revoked_at < 1.0, "a revoked key still works after 1 s"
            time.sleep(0.02)
        assert client.post("/v1/stats").status_code == 401


def test_bad_requests_change_nothing(live: Live) -> None:
    def stored(client: httpx.Client) -> list[str]:
        return call(client, "export")["jsonl"].splitlines()[1:]  # after the dated header

    with live.client() as client:
        before = stored(client)

        def refused(status: int, code: str, **request: Any) -> str:
            response = client.post("/v1/search", **request)
            assert response.status_code == status, response.text
            error = response.json()["error"]
            assert error["code"] == code and error["message"]
            return str(error["message"])

        assert "not valid JSON" in refused(400, "invalid_json", content=b'{"query": ')
        assert "JSON object" in refused(400, "invalid_input", json=["query", "x"])
        assert "JSON object" in refused(400, "invalid_input", json="a string")
        assert "k must be an int" in refused(400, "invalid_input", json={"query": "x", "k": "ten"})
        assert "'colour'" in refused(400, "invalid_input", json={"query": "x", "colour": "red"})
        assert "'query'" in refused(400, "invalid_input", json={"k": 3})
        huge = b'{"query": "' + b"x" * MAX_BODY_BYTES + b'"}'
        assert "limit" in refused(413, "payload_too_large", content=huge)
        chunks = (b"y" * 100_000 for _ in range(MAX_BODY_BYTES // 100_000 + 2))
        assert "limit" in refused(413, "payload_too_large", content=chunks)
        big_add = client.post("/v1/add", json={"messages": "z" * (MAX_BODY_BYTES + 10)})
        assert big_add.status_code == 413
        bad_message = {"messages": [{"content": "ok"}, {"text": "no content"}]}
        assert call(client, "add", 400, **bad_message)["error"]["code"] == "invalid_input"
        assert stored(client) == before


def test_unknown_routes_and_methods(live: Live) -> None:
    with live.client() as client:
        missing = client.post("/v1/remember", json={})
        assert missing.status_code == 404 and "/v1/{verb}" in missing.json()["error"]["message"]
        wrong_method = client.get("/v1/add")
        assert wrong_method.status_code == 405
        assert wrong_method.json()["error"]["code"] == "method_not_allowed"


def test_one_map_from_errors_to_statuses() -> None:
    assert error_status(InvalidInput("x")) == (400, "invalid_input")
    assert error_status(NotFound("x")) == (404, "not_found")
    assert error_status(Conflict("x")) == (409, "conflict")
    assert error_status(ScopeViolation("x")) == (403, "scope_violation")
    assert error_status(ConfigError("x")) == (400, "config_error")
    assert error_status(EmbeddingError("x")) == (503, "embedding_error")
    assert error_status(BackendError("x")) == (503, "backend_error")
    assert error_status(Unauthorized("x")) == (401, "unauthorized")
    assert error_status(KeyError("x")) == (500, "internal_error")


def test_a_crash_is_a_500_without_internals(live: Live, monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(*args: Any) -> Any:
        raise RuntimeError("/secret/path/server.db exploded")

    monkeypatch.setattr(service, "call", crash)
    with live.client() as client:
        response = client.post("/v1/stats", json={})
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    assert "secret" not in response.text and "Traceback" not in response.text


def test_32_concurrent_clients(live: Live) -> None:
    acked: list[str] = []
    errors: list[str] = []
    requests = 0
    lock = threading.Lock()
    start = threading.Barrier(WORKERS)

    def work(worker: int) -> None:
        nonlocal requests
        with live.client() as client:
            start.wait()
            for i in range(ROUNDS):
                note = {"messages": f"worker{worker} note{i} about trains", "user_id": "load"}
                query = {"query": f"worker{worker} trains", "user_id": "load", "k": 5}
                for verb, args in [("add", note), ("search", query)]:
                    ids: list[str] = []
                    try:
                        response = client.post(f"/v1/{verb}", json=args)
                        failure = "" if response.status_code == 200 else response.text
                        if verb == "add" and not failure:
                            ids = [r["id"] for r in response.json()["records"]]
                    except httpx.HTTPError as exc:
                        failure = repr(exc)
                    with lock:
                        requests += 1
                        acked.extend(ids)
                        if failure:
                            errors.append(f"{verb}: {failure}")

    threads = [threading.Thread(target=work, args=(w,)) for w in range(WORKERS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    elapsed = time.perf_counter() - started
    assert not errors, errors[:5]
    assert requests == WORKERS * ROUNDS * 2 and len(acked) == WORKERS * ROUNDS
    stored = {r.id for r in live.memory.list(namespace="acme", user_id="load", limit=1000).records}
    lost = set(acked) - stored
    print(f"\n{requests} requests from {WORKERS} clients in {elapsed:.2f} s: "
          f"{len(errors)} errors, {len(lost)} lost writes")  # fmt: skip
    assert not lost


def test_without_keys_only_loopback(tmp_path: Path) -> None:
    with Memory(tmp_path / "open.db", embedder="hash") as memory, running(
        create_app(memory, auth=False)
    ) as url:  # fmt: skip
        added = httpx.post(f"{url}/v1/add", json={"messages": "no key needed"})
        assert added.status_code == 200 and added.json()["records"][0]["namespace"] == "default"
        for headers in [{"Host": "evil.example:80"}, {"Origin": "http://evil.example"}]:
            response = httpx.post(f"{url}/v1/list", json={}, headers=headers)
            assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden"
        local = httpx.post(f"{url}/v1/list", json={}, headers={"Origin": "http://localhost:3000"})
        assert local.status_code == 200


def test_readiness_fails_when_the_store_is_gone(tmp_path: Path) -> None:
    memory = Memory(tmp_path / "gone.db", embedder="hash")
    with running(create_app(memory, auth=False)) as url:
        assert httpx.get(f"{url}/readyz").status_code == 200
        memory.close()
        response = httpx.get(f"{url}/readyz")
        assert httpx.get(f"{url}/healthz").status_code == 200
    assert response.status_code == 503 and response.json()["status"] == "unavailable"


def test_the_server_loads_model_and_index_before_its_first_request(tmp_path: Path) -> None:
    memory = Memory(tmp_path / "warm.db", embedder="hash")
    memory.add("I moved to Lisbon", user_id="alice")
    memory.close()
    memory = Memory(tmp_path / "warm.db", embedder="hash")
    assert memory.store._index is None  # nothing searched yet
    try:
        with running(create_app(memory, auth=False)):
            assert memory.store._index is not None and len(memory.store._index) == 1
    finally:
        memory.close()


def test_integers_beyond_64_bits_come_back_exactly(live: Live) -> None:
    """Metadata may hold any JSON integer: stored and answered exactly, through the
    HTTP API and from the library alike."""
    huge = 2**70 + 1
    with live.client() as client:
        [record] = call(client, "add", messages="a note with a huge counter",
                        metadata={"n": huge})["records"]  # fmt: skip
        assert record["metadata"] == {"n": huge}
        assert call(client, "get", record_id=record["id"])["metadata"] == {"n": huge}
    [mine] = live.memory.add("kept by the library", namespace="acme", metadata={"m": -huge})
    with live.client() as client:
        assert call(client, "get", record_id=mine.id)["metadata"] == {"m": -huge}


# ------------------------------------------------- issue 10, defect 10: read deadlines

PROTOCOLS = ["uvicorn.protocols.http.httptools_impl:HttpToolsProtocol",
             "uvicorn.protocols.http.h11_impl:H11Protocol"]  # fmt: skip


@contextmanager
def serving(app: Any, protocol: type) -> Iterator[tuple[str, int]]:
    """`app` on uvicorn with the HTTP protocol class `protocol`: its (host, port)."""
    with running(app, http=protocol) as url:
        parts = urlsplit(url)
        yield str(parts.hostname), int(parts.port or 0)


def until_closed(conn: socket.socket, wait: float = 15.0) -> bytes:
    """What the server sends until it closes the connection; fails if it is still
    open after `wait` seconds (a bound for a hung test, far above the deadlines)."""
    conn.settimeout(wait)
    received = b""
    try:
        while chunk := conn.recv(65536):
            received += chunk
    except TimeoutError:
        pytest.fail(f"the server kept a stalled connection open; it sent {received[:200]!r}")
    except ConnectionResetError:
        pass
    return received


def timed_out(answer: bytes) -> dict[str, Any]:
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), answer[:300]
    assert b"connection: close" in head.lower()
    error: dict[str, Any] = json.loads(body)["error"]
    assert error["code"] == "request_timeout" and error["message"]
    return error


@pytest.mark.parametrize("base", PROTOCOLS, ids=["httptools", "h11"])
def test_stalled_requests_are_answered_408_and_closed(tmp_path: Path, base: str) -> None:
    """Half the headers, a body announced and never sent, or nothing at all: each
    connection is closed after its deadline (uvicorn alone kept them all open)."""
    protocol = header_deadline(0.5, base=uvicorn.importer.import_from_string(base))
    with Memory(tmp_path / "slow.db", embedder="hash") as memory, serving(
        create_app(memory, auth=False, body_timeout=0.5), protocol
    ) as address:  # fmt: skip
        with socket.create_connection(address) as conn:
            conn.sendall(b"POST /v1/add HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Ty")
            assert "headers" in timed_out(until_closed(conn))["message"]
        with socket.create_connection(address) as conn:
            conn.sendall(b"POST /v1/add HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
                         b'{"messages": "never fini')  # fmt: skip
            assert "body" in timed_out(until_closed(conn))["message"]
        with socket.create_connection(address) as conn:
            assert until_closed(conn) == b""  # connected, sent nothing: closed, no answer
        with socket.create_connection(address) as conn:  # kept alive, then idle: closed
            request = (b"POST /v1/add HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                       b"Content-Type: application/json\r\nContent-Length: 22\r\n\r\n"
                       b'{"messages": "on time"}')  # fmt: skip
            conn.sendall(request.replace(b"22", b"23"))
            conn.sendall(request.replace(b"22", b"23").replace(b"on time", b"in time"))
            answers = until_closed(conn)
            assert answers.count(b"HTTP/1.1 200") == 2, answers[:500]
        assert sorted(r.text for r in memory.list().records) == ["in time", "on time"]


def test_the_body_deadline_covers_mcp(tmp_path: Path) -> None:
    with Memory(tmp_path / "slow-mcp.db", embedder="hash") as memory, running(
        create_app(memory, auth=False, body_timeout=0.5)
    ) as url:  # fmt: skip
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port))) as conn:
            conn.sendall(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         b"Content-Type: application/json\r\nAccept: application/json\r\n"
                         b"Content-Length: 500\r\n\r\n{")  # fmt: skip
            timed_out(until_closed(conn))


# ------------------------------------------------ issue 10, defect 5: actor from the key


def test_the_key_sets_the_actor_never_the_body(live: Live) -> None:
    """A list as actor answered 503 ("try again later"); "formation" let a tenant
    pass its changes off as the engine's. Now the body may not name an actor, and
    history names the key."""
    key_id = live.keys["acme"].split("_")[1]
    with live.client() as client:
        [record] = call(client, "add", messages="signed by the key")["records"]
        before = call(client, "history", record_id=record["id"])["history"]
        for verb, args in [("add", {"messages": "forged"}),
                           ("update", {"record_id": record["id"], "text": "forged"}),
                           ("feedback", {"record_id": record["id"], "useful": True}),
                           ("delete", {"record_id": record["id"]}),
                           ("purge", {"record_id": record["id"]})]:  # fmt: skip
            for actor in ["formation", ["a", "list"], None]:
                error = call(client, verb, 400, **args, actor=actor)["error"]
                assert "actor is set by the server" in error["message"], (verb, actor)
        assert call(client, "history", record_id=record["id"])["history"] == before
        call(client, "update", record_id=record["id"], text="changed with the key")
        actors = {e["actor"] for e in call(client, "history", record_id=record["id"])["history"]}
        assert actors == {f"key:{key_id}"}
    spec = httpx.get(f"{live.url}/openapi.json").json()
    for verb in ("add", "update", "delete", "purge", "feedback"):
        body = spec["paths"][f"/v1/{verb}"]["post"]["requestBody"]["content"]
        assert "actor" not in body["application/json"]["schema"]["properties"], verb


def test_without_keys_the_actor_is_fixed(tmp_path: Path) -> None:
    with Memory(tmp_path / "local.db", embedder="hash") as memory, running(
        create_app(memory, auth=False)
    ) as url:  # fmt: skip
        [record] = httpx.post(f"{url}/v1/add", json={"messages": "local"}).json()["records"]
        [entry] = memory.history(record["id"])
    assert entry.actor == service.NO_AUTH_ACTOR


def test_inputs_that_broke_the_server_are_400_naming_the_field(live: Live) -> None:
    """Before, nine of these answered 500 (TypeError, OverflowError and
    UnicodeEncodeError reached the engine), a string expected_version 409, and two
    were taken (offset 2**63, recent 10**30)."""
    with live.client() as client:
        [record] = call(client, "add", messages="kept as it is")["records"]
        before = call(client, "export")["jsonl"].splitlines()[1:]
        cases: list[tuple[str, dict[str, Any], str]] = [
            ("search", {"query": "x", "kinds": 5}, "kinds"),
            ("list", {"statuses": 7}, "statuses"),
            ("search", {"query": "x", "offset": 2**63}, "offset"),
            ("list", {"metadata": {"n": 2**63}}, "metadata filter"),
            ("get", {"record_id": "\ud800"}, "record id"),
            ("history", {"record_id": "a\udcffb"}, "record id"),
            ("list", {"cursor": "\ud800"}, "cursor"),
            ("update", {"record_id": record["id"], "text": "y", "expected_version": "1"},
             "expected_version"),
            ("add", {"messages": "x", "occurred_at": "0001-01-01T00:00:00+05:00"}, "occurred_at"),
            ("search", {"query": "x", "until": "9999-12-31T23:59:59-01:00"}, "until"),
            ("add", {"messages": [{"content": "x", "tags": "not-a-list"}]}, "tags"),
            ("context", {"query": "x", "recent": 10**30}, "recent"),
        ]  # fmt: skip
        for verb, args, field in cases:
            # json.dumps escapes a lone surrogate as \ud800, as a JSON client may send it
            response = client.post(f"/v1/{verb}", content=json.dumps(args))
            assert response.status_code == 400, (verb, response.text)
            error = response.json()["error"]
            assert error["code"] == "invalid_input" and field in error["message"], (verb, error)
        assert call(client, "export")["jsonl"].splitlines()[1:] == before
