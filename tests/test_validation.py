"""Bad input gets a clear InvalidInput naming the problem, and changes nothing."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from memstrata import InvalidInput, Memory


def _assert_rejected(memory: Memory, call: Any, fragment: str) -> None:
    before = memory.stats()["records"]
    with pytest.raises(InvalidInput) as err:
        call()
    assert fragment in str(err.value), str(err.value)
    assert memory.stats()["records"] == before


@pytest.mark.parametrize(
    ("messages", "fragment"),
    [
        ("", "empty"),
        ("   \n\t", "empty"),
        ([], "at least one"),
        ({"content": 42}, "must be a str, got int"),
        ({"content": b"bytes"}, "got bytes"),
        ({"content": "nul\x00byte"}, "NUL"),
        ({"content": "lone \ud800 surrogate"}, "surrogate"),
        ({"content": "x", "colour": "red"}, "unknown field(s) colour"),
        ({"role": "user"}, "no 'content'"),
        ({"content": "x", "role": "wizard"}, "role must be one of"),
        ({"content": "x", "kind": "dream"}, "kind must be one of"),
        ({"content": "x", "occurred_at": "last tuesday"}, "not an ISO 8601"),
        ({"content": "x", "occurred_at": 12345}, "must be an ISO 8601 str"),
        ({"content": "x", "metadata": ["a"]}, "metadata must be a dict"),
        ({"content": "x", "metadata": {"a": object()}}, "JSON-serialisable"),
        ({"content": "x", "metadata": {"a": float("nan")}}, "JSON-serialisable"),
        ({"content": "x", "name": 7}, "name must be a str"),
        (42, "messages must be a str"),
        ([{"content": "fine"}, {"content": ""}], "message 1 content is empty"),
    ],
)
def test_bad_messages_are_rejected_whole(memory: Memory, messages: Any, fragment: str) -> None:
    memory.add("already here")
    _assert_rejected(memory, lambda: memory.add(messages), fragment)
    assert [r.text for r in memory.list().records] == ["already here"]


def test_text_over_the_limit_is_rejected(db_path: Any) -> None:
    with Memory(db_path, embedder="hash", max_text_bytes=1000) as m:
        _assert_rejected(m, lambda: m.add("é" * 501), "over the limit of 1,000")
        assert m.add("é" * 500)[0].text == "é" * 500


def test_default_limit_is_one_megabyte(memory: Memory) -> None:
    _assert_rejected(memory, lambda: memory.add("a" * 1_000_001), "1,000,001 bytes")


@pytest.mark.parametrize(
    ("scope", "fragment"),
    [
        ({"user_id": 5}, "user_id must be a str"),
        ({"user_id": ""}, "user_id must be 1 to 256"),
        ({"session_id": "a\nb"}, "session_id must be 1 to 256"),
        ({"namespace": None}, "namespace is required"),
        ({"agent_id": "x" * 300}, "agent_id must be 1 to 256"),
    ],
)
def test_bad_scopes_are_rejected(memory: Memory, scope: dict, fragment: str) -> None:
    _assert_rejected(memory, lambda: memory.add("hello", **scope), fragment)
    with pytest.raises(InvalidInput, match=fragment.split()[0]):
        memory.search("hello", **scope)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"k": 0}, "k must be between 1"),
        ({"k": "5"}, "k must be an int"),
        ({"offset": -1}, "offset must be an int >= 0"),
        ({"strategy": "magic"}, "strategy must be one of"),
        ({"since": "yesterday"}, "not an ISO 8601"),
        ({"kinds": ["dream"]}, "kind must be one of"),
        ({"metadata": {"a": [1]}}, "values must be str"),
    ],
)
def test_bad_search_arguments(memory: Memory, kwargs: dict, fragment: str) -> None:
    with pytest.raises(InvalidInput, match=fragment):
        memory.search("hello", **kwargs)


def test_bad_query_text(memory: Memory) -> None:
    for query, fragment in (("", "empty"), (None, "must be a str"), ("a\x00", "NUL")):
        with pytest.raises(InvalidInput, match=fragment):
            memory.search(query)  # type: ignore[arg-type]


def test_bad_ids_and_updates(memory: Memory) -> None:
    [r] = memory.add("original")
    with pytest.raises(InvalidInput, match="record id"):
        memory.get(123)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="at least one"):
        memory.update(r.id)
    with pytest.raises(InvalidInput, match="empty"):
        memory.update(r.id, text=" ")
    with pytest.raises(InvalidInput, match="useful must be a bool"):
        memory.feedback(r.id, "yes")  # type: ignore[arg-type]
    assert memory.get(r.id).text == "original" and memory.get(r.id).version == 1


def test_times_with_zones_are_normalised_to_utc(memory: Memory) -> None:
    [r] = memory.add("x", occurred_at="2026-03-02T12:00:00+02:00")
    assert r.occurred_at == "2026-03-02T10:00:00.000000Z"
    [naive] = memory.add("y", occurred_at="2026-03-02 10:00")
    assert naive.occurred_at == "2026-03-02T10:00:00.000000Z"


# ------------------------------------------------------------- issue 10, defect 5


def _deep(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(depth):
        value = {"a": value}
    return value


@pytest.mark.parametrize(
    ("call", "fragment"),
    [
        (lambda m: m.search("x", kinds=5), "kinds must be a list"),
        (lambda m: m.search("x", kinds={"event": 1}), "kinds must be a list"),
        (lambda m: m.search("x", kinds=[]), "kinds is empty"),
        (lambda m: m.search("x", kinds=[["event"]]), "each kind must be one of"),
        (lambda m: m.list(statuses=None), "statuses must be a list"),
        (lambda m: m.list(statuses=False), "statuses must be a list"),
        (lambda m: m.list(statuses=[]), "statuses is empty"),
        (lambda m: m.list(statuses=["gone"]), "each status must be one of"),
        (lambda m: m.add("x", metadata=_deep(1_000)), "nested over 32 levels"),
        (lambda m: m.add({"content": "x", "metadata": {"a": [_deep(1_000)]}}), "nested over"),
        (lambda m: m.add("x", metadata={"a": b"raw"}), "JSON-serialisable"),
        (lambda m: m.add("x", metadata={"a": {1: "int key"}}), "keys must be str"),
        (lambda m: m.add("x", metadata={"a\ud800": 1}), "not valid Unicode"),
        (lambda m: m.search("x", metadata={"n": 2**63}), "outside the 64-bit range"),
        (lambda m: m.list(metadata={"n": -(2**63) - 1}), "outside the 64-bit range"),
        (lambda m: m.list(metadata={"a\\b": 1}), "keys must be non-empty"),
        (lambda m: m.search("x", offset=2**63), "10,000 at most"),
        (lambda m: m.search("x", offset=10_001), "10,000 at most"),
        (lambda m: m.get("\ud800"), "not valid Unicode"),
        (lambda m: m.history("id\x00"), "control character"),
        (lambda m: m.list(cursor="\udcff"), "cursor is not valid Unicode"),
        (lambda m: m.context("x", recent=2**70), "recent must be between"),
        (lambda m: m.context("x", recent="8"), "recent must be an int"),
        (lambda m: m.context("x", token_counter="len"), "token_counter must be a function"),
        (lambda m: m.context("x", token_counter=lambda t: "many"), "must return an int"),
        (lambda m: m.context("x", token_counter=lambda t: 1 / 0), "raised ZeroDivisionError"),
        (lambda m: m.flush(timeout="soon"), "timeout must be a number"),
        (lambda m: m.flush(timeout=float("nan")), "timeout must be >= 0"),
        (lambda m: m.reindex(batch_size=None), "batch_size must be an int"),
        (lambda m: m.reindex(batch_size=2**64), "batch_size must be between"),
        (lambda m: m.export(None), "destination must be a path"),
        (lambda m: m.export(""), "non-empty path"),
        (lambda m: m.export("x" * 5_000), "cannot be used"),
        (lambda m: m.import_(None), "source must be a path"),
        (lambda m: m.import_("no/such/export.jsonl"), "no file at"),
        (lambda m: m.import_("\ud800"), "not a path this system can name"),
    ],
)
def test_wrong_types_and_sizes_are_invalid_input(memory: Memory, call: Any, fragment: str) -> None:
    """Each of these raised TypeError, RecursionError, OverflowError,
    UnicodeEncodeError, FileNotFoundError or an sqlite3 error before."""
    memory.add("already here", metadata={"n": 1})
    _assert_rejected(memory, lambda: call(memory), fragment)


def test_expected_version_must_be_an_int(memory: Memory) -> None:
    [r] = memory.add("original")
    for version, fragment in [("1", "must be an int"), (True, "must be an int"),
                              (1.0, "must be an int"), (0, "must be between 1"),
                              (2**64, "must be between 1")]:  # fmt: skip
        with pytest.raises(InvalidInput, match=f"expected_version {fragment}"):
            memory.update(r.id, text="changed", expected_version=version)
    assert memory.get(r.id).text == "original" and memory.get(r.id).version == 1


@pytest.mark.parametrize(
    ("actor", "fragment"),
    [
        (["a", "list"], "actor must be a str"),
        (b"bytes", "actor must be a str"),
        (7, "actor must be a str"),
        ("", "1 to 128 characters"),
        ("x" * 129, "1 to 128 characters"),
        ("line\nbreak", "no control characters"),
        ("\ud800", "not valid Unicode"),
        ("formation", "engine's own"),
        (" Formation ", "engine's own"),
    ],
)
def test_actor_is_checked_and_formation_is_the_engines(
    memory: Memory, actor: Any, fragment: str
) -> None:
    """A bad actor answered 503 ("try again later") over HTTP, or was written into
    history where it broke every later export; "formation" let a caller pass its
    changes off as the engine's."""
    [r] = memory.add("original")
    calls = [
        lambda: memory.add("more", actor=actor),
        lambda: memory.update(r.id, text="changed", actor=actor),
        lambda: memory.feedback(r.id, True, actor=actor),
        lambda: memory.delete(r.id, actor=actor),
        lambda: memory.purge(r.id, actor=actor),
    ]
    for call in calls:
        _assert_rejected(memory, call, fragment)
    assert [e.op for e in memory.history(r.id)] == ["add"]
    memory.update(r.id, text="changed", actor="tester")
    assert memory.history(r.id)[-1].actor == "tester"


