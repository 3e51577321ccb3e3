"""The Memory facade: add, search, get, list, update, delete, purge, history, feedback."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from memstrata import Conflict, Memory, NotFound


def test_add_returns_stored_records_with_scope_time_and_speaker(memory: Memory) -> None:
    records = memory.add(
        [{"role": "user", "name": "alice", "content": "I moved to Lisbon in March"}],
        user_id="alice",
        session_id="s1",
        occurred_at="2026-03-02T10:00:00Z",
    )
    [record] = records
    assert record.text == "I moved to Lisbon in March"
    assert record.speaker == "alice" and record.role == "user"
    assert record.scope.user_id == "alice" and record.scope.session_id == "s1"
    assert record.occurred_at == "2026-03-02T10:00:00.000000Z"
    assert record.recorded_at >= record.occurred_at
    assert memory.get(record.id, user_id="alice") == record


def test_ids_sort_in_insertion_order(memory: Memory) -> None:
    records = memory.add([f"turn number {i}" for i in range(50)])
    ids = [r.id for r in records]
    assert ids == sorted(ids) and len(set(ids)) == 50


def test_search_finds_by_words_and_reports_sources(memory: Memory) -> None:
    memory.add(
        [
            "I moved to Lisbon in March",
            "The cat sleeps on the sofa",
            "We bought a new car yesterday",
        ],
        user_id="alice",
    )
    hits = memory.search("Lisbon", user_id="alice", k=3)
    assert hits[0].record.text == "I moved to Lisbon in March"
    assert hits[0].sources["bm25"]["rank"] == 1
    assert "dense" in hits[0].sources
    bm25_only = memory.search("sofa", user_id="alice", strategy="bm25")
    assert [h.record.text for h in bm25_only] == ["The cat sleeps on the sofa"]
    assert set(bm25_only[0].sources) == {"bm25"}
    dense = memory.search("sofa cat", user_id="alice", strategy="dense", k=3)
    assert set(dense[0].sources) == {"dense"} and len(dense) == 3


def test_search_never_crosses_scopes(memory: Memory) -> None:
    memory.add("alice secret: the code is 4471", user_id="alice")
    memory.add("bob likes 4471 too", user_id="bob", namespace="other")
    for strategy in ("hybrid", "bm25", "dense"):
        hits = memory.search("code 4471", user_id="bob", strategy=strategy)
        assert hits == []
        hits = memory.search("code 4471", namespace="other", strategy=strategy)
        assert [h.record.text for h in hits] == ["bob likes 4471 too"]


def test_scope_of_a_user_keeps_all_its_matches_despite_better_foreign_ones(
    memory: Memory,
) -> None:
    # Many near-identical records of another user must not crowd out alice's one.
    memory.add([f"paris trip plan {i}" for i in range(300)], user_id="bob")
    memory.add("paris is where I proposed", user_id="alice")
    for strategy in ("bm25", "dense"):
        hits = memory.search("paris trip plan", user_id="alice", strategy=strategy)
        assert [h.record.text for h in hits] == ["paris is where I proposed"]


def test_search_filters_kind_time_and_metadata(memory: Memory) -> None:
    memory.add("ski trip in the alps", occurred_at="2024-01-10", metadata={"src": "chat"})
    memory.add("ski trip to norway", occurred_at="2025-02-10", metadata={"src": "mail"})
    memory.add({"content": "alice skis well", "kind": "fact"}, occurred_at="2025-03-01")
    texts = lambda hits: sorted(h.record.text for h in hits)  # noqa: E731
    assert texts(memory.search("ski", since="2025-01-01")) == [
        "alice skis well",
        "ski trip to norway",
    ]
    assert texts(memory.search("ski", until="2025-01-01")) == ["ski trip in the alps"]
    assert texts(memory.search("ski", kinds=["fact"])) == ["alice skis well"]
    for strategy in ("bm25", "dense"):
        hits = memory.search("ski trip", metadata={"src": "mail"}, strategy=strategy)
        assert texts(hits) == ["ski trip to norway"]


def test_search_pages_through_the_fused_ranking(memory: Memory) -> None:
    memory.add([f"note about gardening number {i}" for i in range(30)])
    full = [h.record.id for h in memory.search("gardening", k=30)]
    pages = [h.record.id for o in (0, 10, 20) for h in memory.search("gardening", k=10, offset=o)]
    assert pages == full and len(set(full)) == 30


def test_update_makes_a_new_version_and_keeps_the_old_in_history(memory: Memory) -> None:
    [r] = memory.add("I live in Lisbon", user_id="alice")
    new = memory.update(r.id, text="I live in Porto", user_id="alice")
    assert new.version == 2 and new.text == "I live in Porto" and new.id == r.id
    assert memory.get(r.id, user_id="alice").text == "I live in Porto"
    assert [h.record.text for h in memory.search("Porto", user_id="alice", strategy="bm25")] == [
        "I live in Porto"
    ]
    assert memory.search("Lisbon", user_id="alice", strategy="bm25") == []
    entries = memory.history(r.id, user_id="alice")
    assert [e.op for e in entries] == ["add", "update"]
    assert entries[1].before["text"] == "I live in Lisbon"
    assert entries[1].after["text"] == "I live in Porto"


def test_update_with_expected_version_detects_conflicts(memory: Memory) -> None:
    [r] = memory.add("draft one")
    memory.update(r.id, text="draft two", expected_version=1)
    with pytest.raises(Conflict):
        memory.update(r.id, text="draft three", expected_version=1)
    assert memory.get(r.id).text == "draft two"


def test_update_reembeds_so_dense_search_follows_the_text(memory: Memory) -> None:
    [r] = memory.add("zebra stripes pattern")
    memory.add("completely unrelated words here")
    memory.update(r.id, text="volcano eruption lava")
    top = memory.search("volcano lava eruption", strategy="dense", k=1)[0]
    assert top.record.id == r.id


def test_delete_tombstones_the_record(memory: Memory) -> None:
    [r, keep] = memory.add(["forget me please", "keep me please"])
    tomb = memory.delete(r.id)
    assert tomb.status == "deleted"
    with pytest.raises(NotFound):
        memory.get(r.id)
    for strategy in ("hybrid", "bm25", "dense"):
        assert r.id not in {h.record.id for h in memory.search("forget me", strategy=strategy)}
    assert [x.id for x in memory.list().records] == [keep.id]
    assert [x.id for x in memory.list(statuses=["deleted"]).records] == [r.id]
    assert [e.op for e in memory.history(r.id)] == ["add", "delete"]
    with pytest.raises(NotFound):
        memory.update(r.id, text="back again")


def test_purge_erases_content_everywhere_and_records_the_erasure(
    memory: Memory, db_path: Path
) -> None:
    [r] = memory.add("my card number is 4111-2222-3333-4444", metadata={"pii": "yes"})
    memory.update(r.id, text="my card number is 4111-2222-3333-9999")
    memory.purge(r.id)
    with pytest.raises(NotFound):
        memory.get(r.id)
    assert memory.search("card number 4111", strategy="bm25") == []
    entries = memory.history(r.id)
    assert [e.op for e in entries] == ["add", "update", "purge"]
    memory.close()
    raw = b"".join(p.read_bytes() for p in db_path.parent.iterdir() if p.is_file())
    assert b"4111-2222" not in raw and b"3333-9999" not in raw
    conn = sqlite3.connect(db_path)
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_feedback_counts_without_a_new_version(memory: Memory) -> None:
    [r] = memory.add("useful fact")
    memory.feedback(r.id, True)
    memory.feedback(r.id, True)
    after = memory.feedback(r.id, False)
    assert (after.useful, after.not_useful, after.version) == (2, 1, 1)


def test_list_pages_with_a_cursor_and_filters(memory: Memory) -> None:
    made = memory.add([f"item {i}" for i in range(25)], user_id="u")
    memory.add("other user item", user_id="v")
    seen, cursor = [], None
    while True:
        page = memory.list(user_id="u", limit=10, cursor=cursor)
        seen.extend(r.id for r in page.records)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == [r.id for r in reversed(made)]


def test_other_scopes_ids_behave_as_not_found(memory: Memory) -> None:
    [r] = memory.add("private note", user_id="alice", namespace="acme")
    for call in (
        lambda: memory.get(r.id, namespace="evil"),
        lambda: memory.get(r.id, namespace="acme", user_id="mallory"),
        lambda: memory.update(r.id, text="pwned", namespace="evil"),
        lambda: memory.delete(r.id, namespace="evil"),
        lambda: memory.purge(r.id, namespace="evil"),
        lambda: memory.history(r.id, namespace="evil"),
        lambda: memory.feedback(r.id, True, namespace="evil"),
    ):
        with pytest.raises(NotFound) as err:
            call()
        assert "private" not in str(err.value)
    assert memory.get(r.id, namespace="acme").text == "private note"
    assert memory.get(r.id, namespace="acme").version == 1


def test_stats_counts_by_kind_and_status(memory: Memory) -> None:
    [a, _] = memory.add(["one", "two"])
    memory.add({"content": "a fact", "kind": "fact"})
    memory.delete(a.id)
    stats = memory.stats()
    assert stats["records"] == 3
    assert stats["by_kind"] == {"event": {"active": 1, "deleted": 1}, "fact": {"active": 1}}
    assert stats["embedder"]["name"] == "hash-64"
    assert stats["pending_vectors"] == 0 and stats["bytes"] > 0


def test_reopening_sees_everything_and_vectors_still_search(db_path: Path) -> None:
    with Memory(db_path, embedder="hash") as m:
        [r] = m.add("persistent zebra memory")
    with Memory(db_path, embedder="hash") as m:
        assert m.get(r.id).text == "persistent zebra memory"
        assert m.search("zebra", strategy="dense", k=1)[0].record.id == r.id


def test_dense_search_sees_the_speaker_unless_switched_off(db_path: Path) -> None:
    turns = [{"name": "alice", "content": "I went hiking today"},
             {"name": "bob", "content": "I went hiking today"}]  # fmt: skip
    with Memory(db_path, embedder="hash") as m:
        alice, bob = m.add(turns)
        hits = m.search("alice hiking", strategy="dense", k=2)
        assert [h.record.id for h in hits] == [alice.id, bob.id]
        assert hits[0].score > hits[1].score
        assert hits[0].record.text == "I went hiking today"  # stored verbatim
    with Memory(db_path.with_name("plain.db"), embedder="hash", embed_speaker=False) as m:
        m.add(turns)
        scores = [h.sources["dense"]["score"] for h in m.search("alice hiking", strategy="dense")]
        assert scores[0] == pytest.approx(scores[1])


def test_full_text_honours_every_scope_part(memory: Memory) -> None:
    memory.add("otter facts", user_id="u", agent_id="a1", session_id="s1")
    memory.add("otter facts", user_id="u", agent_id="a2", session_id="s2")
    memory.add("otter facts", user_id="ü-ser", agent_id="a1", session_id="s1")

    def count(**scope: str) -> int:
        return len(memory.search("otter", strategy="bm25", **scope))

    assert count() == 3 and count(user_id="u") == 2 and count(user_id="ü-ser") == 1
    assert count(agent_id="a1") == 2 and count(session_id="s2") == 1
    assert count(user_id="u", agent_id="a1", session_id="s1") == 1
    assert count(user_id="nobody") == 0 and count(namespace="elsewhere") == 0


pytestmark = pytest.mark.every_backend  # its `memory` tests run on SQLite and PostgreSQL
