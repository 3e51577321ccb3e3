"""Search in the PostgreSQL store: full text over the `tsvector` column (GIN), vectors
over the pgvector column (exact in a small scope, HNSW beyond).

Full text holds the terms SQLite's own tokenizer finds (`fts.index_terms`), and ranks
by BM25 as SQLite's FTS5 computes it (k1 1.2, b 0.75, the speaker weighted 0.3, idf
floored at 1e-6, the rarest 8 terms of a long query), so both backends give a record
the same score over the same records: a term's frequency in a record is `ts_rank_cd`
of that term alone, a record's length is `doc_length`. Document frequencies are
counted with the GIN index, up to `DF_CAP` rows a term (beyond that the planner's
statistics tell how common it is), over the whole table as SQLite counts them, and
kept for a minute, or until this store has written a tenth as many records as it
counted. One difference: SQLite ranks records as stored and derived ones in two
indexes and merges them; here a search of both ranks them together.

A mixin of `PostgresStore`.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

import numpy as np
import psycopg

from memstrata.store import fts
from memstrata.store.base import EmbedderInfo, Filters
from memstrata.store.postgres_rows import as_array, filter_sql, scope_sql, vector_param
from memstrata.store.postgres_schema import index_key
from memstrata.types import Scope

EXACT_MAX = 5_000  # vectors in scope up to which vector search is an exact scan
EF_SEARCH = 100  # HNSW candidates per search (pgvector's default is 40)
_EF_SEARCH_MAX = 1000  # pgvector's largest
DF_CAP = 20_000  # rows counted per term for its document frequency
_FTS_TERMS = 8  # the rarest terms of a long query are kept (as SQLite's search does)
_STATS_TTL_S = 60.0
_EXACT_COUNT_MAX = 50_000  # tables the planner takes to be smaller are counted exactly
_SAMPLE_ROWS = 20_000  # rows a large table's mean length is taken from
_K1, _B = 1.2, 0.75  # BM25's, as FTS5 sets them
# SQLite's index holds 4 scope terms in each row, which its BM25 counts in a row's
# length: counted here too, so that both backends give a record the same score.
_SCOPE_TERMS = 4
# A term's frequency in a record: ts_rank_cd of a one-term query without
# normalisation is the sum of its occurrences' weights, the weights of labels D, C,
# B, A; the speaker (D) counts 0.3 of the text (A), as in SQLite's
# bm25(records_fts, 1.0, 0.3).
# (A record without the term skips the call, which costs far more than the match.)
_TF = (
    "CASE WHEN tsv @@ %s::tsquery THEN ts_rank_cd('{0.3, 0, 0, 1}', tsv, %s::tsquery, 0) ELSE 0 END"
)
_LIVE = "status NOT IN ('deleted', 'purged')"
_PARTS = {None: _LIVE, True: f"{_LIVE} AND derived", False: f"{_LIVE} AND NOT derived"}


def query_terms(text: str) -> list[tuple[str, str]]:
    """The query's words as SQLite's search takes them (`fts.query_terms`), each
    with its term as the index holds it (stemmed by FTS5's tokenizer): "use" and
    "used" are two words of one term, which counts for each, as in FTS5."""
    words = fts.query_terms(text)
    return [(w, t[0]) for w, t in zip(words, fts.index_terms(words)) if t]


def _quoted(word: str) -> str:
    """A word as one tsquery operand (tokens hold no quote or backslash)."""
    return f"'{word}'"


class PostgresSearch:
    _embedder: EmbedderInfo | None
    _vector_index: str
    exact_max = EXACT_MAX

    if TYPE_CHECKING:  # provided by PostgresStore

        def _read(self) -> AbstractContextManager[psycopg.Connection[Any]]: ...

    def _init_search(self) -> None:
        self._stats_lock = threading.Lock()
        self._written = 0  # records this store has inserted (see _fresh)
        # (word, partition) -> (documents with it, when counted, _written then)
        self._df: dict[tuple[str, bool | None], tuple[int, float, int]] = {}
        self._docs: dict[bool | None, tuple[tuple[int, float], float, int]] = {}
        self._common: tuple[float, dict[str, float]] = (0.0, {})
        self._large: dict[tuple[Scope, str], float] = {}  # scopes past exact_max, when seen

    def _fresh(self, entry: tuple[Any, float, int] | None, docs: int) -> bool:
        if entry is None:
            return False
        _, at, written = entry
        recent = time.monotonic() - at < _STATS_TTL_S
        return recent and self._written - written <= max(10, docs // 10)

    # ------------------------------------------------------------- full text

    def text_search(
        self, query: str, scope: Scope, filters: Filters, k: int
    ) -> list[tuple[str, float]]:
        """Best-first (record id, BM25): live records with any of the query's terms
        (its 8 rarest, for a long query), ranked as the module doc says."""
        words = query_terms(query)
        if not words or k <= 0:
            return []
        where, params = scope_sql(scope)
        fwhere, fparams = filter_sql(filters)
        with self._read() as conn:
            docs, avgdl = self._corpus(conn, filters.derived)
            freqs = self._doc_freqs(conn, [t for _, t in words], filters.derived, docs)
            if len(words) > _FTS_TERMS:  # the rarest of the terms there are, as SQLite
                present = [w for w in words if freqs[w[1]] > 0] or words
                words = sorted(present, key=lambda w: freqs[w[1]])[:_FTS_TERMS]
            terms = [t for _, t in words]
            weights: list[float] = []
            for t in terms:
                weights += [self._idf(docs, freqs[t]), max(avgdl, 1e-9)]
            score = " + ".join(
                f"%s * f{i} * {_K1 + 1} / (f{i} + {_K1} * ({1 - _B} + {_B} * dl / %s))"
                for i in range(len(terms))
            )
            tfs = ", ".join(f"{_TF} AS f{i}" for i in range(len(terms)))
            dl = f"doc_length + {_SCOPE_TERMS}"
            rows = conn.execute(
                f"SELECT id, {score} AS score FROM (SELECT id, pos, {dl} AS dl, {tfs} "
                f"FROM records WHERE tsv @@ %s::tsquery AND {_LIVE} "
                f"AND {where} AND {fwhere}) m ORDER BY score DESC, pos LIMIT %s",
                [
                    *weights,
                    *(q for t in terms for q in (_quoted(t), _quoted(t))),
                    " | ".join(map(_quoted, dict.fromkeys(terms))),
                    *params,
                    *fparams,
                    k,
                ],
            ).fetchall()
        return [(r[0], float(r[1])) for r in rows]

    @staticmethod
    def _idf(docs: int, n: int) -> float:
        """BM25's inverse document frequency, floored as SQLite's FTS5 floors it."""
        docs = max(docs, n)
        return max(math.log((docs - n + 0.5) / (n + 0.5)), 1e-6)

    def _corpus(self, conn: psycopg.Connection[Any], partition: bool | None) -> tuple[int, float]:
        """How many live records (of the partition) there are, and their mean length
        in terms: counted in a table of up to `_EXACT_COUNT_MAX` rows; else the
        planner's estimate of the table, and the mean of a sample."""
        with self._stats_lock:
            entry = self._docs.get(partition)
        if entry is not None and self._fresh(entry, entry[0][0]):
            return entry[0]
        row = conn.execute(
            "SELECT reltuples FROM pg_class WHERE oid = to_regclass('records')"
        ).fetchone()
        estimate = float(row[0]) if row and row[0] is not None else -1.0
        part = _PARTS[partition]
        if estimate > _EXACT_COUNT_MAX:
            share = min(100.0, 100.0 * _SAMPLE_ROWS / estimate)
            found = conn.execute(
                f"SELECT %s::bigint, avg(doc_length) FROM records TABLESAMPLE SYSTEM (%s) "
                f"WHERE {part}",
                [int(estimate), share],
            ).fetchone()
        else:
            found = conn.execute(f"SELECT count(*), avg(doc_length) FROM records WHERE {part}")
            found = found.fetchone()
        assert found is not None  # an aggregate always returns its row
        corpus = (int(found[0]), float(found[1] or 0.0) + _SCOPE_TERMS)
        with self._stats_lock:
            self._docs[partition] = (corpus, time.monotonic(), self._written)
        return corpus

    def _doc_freqs(
        self, conn: psycopg.Connection[Any], words: list[str], partition: bool | None, docs: int
    ) -> dict[str, int]:
        """How many live records (of the partition) hold each word, up to `DF_CAP`;
        at the cap, the planner's statistics of the column say how many."""
        out: dict[str, int] = {}
        with self._stats_lock:
            for word in words:
                entry = self._df.get((word, partition))
                if entry is not None and self._fresh(entry, docs):
                    out[word] = entry[0]
        missing = [w for w in words if w not in out]
        if not missing:
            return out
        rows = conn.execute(
            "SELECT w, w::tsquery::text, (SELECT count(*) FROM "
            "(SELECT 1 FROM records WHERE tsv @@ w::tsquery "
            f"AND {_PARTS[partition]} LIMIT %s) s) FROM unnest(%s::text[]) w",
            [DF_CAP, [_quoted(w) for w in dict.fromkeys(missing)]],
        ).fetchall()
        common: dict[str, float] | None = None
        at = time.monotonic()
        with self._stats_lock:
            for quoted, lexemes, n in rows:
                word, n = quoted[1:-1], int(n)
                if n >= DF_CAP:
                    if common is None:
                        common = self._common_lexemes(conn)
                    share = max((common.get(x, 0.0) for x in _lexemes(lexemes)), default=0.0)
                    n = max(n, int(share * docs))
                out[word] = n
                self._df[(word, partition)] = (n, at, self._written)
        return out

    def _common_lexemes(self, conn: psycopg.Connection[Any]) -> dict[str, float]:
        """The share of rows holding each of the column's most common lexemes, from
        the planner's statistics (ANALYZE, which autovacuum runs); {} without them."""
        at, found = self._common
        if found and time.monotonic() - at < _STATS_TTL_S * 10:
            return found
        row = conn.execute(
            "SELECT most_common_elems::text::text[], most_common_elem_freqs FROM pg_stats "
            "WHERE schemaname = current_schema() AND tablename = 'records' AND attname = 'tsv'"
        ).fetchone()
        found = {}
        if row is not None and row[0] is not None and row[1] is not None:
            found = {str(lex): float(f) for lex, f in zip(row[0], row[1])}
        self._common = (time.monotonic(), found)
        return found

    # ---------------------------------------------------------------- vectors

    def vector_search(
        self, vector: np.ndarray, scope: Scope, filters: Filters, k: int
    ) -> list[tuple[str, float]]:
        """Best-first (record id, cosine). Exact (every vector in scope scored) while
        the scope and filters leave at most `exact_max`; else the HNSW index, with
        `hnsw.ef_search` candidates (at least twice `k`) and, on pgvector 0.8+, an
        iterative scan that goes on until `k` rows pass the filters. A scope found
        too large is searched through the index for a minute without trying the
        exact scan first."""
        if self._embedder is None or k <= 0:
            return []
        q = vector_param(vector)
        where, params = scope_sql(scope)
        fwhere, fparams = filter_sql(filters)
        cond = f"{where} AND {fwhere} AND embedding IS NOT NULL"
        args = [*params, *fparams]
        key = (scope, repr(filters))
        with self._read() as conn:
            with self._stats_lock:
                large = time.monotonic() - self._large.get(key, -_STATS_TTL_S) < _STATS_TTL_S
            if not large:
                # One pass over at most exact_max + 1 rows of the scope, scored and
                # counted: an ORDER BY the index cannot serve, so nothing is left out.
                rows = conn.execute(
                    "SELECT id, score, seen FROM (SELECT id, pos, "
                    "1 - (embedding <=> %b) AS score, count(*) OVER () AS seen "
                    f"FROM (SELECT id, pos, embedding FROM records WHERE {cond} LIMIT %s) s) t "
                    "ORDER BY score DESC, pos LIMIT %s",
                    [q, *args, self.exact_max + 1, k],
                ).fetchall()
                if not rows or rows[0][2] <= self.exact_max:
                    return [(r[0], float(r[1])) for r in rows]
                with self._stats_lock:
                    self._large[key] = time.monotonic()
            key_sql = index_key(self._vector_index, self._embedder.dim)
            query_sql = (
                "%b" if self._vector_index == "vector" else f"%b::halfvec({self._embedder.dim})"
            )
            # float16 distances order the candidates; float32 ones rank the best of them.
            depth = k if self._vector_index == "vector" else 2 * k
            with conn.transaction():
                ef = min(_EF_SEARCH_MAX, max(EF_SEARCH, 2 * depth))
                if ef != EF_SEARCH:
                    conn.execute("SELECT set_config('hnsw.ef_search', %s, true)", [str(ef)])
                rows = conn.execute(
                    "SELECT id, score FROM (SELECT id, pos, 1 - (embedding <=> %b) AS score "
                    f"FROM records WHERE {cond} ORDER BY {key_sql} <=> {query_sql} LIMIT %s) c "
                    "ORDER BY score DESC, pos LIMIT %s",
                    [q, *args, q, depth, k],
                ).fetchall()
        return [(r[0], float(r[1])) for r in rows]

    def vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """The stored vector of each of `ids` that has one (the caller has already
        checked the ids' scope): search reads the table itself, so these are the
        vectors it sees."""
        return self.vectors_of(ids)

    def vectors_of(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        if not ids:
            return {}
        with self._read() as conn:
            rows = conn.execute(
                "SELECT id, embedding FROM records WHERE id = ANY(%b) AND embedding IS NOT NULL",
                [list(ids)],
                binary=True,
            ).fetchall()
        out: dict[str, np.ndarray] = {}
        for record_id, value in rows:
            array = as_array(value)
            if array is not None:
                out[record_id] = array
        return out

    def load_index(self) -> None:
        """Nothing to load: the server keeps its indexes."""

    def wait_for_graph(self, timeout: float | None = None) -> None:
        """Nothing runs in the background: the server maintains its HNSW index."""


def _lexemes(tsquery: str) -> list[str]:
    """The lexemes of a tsquery's text (`'sail'`, or `'x' <-> 'y'`)."""
    return re.findall(r"'((?:[^']|'')*)'", tsquery)
