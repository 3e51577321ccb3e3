"""Nothing that runs after a write committed turns it into an error: a caller told a
stored write failed would retry it and store it twice."""

from __future__ import annotations

from typing import Any

import pytest

from memstrata import Memory
from memstrata.store import sqlite_vectors as vectors


def test_an_index_sync_that_fails_after_the_commit_never_fails_the_write(
    memory: Memory, monkeypatch: pytest.MonkeyPatch
) -> None:
    memory.add("bob keeps bees on the roof", user_id="u")
    memory.search("bees", user_id="u", strategy="dense")  # the index is loaded
    upsert, failures = vectors.VectorIndex.upsert, []

    def failing_upsert(self: Any, rows: Any) -> None:
        if not failures:
            failures.append(1)
            raise RuntimeError("index exploded")
        upsert(self, rows)

    monkeypatch.setattr(vectors.VectorIndex, "upsert", failing_upsert)
    with pytest.warns(UserWarning, match="could not take the last write.*index exploded"):
        [stored] = memory.add("bob also keeps a goat in the yard", user_id="u")
    assert memory.get(stored.id, user_id="u").text == stored.text
    assert memory.stats()["counters"]["index_sync_failures"] == 1
    hits = memory.search("goat in the yard", user_id="u", strategy="dense", k=1)
    assert hits[0].record.id == stored.id  # the next search caught up
    assert memory.stats(user_id="u")["records"] == 2


def test_a_count_that_fails_after_the_commit_never_fails_the_write(
    memory: Memory, monkeypatch: pytest.MonkeyPatch
) -> None:
    from memstrata import BackendError, EmbeddingError

    def no_model(texts: Any) -> Any:
        raise EmbeddingError("the model is gone")

    def no_count(name: str, n: int = 1) -> None:
        raise BackendError("the disk is full")

    monkeypatch.setattr(memory.embedder, "embed", no_model)
    monkeypatch.setattr(memory.store, "count", no_count)
    with pytest.warns(UserWarning) as caught:
        [stored] = memory.add("a turn stored without a vector", user_id="u")
    assert any("could not count embedding_failures" in str(w.message) for w in caught)
    assert memory.get(stored.id, user_id="u").text == stored.text
