"""`memstrata.Client` against a live server on loopback: every verb gives the types
and the answers the embedded `Memory` gives on the same store, and the server's
errors come back as the same exceptions."""

from __future__ import annotations

import inspect
import io
import json
import socket
import threading
import time
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

import uvicorn

from memstrata import (
    BackendError,
    ConfigError,
    Conflict,
    Context,
    ContextPart,
    HistoryEntry,
    Hit,
    InvalidInput,
    Memory,
    NotFound,
    Page,
    Record,
)
from memstrata.client import Client, encode_args, error_from
from memstrata.errors import EmbeddingError, ScopeViolation
from memstrata.server.http import create_app
from memstrata.server.keys import create_key
from memstrata.server.service import VERBS

TENANT = "acme"
SCOPE: dict[str, Any] = {"user_id": "alice", "session_id": "s1"}
TURNS: list[dict[str, Any]] = [
    {"role": "user", "name": "alice", "content": "I moved to Lisbon in March",
     "metadata": {"mood": "happy"}, "tags": ["move"]},
    {"role": "assistant", "name": "bot", "content": "How do you like Lisbon so far?"},
    {"role": "user", "name": "alice", "content": "My sister Clara visits next weekend"},
    {"role": "user", "name": "alice", "content": "I adopted a greyhound called Pixel yesterday",
     "occurred_at": "2026-04-10T09:05:00Z"},
]  # fmt: skip
WHEN = "2026-04-10T09:00:00Z"


