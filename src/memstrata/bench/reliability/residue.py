"""Purge residue: after purging every turn about a made-up person, is anything of
them left in the file's bytes or in an export?

A store gets turns that mention a unique name (mid-sentence, so it is an entity)
and unique words, in enough turns that formation makes facts, an episode and a
profile about that name (a profile needs 3 facts), beside other turns. Every one
of the turns about the name is purged. Then these must be absent, case-insensitively
for the text, from the bytes of every file of the store (the db, its -wal and
-shm, the `.ann` side file) and from `Memory.export`:

- the name, and its full-text stem;
- each unique word, and its stem;
- the exact float32 bytes of the purged turns' vectors and of the vectors of what
  was derived from them (an aligned 64-byte window of one counts, see `windows`).

Variants: `small` (the exact vector index), `ann` (the vector thresholds lowered,
as tests/helpers_proc.py does, so that the HNSW graph and its `.ann` side file
exist), `reader` (another connection holds an old snapshot while the purges run:
the seconds each purge takes are reported), and `speaker` (the name is the speaker
of the turns rather than a name in them; reported apart, the issue does not ask
for it).
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import random
import sqlite3
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memstrata.bench.reliability.workload import token
from memstrata.form.entities import entity_key
from memstrata.store.fts import stem

VARIANTS = ("small", "ann", "reader", "speaker")
USER, SESSION = "alice", "s-about"
_TEMPLATES = (
    "I had lunch with {name} near the {w} fountain yesterday.",
    "Yesterday {name} bought a {w} kite at the market.",
    "My cousin {name} plays the {w} drum every Sunday.",
    "I think {name} will visit the {w} museum next week.",
    "We asked {name} about the {w} recipe on Friday.",
)
_SPEAKER_TEMPLATES = (
    "I had lunch near the {w} fountain yesterday.",
    "Yesterday I bought a {w} kite at the market.",
    "I play the {w} drum every Sunday.",
    "I will visit the {w} museum next week.",
)
_FILLER = "note {i} about the weather and the {topic} garden on a quiet afternoon"
_CHUNK = 64


@dataclass
class ResidueConfig:
    seed: int = 0
    work: Path = Path("residue")
    variants: tuple[str, ...] = VARIANTS
    ann_rows: int = 300  # filler turns in the `ann` variant; the thresholds go below this


@contextlib.contextmanager
def lowered_thresholds(rows: int) -> Iterator[None]:
    """Use the HNSW graph from `rows` vectors on, built in the foreground (the way
    tests/helpers_proc.py and tests/test_purge.py do), for the block only."""
    from memstrata.store import sqlite
    from memstrata.store import sqlite_vectors as vectors

    saved = (vectors.ANN_MIN, vectors.EXACT_MAX, sqlite.GRAPH_IN_BACKGROUND)
    vectors.ANN_MIN = vectors.EXACT_MAX = rows
    sqlite.GRAPH_IN_BACKGROUND = False
    try:
        yield
    finally:
        vectors.ANN_MIN, vectors.EXACT_MAX, sqlite.GRAPH_IN_BACKGROUND = saved


def export_items(memory: Any) -> tuple[str, list[dict[str, Any]]]:
    """Every namespace's export, as text and as parsed lines."""
    text = ""
    for namespace in memory.store.namespaces():
        buffer = io.StringIO()
        memory.export(buffer, namespace=namespace)
        text += buffer.getvalue()
    return text, [json.loads(line) for line in text.splitlines()]


def vector_bytes(items: Sequence[dict[str, Any]], ids: set[str]) -> dict[str, bytes]:
    """The float32 bytes of the exported vectors of `ids`."""
    return {
        item["record"]["id"]: base64.b64decode(item["vector"])
        for item in items
        if item["type"] == "record" and item["record"]["id"] in ids and item.get("vector")
    }


def windows(data: bytes) -> list[bytes]:
    """The vector whole, and its aligned 64-byte windows (16 floats) that hold at
    least 8 non-zero floats: a vector split across pages is still found, and runs of
    zeros (the test embedder's vectors are sparse) match nothing by chance."""
    out = [data]
    for start in range(0, len(data) - _CHUNK + 1, _CHUNK):
        part = data[start : start + _CHUNK]
        floats = [part[i : i + 4] for i in range(0, _CHUNK, 4)]
        if sum(f != b"\0\0\0\0" and f != b"\0\0\0\x80" for f in floats) >= 8:
            out.append(part)
    return out


