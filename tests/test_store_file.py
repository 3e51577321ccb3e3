"""The store file describes itself and refuses what does not fit it."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from memstrata import ConfigError, EmbeddingError, Memory
from memstrata.embed.hashing import HashEmbedder
from memstrata.store import sqlite as sqlite_store
from memstrata.store.schema import SCHEMA_VERSION


def test_file_records_schema_and_model(db_path: Path) -> None:
    Memory(db_path, embedder="hash").close()
    meta = dict(sqlite3.connect(db_path).execute("SELECT key, value FROM meta").fetchall())
    assert meta["schema_version"] == str(SCHEMA_VERSION)
    assert meta["created_by"].startswith("memstrata ")
    assert '"name": "hash-64"' in meta["embedder"] and '"dim": 64' in meta["embedder"]
    mode = sqlite3.connect(db_path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_opening_with_another_model_is_a_clear_error(db_path: Path) -> None:
    with Memory(db_path, embedder="hash") as m:
        m.add("kept safe")
    with pytest.raises(ConfigError) as err:
        Memory(db_path, embedder="hash-32")
    message = str(err.value)
    assert "'hash-32' (32-d" in message and "'hash-64', 64-d" in message
    assert "memstrata reindex" in message
    with Memory(db_path, embedder="hash") as m:
        assert [r.text for r in m.list().records] == ["kept safe"]


def test_reindex_switches_the_model(db_path: Path) -> None:
    with Memory(db_path, embedder="hash") as m:
        [r] = m.add("walrus tusks")
    with Memory.open_for_reindex(db_path, embedder="hash-32") as m:
        assert m.stats()["pending_vectors"] == 1
        assert m.reindex() == 1
        assert m.search("walrus", strategy="dense", k=1)[0].record.id == r.id
    with Memory(db_path, embedder="hash-32") as m:
        assert m.stats()["embedder"]["dim"] == 32


def test_newer_schema_is_refused(db_path: Path) -> None:
    Memory(db_path, embedder="hash").close()
    conn = sqlite3.connect(db_path)
    conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    with pytest.raises(ConfigError, match="schema version 99, newer"):
        Memory(db_path, embedder="hash")


def test_older_schema_needs_an_explicit_migration(db_path: Path) -> None:
    Memory(db_path, embedder="hash").close()
    conn = sqlite3.connect(db_path)
    conn.execute("UPDATE meta SET value = '0' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    # Version 0 with tables present is an interrupted or foreign file: refuse it.
    with pytest.raises(ConfigError):
        Memory(db_path, embedder="hash")


def test_an_upgrade_that_only_adds_indexes_runs_at_open(db_path: Path) -> None:
    with Memory(db_path, embedder="hash") as m:
        [turn] = m.add("the ferry leaves at noon", user_id="ann")
    conn = sqlite3.connect(db_path)
    conn.execute("DROP INDEX records_time")  # as a version 5 file was
    conn.execute("UPDATE meta SET value = '5' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    with Memory(db_path, embedder="hash") as m:  # no migrate=True needed
        assert m.stats()["schema_version"] == SCHEMA_VERSION
        assert m.get(turn.id, user_id="ann").text == "the ferry leaves at noon"
    conn = sqlite3.connect(db_path)
    plan = conn.execute(
        "EXPLAIN QUERY PLAN SELECT occurred_at FROM records WHERE namespace = 'default' "
        "AND kind = 'event' AND status = 'active' ORDER BY occurred_at DESC LIMIT 1"
    ).fetchall()
    conn.close()
    assert "records_time" in str(plan)


def test_foreign_files_are_refused(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello, not a database at all....")
    with pytest.raises(ConfigError, match="not a SQLite file"):
        Memory(text, embedder="hash")
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    with pytest.raises(ConfigError, match="not a memstrata store"):
        Memory(other, embedder="hash")
    with pytest.raises(ConfigError, match="directory"):
        Memory(tmp_path, embedder="hash")


class FlakyEmbedder(HashEmbedder):
    def __init__(self) -> None:
        super().__init__(64)
        self.fail = True

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if self.fail:
            raise EmbeddingError("endpoint down")
        return super().embed(texts)


def test_embedding_failure_keeps_raw_text_and_reindex_fills_in(db_path: Path) -> None:
    flaky = FlakyEmbedder()
    with Memory(db_path, embedder=flaky) as m:
        with pytest.warns(UserWarning, match="without vectors"):
            [r] = m.add("the narwhal has one tusk")
        assert m.get(r.id).text == "the narwhal has one tusk"
        assert m.stats()["pending_vectors"] == 1
        assert m.search("narwhal", strategy="bm25")[0].record.id == r.id
        with pytest.raises(EmbeddingError):
            m.search("narwhal tusk", strategy="dense")
        with pytest.warns(UserWarning, match="dense search skipped"):
            hits = m.search("narwhal")
        assert [h.record.id for h in hits] == [r.id] and set(hits[0].sources) == {"bm25"}
        flaky.fail = False
        assert m.reindex() == 1
        assert m.stats()["pending_vectors"] == 0
        assert m.search("narwhal tusk", strategy="dense")[0].record.id == r.id


def test_a_version_1_file_migrates_only_when_asked(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as patch:
        patch.setattr(sqlite_store, "SCHEMA_VERSION", 1)  # write the first schema only
        # Version 1 had no formation (its state table came with version 3).
        off = {"facts": False, "episodes": False, "profiles": False, "topics": False,
               "novelty": False}  # fmt: skip
        with Memory(db_path, embedder="hash", settings=off) as m:
            [mine] = m.add("walrus in the bay", user_id="ann")
            m.add("walrus on the ice", user_id="bob")
            [gone] = m.add("walrus deleted", user_id="ann")
            m.delete(gone.id, user_id="ann")
    with pytest.raises(ConfigError, match=r"schema version 1.*memstrata migrate"):
        Memory(db_path, embedder="hash")
    with Memory(db_path, embedder="hash", migrate=True) as m:
        assert m.stats()["schema_version"] == SCHEMA_VERSION
        hits = m.search("walrus", user_id="ann", strategy="bm25")
        assert [h.record.id for h in hits] == [mine.id]  # in scope, deleted one left out
        assert len(m.search("walrus", strategy="bm25")) == 2
        # Formation works on the migrated file, and full text finds its facts.
        [turn] = m.add(
            [{"name": "Ann", "content": "I saw a walrus yesterday. It was huge."}],
            user_id="ann",
            session_id="s",
            occurred_at="2023-05-08T10:00:00Z",
        )
        facts = m.list(user_id="ann", kinds=["fact"]).records
        texts = sorted(f.text for f in facts)
        assert texts == ["Ann saw a walrus yesterday (7 May 2023).", "It was huge."]
        assert all(f.source_ids == [turn.id] for f in facts)
        found = m.search("walrus", strategy="bm25", kinds=["fact"], user_id="ann")
        assert [h.record.text for h in found] == ["Ann saw a walrus yesterday (7 May 2023)."]
    conn = sqlite3.connect(db_path)
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    assert version == (str(SCHEMA_VERSION),)