@dataclass
class Served:
    memory: Memory  # the server's own Memory: the embedded view of the same store
    client: Client
    url: str
    secret: str


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """A server over a fresh store on a free loopback port, and a Client with a key
    for the tenant TENANT."""
    memory = Memory(tmp_path / "served.db", embedder="hash")
    _, secret = create_key(memory.store, TENANT)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(create_app(memory), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    client = Client(url, secret)
    try:
        yield Served(memory, client, url, secret)
    finally:
        client.close()
        server.should_exit = True
        thread.join(30)
        sock.close()
        memory.close()


def _seed(client: Client) -> list[Record]:
    return client.add(TURNS, occurred_at=WHEN, **SCOPE)


# ---------------------------------------------------------------- the surface


def test_every_verb_has_memorys_signature_without_the_namespace() -> None:
    skip = ("self", "namespace")
    for verb in VERBS:
        ours, theirs = getattr(Client, verb), getattr(Memory, verb)
        our_types, their_types = typing.get_type_hints(ours), typing.get_type_hints(theirs)
        assert [
            (p.name, p.kind, p.default, our_types[p.name])
            for p in inspect.signature(ours).parameters.values() if p.name not in skip
        ] == [
            (p.name, p.kind, p.default, their_types[p.name])
            for p in inspect.signature(theirs).parameters.values() if p.name not in skip
        ], verb  # fmt: skip
        assert inspect.signature(ours).parameters["namespace"].default is None, verb
        assert our_types["return"] == their_types["return"], verb
        assert (ours.__doc__ or "").strip(), verb


def test_the_same_code_runs_embedded_and_remote(served: Served, tmp_path: Path) -> None:
    """Switching is one line: the same calls give the same answers."""

    def scenario(m: Any) -> tuple[Any, ...]:
        added = m.add(TURNS, occurred_at=WHEN, **SCOPE)
        m.update(added[2].id, text="My sister Clara visits next month")
        m.delete(added[1].id)
        hits = m.search("where does alice live", user_id="alice", k=3)
        ctx = m.context("when is Clara coming?", user_id="alice", budget_tokens=200)
        try:
            m.get(added[1].id)
        except NotFound:
            missing = "NotFound"
        return (
            [r.text for r in added],
            [(h.record.text, [f.text for f in h.facts]) for h in hits],
            ctx.text,
            [e.op for e in m.history(added[2].id)],
            missing,
            m.stats()["records"],
        )

    with Memory(tmp_path / "embedded.db", embedder="hash") as m:
        embedded = scenario(m)
    # The key's tenant is "acme"; the embedded store uses "default". Nothing else differs.
    assert scenario(served.client) == embedded


# --------------------------------------------------------- answers and types


def test_add_and_get_give_the_records_memory_gives(served: Served) -> None:
    added = _seed(served.client)
    assert all(type(r) is Record for r in added)
    assert [r.text for r in added] == [t["content"] for t in TURNS]
    for record in added:
        assert record.scope.namespace == TENANT
        embedded = served.memory.get(record.id, namespace=TENANT)
        assert served.client.get(record.id) == embedded == record
    assert added[0].metadata == {"mood": "happy"} and added[0].tags == ["move"]
    assert added[3].occurred_at == "2026-04-10T09:05:00.000000Z"
    assert added[1].occurred_at == "2026-04-10T09:00:00.000000Z"


def test_datetimes_and_iterables_are_sent_as_memory_reads_them(served: Served) -> None:
    moment = datetime(2026, 5, 1, 12, 30, tzinfo=timezone.utc)
    (record,) = served.client.add("a text with a datetime", occurred_at=moment, user_id="bob")
    assert record.occurred_at == "2026-05-01T12:30:00.000000Z"
    page = served.client.list(kinds=(k for k in ["event"]), since=moment, user_id="bob")
    assert [r.id for r in page.records] == [record.id]


@pytest.mark.parametrize("strategy", ["layered", "hybrid", "bm25", "dense"])
def test_search_gives_the_hits_memory_gives(served: Served, strategy: str) -> None:
    _seed(served.client)
    args: dict[str, Any] = {"user_id": "alice", "k": 5, "strategy": strategy}
    hits = served.client.search("where does alice live? Lisbon", **args)
    assert hits and all(type(h) is Hit for h in hits)
    assert hits == served.memory.search("where does alice live? Lisbon", namespace=TENANT, **args)
    if strategy == "layered":
        assert any(h.facts for h in hits)
        assert all(type(f) is Record and f.kind == "fact" for h in hits for f in h.facts)


def test_search_paging_and_filters(served: Served) -> None:
    _seed(served.client)
    first = served.client.search("alice", user_id="alice", k=2, strategy="bm25")
    second = served.client.search("alice", user_id="alice", k=2, offset=2, strategy="bm25")
    embedded = served.memory.search("alice", namespace=TENANT, user_id="alice", k=4,
                                    strategy="bm25")  # fmt: skip
    assert [h.record.id for h in first + second] == [h.record.id for h in embedded]
    only = served.client.search("Lisbon", metadata={"mood": "happy"}, kinds=["event"])
    assert [h.record.text for h in only] == ["I moved to Lisbon in March"]


def test_context_round_trips_with_its_parts(served: Served) -> None:
    _seed(served.client)
    args: dict[str, Any] = {"user_id": "alice", "session_id": "s1", "budget_tokens": 120,
                            "recent": 2}  # fmt: skip
    ctx = served.client.context("when is Clara coming?", **args)
    assert type(ctx) is Context
    assert ctx.parts and all(type(p) is ContextPart for p in ctx.parts)
    assert {p.section for p in ctx.parts} >= {"relevant"}
    assert ctx == served.memory.context("when is Clara coming?", namespace=TENANT, **args)
    assert ctx.tokens <= ctx.budget_tokens == 120
    assert all(p.text in ctx.text for p in ctx.parts)


def test_search_and_context_answer_as_of_a_time(served: Served) -> None:
    for text, when in [("I live in Lisbon", "2025-01-15T10:00:00Z"),
                       ("I moved to Porto", "2025-03-15T10:00:00Z")]:  # fmt: skip
        served.client.add(text, user_id="dora", occurred_at=when)
    query = "where does dora live"
    moment = datetime(2025, 2, 1, tzinfo=timezone.utc)
    for as_of in (moment, "2025-02-01T00:00:00Z"):
        hits = served.client.search(query, user_id="dora", as_of=as_of)
        assert [h.record.text for h in hits] == ["I live in Lisbon"]
        assert hits == served.memory.search(query, namespace=TENANT, user_id="dora", as_of=moment)
        ctx = served.client.context(query, user_id="dora", as_of=as_of)
        assert "Lisbon" in ctx.text and "Porto" not in ctx.text
    assert "Porto" in served.client.context(query, user_id="dora").text
    with pytest.raises(InvalidInput, match="as_of 'not a time' is not an ISO 8601 time"):
        served.client.search(query, as_of="not a time")
    with pytest.raises(InvalidInput, match="as_of"):
        served.client.context(query, as_of="not a time")


def test_list_pages_like_memory(served: Served) -> None:
    _seed(served.client)
    page = served.client.list(kinds=["event"], limit=3)
    assert type(page) is Page and len(page.records) == 3 and page.next_cursor
    assert page == served.memory.list(namespace=TENANT, kinds=["event"], limit=3)
    rest = served.client.list(kinds=["event"], limit=3, cursor=page.next_cursor)
    assert len(rest.records) == 1 and rest.next_cursor is None
    assert rest == served.memory.list(
        namespace=TENANT, kinds=["event"], limit=3, cursor=page.next_cursor
    )


def test_update_delete_feedback_history_purge(served: Served) -> None:
    record = _seed(served.client)[0]
    updated = served.client.update(record.id, text="I moved to Porto in March",
                                   expected_version=1)  # fmt: skip
    assert type(updated) is Record and updated.version == 2
    assert updated == served.memory.get(record.id, namespace=TENANT)
    rated = served.client.feedback(record.id, True)
    assert rated.useful == 1 and rated.version == 2
    history = served.client.history(record.id)
    assert all(type(e) is HistoryEntry for e in history)
    assert [e.op for e in history] == ["add", "update", "feedback"]
    key_id = served.secret.split("_")[1]  # ms_<key id>_<secret>
    assert history[1].actor == f"key:{key_id}" and history[1].after is not None
    assert history == served.memory.history(record.id, namespace=TENANT)
    deleted = served.client.delete(record.id)
    assert deleted.status == "deleted"
    with pytest.raises(NotFound):
        served.client.get(record.id)
    served.client.purge(record.id)
    assert served.client.history(record.id)[-1].op == "purge"
    assert served.memory.history(record.id, namespace=TENANT) == served.client.history(record.id)


def test_export_writes_what_memory_export_writes(served: Served, tmp_path: Path) -> None:
    _seed(served.client)
    path = tmp_path / "remote.jsonl"
    count = served.client.export(path)
    stream = io.StringIO()
    assert served.memory.export(stream, namespace=TENANT) == count > 0
    strip = [json.loads(x) for x in stream.getvalue().splitlines()]
    mine = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]
    for header in (strip[0], mine[0]):
        header.pop("exported_at")
    assert mine == strip
    buffer = io.StringIO()
    assert served.client.export(buffer, user_id="alice") == count
    with Memory(tmp_path / "copy.db", embedder="hash") as copy:
        assert copy.import_(path) == count
        assert copy.get(mine[1]["record"]["id"], namespace=TENANT).text == TURNS[0]["content"]