def find_text(haystack: bytes, needles: Sequence[str]) -> list[str]:
    """The needles found in `haystack`, case-insensitively (ASCII needles)."""
    low = haystack.lower()
    return [n for n in needles if n.lower().encode() in low]


def find_vectors(haystack: bytes, vectors: dict[str, bytes]) -> list[str]:
    return [rid for rid, data in vectors.items() if any(w in haystack for w in windows(data))]


def where_in_db(db: Path, needles: Sequence[str], vectors: dict[str, bytes]) -> list[str]:
    """Which table and column of the db still hold a needle or a vector window (for
    the report: the file scan says whether, this says where)."""
    out = []
    low = [n.lower() for n in needles]
    wins = {rid: windows(data) for rid, data in vectors.items()}
    with contextlib.closing(sqlite3.connect(db)) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            try:
                columns = [r[1] for r in conn.execute(f'PRAGMA table_info("{table}")')]
            except sqlite3.Error:
                continue
            for column in columns:
                try:
                    values = [r[0] for r in conn.execute(f'SELECT "{column}" FROM "{table}"')]
                except sqlite3.Error:
                    continue
                raw = [v if isinstance(v, bytes) else str(v).encode() for v in values]
                for needle in low:
                    rows = sum(1 for v in raw if needle.encode() in v.lower())
                    if rows:
                        out.append(f"{table}.{column}: {needle!r} in {rows} rows")
                for rid, parts in wins.items():
                    rows = sum(1 for v in raw if any(w in v for w in parts))
                    if rows:
                        out.append(f"{table}.{column}: vector of {rid} in {rows} rows")
    return out


def run_variant(variant: str, folder: Path, rng: random.Random, ann_rows: int) -> dict[str, Any]:
    from memstrata.memory import Memory

    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "residue.db"
    for old in folder.glob("residue.db*"):
        old.unlink()
    name = "Zy" + token(rng)[2:8]  # a made-up name no model or word list knows
    words = [token(rng) for _ in _TEMPLATES]
    speaker_mode = variant == "speaker"
    templates = _SPEAKER_TEMPLATES if speaker_mode else _TEMPLATES
    turns = [
        {
            "role": "user",
            "name": name if speaker_mode else USER,
            "content": t.format(name=name, w=w),
        }
        for t, w in zip(templates, words)
    ]
    filler = ann_rows if variant == "ann" else 20
    result: dict[str, Any] = {"variant": variant, "name": name}
    context = lowered_thresholds(ann_rows - 50) if variant == "ann" else contextlib.nullcontext()
    with context, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the reader variant's purge warns; counted below
        memory = Memory(db, embedder="hash", episodes=True)  # every layer, to purge from
        try:
            others = [_FILLER.format(i=i, topic=("rose", "herb", "tulip")[i % 3])
                      for i in range(filler)]  # fmt: skip
            memory.add(others, user_id=USER, session_id="s-filler",
                       occurred_at="2026-04-01T10:00:00Z")  # fmt: skip
            added = memory.add(turns, user_id=USER, session_id=SESSION,
                               occurred_at="2026-04-10T09:00:00Z")  # fmt: skip
            memory.search(name, user_id=USER, strategy="dense")  # loads the index (and graph)
            turn_ids = [r.id for r in added]
            derived = _derived_from(memory, set(turn_ids))
            result["formed"] = _formed(memory, derived, name)
            _, items = export_items(memory)
            vectors = vector_bytes(items, set(turn_ids) | {d["id"] for d in derived})
            result["vectors_checked"] = len(vectors)
            result["ann_file_before"] = (folder / "residue.db.ann").exists()
            reader = _old_snapshot(db) if variant == "reader" else None
            started = time.perf_counter()
            for record_id in turn_ids:
                memory.purge(record_id, user_id=USER)
            elapsed = time.perf_counter() - started
            result["purge_seconds_per_turn"] = round(elapsed / len(turn_ids), 3)
            if reader is not None:
                reader.rollback()
                reader.close()
            export_text, items_after = export_items(memory)
        finally:
            memory.close()
    result["ann_file_after"] = (folder / "residue.db.ann").exists()
    text_needles = [name, entity_key(name), stem(name.lower()), *words, *map(stem, words)]
    text_needles = list(dict.fromkeys(text_needles))
    files: dict[str, dict[str, Any]] = {}
    for path in sorted(folder.glob("residue.db*")):
        data = path.read_bytes()
        files[path.name] = {
            "bytes": len(data),
            "text_found": find_text(data, text_needles),
            "vectors_found": len(find_vectors(data, vectors)),
        }
    left = [n for f in files.values() for n in f["text_found"]]
    exported_vectors = {
        i["record"]["id"]: base64.b64decode(i["vector"])
        for i in items_after
        if i["type"] == "record" and i.get("vector")
    }
    in_export_vectors = [
        rid
        for rid, data in vectors.items()
        if any(data == other for other in exported_vectors.values())
    ]
    result.update(
        files=files,
        name_in_files=any(n.lower() in {name.lower(), entity_key(name)} for n in left),
        words_in_files=sorted({n for n in left if n not in (name, entity_key(name))}),
        vectors_in_files=sum(f["vectors_found"] for f in files.values()),
        text_in_export=find_text(export_text.encode(), text_needles),
        vectors_in_export=len(in_export_vectors),
        where=where_in_db(db, [name, *words], vectors)
        if left or any(f["vectors_found"] for f in files.values())
        else [],
    )
    return result


