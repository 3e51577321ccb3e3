"""A whole store copied into another, any backend to any backend
(`memstrata migrate --from sqlite:PATH --to postgresql://…`).

The copy is lossless: every record in every namespace with its exact id, version,
times, status and vector; its history as it was (no `import` entry is added); links;
named state (topic centroids, formation still owed); counters; API keys (their
hashes; a revoked key stays revoked). It is resumable: records already in the target
are skipped and the rest is written in batches of one transaction each, so a copy
that stopped half-way is finished by running it again. `verify` compares the two
stores by counts and by a checksum of every record, its vector and its history.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from memstrata.store.base import Link, Store
from memstrata.types import HistoryEntry, Record, Scope

BATCH = 500
_COUNTERS = "count:"  # counters are added to, not set: they are copied as differences


@dataclass
class Copied:
    """What one run of `copy_store` wrote (a resumed run counts only what it added)."""

    records: int = 0
    skipped: int = 0
    links: int = 0
    state: int = 0
    keys: int = 0
    by_namespace: dict[str, int] = field(default_factory=dict)


def copy_store(
    source: Store,
    target: Store,
    *,
    batch: int = BATCH,
    progress: Callable[[str, int], None] | None = None,
) -> Copied:
    """Copy everything in `source` into `target` (see the module doc). The target
    must use the same embedding model, or none yet (ConfigError otherwise)."""
    info = source.embedder_info()
    if info is not None:
        target.bind_embedder(info)
    done = Copied()
    # A backend that indexes faster all at once (PostgreSQL's HNSW) is told a copy
    # is under way; the SQLite store builds its graph once, after loading, anyway.
    bulk = getattr(target, "bulk_load", None)
    with bulk() if bulk is not None else contextlib.nullcontext():
        _copy_records(source, target, batch, progress, done)
    for links in _batches(source.iter_links(), batch):
        target.add_links(links)
        done.links += len(links)
    state = {k: v for k, v in source.state_items("") if not k.startswith(_COUNTERS)}
    if state:
        target.set_state(state)
        done.state = len(state)
    _copy_counters(source, target)
    done.keys = _copy_keys(source, target)
    return done


def _copy_records(
    source: Store,
    target: Store,
    batch: int,
    progress: Callable[[str, int], None] | None,
    done: Copied,
) -> None:
    for namespace in sorted(source.namespaces()):
        items: list[tuple[Record, np.ndarray | None, list[HistoryEntry]]] = []
        seen = 0
        for record, vector in source.iter_records(Scope(namespace)):
            items.append((record, vector, source.history_entries(record.id)))
            if len(items) >= batch:
                seen += _flush(target, items, done)
                if progress:
                    progress(namespace, seen)
        seen += _flush(target, items, done)
        done.by_namespace[namespace] = seen
        if progress:
            progress(namespace, seen)


def _flush(
    target: Store, items: list[tuple[Record, np.ndarray | None, list[HistoryEntry]]], done: Copied
) -> int:
    if not items:
        return 0
    inserted = target.import_records(items, actor=None, log_import=False)
    done.records += inserted
    done.skipped += len(items) - inserted
    n = len(items)
    items.clear()
    return n


def _batches(links: Iterator[Link], size: int) -> Iterator[list[Link]]:
    chunk: list[Link] = []
    for link in links:
        chunk.append(link)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _counters(store: Store) -> dict[str, int]:
    counters = store.stats(Scope("default"))["counters"]
    return {str(k): int(v) for k, v in counters.items()}


def _copy_counters(source: Store, target: Store) -> None:
    have = _counters(target)
    for name, n in _counters(source).items():
        if n > have.get(name, 0):
            target.count(name, n - have.get(name, 0))


def _copy_keys(source: Store, target: Store) -> int:
    hashes = source.key_hashes()
    present = {k.id: k for k in target.api_keys()}
    added = 0
    for key in source.api_keys():
        if key.id not in present:
            target.add_key(key, hashes[key.id])
            added += 1
        elif key.revoked_at and not present[key.id].revoked_at:
            target.revoke_key(key.id, key.revoked_at)
    return added


def verify(source: Store, target: Store) -> list[str]:
    """The differences between two stores, as readable lines; [] when the target holds
    exactly what the source holds (records, vectors, history, links, keys, state)."""
    problems: list[str] = []
    spaces = sorted(source.namespaces())
    if sorted(target.namespaces()) != spaces:
        problems.append(f"namespaces differ: {spaces} against {sorted(target.namespaces())}")
    for namespace in spaces:
        a, b = _digest(source, namespace), _digest(target, namespace)
        if a[0] != b[0]:
            problems.append(f"namespace {namespace!r}: {a[0]} records against {b[0]}")
        elif a[1] != b[1]:
            problems.append(f"namespace {namespace!r}: the records' checksums differ")
    if _link_digest(source) != _link_digest(target):
        problems.append("the links differ")
    if source.api_keys() != target.api_keys():
        problems.append("the API keys differ")
    state_a = {k: v for k, v in source.state_items("") if not k.startswith(_COUNTERS)}
    state_b = {k: v for k, v in target.state_items("") if not k.startswith(_COUNTERS)}
    if state_a != state_b:
        problems.append("the named state differs")
    return problems


def _digest(store: Store, namespace: str) -> tuple[int, str]:
    total = hashlib.sha256()
    n = 0
    for record, vector in store.iter_records(Scope(namespace)):
        n += 1
        history = [(e.op, e.at, e.actor, e.before, e.after) for e in
                   store.history_entries(record.id)]  # fmt: skip
        data = [record.to_dict(), history]
        total.update(json.dumps(data, sort_keys=True, default=str).encode())
        if vector is not None:
            total.update(np.asarray(vector, dtype="<f4").tobytes())
    return n, total.hexdigest()


def _link_digest(store: Store) -> str:
    total = hashlib.sha256()
    for link in store.iter_links():
        total.update(json.dumps(link).encode())
    return total.hexdigest()
