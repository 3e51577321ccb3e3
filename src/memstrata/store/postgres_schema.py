"""The PostgreSQL schema: tables, indexes, the text search configuration, and the
vector column's index once the embedding model (and so the dimension) is known.

The database describes itself in `meta` as a SQLite file does: schema version (this
backend's own numbering), store id, who created it, and the embedding model.
"""

from __future__ import annotations

from typing import Any

import psycopg

from memstrata._version import __version__
from memstrata.errors import ConfigError
from memstrata.ids import new_id, now
from memstrata.store.postgres_rows import DOCUMENT, document_params

SCHEMA_VERSION = 2
SETUP_LOCK = 0x6D656D7374726174  # advisory lock while a store is created or bound

TEXT_CONFIG = "memstrata_text"
STEM_DICTIONARY = "memstrata_stem"

# Every table the store keeps (stats add up their sizes).
TABLES = ("meta", "records", "history", "links", "state", "counters", "api_keys")

# Text that is compared or sorted (ids, times, scope parts, state keys) compares
# byte by byte, as in SQLite, whatever the database's collation.
_C = 'COLLATE "C"'


def text_search_ddl() -> list[str]:
    """The text search configuration of schema version 1, whose generated full-text
    column used it (since version 2 the store passes in the terms SQLite's tokenizer
    finds, see `postgres_rows.DOCUMENT`)."""
    words = STEM_DICTIONARY
    return [
        f"CREATE TEXT SEARCH DICTIONARY {STEM_DICTIONARY} "
        "(TEMPLATE = snowball, LANGUAGE = english)",
        f"CREATE TEXT SEARCH CONFIGURATION {TEXT_CONFIG} (COPY = simple)",
        f"ALTER TEXT SEARCH CONFIGURATION {TEXT_CONFIG} ALTER MAPPING FOR asciiword, asciihword, "
        f"hword_asciipart WITH {STEM_DICTIONARY}",
        f"ALTER TEXT SEARCH CONFIGURATION {TEXT_CONFIG} ALTER MAPPING FOR word, hword, hword_part "
        f"WITH {words}",
    ]


# What full text indexed of a record in schema version 1: its text (label A) and its
# speaker (label D), as PostgreSQL's parser and stemmer read them.
_DOCUMENT = (
    f"setweight(to_tsvector('{TEXT_CONFIG}', text), 'A') "
    f"|| setweight(to_tsvector('{TEXT_CONFIG}', coalesce(speaker, '')), 'D')"
)