def test_stats_are_the_tenants_counts(served: Served) -> None:
    _seed(served.client)
    stats = served.client.stats()
    embedded = served.memory.stats(namespace=TENANT)
    assert stats["records"] == embedded["records"] > 0
    assert stats["by_kind"] == embedded["by_kind"]
    assert "path" not in stats  # the server's file is not the tenant's business


def test_client_is_a_context_manager_with_pooled_connections(served: Served) -> None:
    with Client(served.url, served.secret) as client:
        for _ in range(3):
            client.stats()
        http = client._http
    assert http.is_closed


def test_threads_share_one_client(served: Served) -> None:
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            (record,) = served.client.add(f"note number {i}", user_id="threads")
            assert served.client.get(record.id).text == f"note number {i}"
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(served.client.list(user_id="threads").records) == 8


# -------------------------------------------------------------------- errors


def test_errors_map_to_memorys_exceptions(served: Served) -> None:
    record = _seed(served.client)[0]
    with pytest.raises(NotFound, match="no record"):
        served.client.get("01a20b47-0000-7000-8000-000000000000")
    with pytest.raises(InvalidInput, match="k must be"):
        served.client.search("anything", k=0)
    with pytest.raises(InvalidInput, match="strategy"):
        served.client.search("anything", strategy="nope")
    with pytest.raises(InvalidInput, match="messages is empty"):
        served.client.add([])
    served.client.update(record.id, text="changed once")
    with pytest.raises(Conflict, match="version"):
        served.client.update(record.id, text="changed twice", expected_version=1)
    assert served.client.get(record.id).text == "changed once"


def test_messages_match_the_embedded_ones(served: Served) -> None:
    calls = [
        lambda m, ns: m.get("no-such-id", **ns),
        lambda m, ns: m.search("x", k=0, **ns),
        lambda m, ns: m.list(statuses=["nope"], **ns),
        lambda m, ns: m.add({"content": "x", "colour": "red"}, **ns),
    ]
    for call in calls:
        with pytest.raises(Exception) as remote:
            call(served.client, {})
        with pytest.raises(Exception) as embedded:
            call(served.memory, {"namespace": TENANT})
        assert type(remote.value) is type(embedded.value)
        assert str(remote.value) == str(embedded.value)


def test_another_tenants_ids_do_not_exist(served: Served) -> None:
    (theirs,) = served.memory.add("a secret of another tenant", namespace="other")
    for verb in ("get", "history", "delete", "purge"):
        with pytest.raises(NotFound):
            getattr(served.client, verb)(theirs.id)
    assert served.memory.get(theirs.id, namespace="other").text == "a secret of another tenant"


