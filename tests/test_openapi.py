"""The OpenAPI document types every answer: each verb's 200 body, and every error
it may give with the body `{"error": {"code", "message"}}`, so that a generated
client is typed. The models are checked against the real answers of a live server."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("fastapi")

from helpers_server import running

from memstrata import Memory
from memstrata.retrieve.context import ContextPart
from memstrata.server import models, service
from memstrata.server.http import create_app
from memstrata.server.keys import create_key
from memstrata.types import RECORD_FIELDS, HistoryEntry

ERRORS = {"400", "401", "403", "404", "408", "409", "413", "503"}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    memory = Memory(tmp_path_factory.mktemp("openapi") / "doc.db", embedder="hash")
    _, secret = create_key(memory.store, "doc")
    try:
        with running(create_app(memory)) as url:
            yield url, {"Authorization": f"Bearer {secret}"}
    finally:
        memory.close()


def _spec(url: str) -> dict[str, Any]:
    spec: dict[str, Any] = httpx.get(f"{url}/openapi.json").json()
    return spec


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    name = schema["$ref"].rsplit("/", 1)[-1]
    resolved: dict[str, Any] = spec["components"]["schemas"][name]
    return resolved


def test_every_verb_declares_its_answer_and_its_errors(served: tuple[str, Any]) -> None:
    spec = _spec(served[0])
    operations = [(f"/v1/{verb}", "post", verb) for verb in service.VERBS]
    for path, method, verb in [*operations, ("/v1/stats", "get", "stats")]:
        responses = spec["paths"][path][method]["responses"]
        assert set(responses) >= ERRORS, (path, sorted(responses))
        for status in ERRORS:
            schema = responses[status]["content"]["application/json"]["schema"]
            error = _resolve(spec, schema)
            assert error["required"] == ["error"], status
            detail = _resolve(spec, error["properties"]["error"])
            assert set(detail["required"]) == {"code", "message"}
        ok = _resolve(spec, responses["200"]["content"]["application/json"]["schema"])
        assert ok["title"] == models.ANSWERS[verb].__name__, path
        assert ok["properties"], path  # not an empty schema


def test_the_models_have_the_fields_the_engine_writes() -> None:
    """A field added to Record, HistoryEntry or ContextPart must reach the document."""
    assert tuple(models.RecordOut.model_fields) == RECORD_FIELDS
    entry_fields = [f.name for f in dataclasses.fields(HistoryEntry)]
    assert list(models.HistoryEntryOut.model_fields) == entry_fields
    part_fields = [f.name for f in dataclasses.fields(ContextPart)]
    assert list(models.ContextPartOut.model_fields) == part_fields
    search = models.SearchAnswer.model_json_schema()
    assert search["properties"]["warnings"]["items"] == {"type": "string"}
    assert search["required"] == ["hits"]  # warnings: only when dense search was skipped


def test_request_bodies_are_typed_and_take_no_actor(served: tuple[str, Any]) -> None:
    spec = _spec(served[0])
    for verb in service.VERBS:
        body = spec["paths"][f"/v1/{verb}"]["post"]["requestBody"]["content"]
        schema = body["application/json"]["schema"]
        assert schema["additionalProperties"] is False, verb
        assert "actor" not in schema["properties"] and "namespace" not in schema["properties"]
    search = spec["paths"]["/v1/search"]["post"]["requestBody"]["content"]["application/json"]
    properties = search["schema"]["properties"]
    assert properties["k"]["minimum"] == 1 and properties["offset"]["maximum"] == 10_000
    assert properties["strategy"]["enum"] == ["layered", "hybrid", "bm25", "dense"]
    for verb in ("search", "context"):
        body = spec["paths"][f"/v1/{verb}"]["post"]["requestBody"]["content"]
        as_of = body["application/json"]["schema"]["properties"]["as_of"]
        assert [t["type"] for t in as_of["anyOf"]] == ["string", "null"], verb
        assert "as the memory stood" in as_of["description"], verb
    add = spec["paths"]["/v1/add"]["post"]["requestBody"]["content"]["application/json"]
    assert "#/components/schemas/Message" in str(add["schema"]["properties"]["messages"])
    assert spec["components"]["schemas"]["Message"]["required"] == ["content"]


def test_real_answers_fit_the_models(served: tuple[str, Any]) -> None:
    url, headers = served
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:

        def answer(verb: str, status: int = 200, **args: Any) -> Any:
            response = client.post(f"/v1/{verb}", json=args)
            assert response.status_code == status, response.text
            model = models.ANSWERS[verb] if status == 200 else models.ErrorAnswer
            model.model_validate(response.json())  # extra fields are refused too
            return response.json()

        turns = [
            {"role": "user", "name": "alice", "content": "I moved to Lisbon in March"},
            {"role": "user", "name": "alice", "content": "My sister Clara visits soon"},
        ]
        records = answer("add", messages=turns, user_id="alice", session_id="s1",
                         occurred_at="2026-04-10T09:00:00Z")["records"]  # fmt: skip
        rid = records[0]["id"]
        found = answer("search", query="where does alice live", user_id="alice")
        assert found["hits"] and any(h.get("facts") for h in found["hits"])
        answer("context", query="alice", user_id="alice", session_id="s1")
        answer("get", record_id=rid)
        answer("list", limit=1)
        answer("update", record_id=rid, text="alice moved to Porto", expected_version=1)
        answer("update", 409, record_id=rid, text="stale", expected_version=1)
        answer("feedback", record_id=rid, useful=True)
        answer("history", record_id=rid)
        answer("export")
        answer("stats")
        models.StatsAnswer.model_validate(client.get("/v1/stats").json())
        answer("delete", record_id=rid)
        answer("purge", record_id=rid)
        answer("get", 404, record_id=rid)
        answer("search", 400, query="")
        models.ErrorAnswer.model_validate(httpx.post(f"{url}/v1/stats").json())  # 401
    models.HealthAnswer.model_validate(httpx.get(f"{url}/healthz").json())
    models.ReadyAnswer.model_validate(httpx.get(f"{url}/readyz").json())


def test_a_server_that_is_not_ready_says_so_in_the_declared_shape(tmp_path: Path) -> None:
    memory = Memory(tmp_path / "gone.db", embedder="hash")
    with running(create_app(memory, auth=False)) as url:
        memory.close()
        response = httpx.get(f"{url}/readyz")
    assert response.status_code == 503
    models.NotReadyAnswer.model_validate(response.json())
