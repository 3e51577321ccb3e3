"""Which backend a store target names: a path is a SQLite file (the default)."""

from __future__ import annotations

import os
from pathlib import Path

from memstrata.store.base import Store


def open_store(target: str | os.PathLike[str], *, migrate: bool = False) -> Store:
    """The store at `target`: a SQLite file at a path."""
    from memstrata.store.sqlite import SQLiteStore

    return SQLiteStore(Path(target), migrate=migrate)