def _derived_from(memory: Any, turns: set[str]) -> list[dict[str, Any]]:
    """Records derived from `turns`, directly or through other derived records."""
    records = [
        r
        for r in memory.list(user_id=USER, kinds=["fact", "episode", "profile"], limit=1000).records
    ]
    reached, grew = set(turns), True
    while grew:
        grew = False
        for r in records:
            if r.id not in reached and reached.intersection(r.source_ids):
                reached.add(r.id)
                grew = True
    return [r.to_dict() for r in records if r.id in reached and r.id not in turns]


def _formed(memory: Any, derived: Sequence[dict[str, Any]], name: str) -> dict[str, int]:
    """What formation made from the turns: it must be facts, an episode and a profile
    about the name, or the run tests too little."""
    key = entity_key(name)
    return {
        "facts": sum(1 for d in derived if d["kind"] == "fact"),
        "facts_about_name": sum(
            1
            for d in derived
            if d["kind"] == "fact" and key in {entity_key(e) for e in d["entities"]}
        ),
        "episodes": sum(1 for d in derived if d["kind"] == "episode"),
        "profiles": sum(1 for d in derived if d["kind"] == "profile"),
        "profile_of_name": sum(
            1 for d in derived if d["kind"] == "profile" and d["metadata"].get("entity") == key
        ),
    }


def _old_snapshot(db: Path) -> sqlite3.Connection:
    """Another connection in the middle of a read: its snapshot predates the purges."""
    reader = sqlite3.connect(db, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM records").fetchone()
    return reader


def run_residue(config: ResidueConfig, log: Any = lambda m: None) -> dict[str, Any]:
    rng = random.Random(f"memstrata-residue-{config.seed}")
    variants = {}
    for variant in config.variants:
        variants[variant] = run_variant(variant, config.work / variant, rng, config.ann_rows)
        v = variants[variant]
        log(f"residue {variant}: name left {v['name_in_files']}, words {v['words_in_files']}, "
            f"vectors {v['vectors_in_files']}, in export {v['text_in_export']}")  # fmt: skip
    asked = [v for k, v in variants.items() if k != "speaker"]
    return {
        "variants": variants,
        "name_left": sum(v["name_in_files"] for v in asked),
        "words_left": sum(len(v["words_in_files"]) for v in asked),
        "vectors_left": sum(v["vectors_in_files"] for v in asked),
        "left_in_export": sum(len(v["text_in_export"]) + v["vectors_in_export"] for v in asked),
        "under_formed": [k for k, v in variants.items() if not _enough(v["formed"], k)],
    }


def _enough(formed: dict[str, int], variant: str) -> bool:
    if variant == "speaker":
        return formed["facts"] >= 3 and formed["profile_of_name"] >= 1
    return (
        formed["facts_about_name"] >= 3
        and formed["episodes"] >= 1
        and (formed["profile_of_name"] >= 1)
    )
