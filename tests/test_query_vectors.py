from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from memstrata import EmbeddingError, InvalidInput, Memory
from memstrata.embed.hashing import HashEmbedder
from memstrata.embed.queries import QueryVectors
from memstrata.server import service


class Recording(HashEmbedder):
    """A hash embedder that records each call's texts; `hold` makes calls wait."""

    def __init__(self) -> None:
        super().__init__(32)
        self.calls: list[list[str]] = []
        self.hold = threading.Event()
        self.hold.set()
        self.entered = threading.Event()
        self.fail: Exception | None = None

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        self.entered.set()
        self.hold.wait(5)
        if self.fail is not None:
            raise self.fail
        return super().embed(texts)

    def texts(self) -> list[str]:
        return [t for call in self.calls for t in call]


@pytest.fixture
def recording() -> Recording:
    return Recording()


def test_queries_asked_for_while_a_batch_runs_go_in_one_batch(recording: Recording) -> None:
    vectors = QueryVectors(recording.embed)
    recording.hold.clear()
    first = vectors.submit("first")
    assert recording.entered.wait(5)
    later = [vectors.submit(f"q{i}") for i in range(5)]
    recording.hold.set()
    expected = HashEmbedder(32).embed(["q3"])[0]
    assert np.allclose(later[3].result(5), expected)
    assert first.result(5).shape == (32,)
    assert recording.calls == [["first"], [f"q{i}" for i in range(5)]]
    vectors.close()


def test_a_batch_is_at_most_batch_queries(recording: Recording) -> None:
    vectors = QueryVectors(recording.embed, batch=3)
    recording.hold.clear()
    vectors.submit("first")
    assert recording.entered.wait(5)
    futures = [vectors.submit(f"q{i}") for i in range(7)]
    recording.hold.set()
    for future in futures:
        future.result(5)
    assert [len(c) for c in recording.calls] == [1, 3, 3, 1]
    vectors.close()


def test_a_query_in_flight_or_done_is_not_embedded_again(recording: Recording) -> None:
    vectors = QueryVectors(recording.embed, cache=2)
    recording.hold.clear()
    one = vectors.submit("same")
    assert vectors.submit("same") is one
    recording.hold.set()
    one.result(5)
    assert np.array_equal(vectors.submit("same").result(5), one.result())
    assert recording.texts() == ["same"]
    # The cache keeps the last 2 texts: "same" is pushed out by two others.
    vectors.submit("a").result(5)
    vectors.submit("b").result(5)
    vectors.submit("same").result(5)
    assert recording.texts() == ["same", "a", "b", "same"]
    vectors.close()


def test_a_failed_batch_fails_its_queries_and_the_next_batch_works(recording: Recording) -> None:
    vectors = QueryVectors(recording.embed)
    recording.fail = EmbeddingError("model exploded")
    with pytest.raises(EmbeddingError, match="exploded"):
        vectors.submit("doomed").result(5)
    recording.fail = None
    # A failure is not cached: the same text is embedded again.
    assert vectors.submit("doomed").result(5).shape == (32,)
    assert recording.texts() == ["doomed", "doomed"]
    vectors.close()


def test_a_wrong_number_of_vectors_is_an_error_not_a_hang() -> None:
    vectors = QueryVectors(lambda texts: np.zeros((0, 4), dtype=np.float32))
    with pytest.raises(EmbeddingError, match="0 vectors for 1"):
        vectors.submit("x").result(5)
    vectors.close()


def test_close_embeds_what_was_asked_then_refuses(recording: Recording) -> None:
    vectors = QueryVectors(recording.embed)
    recording.hold.clear()
    futures = [vectors.submit(t) for t in ("a", "b", "c")]
    closer = threading.Thread(target=vectors.close)
    closer.start()
    recording.hold.set()
    closer.join(5)
    assert not closer.is_alive()
    assert all(f.result(0).shape == (32,) for f in futures)
    with pytest.raises(EmbeddingError, match="closed"):
        vectors.submit("d")


def test_a_prefetched_query_is_not_embedded_again_by_its_search(
    db_path: Path, recording: Recording
) -> None:
    with Memory(db_path, embedder=recording) as memory:
        memory.add("Alice moved to Lisbon in May", user_id="alice")
        before = len(recording.texts())
        memory.prefetch("where does Alice live?")
        hits = memory.search("where does Alice live?", user_id="alice")
        context = memory.context("where does Alice live?", user_id="alice")
    assert "Lisbon" in hits[0].record.text
    assert "Lisbon" in context.text
    assert recording.texts()[before:] == ["where does Alice live?"]


@pytest.mark.parametrize(
    "query",
    [None, 5, "", "   ", "huge", b"bytes"],
    ids=["none", "int", "empty", "blank", "huge", "bytes"],
)
def test_prefetch_leaves_a_bad_query_for_the_search_to_refuse(
    memory: Memory, query: object
) -> None:
    if query == "huge":
        query = "x" * (memory.max_text_bytes + 1)
    memory.prefetch(query)
    with pytest.raises(InvalidInput, match="query"):
        memory.search(query)  # type: ignore[arg-type]


def test_the_service_prefetches_the_queries_that_will_be_embedded(
    db_path: Path, recording: Recording
) -> None:
    with Memory(db_path, embedder=recording) as memory:
        before = len(recording.texts())
        service.prepare(memory, "default", "search", {"query": "by text only", "strategy": "bm25"})
        service.prepare(memory, "default", "add", {"messages": "not a query"})
        service.prepare(memory, "default", "search", {"query": "a search"})
        service.prepare(memory, "default", "context", {"query": "a context"})
        memory._queries.submit("a context").result(5)  # the last one asked for is done
    assert recording.texts()[before:] == ["a search", "a context"]


def test_prefetch_stands_back_for_long_queries_and_a_long_backlog(
    db_path: Path, recording: Recording
) -> None:
    with Memory(db_path, embedder=recording) as memory:
        before = len(recording.texts())
        memory.prefetch("word " * 1_000)  # 5,000 characters: left for its search
        recording.hold.clear()
        memory.prefetch("first")  # being embedded, held
        assert recording.entered.wait(5)
        for n in range(100):
            memory.prefetch(f"query {n}")
        assert memory._queries.backlog == 64
        recording.hold.set()
        memory._queries.submit("last").result(5)
    assert recording.texts()[before:] == ["first", *[f"query {n}" for n in range(64)], "last"]
