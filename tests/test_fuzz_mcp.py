"""Hypothesis on the MCP tools, through the SDK's own client: any JSON for any
argument of any tool. A tool either answers, or fails with the engine's error code
(`invalid_input: …`) or the SDK's check of the tool's argument types — never with an
exception from inside; and a call that failed changed nothing stored.
`MEMSTRATA_FUZZ_EXAMPLES` sets the examples per tool (default 40)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

pytest.importorskip("mcp")

from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st
from mcp import Client
from pydantic import TypeAdapter
from test_fuzz_api import _ODD, JSON, TEXT, stored_state

from memstrata import Memory
from memstrata.errors import MemstrataError
from memstrata.server.mcp import create_mcp

EXAMPLES = int(os.environ.get("MEMSTRATA_FUZZ_EXAMPLES", "40"))
CODES = "|".join(sorted({cls.code for cls in MemstrataError.__subclasses__()}))
# What a failed call may say: the engine's own error, or the SDK's check of the
# arguments against the tool's schema.
FAILURE = re.compile(rf"Error executing tool \w+: (({CODES}): |\d+ validation errors? for )")


def _depth(value: Any) -> int:
    depth = 0
    while isinstance(value, (list, dict)) and value:
        value = next(iter(value.values())) if isinstance(value, dict) else value[0]
        depth += 1
    return depth


# The hostile values of the API fuzzer that JSON can carry, but for the ones nested
# 1,000 deep, which the SDK's own client cannot encode.
HOSTILE = [
    v
    for v in _ODD
    if (v is None or isinstance(v, (bool, int, float, str, list, dict)))
    and not (isinstance(v, (list, dict)) and _depth(v) > 100)
]
_REQUEST = TypeAdapter(dict[str, Any])
ARGUMENTS = {
    "add": ["text", "speaker", "role", "occurred_at", "user_id", "agent_id", "session_id"],
    "search": ["query", "k", "user_id", "agent_id", "session_id"],
    "context": ["query", "budget_tokens", "user_id", "agent_id", "session_id"],
    "get": ["record_id"],
    "delete": ["record_id"],
    "history": ["record_id"],
}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Path, list[str]]]:
    path = tmp_path_factory.mktemp("fuzz-mcp") / "tools.db"
    with Memory(path, embedder="hash") as memory:
        ids = [r.id for r in memory.add(["alice moved to Lisbon", "bob has a dog"],
                                        namespace="desk", user_id="alice")]  # fmt: skip
        yield create_mcp(memory, lambda: "desk"), path, ids


@pytest.mark.parametrize("tool", sorted(ARGUMENTS))
@settings(max_examples=EXAMPLES, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))  # fmt: skip
@given(data=st.data())
def test_any_arguments_to_any_tool(
    served: tuple[Any, Path, list[str]], tool: str, data: Any
) -> None:
    server, path, ids = served
    well_formed = st.one_of(TEXT, st.sampled_from([*ids, "alice", "user", "2026-04-10"]))
    value = st.one_of(well_formed, st.sampled_from(HOSTILE), JSON)
    args = data.draw(
        st.fixed_dictionaries({}, optional={name: value for name in ARGUMENTS[tool]}),
        label="arguments",
    )
    try:  # what the SDK's client does to a request before it sends it
        _REQUEST.dump_python(args, mode="json")
    except (UnicodeEncodeError, ValueError):
        reject()  # the client cannot send it (a lone surrogate in a key): nothing to test
    before = stored_state(path)

    async def call() -> Any:
        async with Client(server) as client:
            return await client.call_tool(tool, args)

    result = anyio.run(call)
    if result.is_error:
        text = result.content[0].text
        assert FAILURE.match(text), text
        assert stored_state(path) == before, f"{tool} failed but changed what is stored"
