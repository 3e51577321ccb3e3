"""Hypothesis on the Python API: every verb, every argument, given well-formed and
hostile values (wrong types, huge and empty strings, lone surrogates and invalid
UTF-8, deep nesting, integers past 64 bits, NaN and infinities).

The one kind of exception a caller may see is a `MemstrataError`; after a call that
raised, nothing stored has changed. `MEMSTRATA_FUZZ_EXAMPLES` sets the examples per
verb (default 40; e.g. 2000 for a long run)."""

from __future__ import annotations

import datetime as dt
import inspect
import io
import json
import os
import sqlite3
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memstrata import Memory, MemstrataError
from memstrata.types import KINDS, STATUSES

EXAMPLES = int(os.environ.get("MEMSTRATA_FUZZ_EXAMPLES", "40"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
# Every verb that takes input; `prefetch` is left out on purpose (it ignores what
# it cannot use, by design).
VERBS = ("add", "search", "context", "get", "list", "update", "delete", "history", "purge",
         "feedback", "export", "import_", "stats", "flush", "reindex")  # fmt: skip


def _deep_dict(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth):
        value = {"a": value}
    return value


def _deep_list(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


class _Weird:
    """An object no verb can use, whose repr is not short."""

    def __repr__(self) -> str:
        return "<weird " + "w" * 500 + ">"


_ODD = [
    b"bytes", b"\xff\xfe invalid utf-8", bytearray(b"x"), _Weird(), {1, 2}, frozenset(), (),
    1j, Ellipsis, float("nan"), float("inf"), -float("inf"), -0.0, 2**63, -(2**63) - 1,
    2**64, 10**40, True, False, -1, 0, "", " \t\n", "\x00", "\ud800", "a\udcffb", "x" * 300,
    "é" * 600_000, _deep_dict(1_000), _deep_list(1_000), _deep_dict(40), [{"content": "\ud800"}],
    dt.datetime.min, dt.datetime.max, dt.date.min, dt.date.max,
    dt.datetime(1, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=5))),
    dt.datetime(9999, 12, 31, 23, 59, tzinfo=dt.timezone(dt.timedelta(hours=-1))),
    "0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-01:00", "0999-12-31T00:00:00Z",
    "2026-02-30", "2026-03-02T10:00:00\ud800", len, lambda *a: "tokens", print,
]  # fmt: skip

_SURROGATES = st.characters(categories=["Cs"])
TEXT = st.one_of(
    st.text(max_size=30),
    st.text(st.one_of(st.characters(), _SURROGATES), max_size=10),
    st.text(st.sampled_from(string.printable), max_size=20),
)
INTS = st.one_of(
    st.integers(), st.integers(-3, 3), st.sampled_from([2**31, 2**63 - 1, 2**63, 2**64, -(2**63)])
)
SCALARS = st.one_of(st.none(), st.booleans(), INTS, st.floats(), TEXT)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12,
)
ANYTHING = st.one_of(st.sampled_from(_ODD), JSON, st.tuples(JSON), st.dictionaries(INTS, JSON))

WORDS = st.sampled_from(["lisbon", "alice", "moved", "porto", "clara", "trains", "dog"])
SENTENCE = st.lists(WORDS, min_size=1, max_size=6).map(" ".join)
TIMES = st.one_of(
    st.sampled_from(["2026-04-10T09:00:00Z", "2025-01-01", "2026-04-10 10:00+02:00"]),
    st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2100, 1, 1)),
)
METADATA = st.dictionaries(
    st.sampled_from(["source", "n", "ok"]), st.one_of(st.integers(-5, 5), WORDS, st.booleans())
)
MESSAGE = st.one_of(
    SENTENCE,
    st.fixed_dictionaries(
        {"content": SENTENCE},
        optional={
            "role": st.sampled_from(["user", "assistant"]),
            "name": WORDS,
            "occurred_at": TIMES,
            "metadata": METADATA,
            "tags": st.lists(WORDS, max_size=2),
            "kind": st.sampled_from(KINDS),
        },
    ),
)


