"""The PostgreSQL schema: tables, indexes, the text search configuration, and the
vector column's index once the embedding model (and so the dimension) is known.

The database describes itself in `meta` as a SQLite file does: schema version (this
backend's own numbering), store id, who created it, and the embedding model.
"""

from __future__ import annotations

SCHEMA_VERSION = 1

TEXT_CONFIG = "memstrata_text"
STEM_DICTIONARY = "memstrata_stem"

# Every table the store keeps (stats add up their sizes).
TABLES = ("meta", "records", "history", "links", "state", "counters", "api_keys")

# Text that is compared or sorted (ids, times, scope parts, state keys) compares
# byte by byte, as in SQLite, whatever the database's collation.
_C = 'COLLATE "C"'


def text_search_ddl(unaccent: bool) -> list[str]:
    """A configuration like SQLite's `porter unicode61 remove_diacritics 2`: words
    stemmed (Snowball English, no stopwords dropped, so that a query of stopwords
    still matches), accents folded when the `unaccent` extension is there, numbers
    and other tokens kept as they are."""
    words = f"unaccent, {STEM_DICTIONARY}" if unaccent else STEM_DICTIONARY
    return [
        f"CREATE TEXT SEARCH DICTIONARY {STEM_DICTIONARY} "
        "(TEMPLATE = snowball, LANGUAGE = english)",
        f"CREATE TEXT SEARCH CONFIGURATION {TEXT_CONFIG} (COPY = simple)",
        f"ALTER TEXT SEARCH CONFIGURATION {TEXT_CONFIG} ALTER MAPPING FOR asciiword, asciihword, "
        f"hword_asciipart WITH {STEM_DICTIONARY}",
        f"ALTER TEXT SEARCH CONFIGURATION {TEXT_CONFIG} ALTER MAPPING FOR word, hword, hword_part "
        f"WITH {words}",
    ]


# Each entry upgrades the schema from version i to i + 1 (after `text_search_ddl`).
MIGRATIONS: list[list[str]] = [
    [
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
            tsv tsvector GENERATED ALWAYS AS (
                setweight(to_tsvector('{TEXT_CONFIG}', text), 'A')
                || setweight(to_tsvector('{TEXT_CONFIG}', coalesce(speaker, '')), 'D')
            ) STORED
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
]

assert len(MIGRATIONS) == SCHEMA_VERSION


def vector_ddl(dim: int) -> list[str]:
    """Fix the vector column's dimension and index it for cosine search (HNSW),
    dropping the index of an earlier model. The column must hold no vector of
    another dimension (a rebind empties it first)."""
    return [
        "DROP INDEX IF EXISTS records_embedding",
        f"ALTER TABLE records ALTER COLUMN embedding TYPE vector({int(dim)})",
        "CREATE INDEX records_embedding ON records USING hnsw (embedding vector_cosine_ops)",
    ]