# Each entry upgrades the schema from version i to i + 1 (after `text_search_ddl`).
MIGRATIONS: list[list[str]] = [
    [
        # A record's length in terms, as BM25 counts it (every occurrence).
        """CREATE FUNCTION memstrata_length(tsvector) RETURNS integer
           LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
             SELECT coalesce(sum(coalesce(pg_catalog.array_length(positions, 1), 1)), 0)::integer
             FROM pg_catalog.unnest($1)
           $$""",
        f"CREATE TABLE meta (key text {_C} PRIMARY KEY, value text NOT NULL)",
        f"""CREATE TABLE records (
            pos bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            id text {_C} NOT NULL UNIQUE,
            kind text {_C} NOT NULL,
            text text NOT NULL,
            namespace text {_C} NOT NULL,
            user_id text {_C},
            agent_id text {_C},
            session_id text {_C},
            role text,
            speaker text,
            occurred_at text {_C} NOT NULL,
            recorded_at text {_C} NOT NULL,
            valid_from text {_C},
            valid_to text {_C},
            metadata json NOT NULL DEFAULT '{{}}',
            source_ids json NOT NULL DEFAULT '[]',
            entities json NOT NULL DEFAULT '[]',
            tags json NOT NULL DEFAULT '[]',
            salience double precision NOT NULL DEFAULT 0,
            hits bigint NOT NULL DEFAULT 0,
            last_hit_at text {_C},
            useful bigint NOT NULL DEFAULT 0,
            not_useful bigint NOT NULL DEFAULT 0,
            version bigint NOT NULL DEFAULT 1,
            status text {_C} NOT NULL DEFAULT 'active',
            updated_at text {_C},
            embedding vector,
            derived boolean GENERATED ALWAYS AS (json_array_length(source_ids) > 0) STORED,
            tsv tsvector GENERATED ALWAYS AS ({_DOCUMENT}) STORED,
            doc_length integer GENERATED ALWAYS AS (memstrata_length({_DOCUMENT})) STORED
        )""",
        "CREATE INDEX records_scope ON records (namespace, user_id, occurred_at)",
        "CREATE INDEX records_session ON records (namespace, session_id, pos)",
        "CREATE INDEX records_ids ON records (namespace, id)",
        "CREATE INDEX records_valid ON records (namespace, valid_from) "
        "WHERE valid_from IS NOT NULL",
        "CREATE INDEX records_unembedded ON records (pos) "
        "WHERE embedding IS NULL AND status NOT IN ('deleted', 'purged')",
        "CREATE INDEX records_text ON records USING gin (tsv)",
        f"""CREATE TABLE history (
            seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            record_id text {_C} NOT NULL,
            namespace text {_C} NOT NULL,
            op text NOT NULL,
            at text {_C} NOT NULL,
            actor text,
            before json,
            after json
        )""",
        "CREATE INDEX history_record ON history (record_id, seq)",
        f"""CREATE TABLE links (
            src text {_C} NOT NULL,
            dst text {_C} NOT NULL,
            type text {_C} NOT NULL,
            weight double precision NOT NULL DEFAULT 1,
            created_at text {_C} NOT NULL,
            PRIMARY KEY (src, dst, type)
        )""",
        "CREATE INDEX links_dst ON links (dst, type)",
        f"CREATE TABLE state (key text {_C} PRIMARY KEY, value bytea NOT NULL)",
        f"CREATE TABLE counters (name text {_C} PRIMARY KEY, value bigint NOT NULL)",
        f"""CREATE TABLE api_keys (
            id text {_C} PRIMARY KEY,
            namespace text {_C} NOT NULL,
            hash text NOT NULL UNIQUE,
            label text,
            created_at text {_C} NOT NULL,
            revoked_at text {_C}
        )""",
    ],
    [
        # Full text holds the terms SQLite's tokenizer finds, which the store passes
        # in: PostgreSQL's parser reads "R&R;", "e-mail", "3.5" or a URL as words of
        # its own, and its stemmer differs from FTS5's ("used": "use", not "us"), so
        # the two backends ranked 1 LoCoMo question in 8 differently. Existing rows
        # are indexed again after these statements (`_index_text_again`).
        "ALTER TABLE records ALTER COLUMN tsv DROP EXPRESSION",
        "ALTER TABLE records ALTER COLUMN doc_length DROP EXPRESSION",
        # The newest turn of a whole namespace (the reference time of "last week").
        "CREATE INDEX records_time ON records (namespace, kind, occurred_at)",
        "ALTER TABLE records ALTER COLUMN embedding SET STORAGE MAIN",
    ],
]

assert len(MIGRATIONS) == SCHEMA_VERSION


VECTOR_INDEXES = ("vector", "halfvec")


def index_key(kind: str, dim: int) -> str:
    """What the HNSW index holds of a vector: the vector itself, or its float16 copy
    (`halfvec`: half the index's size; search ranks its candidates again by the
    stored float32 vectors)."""
    return "embedding" if kind == "vector" else f"(embedding::halfvec({int(dim)}))"


def vector_index_ddl(dim: int, kind: str = "vector") -> str:
    """The HNSW index for cosine search over the vector column."""
    ops = "vector_cosine_ops" if kind == "vector" else "halfvec_cosine_ops"
    key = index_key(kind, dim)
    return f"CREATE INDEX IF NOT EXISTS records_embedding ON records USING hnsw ({key} {ops})"


def vector_ddl(dim: int, kind: str = "vector") -> list[str]:
    """Fix the vector column's dimension and index it for cosine search (HNSW),
    dropping the index of an earlier model. The column must hold no vector of
    another dimension (a rebind empties it first)."""
    assert kind in VECTOR_INDEXES
    return [
        "DROP INDEX IF EXISTS records_embedding",
        f"ALTER TABLE records ALTER COLUMN embedding TYPE vector({int(dim)})",
        # Kept in the row, not in the TOAST table: a search scores hundreds of vectors,
        # and fetching each from TOAST took 2.7x as long (an exact scan of 1,500 rows
        # of 384 floats: 5.5 -> 2.0 ms).
        "ALTER TABLE records ALTER COLUMN embedding SET STORAGE MAIN",
        vector_index_ddl(dim, kind),
        f"INSERT INTO meta (key, value) VALUES ('vector_index', '{kind}') "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    ]


