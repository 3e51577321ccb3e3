"""The SQLite schema and its migrations.

The file describes itself in `meta`: schema version, who created it, and the
embedding model its vectors come from. A file from a newer memstrata is refused; a
file from an older one is migrated only when the caller asks (`migrate=True`, or
`memstrata migrate`).
"""

from __future__ import annotations

import re

SCHEMA_VERSION = 6

# One term per scope part: the letter n, u, a or s, the value in hex (any text becomes
# one token) and a closing 0 (a token ending in a digit is never stemmed). A missing
# part is the letter and the 0.
_SCOPE_TERMS = (
    "'n' || hex(namespace) || '0 u' || hex(coalesce(user_id, '')) || "
    "'0 a' || hex(coalesce(agent_id, '')) || '0 s' || hex(coalesce(session_id, '')) || '0'"
)

# The full-text indexes: `records_fts` holds the live records as stored, `derived_fts`
# the live derived ones (facts, with `source_ids`). Two indexes, so that a search of
# what was stored ranks as if facts did not exist (their words are their evidence's
# words), and a search for facts still finds them by their words.
INDEXED = "{r}.status NOT IN ('deleted', 'purged') AND {r}.source_ids = '[]'"
DERIVED_INDEXED = "{r}.status NOT IN ('deleted', 'purged') AND {r}.source_ids != '[]'"
FTS_TABLES = {"records_fts": INDEXED, "derived_fts": DERIVED_INDEXED}


def _fts_triggers(indexed: str, table: str = "records_fts") -> list[str]:
    """The triggers that keep the full-text index `table` to the records `indexed`
    selects."""
    new, old = indexed.format(r="new"), indexed.format(r="old")
    return [
        f"""CREATE TRIGGER {table}_insert AFTER INSERT ON records
           WHEN {new} BEGIN
             INSERT INTO {table} (rowid, text, speaker, scope_terms)
             VALUES (new.rowid, new.text, new.speaker, new.scope_terms);
           END""",
        f"""CREATE TRIGGER {table}_delete AFTER DELETE ON records
           WHEN {old} BEGIN
             INSERT INTO {table} ({table}, rowid, text, speaker, scope_terms)
             VALUES ('delete', old.rowid, old.text, old.speaker, old.scope_terms);
           END""",
        f"""CREATE TRIGGER {table}_update AFTER UPDATE OF text, speaker, status ON records
           BEGIN
             INSERT INTO {table} ({table}, rowid, text, speaker, scope_terms)
             SELECT 'delete', old.rowid, old.text, old.speaker, old.scope_terms
             WHERE {old};
             INSERT INTO {table} (rowid, text, speaker, scope_terms)
             SELECT new.rowid, new.text, new.speaker, new.scope_terms
             WHERE {new};
           END""",
    ]


