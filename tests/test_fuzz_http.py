"""Schemathesis against the server's own OpenAPI document, on a live loopback server:
requests that follow the document and requests that break it, for every operation.

Every answer is below 500, carries a status the document declares with the body
schema it declares (errors as `{"error": {"code", "message"}}`), and a request that
breaks the document is refused with a 4xx. `MEMSTRATA_FUZZ_EXAMPLES` sets the
examples per operation and mode (default 10)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("schemathesis")

import schemathesis
from helpers_server import running
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from memstrata import Memory
from memstrata.server.http import create_app
from memstrata.server.keys import create_key
from memstrata.server.service import VERBS

EXAMPLES = int(os.environ.get("MEMSTRATA_FUZZ_EXAMPLES", "10"))


class Served:
    url = ""
    headers: dict[str, str] = {}  # noqa: RUF012
    path: Path | None = None


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[type[Served]]:
    path = tmp_path_factory.mktemp("schemathesis") / "served.db"
    memory = Memory(path, embedder="hash")
    _, secret = create_key(memory.store, "fuzz")
    memory.add([{"role": "user", "name": "alice", "content": "I moved to Lisbon in March"}],
               namespace="fuzz", user_id="alice", session_id="s1")  # fmt: skip
    try:
        with running(create_app(memory)) as url:
            Served.url, Served.path = url, path
            Served.headers = {"Authorization": f"Bearer {secret}"}
            yield Served
    finally:
        memory.close()


@pytest.fixture(scope="module")
def api_schema(server: type[Served]) -> Any:
    return schemathesis.openapi.from_url(f"{server.url}/openapi.json")


def error_body(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every error answer is `{"error": {"code": str, "message": str}}`."""
    if response.status_code < 400:
        return None
    body = response.json()
    error = body.get("error") if isinstance(body, dict) else None
    assert isinstance(error, dict), f"error body is not {{'error': {{...}}}}: {body!r:.200}"
    assert isinstance(error.get("code"), str) and error["code"], body
    assert isinstance(error.get("message"), str) and error["message"], body
    return True


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
    error_body,
]


# Each operation of the document (the fixture checks that none is left out).
OPERATIONS = [("POST", f"/v1/{verb}") for verb in VERBS] + [
    ("GET", "/v1/stats"), ("GET", "/healthz"), ("GET", "/readyz")
]  # fmt: skip


def test_every_operation_is_fuzzed(api_schema: Any) -> None:
    declared = {(method.upper(), path) for path, item in api_schema.raw_schema["paths"].items()
                for method in item}  # fmt: skip
    assert declared == set(OPERATIONS)


# Requests that follow the document, and (for operations with a JSON body) that
# break it. A query string carries only strings: the "wrong types" schemathesis puts
# in GET /v1/stats's arrive as valid strings, so only POST /v1/stats is broken on purpose.
CASES = [
    (method, path, mode)
    for method, path in OPERATIONS
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if mode is GenerationMode.POSITIVE or method == "POST"
]


@pytest.mark.parametrize(("method", "path", "mode"), CASES)
def test_the_api_keeps_its_document(
    api_schema: Any, server: type[Served], method: str, path: str, mode: GenerationMode
) -> None:
    operation = api_schema[path][method]

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        response = case.call(base_url=server.url, headers=server.headers, timeout=30)
        case.validate_response(response, checks=CHECKS)

    run()