def test_a_wrong_or_missing_key_is_refused(served: Served) -> None:
    for key in ("ms_0000000000000000_wrong", None):
        with Client(served.url, key) as client, pytest.raises(ConfigError, match="refused"):
            client.get("anything")


def test_namespace_and_token_counter_cannot_be_sent(served: Served) -> None:
    with pytest.raises(InvalidInput, match="namespace is fixed by the API key"):
        served.client.search("x", namespace=TENANT)
    with pytest.raises(InvalidInput, match="namespace"):
        served.client.add("x", namespace="other")
    with pytest.raises(InvalidInput, match="token_counter"):
        served.client.context("x", token_counter=len)
    assert served.memory.stats(namespace="other")["records"] == 0


def test_values_json_cannot_carry_are_refused_before_sending() -> None:
    with pytest.raises(InvalidInput, match="metadata"):
        encode_args("add", {"messages": "x", "metadata": {"when": object()}})
    with pytest.raises(InvalidInput, match="bytes"):
        encode_args("add", {"messages": b"x"})
    with pytest.raises(InvalidInput, match="JSON"):
        encode_args("add", {"messages": "x", "metadata": {"n": float("nan")}})
    with pytest.raises(InvalidInput, match="keys must be str"):
        encode_args("add", {"messages": "x", "metadata": {1: "one"}})


def test_an_unreachable_server_is_a_backend_error() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    with (
        Client(f"http://127.0.0.1:{port}", "key", timeout=2) as client,
        pytest.raises(BackendError, match="cannot reach"),
    ):
        client.stats()


def test_bad_base_urls_and_keys_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="base_url"):
        Client("127.0.0.1:8420")
    with pytest.raises(ConfigError, match="api_key"):
        Client("http://127.0.0.1:8420", "  ")


def _mock(status: int, body: bytes, content_type: str = "application/json") -> Client:
    transport = httpx.MockTransport(
        lambda request: httpx.Response(status, content=body,
                                       headers={"Content-Type": content_type})
    )  # fmt: skip
    return Client("http://memstrata.test", "key", transport=transport)


def _error(code: str, message: str = "m") -> bytes:
    return json.dumps({"error": {"code": code, "message": message}}).encode()


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (400, "invalid_input", InvalidInput),
        (413, "payload_too_large", InvalidInput),
        (400, "invalid_json", InvalidInput),
        (404, "not_found", NotFound),
        (409, "conflict", Conflict),
        (403, "scope_violation", ScopeViolation),
        (400, "config_error", ConfigError),
        (401, "unauthorized", ConfigError),
        (503, "embedding_error", EmbeddingError),
        (503, "backend_error", BackendError),
        (500, "internal_error", BackendError),
        (502, "something_new", BackendError),
        (418, "something_new", InvalidInput),
    ],
)
def test_error_codes_map_to_classes(status: int, code: str, expected: type) -> None:
    with _mock(status, _error(code, "what went wrong")) as client, pytest.raises(expected) as info:
        client.get("x")
    assert type(info.value) is expected
    assert "what went wrong" in str(info.value)


def test_answers_that_are_not_the_api_are_backend_errors() -> None:
    with (
        _mock(200, b"<html>hello</html>", "text/html") as client,
        pytest.raises(BackendError, match="other than JSON"),
    ):
        client.get("x")
    with (
        _mock(200, b'{"unexpected": true}') as client,
        pytest.raises(BackendError, match="unexpected shape"),
    ):
        client.get("x")
    with _mock(502, b"Bad Gateway", "text/plain") as client, pytest.raises(BackendError):
        client.stats()
    assert isinstance(error_from(404, None, "http://x"), ConfigError)  # no API at that path


def test_the_key_sets_the_actor_and_a_client_cannot(served: Served) -> None:
    """History names the key a change was made with; actor= is refused before
    anything is sent, and nothing changes."""
    record = _seed(served.client)[0]
    before = served.memory.history(record.id, namespace=TENANT)
    for verb, args in [("update", {"text": "forged"}), ("delete", {}), ("purge", {}),
                       ("feedback", {"useful": True})]:  # fmt: skip
        with pytest.raises(InvalidInput, match="actor is set by the server"):
            getattr(served.client, verb)(record.id, actor="formation", **args)
    with pytest.raises(InvalidInput, match="actor is set by the server"):
        served.client.add("forged", actor="someone else")
    assert served.memory.history(record.id, namespace=TENANT) == before
    served.client.feedback(record.id, False)
    actors = {e.actor for e in served.client.history(record.id)}
    assert actors == {f"key:{served.secret.split('_')[1]}"}
