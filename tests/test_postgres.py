"""What the PostgreSQL backend does beyond the shared contract: how it refuses what it
cannot open, shares one database between stores and processes, leases owners, keeps
concurrent writes whole, and carries a whole `Memory` (the contract suite is
tests/test_store_contract.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import psycopg
import pytest

from memstrata import BackendError, ConfigError, Memory, Record, Scope
from memstrata.embed.hashing import HashEmbedder
from memstrata.ids import new_id, now
from memstrata.store import postgres_schema, postgres_search
from memstrata.store.backends import open_store
from memstrata.store.base import EmbedderInfo, Filters
from memstrata.store.postgres import PostgresStore

pytest_plugins = ["helpers_pg"]  # pg_dsn: a fresh database on a throwaway PostgreSQL

EMB = HashEmbedder(32)
INFO = EmbedderInfo(EMB.name, EMB.dim, EMB.fingerprint)
A = Scope("t1", user_id="alice")
SRC = Path(__file__).resolve().parents[1] / "src"


@pytest.fixture
def store(pg_dsn: str) -> Iterator[PostgresStore]:
    s = PostgresStore(pg_dsn)
    s.bind_embedder(INFO)
    yield s
    s.close()


def _rec(text: str, scope: Scope = A, **fields: object) -> Record:
    at = now()
    return Record(
        id=new_id(), kind="event", text=text, scope=scope, occurred_at=at, recorded_at=at, **fields
    )  # type: ignore[arg-type]


def _put(store: PostgresStore, texts: list[str], scope: Scope = A) -> list[Record]:
    records = [_rec(t, scope) for t in texts]
    store.insert(records, EMB.embed(texts), actor="test")
    return records


def _tables(dsn: str) -> set[str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        ).fetchall()
    return {r[0] for r in rows}


# ------------------------------------------------------------------- opening


def test_a_dsn_that_cannot_connect_names_it_without_its_password(tmp_path: Path) -> None:
    dsn = f"postgresql://memstrata:hunter2secret@/memory?host={tmp_path}&port=5999"
    with pytest.raises(BackendError) as caught:
        open_store(dsn)
    message = str(caught.value)
    assert "hunter2secret" not in message
    assert "memstrata@" in message and "memory" in message and str(tmp_path) in message
    assert "password" in message  # what to check


def test_a_tcp_dsn_that_is_refused_says_so_without_its_password() -> None:
    with pytest.raises(BackendError) as caught:
        PostgresStore("postgresql://u:topsecret@127.0.0.1:1/db?connect_timeout=3")
    assert "topsecret" not in str(caught.value)
    assert "postgresql://u@127.0.0.1:1/db" in str(caught.value)


def test_a_malformed_dsn_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="not a PostgreSQL DSN"):
        PostgresStore("postgresql://x/db?nosuchoption=1")


def test_a_newer_schema_is_refused_with_its_version(pg_dsn: str) -> None:
    PostgresStore(pg_dsn).close()
    with psycopg.connect(pg_dsn) as conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(ConfigError, match="schema version 99, newer"):
        PostgresStore(pg_dsn)


def test_a_database_with_foreign_tables_of_our_names_is_refused_and_left_alone(
    pg_dsn: str,
) -> None:
    with psycopg.connect(pg_dsn) as conn:
        conn.execute("CREATE TABLE records (x int)")
    with pytest.raises(ConfigError, match="not a memstrata store"):
        PostgresStore(pg_dsn)
    assert _tables(pg_dsn) == {"records"}  # nothing half-created


def test_a_failed_creation_leaves_nothing(pg_dsn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    steps = [*postgres_schema.MIGRATIONS[0], "SELECT no_such_function()"]
    monkeypatch.setattr(postgres_schema, "MIGRATIONS", [steps])
    with pytest.raises(BackendError, match="no_such_function"):
        PostgresStore(pg_dsn)
    assert _tables(pg_dsn) == set()
    with psycopg.connect(pg_dsn) as conn:
        ext = {r[0] for r in conn.execute("SELECT extname FROM pg_extension")}
    assert ext == {"plpgsql"}  # the extensions were rolled back with the tables
    monkeypatch.undo()
    PostgresStore(pg_dsn).close()  # and a later open creates the store whole


def test_the_database_describes_itself(store: PostgresStore, pg_dsn: str) -> None:
    stats = store.stats(A)
    assert stats["backend"] == "postgresql" and stats["schema_version"] >= 1
    assert stats["embedder"] == INFO.__dict__ and stats["bytes"] > 0
    with pytest.raises(ConfigError, match="differs from the model"):
        PostgresStore(pg_dsn).bind_embedder(EmbedderInfo("other", 8, "x"))


def test_open_store_picks_the_backend_by_target(pg_dsn: str, tmp_path: Path) -> None:
    pg = open_store(pg_dsn.replace("postgresql://", "postgres://", 1))
    lite = open_store(str(tmp_path / "m.db"))
    assert pg.stats(A)["backend"] == "postgresql" and lite.stats(A)["backend"] == "sqlite"
    pg.close()
    lite.close()


def test_without_psycopg_a_dsn_names_the_extra_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in [m for m in sys.modules if m.startswith("memstrata.store.postgres")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "psycopg", None)  # import psycopg raises ImportError
    with pytest.raises(ConfigError, match=r"pip install 'memstrata\[postgres\]'"):
        open_store("postgresql://u@localhost/db")


# ------------------------------------------------------------------- sharing


def test_two_stores_on_one_database_see_each_others_writes(pg_dsn: str) -> None:
    a, b = PostgresStore(pg_dsn), PostgresStore(pg_dsn)
    a.bind_embedder(INFO)
    b.bind_embedder(INFO)
    [r] = _put(a, ["the lighthouse keeper waved"])
    assert b.get(r.id, A) == r
    assert [i for i, _ in b.text_search("lighthouse", A, Filters(), 5)] == [r.id]
    assert b.vector_search(EMB.embed([r.text])[0], A, Filters(), 1)[0][0] == r.id
    b.set_state({"mark:1": b"x"})
    assert a.take_state("mark:1", "mine:1") and not b.take_state("mark:1", "theirs:1")
    a.close()
    b.close()


def test_records_read_again_show_every_change_made_since_by_anyone(pg_dsn: str) -> None:
    a, b = PostgresStore(pg_dsn), PostgresStore(pg_dsn)
    a.bind_embedder(INFO)
    b.bind_embedder(INFO)
    first, second = _put(a, ["the first note", "the second note"])
    ids = [first.id, second.id]
    assert [r.text for r in a.get_many(ids, A, shared=True)] == [first.text, second.text]
    b.revise(first.id, A, lambda r: {"text": "the first note, revised"}, None,
             op="update", expected_version=None, actor="test")  # fmt: skip
    b.touch([second.id])
    with psycopg.connect(pg_dsn, autocommit=True) as conn:  # a writer that is not a store
        conn.execute("UPDATE records SET tags = '[\"x\"]' WHERE id = %s", [second.id])
    again = a.get_many(ids, A)
    assert again[0].text == "the first note, revised" and again[0].version == 2
    assert again[1].hits == 1 and again[1].tags == ["x"]
    assert a.get_many(ids, Scope("t1", user_id="bob")) == []  # what is kept keeps its scope
    a.close()
    b.close()


def test_a_changed_model_rebinds_the_vector_column(store: PostgresStore) -> None:
    [r] = _put(store, ["harbour ferry"])
    wide = HashEmbedder(48)
    store.rebind_embedder(EmbedderInfo(wide.name, wide.dim, wide.fingerprint))
    assert store.vectors([r.id]) == {} and [x.id for x in store.missing_vectors(5)] == [r.id]
    store.set_vectors([r.id], wide.embed([r.text]))
    assert store.vector_search(wide.embed([r.text])[0], A, Filters(), 1)[0][0] == r.id


def test_the_hnsw_path_ranks_like_an_exact_scan(
    store: PostgresStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    texts = [f"note {i} on subject {i % 11}" for i in range(300)]
    records = _put(store, texts)
    query = EMB.embed(["subject 4 note"])[0]
    exact = store.vector_search(query, A, Filters(), 10)
    monkeypatch.setattr(store, "exact_max", 0)  # every search goes through the index
    approx = store.vector_search(query, A, Filters(), 10)
    assert len(approx) == 10
    assert np.allclose([s for _, s in approx], [s for _, s in exact], atol=1e-5)
    derived = store.vector_search(query, A, Filters(derived=True), 10)
    assert derived == []  # filtered by the iterative scan, not cut short to nothing else
    assert {i for i, _ in approx} <= {r.id for r in records}


def test_full_text_weighs_a_rare_word_above_a_name_every_turn_has(store: PostgresStore) -> None:
    turns = [_rec(f"alice alice alice note {i}", speaker="alice") for i in range(30)]
    sailing = _rec("we went sailing", speaker="alice")
    store.insert([*turns, sailing], None, actor="test")
    hits = store.text_search("alice sailing", A, Filters(), 5)
    assert hits[0][0] == sailing.id and hits[0][1] > 2 * hits[1][1]
    assert len(store.text_search("alice sailing", A, Filters(), 50)) == 31


def test_a_word_too_common_to_count_is_weighed_by_the_planners_statistics(
    store: PostgresStore, pg_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(postgres_search, "DF_CAP", 5)
    turns = [_rec(f"the weather report {i}") for i in range(40)]
    rare = _rec("the weather is perfect for kayaking")
    store.insert([*turns, rare], None, actor="test")
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("ANALYZE records")
    with store._read() as conn:
        freqs = store._doc_freqs(conn, ["weather", "kayaking"], None, 41)
    assert freqs["kayaking"] == 1 and freqs["weather"] > 5
    assert store.text_search("weather kayaking", A, Filters(), 1)[0][0] == rare.id


def test_a_halfvec_index_is_used_and_scores_stay_exact(
    pg_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = PostgresStore(pg_dsn, vector_index="halfvec")
    store.bind_embedder(INFO)
    records = _put(store, [f"note {i} on subject {i % 11}" for i in range(300)])
    query = EMB.embed(["subject 4 note"])[0]
    exact = store.vector_search(query, A, Filters(), 10)
    monkeypatch.setattr(store, "exact_max", 0)
    approx = store.vector_search(query, A, Filters(), 10)
    assert np.allclose([s for _, s in approx], [s for _, s in exact], atol=1e-5)
    stored = store.vectors_of([records[0].id])[records[0].id]
    assert stored.dtype == np.float32 and np.allclose(stored, EMB.embed([records[0].text])[0])
    assert store.stats(A)["vector_index"] == "halfvec"
    with psycopg.connect(pg_dsn) as conn:
        conn.execute("SET enable_seqscan = off")
        plan = conn.execute(
            "EXPLAIN SELECT id FROM records ORDER BY embedding::halfvec(32) <=> %s::halfvec(32) "
            "LIMIT 5",
            [str(query.tolist())],
        ).fetchall()
    assert "records_embedding" in str(plan)
    store.close()
    with pytest.raises(ConfigError, match="halfvec, not vector"):
        PostgresStore(pg_dsn, vector_index="vector")
    PostgresStore(pg_dsn).close()  # None takes what the store has


# -------------------------------------------------------------------- owners


def test_an_owner_is_held_while_its_store_is_open_and_gone_once_it_closes(pg_dsn: str) -> None:
    a, b = PostgresStore(pg_dsn), PostgresStore(pg_dsn)
    mine, again = a.new_owner(), a.new_owner()
    assert mine != again
    assert not b.owner_gone(mine) and not a.owner_gone(mine)
    assert not b.owner_gone(mine)  # asking never takes the lease away
    a.close()
    assert b.owner_gone(mine) and b.owner_gone(again)
    assert b.owner_gone("12345.678.abcd")  # a SQLite file's owner: no store here holds it
    b.close()


def test_a_killed_process_owner_is_gone(pg_dsn: str) -> None:
    script = (
        "import sys, time\n"
        "from memstrata.store.postgres import PostgresStore\n"
        "s = PostgresStore(sys.argv[1])\n"
        "print(s.new_owner(), flush=True)\n"
        "time.sleep(120)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    child = subprocess.Popen(
        [sys.executable, "-c", script, pg_dsn], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert child.stdout is not None
        owner = child.stdout.readline().strip()
        watcher = PostgresStore(pg_dsn)
        assert owner.startswith("pg-") and not watcher.owner_gone(owner)
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        deadline = time.monotonic() + 10
        while not watcher.owner_gone(owner) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert watcher.owner_gone(owner)
        watcher.close()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


# --------------------------------------------------------------- concurrency


def test_many_threads_writing_at_once_lose_nothing(store: PostgresStore) -> None:
    threads, each = 12, 20
    errors: list[BaseException] = []
    store.set_state({"prize": b"1"})
    won: list[bool] = []

    def work(n: int) -> None:
        try:
            for i in range(each):
                _put(store, [f"thread {n} line {i}"])
                store.count("lines")
            won.append(store.take_state("prize", f"taken-by-{n}"))
        except BaseException as exc:
            errors.append(exc)

    pool = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert errors == []
    stats = store.stats(A)
    assert stats["records"] == threads * each
    assert stats["counters"]["lines"] == threads * each
    assert won.count(True) == 1


def test_a_failing_write_inside_atomic_leaves_nothing(store: PostgresStore) -> None:
    [kept] = _put(store, ["already here"])
    with pytest.raises(BackendError), store.atomic():
        _put(store, ["written first"])
        store.set_state({"mark:a": b"1"})
        store.count("tries")
        store.insert([kept], None, actor="test")  # its id is taken: the block fails
    assert store.stats(A)["records"] == 1 and store.get_state("mark:a") is None
    assert "tries" not in store.stats(A)["counters"]
    with pytest.raises(RuntimeError), store.atomic():
        _put(store, ["written, then the caller fails"])
        raise RuntimeError("boom")
    assert store.stats(A)["records"] == 1


def test_inside_atomic_a_failed_write_that_is_caught_leaves_the_rest(
    store: PostgresStore,
) -> None:
    [kept] = _put(store, ["already here"])
    with store.atomic():
        [first] = _put(store, ["before the failure"])
        with pytest.raises(BackendError):
            store.insert([kept], None, actor="test")
        [second] = _put(store, ["after the failure"])
        assert {r.id for r in store.get_many([first.id, second.id], A)} == {first.id, second.id}
    assert store.stats(A)["records"] == 3


# --------------------------------------------------------------- end to end


TURNS = [
    {"name": "Caroline", "content": "I went to a LGBTQ support group yesterday. It was moving!"},
    {"name": "Melanie", "content": "Wow, what did you learn there?"},
    {"name": "Caroline", "content": "My friend Jo from Sweden came too. We adopted a greyhound."},
    {"name": "Melanie", "content": "I ran a charity race last Saturday in Porto."},
]  # fmt: skip


def test_memory_end_to_end_on_postgres(pg_dsn: str) -> None:
    with Memory(pg_dsn, embedder="hash") as m:
        turns = m.add(TURNS, user_id="u", session_id="s1", occurred_at="2023-05-08T13:56:00Z")
        facts = m.list(user_id="u", kinds=["fact"]).records
        assert facts and {f.source_ids[0] for f in facts} <= {t.id for t in turns}
        hits = m.search("Where did Melanie run a charity race?", user_id="u")
        assert turns[3].id in [h.record.id for h in hits[:3]]
        bm25 = m.search("greyhound", user_id="u", strategy="bm25")
        assert bm25 and bm25[0].record.id == turns[2].id
        block = m.context("what did Caroline adopt?", user_id="u", session_id="s1")
        assert "greyhound" in block.text
        m.delete(turns[2].id, user_id="u")
        assert turns[2].id not in [h.record.id for h in m.search("greyhound", user_id="u")]
        assert all(turns[2].id not in f.source_ids for f in m.list(user_id="u").records)
        m.purge(turns[3].id, user_id="u")
        history = m.history(turns[3].id, user_id="u")
        assert history[-1].op == "purge"
        assert all("charity" not in str(h.before) + str(h.after) for h in history)
        left = [r.text for r in m.list(user_id="u", limit=100).records]
        assert not any("charity" in t for t in left)
    with Memory(pg_dsn, embedder="hash") as again:  # the store opens again as it was
        assert again.get(turns[0].id, user_id="u").text == TURNS[0]["content"]


def test_both_backends_find_the_same_turns(pg_dsn: str, tmp_path: Path) -> None:
    found = {}
    for target in (pg_dsn, str(tmp_path / "m.db")):
        with Memory(target, embedder="hash") as m:
            turns = m.add(TURNS, user_id="u", session_id="s1", occurred_at="2023-05-08T13:56:00Z")
            order = {t.id: i for i, t in enumerate(turns)}
            found[target] = [
                order.get(h.record.id)
                for q in ("greyhound from Sweden", "charity race", "support group")
                for h in m.search(q, user_id="u", strategy="bm25", kinds=["event"])[:1]
            ]
    assert found[pg_dsn] == found[str(tmp_path / "m.db")] == [2, 3, 0]