def _valid(name: str, ids: list[str], tmp: Path) -> st.SearchStrategy[Any]:
    """Values that an argument called `name` accepts (to get past the first check
    and reach the next argument's)."""
    # The store changes between examples (ids come and go): draw a position with fixed
    # bounds, so that hypothesis sees the same draws when it replays an example.
    known_ids = st.integers(0, 99).map(lambda i: ids[i % len(ids)] if ids else "none")
    table: dict[str, st.SearchStrategy[Any]] = {
        "messages": st.one_of(MESSAGE, st.lists(MESSAGE, min_size=1, max_size=3)),
        "namespace": st.sampled_from(["default", "other"]),
        "user_id": st.sampled_from([None, "alice", "bob"]),
        "agent_id": st.sampled_from([None, "agent"]),
        "session_id": st.sampled_from([None, "s1", "s2"]),
        "occurred_at": TIMES, "since": TIMES, "until": TIMES, "as_of": TIMES, "now": TIMES,
        "metadata": METADATA,
        "actor": st.sampled_from([None, "tester"]),
        "record_id": known_ids, "cursor": known_ids,
        "query": SENTENCE, "text": SENTENCE,
        "k": st.integers(1, 20), "offset": st.integers(0, 5), "limit": st.integers(1, 20),
        "budget_tokens": st.integers(1, 2_000), "recent": st.integers(0, 10),
        "kinds": st.lists(st.sampled_from(KINDS), min_size=1, max_size=3),
        "statuses": st.lists(st.sampled_from(STATUSES), min_size=1, max_size=3),
        "strategy": st.sampled_from(["layered", "hybrid", "bm25", "dense"]),
        "tags": st.lists(WORDS, max_size=3),
        "expected_version": st.integers(1, 3),
        "useful": st.booleans(),
        "token_counter": st.sampled_from([None, lambda text: len(text) // 4 + 1]),
        "destination": st.one_of(st.builds(io.StringIO), st.just(str(tmp / "export.jsonl"))),
        "source": st.one_of(st.builds(lambda: io.StringIO(_EXPORT[0])), _damaged_export()),
        "timeout": st.floats(0, 0.5),
        "batch_size": st.integers(1, 300),
    }  # fmt: skip
    return table[name]


_EXPORT = [""]  # a valid export of the seeded store, for import_


@st.composite
def _damaged_export(draw: Any) -> io.StringIO:
    """The seeded store's export under new ids (so that it would be inserted), with
    one line changed: a field of its record or history entry set to any JSON value,
    a field dropped, or the whole line replaced."""
    fresh = str(draw(st.uuids()))
    items = [json.loads(line) for line in _EXPORT[0].splitlines()]
    for item in items:
        body = item.get("record") or item.get("entry") or {}
        for key in ("id", "record_id"):
            if key in body:
                body[key] = fresh + body[key][-4:]
    number = draw(st.integers(0, len(items) - 1))
    body = items[number].get("record") or items[number].get("entry") or items[number]
    how = draw(st.sampled_from(["set", "set", "drop", "line"]))
    key = draw(st.sampled_from(sorted(body)))
    if how == "set":
        body[key] = draw(JSON)
    elif how == "drop":
        del body[key]
    lines = [json.dumps(item) for item in items]
    if how == "line":
        lines[number] = draw(TEXT)
    return io.StringIO("\n".join(lines) + "\n")


def stored_state(path: Path) -> list[list[tuple[Any, ...]]]:
    """Everything stored, read by a connection of our own (not the store's)."""
    with sqlite3.connect(path) as conn:
        return [
            conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()
            for table in ("records", "history", "links")
        ]


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Memory, Path]]:
    path = tmp_path_factory.mktemp("fuzz") / "fuzz.db"
    # A fuzzed destination may be any string: a relative path lands here, not in the checkout.
    with pytest.MonkeyPatch.context() as patch, Memory(path, embedder="hash") as memory:
        patch.chdir(path.parent)
        turns = [
            {"role": "user", "name": "alice", "content": "I moved to Lisbon in March"},
            {"role": "user", "name": "alice", "content": "Clara visits next weekend"},
        ]
        memory.add(turns, user_id="alice", session_id="s1", occurred_at="2026-04-10T09:00:00Z")
        memory.add("Bob adopted a dog called Pixel yesterday", user_id="bob", namespace="other")
        buffer = io.StringIO()
        memory.export(buffer)
        _EXPORT[0] = buffer.getvalue()
        yield memory, path


def _ids(memory: Memory) -> list[str]:
    ids = []
    for namespace in ("default", "other"):
        page = memory.list(namespace=namespace, statuses=list(STATUSES), limit=50)
        ids.extend(r.id for r in page.records)
    return ids


def draw_args(data: Any, verb: str, ids: list[str], tmp: Path) -> dict[str, Any]:
    """One call's arguments. Mostly one argument is anything at all and the others
    are well-formed or left out, so that every check along the way is reached;
    sometimes every argument is anything."""
    params = [p for name, p in inspect.signature(getattr(Memory, verb)).parameters.items()
              if name != "self"]  # fmt: skip
    names = [p.name for p in params]
    chaos = data.draw(st.integers(0, 9), label="chaos") == 0
    target = data.draw(st.sampled_from(names or [""]), label="target")
    args: dict[str, Any] = {}
    for param in params:
        name = param.name
        if chaos:
            choices = ["valid", "anything"]
        elif name == target:
            choices = ["anything"] * 5 + ["valid"]
        else:
            choices = ["valid"]
        if param.default is not inspect.Parameter.empty and name != target:
            choices += ["omit"] * len(choices)
        choice = data.draw(st.sampled_from(choices), label=name)
        if choice == "omit":
            continue
        strategy = _valid(name, ids, tmp) if choice == "valid" else ANYTHING
        args[name] = data.draw(strategy, label=name)
    return args


@pytest.mark.parametrize("verb", VERBS)
@FUZZ
@given(data=st.data())
def test_any_input_to_any_verb(seeded: tuple[Memory, Path], verb: str, data: Any) -> None:
    memory, path = seeded
    args = draw_args(data, verb, _ids(memory), path.parent)
    before = stored_state(path)
    try:
        getattr(memory, verb)(**args)
    except MemstrataError:
        assert stored_state(path) == before, f"{verb} raised but changed what is stored"
    # Any other exception fails the test, with the arguments hypothesis drew.
