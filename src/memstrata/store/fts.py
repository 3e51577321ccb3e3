"""Turning a natural-language question into a fast FTS5 query.

FTS5 scores every row that matches any term of an OR query, so a question with a
dozen common words touches most of the table. We drop stopwords and keep only the
few rarest remaining terms (document frequencies from the fts5vocab table): the
rare terms carry almost all of BM25's weight anyway, and the query touches a small
fraction of the rows.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import unicodedata
from collections.abc import Sequence

import snowballstemmer

_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)
_stemmer = snowballstemmer.stemmer("porter")

STOPWORDS = frozenset(
    """a about above after again against all am an and any are aren't as at be because been
    before being below between both but by can cannot could did do does doing don't down
    during each few for from further had has have having he her here hers herself him himself
    his how i if in into is isn't it it's its itself just let me more most my myself no nor
    not of off on once only or other ought our ours ourselves out over own same she should so
    some such than that the their theirs them themselves then there these they this those
    through to too under until up very was we were what when where which while who whom why
    will with would you your yours yourself yourselves s t d ll m re ve""".split()
)


def tokens(text: str) -> list[str]:
    """Lower-cased, accent-folded word tokens, the way unicode61 splits them."""
    folded = unicodedata.normalize("NFKD", text.lower())
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return _TOKEN.findall(folded)


# The tokenizer of SQLite's full-text tables (porter stemming over unicode61, accents
# folded), which `index_terms` runs as well.
FTS_TOKENIZE = "porter unicode61 remove_diacritics 2"
_tokenizer = threading.local()  # a thread's in-memory FTS5 table that tokenizes texts


def index_terms(texts: Sequence[str]) -> list[list[str]]:
    """Each text's terms, in order, exactly as SQLite's full-text index holds them:
    FTS5's own tokenizer (`FTS_TOKENIZE`) runs on them, in a small in-memory table
    (~35 µs a turn). The PostgreSQL store indexes these terms, so that both backends
    match, count and stem the same words ("used" and "use" are both "us" there)."""
    if not texts:
        return []
    conn = getattr(_tokenizer, "conn", None)
    if conn is None:
        conn = sqlite3.connect(":memory:", check_same_thread=False)
        conn.execute(f"CREATE VIRTUAL TABLE t USING fts5(x, tokenize='{FTS_TOKENIZE}')")
        conn.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, instance)")
        _tokenizer.conn = conn
    out: list[list[str]] = [[] for _ in texts]
    with conn:
        conn.executemany("INSERT INTO t (rowid, x) VALUES (?, ?)", enumerate(texts))
        for doc, term in conn.execute("SELECT doc, term FROM v ORDER BY doc, offset"):
            out[doc].append(term)
        conn.execute("DELETE FROM t")
    return out


def query_terms(text: str) -> list[str]:
    """Distinct content terms of a query, in order (stopwords dropped unless the
    query is nothing but stopwords)."""
    words = tokens(text)
    content = [w for w in words if w not in STOPWORDS]
    seen: dict[str, None] = {}
    for word in content or words:
        seen.setdefault(word, None)
    return list(seen)


def stem(word: str) -> str:
    return _stemmer.stemWord(word)


def match_expression(terms: list[str]) -> str:
    """An FTS5 OR expression of quoted terms (tokens hold no quotes)."""
    return " OR ".join(f'"{t}"' for t in terms)


def scope_terms(namespace: str, **parts: str | None) -> list[str]:
    """The full-text terms of a scope's given parts (see schema._SCOPE_TERMS)."""
    letters = {"user_id": "u", "agent_id": "a", "session_id": "s"}
    terms = [f"n{namespace.encode().hex()}0"]
    terms += [f"{letters[name]}{value.encode().hex()}0" for name, value in parts.items() if value]
    return terms


def scoped_match(terms: list[str], scope: list[str]) -> str:
    """Any of `terms` in the text or speaker columns, and every `scope` term."""
    if not scope:  # scope tokens never equal a word: no column filter needed
        return match_expression(terms)
    match = f"({{text speaker}} : ({match_expression(terms)}))"
    return " AND ".join([match, *(f'scope_terms : "{t}"' for t in scope)])
