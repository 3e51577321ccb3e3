"""What a serving run does: its configuration and bounds, the loopback check, and
the request plan (the same for the same configuration)."""

from __future__ import annotations

import dataclasses
import ipaddress
import random
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memstrata.bench.gen import generate_queries, generate_sessions, iter_batches
from memstrata.errors import InvalidInput

NAMESPACE = "bench"
VERBS = ("add", "search")
BACKENDS = ("sqlite", "postgres")
KILLS = ("server", "database")
K = 10
MAX_CLIENTS = 256
MAX_REQUESTS = 100_000
MAX_SECONDS = 3600.0
WARM_UP_S = 1.0  # also reported: latency of the requests sent after this much of the run


@dataclass
class ServeConfig:
    """What to run: `requests` calls from `clients` threads, `add_share` of them adds,
    stopping after `seconds` at most, on a store preloaded with `preload` turns."""

    clients: int = 32
    requests: int = 2000
    add_share: float = 0.3
    seconds: float = 120.0
    embedder: str = "minilm"
    out: Path = Path("bench-results/serve")
    preload: int = 1000
    host: str = "127.0.0.1"
    server: str = "process"  # "process": a child process; "thread": in this process
    slots: int | None = None  # the server's --slots (None: its default)
    seed: int = 0
    plots: bool = True
    progress: bool = True
    # The store: a fresh SQLite file (the default), a fresh schema in the PostgreSQL
    # database `db` (a postgresql:// DSN), or with backend "postgres" and no `db`, a
    # database in a throwaway PostgreSQL server started for the run.
    db: str | None = None
    backend: str | None = None  # None: "postgres" when `db` is given, else "sqlite"
    kill: str | None = None  # "server" or "database": SIGKILL it mid-run, then restart it

    @property
    def store_backend(self) -> str:
        return self.backend or ("postgres" if self.db else "sqlite")

    def check(self) -> None:
        """InvalidInput for a value out of bounds or a host that is not loopback."""
        check_loopback(self.host)
        if not 1 <= self.clients <= MAX_CLIENTS:
            raise InvalidInput(f"clients must be between 1 and {MAX_CLIENTS}, got {self.clients}")
        if not 1 <= self.requests <= MAX_REQUESTS:
            raise InvalidInput(
                f"requests must be between 1 and {MAX_REQUESTS:,}, got {self.requests}"
            )
        if not 0.0 <= self.add_share <= 1.0:
            raise InvalidInput(f"add_share must be between 0 and 1, got {self.add_share}")
        if not 0.0 < self.seconds <= MAX_SECONDS:
            raise InvalidInput(f"seconds must be in (0, {MAX_SECONDS:.0f}], got {self.seconds}")
        if self.preload < 0:
            raise InvalidInput(f"preload must be >= 0, got {self.preload}")
        if self.slots is not None and self.slots < 1:
            raise InvalidInput(f"slots must be >= 1, got {self.slots}")
        if self.server not in ("process", "thread"):
            raise InvalidInput(f"server must be 'process' or 'thread', got {self.server!r}")
        self._check_store()

    def _check_store(self) -> None:
        from memstrata.store.backends import is_postgres

        if self.backend is not None and self.backend not in BACKENDS:
            raise InvalidInput(
                f"backend must be one of {', '.join(BACKENDS)}, got {self.backend!r}"
            )
        if self.db is not None and not is_postgres(self.db):
            raise InvalidInput(
                "db must be a PostgreSQL DSN such as postgresql://user:password@host/dbname "
                "(the run builds its SQLite store in a fresh file of its own)"
            )
        if self.db is not None and self.store_backend != "postgres":
            raise InvalidInput("db names a PostgreSQL database: drop backend='sqlite'")
        if self.kill is not None and self.kill not in KILLS:
            raise InvalidInput(f"kill must be one of {', '.join(KILLS)}, got {self.kill!r}")
        if self.kill == "server" and self.server != "process":
            raise InvalidInput("kill='server' kills the server process: use server='process'")
        if self.kill == "database" and (self.store_backend != "postgres" or self.db):
            raise InvalidInput(
                "kill='database' kills the throwaway PostgreSQL server that backend='postgres' "
                "starts; it cannot kill a database given with db"
            )


def check_loopback(host: str) -> str:
    """`host` if it is a loopback address (127.0.0.0/8, ::1, "localhost");
    InvalidInput otherwise: this benchmark never listens beyond this machine."""
    if host == "localhost":
        return host
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise InvalidInput(
            f"host {host!r} is not a loopback address; the serving benchmark only listens on "
            "this machine (use 127.0.0.1 or ::1)"
        )
    return host


@dataclass(frozen=True)
class Op:
    """One planned request: an add of `message`, or a search for `query`."""

    verb: str
    user_id: str
    session_id: str | None = None
    message: dict[str, Any] | None = None
    query: str | None = None


def plan_requests(config: ServeConfig) -> tuple[list[Op], list[dict[str, Any]]]:
    """The preload turns' (scope, message) and the request plan, the same for the
    same config: each request is an add with probability `add_share`."""
    rng = random.Random(f"memstrata-serve-{config.seed}")
    verbs = ["add" if rng.random() < config.add_share else "search" for _ in range(config.requests)]
    adds = verbs.count("add")
    preload = generate_sessions(config.preload, config.seed)
    turns = [t for s in preload for t in s.turns]
    # Live turns are numbered after the preloaded ones: a query's target is an index.
    live = [
        dataclasses.replace(t, index=len(turns) + t.index)
        for s in generate_sessions(adds, config.seed + 1, prefix="live")
        for t in s.turns
    ]
    turns += live
    # Distinct texts (as far as the generator finds them), so that the server's
    # query-embedding cache does not answer.
    queries = generate_queries(turns, max(1, len(verbs) - adds), config.seed)
    live_turns, plan, searches = iter(live), [], 0
    for verb in verbs:
        if verb == "add":
            turn = next(live_turns)
            plan.append(Op("add", turn.user_id, turn.session_id, message=turn.message()))
        else:
            query = queries[searches % len(queries)]
            plan.append(Op("search", turns[query.target].user_id, query=query.text))
            searches += 1
    batches = [
        {"user_id": batch[0].user_id, "session_id": batch[0].session_id,
         "messages": [t.message() for t in batch]}
        for batch in iter_batches(preload, 256)
    ]  # fmt: skip
    return plan, batches


def command_line(config: ServeConfig) -> str:
    """The command that reproduces a run (progress bars change nothing)."""
    words = ["memstrata", "bench", "serve", "--clients", str(config.clients),
             "--requests", str(config.requests), "--add-share", f"{config.add_share:g}",
             "--seconds", f"{config.seconds:g}", "--embedder", config.embedder,
             "--preload", str(config.preload), "--server", config.server,
             "--seed", str(config.seed), "--out", str(config.out)]  # fmt: skip
    words += [] if config.host == "127.0.0.1" else ["--host", config.host]
    words += [] if config.slots is None else ["--slots", str(config.slots)]
    words += [] if config.backend is None else ["--backend", config.backend]
    words += [] if config.db is None else ["--db", redact_dsn(config.db)]
    words += [] if config.kill is None else ["--kill", config.kill]
    words += [] if config.plots else ["--no-plots"]
    return shlex.join(words)


def redact_dsn(dsn: str) -> str:
    """`dsn` without its password, fit for results and logs."""
    from memstrata.store.postgres_rows import scrub

    return scrub(dsn)