@pytest.mark.parametrize(
    "moment",
    ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-01:00", "0001-01-01T04:59:59+05:00"],
)
def test_times_past_the_calendar_in_utc_are_invalid_input(memory: Memory, moment: str) -> None:
    """Accepted as years 1 and 9999 before, then OverflowError once converted to UTC."""
    _assert_rejected(memory, lambda: memory.add("x", occurred_at=moment), "years 1 to 9999")
    with pytest.raises(InvalidInput, match=r"since .* years 1 to 9999"):
        memory.search("x", since=moment)
    zone = dt.timezone(dt.timedelta(hours=5))
    with pytest.raises(InvalidInput, match="years 1 to 9999"):
        memory.list(until=dt.datetime(1, 1, 1, 3, tzinfo=zone))


def test_times_at_the_calendar_ends_in_utc_are_kept(memory: Memory) -> None:
    [early] = memory.add("x", occurred_at="0001-01-01T05:00:00+05:00")
    [late] = memory.add("y", occurred_at="9999-12-31T22:59:59-01:00")
    assert late.occurred_at == "9999-12-31T23:59:59.000000Z"
    assert memory.get(early.id).occurred_at.endswith("01-01T00:00:00.000000Z")


def test_a_metadata_filter_matches_what_it_accepts(memory: Memory) -> None:
    memory.add("big", metadata={"n": 2**63 - 1, "s": "é"})
    memory.add("small", metadata={"n": 1})
    assert [r.text for r in memory.list(metadata={"n": 2**63 - 1}).records] == ["big"]
    assert [r.text for r in memory.list(metadata={"s": "é"}).records] == ["big"]
    assert [r.text for r in memory.list(statuses="active", kinds="event").records] == [
        "small", "big"
    ]  # fmt: skip


def test_deep_but_allowed_metadata_round_trips(memory: Memory) -> None:
    nested = _deep(30)
    [r] = memory.add("x", metadata={"tree": nested, "note": "a \\u0000 escape, as text"})
    assert memory.get(r.id).metadata == {"tree": nested, "note": "a \\u0000 escape, as text"}