def open_schema(
    conn: psycopg.Connection[Any], where: str, migrate: bool
) -> tuple[dict[str, str], tuple[int, ...]]:
    """Create the store, or check the one there, in one transaction (a failure
    leaves nothing, extensions included); its `meta`, and pgvector's version."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", [SETUP_LOCK])
        version = _schema_version(conn, where)
        if version > SCHEMA_VERSION:
            raise ConfigError(
                f"{where} holds a memstrata store of schema version {version}, newer than "
                f"this memstrata ({__version__}, PostgreSQL schema {SCHEMA_VERSION}); upgrade "
                "memstrata"
            )
        if 0 < version < SCHEMA_VERSION and not migrate:
            raise ConfigError(
                f"{where} holds schema version {version}; this memstrata needs "
                f"{SCHEMA_VERSION}. Back the database up, then open it with migrate=True"
            )
        if version == 0:
            _create_extensions(conn, where)
            for statement in text_search_ddl():
                conn.execute(statement)
        for step in range(version, SCHEMA_VERSION):
            for statement in MIGRATIONS[step]:
                conn.execute(statement)
        if 0 < version < 2:
            _index_text_again(conn)
        if version == 0:
            conn.cursor().executemany(
                "INSERT INTO meta (key, value) VALUES (%s, %s)",
                [
                    ("created_by", f"memstrata {__version__}"),
                    ("created_at", now()),
                    ("store_id", new_id()),
                ],
            )
        if version != SCHEMA_VERSION:
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', %s) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [str(SCHEMA_VERSION)],
            )
        meta = {str(k): str(v) for k, v in conn.execute("SELECT key, value FROM meta")}
        row = conn.execute(
            "SELECT extversion FROM pg_extension WHERE extname = 'vector'"
        ).fetchone()
    parts = str(row[0] if row else "0").split(".")[:2]
    return meta, tuple(int(p) for p in parts if p.isdigit())


def _schema_version(conn: psycopg.Connection[Any], where: str) -> int:
    """0 for a database without the store's tables; ConfigError when some of them
    are there but are not a store's."""
    tables = {
        r[0]
        for r in conn.execute(
            "SELECT relname FROM pg_class WHERE relname = ANY(%s) "
            "AND relnamespace = current_schema()::regnamespace",
            [list(TABLES)],
        )
    }
    if "meta" not in tables:
        if tables:
            raise ConfigError(
                f"{where} has tables named {', '.join(sorted(tables))} that are not a "
                "memstrata store's; use another database (or schema, through the DSN's "
                "options=-csearch_path=...)"
            )
        return 0
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    if row is None or not str(row[0]).isdigit() or int(row[0]) < 1:
        raise ConfigError(
            f"{where} has a table `meta` with no valid schema version; it is not a memstrata "
            "store, or its creation was interrupted"
        )
    return int(row[0])


def _has_extension(conn: psycopg.Connection[Any], name: str) -> bool:
    row = conn.execute("SELECT 1 FROM pg_extension WHERE extname = %s", [name]).fetchone()
    return row is not None


def _available(conn: psycopg.Connection[Any], name: str) -> bool:
    row = conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = %s", [name])
    return row.fetchone() is not None


def _create_extensions(conn: psycopg.Connection[Any], where: str) -> None:
    if not _has_extension(conn, "vector"):
        if not _available(conn, "vector"):
            raise ConfigError(
                f"{where}: the server has no pgvector (the `vector` extension). Install it on "
                "the server (the postgresql-<version>-pgvector package, the pgvector/pgvector "
                "Docker image, or enable it on a managed service; see "
                "https://github.com/pgvector/pgvector#installation), then open the store again"
            )
        try:
            with conn.transaction():
                conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        except psycopg.errors.InsufficientPrivilege:
            raise ConfigError(
                f"{where}: this user may not create the `vector` extension; have a superuser "
                "run `CREATE EXTENSION vector;` in this database, then open the store again"
            ) from None


def _index_text_again(conn: psycopg.Connection[Any]) -> None:
    """Every record's full text from the terms SQLite's tokenizer finds (schema 2),
    a thousand rows at a time, in the migration's transaction."""
    with conn.cursor(name="memstrata_text_again") as rows:
        rows.execute("SELECT pos, text, speaker FROM records WHERE status <> 'purged'")
        while batch := rows.fetchmany(1000):
            conn.cursor().executemany(
                f"UPDATE records SET tsv = {DOCUMENT}, doc_length = %s WHERE pos = %s",
                [[*document_params(text, speaker), pos] for pos, text, speaker in batch],
            )
