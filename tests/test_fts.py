"""Full-text ranking: SQLite FTS5's BM25 against a reference BM25, and the
query pruning that keeps natural-language queries fast."""

from __future__ import annotations

import math
import random
from collections import Counter

import pytest

from memstrata import Memory
from memstrata.store import fts
from memstrata.store.sqlite import SQLiteStore


def _reference_bm25(docs: list[list[str]], query: list[str], extra: int = 0) -> list[float]:
    """Okapi BM25 as FTS5 computes it (k1=1.2, b=0.75, idf floored at 1e-6). FTS5's
    document length counts every column: `extra` tokens a document has outside the text
    (the four scope terms)."""
    k1, b = 1.2, 0.75
    n = len(docs)
    avgdl = sum(len(d) + extra for d in docs) / n
    df = Counter(t for d in docs for t in set(d))
    scores = []
    for d in docs:
        tf = Counter(d)
        score = 0.0
        for term in query:
            if term not in tf:
                continue
            idf = max(math.log((n - df[term] + 0.5) / (df[term] + 0.5)), 1e-6)
            dl = len(d) + extra
            score += idf * tf[term] * (k1 + 1) / (tf[term] + k1 * (1 - b + b * dl / avgdl))
        scores.append(score)
    return scores


def test_bm25_matches_a_reference_implementation(memory: Memory) -> None:
    rng = random.Random(7)
    vocab = [f"w{i}" for i in range(60)] + ["garden", "gardens", "running", "runs"]
    docs = [" ".join(rng.choices(vocab, k=rng.randint(3, 25))) for _ in range(300)]
    records = memory.add(docs)
    stemmed = [[fts.stem(t) for t in fts.tokens(d)] for d in docs]
    for query in ("w3 w17", "garden running w5", "w1 w2 w3 w4 w5 w6 w7", "gardens"):
        terms = [fts.stem(t) for t in fts.query_terms(query)]
        expected = _reference_bm25(stemmed, terms, extra=4)
        got = memory.store.text_search(query, memory.store_scope(), _active(), 1000)
        by_id = dict(got)
        for record, score in zip(records, expected):
            assert by_id.get(record.id, 0.0) == pytest.approx(score, rel=1e-6, abs=1e-9)


def _active():  # type: ignore[no-untyped-def]
    from memstrata.store.base import Filters

    return Filters()


def test_long_queries_keep_only_the_rarest_terms(memory: Memory) -> None:
    common = " ".join(f"common{i}" for i in range(12))
    memory.add([f"{common} filler {i}" for i in range(50)])
    [rare] = memory.add(f"{common} zanzibar")
    query = f"{common} zanzibar"  # 13 content terms, over the limit of 8
    hits = memory.search(query, strategy="bm25", k=1)
    assert hits[0].record.id == rare.id
    store = memory.store
    assert isinstance(store, SQLiteStore)
    rarest = store._rarest(store._reader(), "records_fts", fts.query_terms(query), 8)
    assert rarest[0] == "zanzibar"


def test_query_terms_drop_stopwords_and_fold_accents() -> None:
    assert fts.query_terms("Where does Zoë live, and with whom?") == ["zoe", "live"]
    assert fts.query_terms("who is he") == ["who", "is", "he"]
    assert fts.query_terms("!!!") == []


def test_punctuation_only_query_finds_nothing_without_error(memory: Memory) -> None:
    memory.add("something")
    assert memory.search("?!", strategy="bm25") == []