# Each entry upgrades the schema from version i to i + 1.
MIGRATIONS: list[list[str]] = [
    [
        """CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)""",
        """CREATE TABLE records (
            rowid INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL,
            text TEXT NOT NULL,
            namespace TEXT NOT NULL,
            user_id TEXT,
            agent_id TEXT,
            session_id TEXT,
            role TEXT,
            speaker TEXT,
            occurred_at TEXT NOT NULL,
            recorded_at TEXT NOT NULL,
            valid_from TEXT,
            valid_to TEXT,
            metadata TEXT NOT NULL DEFAULT '{}',
            source_ids TEXT NOT NULL DEFAULT '[]',
            entities TEXT NOT NULL DEFAULT '[]',
            tags TEXT NOT NULL DEFAULT '[]',
            salience REAL NOT NULL DEFAULT 0,
            hits INTEGER NOT NULL DEFAULT 0,
            last_hit_at TEXT,
            useful INTEGER NOT NULL DEFAULT 0,
            not_useful INTEGER NOT NULL DEFAULT 0,
            version INTEGER NOT NULL DEFAULT 1,
            status TEXT NOT NULL DEFAULT 'active',
            updated_at TEXT,
            embedding BLOB,
            seq INTEGER NOT NULL DEFAULT 0
        )""",
        "CREATE INDEX records_scope ON records (namespace, user_id, occurred_at)",
        "CREATE INDEX records_session ON records (namespace, session_id, occurred_at)",
        "CREATE INDEX records_seq ON records (seq)",
        """CREATE VIRTUAL TABLE records_fts USING fts5 (
            text, speaker, content='records', content_rowid='rowid',
            tokenize='porter unicode61 remove_diacritics 2'
        )""",
        "CREATE VIRTUAL TABLE records_vocab USING fts5vocab(records_fts, 'row')",
        """CREATE TRIGGER records_fts_insert AFTER INSERT ON records
           WHEN new.status NOT IN ('deleted', 'purged') BEGIN
             INSERT INTO records_fts (rowid, text, speaker)
             VALUES (new.rowid, new.text, new.speaker);
           END""",
        """CREATE TRIGGER records_fts_delete AFTER DELETE ON records
           WHEN old.status NOT IN ('deleted', 'purged') BEGIN
             INSERT INTO records_fts (records_fts, rowid, text, speaker)
             VALUES ('delete', old.rowid, old.text, old.speaker);
           END""",
        """CREATE TRIGGER records_fts_update AFTER UPDATE OF text, speaker, status ON records
           BEGIN
             INSERT INTO records_fts (records_fts, rowid, text, speaker)
             SELECT 'delete', old.rowid, old.text, old.speaker
             WHERE old.status NOT IN ('deleted', 'purged');
             INSERT INTO records_fts (rowid, text, speaker)
             SELECT new.rowid, new.text, new.speaker
             WHERE new.status NOT IN ('deleted', 'purged');
           END""",
        """CREATE TABLE history (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            record_id TEXT NOT NULL,
            namespace TEXT NOT NULL,
            op TEXT NOT NULL,
            at TEXT NOT NULL,
            actor TEXT,
            before TEXT,
            after TEXT
        )""",
        "CREATE INDEX history_record ON history (record_id, seq)",
        """CREATE TABLE links (
            src TEXT NOT NULL,
            dst TEXT NOT NULL,
            type TEXT NOT NULL,
            weight REAL NOT NULL DEFAULT 1,
            created_at TEXT NOT NULL,
            PRIMARY KEY (src, dst, type)
        )""",
        "CREATE INDEX links_dst ON links (dst, type)",
    ],
    # 2: the scope goes into the full-text index as terms, so that a query narrowed to
    # one user ranks only that user's matches instead of every match in the namespace.
    [
        f"ALTER TABLE records ADD COLUMN scope_terms TEXT GENERATED ALWAYS AS ({_SCOPE_TERMS}) "
        "VIRTUAL",
        "DROP TRIGGER records_fts_insert",
        "DROP TRIGGER records_fts_delete",
        "DROP TRIGGER records_fts_update",
        "DROP TABLE records_vocab",
        "DROP TABLE records_fts",
        """CREATE VIRTUAL TABLE records_fts USING fts5 (
            text, speaker, scope_terms, content='records', content_rowid='rowid',
            tokenize='porter unicode61 remove_diacritics 2'
        )""",
        "CREATE VIRTUAL TABLE records_vocab USING fts5vocab(records_fts, 'row')",
        """CREATE TRIGGER records_fts_insert AFTER INSERT ON records
           WHEN new.status NOT IN ('deleted', 'purged') BEGIN
             INSERT INTO records_fts (rowid, text, speaker, scope_terms)
             VALUES (new.rowid, new.text, new.speaker, new.scope_terms);
           END""",
        """CREATE TRIGGER records_fts_delete AFTER DELETE ON records
           WHEN old.status NOT IN ('deleted', 'purged') BEGIN
             INSERT INTO records_fts (records_fts, rowid, text, speaker, scope_terms)
             VALUES ('delete', old.rowid, old.text, old.speaker, old.scope_terms);
           END""",
        """CREATE TRIGGER records_fts_update AFTER UPDATE OF text, speaker, status ON records
           BEGIN
             INSERT INTO records_fts (records_fts, rowid, text, speaker, scope_terms)
             SELECT 'delete', old.rowid, old.text, old.speaker, old.scope_terms
             WHERE old.status NOT IN ('deleted', 'purged');
             INSERT INTO records_fts (rowid, text, speaker, scope_terms)
             SELECT new.rowid, new.text, new.speaker, new.scope_terms
             WHERE new.status NOT IN ('deleted', 'purged');
           END""",
        """INSERT INTO records_fts (rowid, text, speaker, scope_terms)
           SELECT rowid, text, speaker, scope_terms FROM records
           WHERE status NOT IN ('deleted', 'purged')""",
    ],
    # 3: derived state that is not a record (topic centroids) and counters (formation
    # failures); derived records (those with `source_ids`) stay out of the full-text
    # index: their words are their evidence's words, which is indexed already.
    [
        "CREATE TABLE state (key TEXT PRIMARY KEY, value BLOB NOT NULL)",
        "CREATE INDEX records_valid ON records (namespace, valid_from) "
        "WHERE valid_from IS NOT NULL",
        "DROP TRIGGER records_fts_insert",
        "DROP TRIGGER records_fts_delete",
        "DROP TRIGGER records_fts_update",
        *_fts_triggers(INDEXED),
    ],
    # 4: API keys for the server (`memstrata keys`). Only a hash of each secret is
    # kept; the key fixes the tenant (namespace) a request acts for.
    [
        """CREATE TABLE api_keys (
            id TEXT PRIMARY KEY,
            namespace TEXT NOT NULL,
            hash TEXT NOT NULL UNIQUE,
            label TEXT,
            created_at TEXT NOT NULL,
            revoked_at TEXT
        )""",
    ],
    # 5: derived records (facts) get a full-text index of their own, so a search for
    # facts by their words finds them (the store contract says every live record is
    # full-text indexed) while a search of what was stored ranks as before.
    [
        """CREATE VIRTUAL TABLE derived_fts USING fts5 (
            text, speaker, scope_terms, content='records', content_rowid='rowid',
            tokenize='porter unicode61 remove_diacritics 2'
        )""",
        "CREATE VIRTUAL TABLE derived_vocab USING fts5vocab(derived_fts, 'row')",
        *_fts_triggers(DERIVED_INDEXED, "derived_fts"),
        f"""INSERT INTO derived_fts (rowid, text, speaker, scope_terms)
           SELECT rowid, text, speaker, scope_terms FROM records r
           WHERE {DERIVED_INDEXED.format(r="r")}""",
    ],
    # 6: the newest turn of a whole namespace (the reference time of "last week") is
    # found through an index: without it, a search over 200k records spent 350 ms
    # sorting them. An index only: applied at open, without `migrate`.
    ["CREATE INDEX records_time ON records (namespace, kind, occurred_at)"],
]


def index_only(version: int) -> bool:
    """Whether upgrading from `version` only adds indexes (nothing to back up first)."""
    steps = MIGRATIONS[version:]
    return all(st.lstrip().upper().startswith("CREATE INDEX") for step in steps for st in step)


assert len(MIGRATIONS) == SCHEMA_VERSION

_CREATES = re.compile(r"^\s*CREATE (?:VIRTUAL )?TABLE (\w+)", re.IGNORECASE)
_DROPS = re.compile(r"^\s*DROP TABLE (\w+)", re.IGNORECASE)


def tables_at(version: int) -> set[str]:
    """The tables a store of schema `version` has (as its migrations made them)."""
    tables: set[str] = set()
    for step in MIGRATIONS[:version]:
        for statement in step:
            if created := _CREATES.match(statement):
                tables.add(created.group(1))
            elif dropped := _DROPS.match(statement):
                tables.discard(dropped.group(1))
    return tables
