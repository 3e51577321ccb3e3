"""API keys: each one lets a client act for one tenant (namespace) on the server.

A secret looks like `ms_<id>_<43 random characters>`. It is shown once, when it is
created; the store keeps only its SHA-256. The id in the secret names the key in
`memstrata keys list` and `keys revoke` without revealing it.

>>> key_id, secret = create_key("agent.db", "acme", label="support bot")
>>> KeyRing(store).namespace_of(secret)
'acme'

A change made with a key is recorded in history as made by `key:<id>` (`Caller.actor`):
the server sets it, never the request.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

from memstrata.errors import ConfigError, InvalidInput, NotFound
from memstrata.ids import now
from memstrata.store.backends import is_postgres, open_store
from memstrata.store.base import ApiKeyRow, Keys
from memstrata.validate import check_scope_part

PREFIX = "ms"
_CACHE_TTL_S = 0.5  # a revoked key stops working within this
_CACHE_SIZE = 1024

Target = Keys | str | PathLike[str]


@dataclass(frozen=True)
class Caller:
    """Who a request acts as: the tenant (namespace) and the name its changes are
    recorded under in history (`actor`)."""

    namespace: str
    actor: str


def key_actor(key_id: str) -> str:
    """The history actor of the changes made with key `key_id`."""
    return f"key:{key_id}"


ApiKey = ApiKeyRow  # what is known of a key besides its secret


def digest(secret: str) -> str:
    # A plain SHA-256 is enough here: the secrets are 256 random bits, so a stolen
    # hash cannot be brute-forced. Slow password hashes (bcrypt, argon2) exist for
    # guessable human passwords, and would cost milliseconds on every request.
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def create_key(target: Target, namespace: str, label: str | None = None) -> tuple[str, str]:
    """Create a key for `namespace`; return `(key_id, secret)`. The secret is not
    stored and cannot be shown again."""
    namespace = check_scope_part(namespace, "namespace", required=True) or "default"
    label = check_scope_part(label, "label")
    key_id = secrets.token_hex(8)
    secret = f"{PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
    with _opened(target, create=True) as store:
        store.add_key(ApiKey(key_id, namespace, label, now(), None), digest(secret))
    return key_id, secret


def list_keys(target: Target) -> list[ApiKey]:
    """Every key, oldest first, revoked ones included (never a secret or a hash)."""
    with _opened(target) as store:
        return store.api_keys()


def revoke_key(target: Target, key_id: str) -> ApiKey:
    """Revoke a key (at once for new requests; a running server within a second).
    Revoking a revoked key keeps its first revocation time. NotFound for no such id."""
    if not isinstance(key_id, str):
        raise InvalidInput(f"key id must be a str, got {type(key_id).__name__}")
    with _opened(target) as store:
        found = store.revoke_key(key_id, now())
    if found is None:
        raise NotFound(f"no API key {key_id!r}; `memstrata keys list` shows the keys")
    return found


class KeyRing:
    """The server's view of the keys: which namespace a secret acts for.

    Answers are remembered for half a second, so a busy server reads the table
    about twice a second per client rather than on every request, and a revoked
    key stops working within that half second.
    """

    def __init__(self, store: Keys, *, ttl: float = _CACHE_TTL_S) -> None:
        self._store = store
        self._ttl = ttl
        self._cache: OrderedDict[str, tuple[Caller, float]] = OrderedDict()
        self._lock = threading.Lock()

    def remembered(self, secret: str) -> Caller | None:
        """The caller `secret` stands for if it was looked up less than `ttl` ago (no
        read of the store: cheap enough for an event loop); None otherwise."""
        return self._remembered(digest(secret))

    def _remembered(self, hashed: str) -> Caller | None:
        with self._lock:
            cached = self._cache.get(hashed)
        if cached is not None and time.monotonic() - cached[1] < self._ttl:
            return cached[0]
        return None

    def caller(self, secret: str) -> Caller | None:
        """The caller of a live key (its namespace, and `key:<id>` as the actor of
        its changes); None for a wrong, malformed or revoked one."""
        hashed = digest(secret)
        remembered = self._remembered(hashed)
        if remembered is not None:
            return remembered
        moment = time.monotonic()
        found = self._lookup(secret, hashed)
        with self._lock:
            if found is None:
                self._cache.pop(hashed, None)
            else:
                self._cache[hashed] = (found, moment)
                self._cache.move_to_end(hashed)
                while len(self._cache) > _CACHE_SIZE:
                    self._cache.popitem(last=False)
        return found

    def namespace_of(self, secret: str) -> str | None:
        """The namespace of a live key, None for a wrong, malformed or revoked one."""
        found = self.caller(secret)
        return None if found is None else found.namespace

    def _lookup(self, secret: str, hashed: str) -> Caller | None:
        prefix, _, rest = secret.partition("_")
        key_id = rest.partition("_")[0]
        if prefix != PREFIX or not key_id:
            return None
        row = self._store.key_hash(key_id)
        # The row is found by the id, which is not secret; the secret itself is
        # checked by a comparison that takes the same time wherever it differs.
        if row is None or not hmac.compare_digest(row[1], hashed):
            return None
        return Caller(namespace=str(row[0]), actor=key_actor(key_id))


@contextlib.contextmanager
def _opened(target: Target, *, create: bool = False) -> Iterator[Keys]:
    """The open store `target`, or the store at the path or DSN `target` (opened and
    closed here; ConfigError if a file does not exist and `create` is false)."""
    # The key table lives in the store itself, so a key and the records it guards
    # share one file (or database), one transaction log and one backup.
    if not isinstance(target, (str, PathLike)):
        yield target
        return
    if not is_postgres(target) and not create and not Path(target).exists():
        raise ConfigError(f"no store at {target}; give --db the store the server uses")
    store = open_store(target)
    try:
        yield store
    finally:
        store.close()
