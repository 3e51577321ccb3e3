"""memstrata: local-first long-term memory for AI agents.

>>> from memstrata import Memory
>>> m = Memory("agent.db")
>>> m.add("I moved to Lisbon in March", user_id="alice")
>>> m.search("where does alice live?", user_id="alice")

`Client(base_url, api_key)` has the same verbs against a `memstrata serve` server.
"""

from memstrata._version import __version__
from memstrata.client import Client
from memstrata.embed.base import Embedder
from memstrata.errors import (
    BackendError,
    ConfigError,
    Conflict,
    EmbeddingError,
    InvalidInput,
    MemstrataError,
    NotFound,
    ScopeViolation,
)
from memstrata.memory import Memory
from memstrata.retrieve.context import Context, ContextPart
from memstrata.types import HistoryEntry, Hit, Page, Record, Scope

__all__ = [
    "BackendError",
    "Client",
    "ConfigError",
    "Conflict",
    "Context",
    "ContextPart",
    "Embedder",
    "EmbeddingError",
    "HistoryEntry",
    "Hit",
    "InvalidInput",
    "Memory",
    "MemstrataError",
    "NotFound",
    "Page",
    "Record",
    "Scope",
    "ScopeViolation",
    "__version__",
]
