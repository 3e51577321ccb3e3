"""The contract every Store backend passes. Add a backend to BACKENDS and it runs
through the same steps."""

from __future__ import annotations

import dataclasses
import math
import random
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from memstrata import BackendError, Conflict, NotFound, Record, Scope
from memstrata.embed.hashing import HashEmbedder
from memstrata.ids import new_id, now
from memstrata.store import fts
from memstrata.store.base import EmbedderInfo, Filters, Store
from memstrata.store.postgres import PostgresStore
from memstrata.store.sqlite import SQLiteStore

pytest_plugins = ["helpers_pg"]  # pg_dsn: a fresh database on a throwaway PostgreSQL

EMB = HashEmbedder(32)
INFO = EmbedderInfo(EMB.name, EMB.dim, EMB.fingerprint)


def _sqlite(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    return SQLiteStore(tmp_path / "contract.db")


def _postgres(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    return PostgresStore(str(request.getfixturevalue("pg_dsn")))


BACKENDS: dict[str, Callable[[pytest.FixtureRequest, Path], Store]] = {
    "sqlite": _sqlite,
    "postgres": _postgres,
}


@pytest.fixture(params=sorted(BACKENDS))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    s = BACKENDS[request.param](request, tmp_path)
    s.bind_embedder(INFO)
    yield s
    s.close()


def _rec(text: str, scope: Scope, **fields: object) -> Record:
    at = now()
    return Record(
        id=new_id(), kind="event", text=text, scope=scope, occurred_at=at, recorded_at=at, **fields
    )  # type: ignore[arg-type]


def _put(store: Store, texts: list[str], scope: Scope, **fields: object) -> list[Record]:
    records = [_rec(t, scope, **fields) for t in texts]
    store.insert(records, EMB.embed(texts), actor="test")
    return records


A = Scope("t1", user_id="alice")
B = Scope("t2", user_id="bob")
ALL = Filters()


def test_a_record_read_is_the_callers_own(store: Store) -> None:
    [r] = _put(store, ["hello world"], A, metadata={"nested": {"x": [1]}}, tags=["t"])
    for _ in range(2):  # the second read may come from a cache of decoded records
        [got] = store.get_many([r.id], A)
        got.tags.append("mine")
        got.metadata["nested"]["x"].append(2)
        got.source_ids.append("elsewhere")
    assert store.get_many([r.id], A) == [r]
    assert store.get(r.id, A) == r


def test_insert_get_round_trip(store: Store) -> None:
    [r] = _put(
        store,
        ["hello world"],
        A,
        metadata={"n": 1, "nested": {"x": [1, 2]}},
        tags=["t"],
        speaker="alice",
        role="user",
    )
    assert store.get(r.id, A) == r
    assert store.get(r.id, Scope("t1")) == r
    with pytest.raises(NotFound):
        store.get(r.id, B)
    with pytest.raises(NotFound):
        store.get(r.id, Scope("t1", user_id="carol"))


def test_get_many_keeps_order_and_scope(store: Store) -> None:
    a = _put(store, ["one", "two", "three"], A)
    b = _put(store, ["four"], B)
    ids = [a[2].id, b[0].id, a[0].id, "missing"]
    assert [r.id for r in store.get_many(ids, A)] == [a[2].id, a[0].id]


def test_text_search_ranks_and_filters(store: Store) -> None:
    _put(store, ["apple pie recipe", "apple apple orchard", "car engine"], A)
    _put(store, ["apple for bob"], B)
    hits = store.text_search("apple", A, ALL, 10)
    assert len(hits) == 2 and hits[0][1] >= hits[1][1]
    assert store.text_search("engine", B, ALL, 10) == []


def test_vector_search_is_exact_within_scope(store: Store) -> None:
    texts = [f"memory number {i} about topic {i % 7}" for i in range(200)]
    records = _put(store, texts, A)
    _put(store, texts, B)
    query = EMB.embed(["topic 3 memory"])[0]
    got = store.vector_search(query, A, ALL, 10)
    matrix = EMB.embed(texts)
    exact = matrix @ query
    by_id = {r.id: float(exact[i]) for i, r in enumerate(records)}
    # The same scores as an exact scan, best first (ties may come in any order).
    assert np.allclose([g[1] for g in got], np.sort(exact)[::-1][:10], atol=1e-5)
    assert all(abs(by_id[i] - score) < 1e-5 for i, score in got)


def test_revise_versions_and_conflicts(store: Store) -> None:
    [r] = _put(store, ["v1"], A)
    new = store.revise(
        r.id,
        A,
        lambda cur: {"text": "v2"},
        EMB.embed(["v2"])[0],
        op="update",
        expected_version=1,
        actor="t",
    )
    assert (new.version, new.text) == (2, "v2")
    with pytest.raises(Conflict):
        store.revise(
            r.id, A, lambda cur: {"text": "v3"}, None, op="update", expected_version=1, actor="t"
        )
    with pytest.raises(NotFound):
        store.revise(
            r.id, B, lambda cur: {"text": "x"}, None, op="update", expected_version=None, actor="t"
        )
    assert [h.op for h in store.history(r.id, A)] == ["add", "update"]
    assert store.text_search("v1", A, ALL, 5) == []
    assert [h[0] for h in store.text_search("v2", A, ALL, 5)] == [r.id]


def test_status_change_leaves_search_but_not_history(store: Store) -> None:
    [r, s] = _put(store, ["gone soon", "stays here"], A)
    store.revise(
        r.id,
        A,
        lambda cur: {"status": "deleted"},
        None,
        op="delete",
        expected_version=None,
        actor="t",
    )
    assert store.text_search("gone", A, ALL, 5) == []
    vec = EMB.embed(["gone soon"])[0]
    assert r.id not in [h[0] for h in store.vector_search(vec, A, ALL, 5)]
    deleted = Filters(statuses=("deleted",))
    assert [x.id for x in store.list_records(A, deleted, limit=10, cursor=None).records] == [r.id]
    assert [x.id for x in store.list_records(A, ALL, limit=10, cursor=None).records] == [s.id]


def test_purge_erases_text_and_history_content(store: Store) -> None:
    [r] = _put(store, ["secret text"], A)
    store.purge(r.id, A, actor="t")
    history = store.history(r.id, A)
    assert history[-1].op == "purge"
    assert all("secret" not in str(h.before) + str(h.after) for h in history)
    assert store.text_search("secret", A, ALL, 5) == []


def test_iter_import_round_trip(store: Store, tmp_path: Path) -> None:
    records = _put(store, ["a", "b", "c"], A)
    items = list(store.iter_records(A))
    assert [r.id for r, _ in items] == [r.id for r in records]
    other = SQLiteStore(tmp_path / "other.db")  # from either backend into a SQLite file
    other.bind_embedder(INFO)
    n = other.import_records([(r, v, store.history_entries(r.id)) for r, v in items], actor="t")
    assert n == 3
    assert other.import_records([(r, v, []) for r, v in items], actor="t") == 0
    assert [other.get(r.id, A) for r in records] == records
    other.close()


def test_missing_vectors_and_set_vectors(store: Store) -> None:
    records = [_rec("no vector yet", A)]
    store.insert(records, None, actor="t")
    assert store.missing_vectors(10) == records
    assert store.vector_search(EMB.embed(["no vector yet"])[0], A, ALL, 5) == []
    store.set_vectors([records[0].id], EMB.embed(["no vector yet"]))
    assert store.missing_vectors(10) == []
    assert store.vector_search(EMB.embed(["no vector yet"])[0], A, ALL, 5)[0][0] == records[0].id


def test_list_filters_by_time_kind_and_metadata(store: Store) -> None:
    early = _rec("early", A, metadata={"src": "x", "flag": True})
    early.occurred_at = "2020-01-01T00:00:00.000000Z"
    late = _rec("late", A, metadata={"src": "y", "flag": False})
    late.kind = "fact"
    store.insert([early, late], EMB.embed(["early", "late"]), actor="t")

    def ids(**kw: object) -> list[str]:
        page = store.list_records(A, Filters(**kw), limit=10, cursor=None)  # type: ignore[arg-type]
        return [r.id for r in page.records]

    assert ids(until="2021-01-01T00:00:00.000000Z") == [early.id]
    assert ids(since="2021-01-01T00:00:00.000000Z") == [late.id]
    assert ids(kinds=("fact",)) == [late.id]
    assert ids(metadata={"src": "x"}) == [early.id]
    assert ids(metadata={"flag": False}) == [late.id]


def test_text_search_finds_a_small_scope_under_many_better_foreign_matches(store: Store) -> None:
    _put(store, ["kiwi kiwi kiwi kiwi"] * 700, B)
    own = _put(store, ["a kiwi among many other words here", "kiwi again, once"], A)
    hits = store.text_search("kiwi", A, ALL, 2)
    assert sorted(h[0] for h in hits) == sorted(r.id for r in own)
    assert len(store.text_search("kiwi", B, ALL, 650)) == 650


def test_vectors_are_the_stored_ones_and_only_for_live_records(store: Store) -> None:
    a, b = _put(store, ["harbour ferry", "mountain trail"], A)
    got = store.vectors([a.id, b.id, "no-such-id"])
    assert set(got) == {a.id, b.id}
    assert np.allclose(got[a.id], EMB.embed(["harbour ferry"])[0], atol=1e-6)
    store.purge(b.id, A, actor="test")
    assert set(store.vectors([a.id, b.id])) == {a.id}


def test_latest_is_the_newest_active_event_in_scope(store: Store) -> None:
    assert store.latest(A) is None
    for text, at in (("first", "2023-05-01T10:00:00.000000Z"),
                     ("second", "2023-05-20T10:00:00.000000Z")):  # fmt: skip
        record = _rec(text, A)
        record.occurred_at = at
        store.insert([record], EMB.embed([text]), actor="test")
    later = _rec("elsewhere", B)
    later.occurred_at = "2024-01-01T00:00:00.000000Z"
    store.insert([later], EMB.embed(["elsewhere"]), actor="test")
    assert store.latest(A) == "2023-05-20T10:00:00.000000Z"
    assert store.latest(A, until="2023-05-10T00:00:00.000000Z") == "2023-05-01T10:00:00.000000Z"
    assert store.latest(B) == "2024-01-01T00:00:00.000000Z"


def _fact(text: str, source: Record, **fields: object) -> Record:
    fact = _rec(text, source.scope, source_ids=[source.id], **fields)
    return dataclasses.replace(fact, kind="fact")


def test_text_search_finds_derived_facts_and_can_leave_them_out(store: Store) -> None:
    [turn] = _put(store, ["we went sailing near the lighthouse"], A)
    fact = _fact("alice went sailing near the lighthouse", turn)
    store.save_derived([fact], EMB.embed([fact.text]), links=[(fact.id, turn.id, "evidence", 1.0)])
    both = {i for i, _ in store.text_search("lighthouse sailing", A, ALL, 10)}
    assert both == {turn.id, fact.id}
    stored = store.text_search("lighthouse", A, Filters(derived=False), 10)
    assert [i for i, _ in stored] == [turn.id]
    derived = store.text_search("lighthouse", A, Filters(derived=True), 10)
    assert [i for i, _ in derived] == [fact.id]
    store.revise(fact.id, A, lambda r: {"status": "deleted"}, None, op="delete",
                 expected_version=None, actor="test")  # fmt: skip
    assert [i for i, _ in store.text_search("lighthouse", A, ALL, 10)] == [turn.id]


def test_save_derived_is_whole_and_never_revives_a_deleted_record(store: Store) -> None:
    [turn] = _put(store, ["the kettle is broken"], A)
    fact = _fact("the kettle is broken", turn)
    store.save_derived([fact], EMB.embed([fact.text]), state={"k:1": b"x"}, counts={"made": 2})
    store.revise(fact.id, A, lambda r: {"status": "deleted"}, None, op="delete",
                 expected_version=None, actor="test")  # fmt: skip
    revived = Record(**{**fact.__dict__, "text": "the kettle works"})
    store.save_derived([], None, revised=[(revived, None)], forget=["k:1"],
                       changes=[(turn.id, {"salience": 0.5}, "settle", "active")])  # fmt: skip
    assert store.get(fact.id, A, include_gone=True).text == "the kettle is broken"
    assert store.get(turn.id, A).salience == 0.5
    assert store.get_state("k:1") is None
    assert store.stats(A)["counters"]["made"] == 2


def test_links_are_heaviest_first_both_ways_and_counted(store: Store) -> None:
    a, b, c = _put(store, ["a", "b", "c"], A)
    store.add_links([(a.id, b.id, "about", 0.2), (a.id, c.id, "about", 0.9),
                     (b.id, c.id, "about", 0.5), (a.id, c.id, "next", 1.0)])  # fmt: skip
    assert store.linked([a.id], "about") == {a.id: [c.id, b.id]}
    assert store.linked([c.id], "about", reverse=True) == {c.id: [a.id, b.id]}
    assert store.linked([b.id, "nothing"], "next") == {}
    assert store.link_counts([c.id, b.id], "about") == {c.id: 2, b.id: 1}


def test_a_sessions_records_come_in_insertion_order_with_their_vectors(store: Store) -> None:
    session = Scope("t1", user_id="alice", session_id="s1")
    texts = ["zeta first", "alpha second", "mid third"]
    records = [_put(store, [t], session)[0] for t in texts]
    _put(store, ["other session"], Scope("t1", user_id="alice", session_id="s2"))
    got = store.session_records(session, "event")
    assert [r.id for r, _ in got] == [r.id for r in records]
    assert np.allclose(got[0][1], EMB.embed(["zeta first"])[0], atol=1e-6)
    assert [r.id for r, _ in store.session_records(session, "event", after=records[1].id)] == [
        r.id for r in records[1:]
    ]
    last = store.last_of_session(session, "event")
    assert last is not None and last.id == records[-1].id
    assert store.last_of_session(Scope("t1", user_id="alice"), "event") is None


def test_state_moves_once_and_lists_by_prefix(store: Store) -> None:
    store.set_state({"mark:b": b"2", "mark:a": b"1", "other": b"3"})
    assert store.state_items("mark:") == [("mark:a", b"1"), ("mark:b", b"2")]
    assert store.take_state("mark:a", "taken:a") is True
    assert store.take_state("mark:a", "taken:again") is False
    assert store.get_state("taken:a") == b"1" and store.get_state("mark:a") is None
    store.forget_state(["taken:a", "other"])
    assert store.state_items("") == [("mark:b", b"2")]
    store.count("hits", 3)
    store.count("hits")
    assert store.stats(A)["counters"]["hits"] == 4


def test_insert_many_stores_every_batch_or_none(store: Store) -> None:
    good = [_rec("kept", A)]
    clash = _rec("duplicate id", A)
    store.insert([clash], None, actor="test")
    with pytest.raises(BackendError):
        store.insert_many([(good, None, "test", ()), ([clash], None, "test", ())],
                          state={"mark:x": b"1"})  # fmt: skip
    assert store.get_many([good[0].id], A) == []
    assert store.get_state("mark:x") is None


def test_keys_keep_a_hash_and_revoke_once(store: Store) -> None:
    from memstrata.store.base import ApiKeyRow

    key = ApiKeyRow("k1", "acme", "bot", "2026-01-01T00:00:00.000000Z", None)
    store.add_key(key, "hash-1")
    assert store.api_keys() == [key]
    assert store.key_hash("k1") == ("acme", "hash-1")
    first = store.revoke_key("k1", "2026-02-01T00:00:00.000000Z")
    again = store.revoke_key("k1", "2026-03-01T00:00:00.000000Z")
    assert first is not None and again is not None
    assert first.revoked_at == again.revoked_at == "2026-02-01T00:00:00.000000Z"
    assert store.key_hash("k1") is None
    assert store.revoke_key("nope", "2026-03-01T00:00:00.000000Z") is None


def test_stats_have_the_contract_keys(store: Store) -> None:
    _put(store, ["one", "two"], A)
    _put(store, ["three"], B)
    stats = store.stats(A)
    for key in ("backend", "schema_version", "created_by", "embedder", "records", "by_kind",
                "pending_vectors", "counters", "bytes"):  # fmt: skip
        assert key in stats, key
    assert stats["records"] == 2 and stats["by_kind"] == {"event": {"active": 2}}
    assert sorted(store.namespaces()) == ["t1", "t2"]


def test_touch_counts_hits_without_a_new_version(store: Store) -> None:
    [r] = _put(store, ["touched"], A)
    store.touch([r.id, r.id])
    store.touch([r.id])
    got = store.get(r.id, A)
    assert got.version == r.version and got.hits >= 2
    assert len(store.history(r.id, A)) == 1


def test_valid_between_names_the_turns_of_facts_that_held(store: Store) -> None:
    [turn, other] = _put(store, ["in Lisbon", "in Porto"], A)
    held = _fact("alice lived in Lisbon", turn, valid_from="2023-01-01T00:00:00.000000Z",
                 valid_to="2023-06-01T00:00:00.000000Z")  # fmt: skip
    later = _fact("alice lived in Porto", other, valid_from="2023-07-01T00:00:00.000000Z",
                  valid_to="2023-09-01T00:00:00.000000Z")  # fmt: skip
    store.save_derived([held, later], None)
    got = store.valid_between(A, "2023-05-01T00:00:00.000000Z", "2023-05-02T00:00:00.000000Z", 10)
    assert got == [turn.id]
    assert (
        store.valid_between(B, "2023-01-01T00:00:00.000000Z", "2024-01-01T00:00:00.000000Z", 9)
        == []
    )


def test_an_open_stores_owners_are_distinct_and_held(store: Store) -> None:
    first, second = store.new_owner(), store.new_owner()
    assert first != second and ":" not in first  # a mark's key holds it between colons
    assert not store.owner_gone(first) and not store.owner_gone(second)


def _bm25(docs: list[list[str]], query: list[str]) -> list[float]:
    """Okapi BM25 as SQLite's FTS5 computes it (k1 1.2, b 0.75, idf floored at 1e-6),
    a record's length counting the 4 scope terms SQLite's index holds in each row."""
    k1, b, extra = 1.2, 0.75, 4
    avgdl = sum(len(d) + extra for d in docs) / len(docs)
    df = Counter(t for d in docs for t in set(d))
    scores = []
    for d in docs:
        tf, score = Counter(d), 0.0
        for term in (t for t in query if t in d):
            idf = max(math.log((len(docs) - df[term] + 0.5) / (df[term] + 0.5)), 1e-6)
            norm = k1 * (1 - b + b * (len(d) + extra) / avgdl)
            score += idf * tf[term] * (k1 + 1) / (tf[term] + norm)
        scores.append(score)
    return scores


def test_text_search_scores_are_bm25(store: Store) -> None:
    rng = random.Random(7)
    vocab = [f"w{i}" for i in range(40)] + ["garden", "gardens", "running", "runs"]
    texts = [" ".join(rng.choices(vocab, k=rng.randint(3, 20))) for _ in range(150)]
    records = _put(store, texts, A)
    stemmed = [[fts.stem(t) for t in fts.tokens(text)] for text in texts]
    for query in ("w3 w17", "garden running w5", "gardens"):
        expected = _bm25(stemmed, [fts.stem(t) for t in fts.query_terms(query)])
        got = dict(store.text_search(query, A, ALL, 1000))
        for record, score in zip(records, expected):
            assert got.get(record.id, 0.0) == pytest.approx(score, rel=1e-5, abs=1e-9)
