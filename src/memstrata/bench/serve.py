"""The serving benchmark: many clients at once against a memstrata server on loopback.

It builds a fresh store (with `preload` generated turns and a fresh API key), starts
the HTTP server on a free 127.0.0.1 port (a child process by default, or a thread),
and runs `clients` threads, each with its own `memstrata.Client`, through a fixed
plan of `requests` calls: adds (`add_share` of them, one generated turn each) and
layered searches (k=10, in the user of the turn the query was made from). It stops
at the end of the plan or after `seconds`, whichever comes first. Then it stops the
server, opens the store file directly and checks that every add the server
acknowledged is there with its text. It reports throughput, latency per verb, errors
and lost writes, and writes results.json, results.md and latency.png to `out`.

Loopback only: the server is started here and never listens beyond this machine.

>>> results = run_serve(ServeConfig(clients=4, requests=60, embedder="hash", out=Path("o")))
"""

from __future__ import annotations

import dataclasses
import ipaddress
import itertools
import random
import shlex
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from memstrata.bench import report
from memstrata.bench.gen import generate_queries, generate_sessions, iter_batches
from memstrata.errors import BackendError, ConfigError, InvalidInput, MemstrataError, NotFound
from memstrata.memory import Memory
from memstrata.types import Scope

if TYPE_CHECKING:  # imported where used: `memstrata --help` need not load httpx
    from memstrata.client import Client

NAMESPACE = "bench"
VERBS = ("add", "search")
K = 10
MAX_CLIENTS = 256
MAX_REQUESTS = 100_000
MAX_SECONDS = 3600.0
PACKAGES = (*report.DEFAULT_PACKAGES, "httpx", "fastapi", "starlette", "uvicorn")
_READY_TIMEOUT_S = 180.0  # a child process imports the stack and loads the model
_STOP_TIMEOUT_S = 30.0
_EXAMPLES = 5  # error messages kept in the results
WARM_UP_S = 1.0  # also reported: latency of the requests sent after this much of the run

Log = Callable[[str], None]


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


# ------------------------------------------------------------------- the plan


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


# ------------------------------------------------------------------ the server


@dataclass
class RunningServer:
    """A started server: its URL, how it runs, and its log (a child process's
    output; None for a thread, which logs to this process's stderr)."""

    url: str
    mode: str
    startup_s: float
    log_path: Path | None


def _listening_socket(host: str) -> socket.socket:
    """A socket bound to a free port of `host` and listening, handed to the server
    (so no other process can take the port between choosing and binding it)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, 0))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    return sock


def _url(sock: socket.socket, host: str) -> str:
    port = sock.getsockname()[1]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _uvicorn_server(app: Any) -> Any:
    try:
        import uvicorn
    except ImportError:
        raise ConfigError(
            "the serving benchmark needs the server: pip install 'memstrata[server]'"
        ) from None
    config = uvicorn.Config(app, log_level="warning", access_log=False,
                            timeout_graceful_shutdown=10)  # fmt: skip
    return uvicorn.Server(config)


def _create_app(memory: Memory, slots: int | None) -> Any:
    try:
        from memstrata.server.http import create_app
    except ImportError as exc:
        raise ConfigError(
            f"the serving benchmark needs the server: pip install 'memstrata[server]' ({exc})"
        ) from None
    return create_app(memory, auth=True, slots=slots)


def _default_slots() -> int:
    from memstrata.server.http import default_slots

    return default_slots()


Stop = Callable[[], None]
Alive = Callable[[], bool]


def _in_thread(sock: socket.socket, memory: Memory, slots: int | None) -> tuple[Stop, Alive]:
    server = _uvicorn_server(_create_app(memory, slots))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]},
                              name="memstrata-bench-server", daemon=True)  # fmt: skip
    thread.start()

    def stop() -> None:
        server.should_exit = True
        thread.join(_STOP_TIMEOUT_S)
        if thread.is_alive():
            raise BackendError(f"the server thread did not stop in {_STOP_TIMEOUT_S:.0f} s")

    return stop, thread.is_alive


def _in_child(
    sock: socket.socket, path: Path, embedder: str, slots: int | None, log_path: Path
) -> tuple[Stop, Alive]:
    with open(log_path, "wb") as log:
        child = subprocess.Popen(
            [sys.executable, "-c",
             "import sys; from memstrata.bench.serve import serve_worker; "
             "serve_worker(sys.argv[1:])",
             str(path), embedder, str(sock.fileno()), str(slots or 0)],
            pass_fds=(sock.fileno(),), stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    # Only the child listens now: if it dies, connecting fails at once rather than
    # waiting in the backlog of a socket nobody accepts on.
    sock.close()

    def stop() -> None:
        if child.poll() is not None:
            return
        child.terminate()  # uvicorn shuts down gracefully on SIGTERM
        try:
            child.wait(_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
            raise BackendError(
                f"the server process did not stop in {_STOP_TIMEOUT_S:.0f} s; killed it"
            ) from None

    return stop, lambda: child.poll() is None


@contextmanager
def start_server(
    path: Path,
    embedder: str,
    host: str,
    mode: str,
    memory: Memory | None = None,
    slots: int | None = None,
) -> Iterator[RunningServer]:
    """Serve the store at `path` on a free port of `host` (loopback only) until the
    block ends. "process" runs uvicorn in a child Python process (its own GIL, as a
    deployment would); "thread" runs it in this process on the open `memory`.
    `slots` is the server's `--slots` (None: its default)."""
    check_loopback(host)
    start = time.perf_counter()
    log_path = path.with_name(path.name + ".server.log") if mode == "process" else None
    with _listening_socket(host) as sock:
        url = _url(sock, host)
        if log_path is not None:
            stop, alive = _in_child(sock, path, embedder, slots, log_path)
        elif memory is not None:
            stop, alive = _in_thread(sock, memory, slots)
        else:
            raise InvalidInput("a server in a thread needs the open Memory")
        try:
            _wait_ready(url, alive, log_path)
            yield RunningServer(url, mode, time.perf_counter() - start, log_path)
        finally:
            stop()


def _wait_ready(url: str, alive: Callable[[], bool], log_path: Path | None) -> None:
    import httpx

    deadline = time.monotonic() + _READY_TIMEOUT_S
    with httpx.Client(timeout=5.0) as http:
        while time.monotonic() < deadline:
            if not alive():
                tail = log_path.read_text(errors="replace")[-2000:] if log_path else ""
                raise BackendError(f"the server stopped before it was ready:\n{tail}")
            try:
                if http.get(f"{url}/readyz").status_code == 200:
                    return
            except httpx.TransportError:
                pass  # not accepting yet: try again
            time.sleep(0.05)
    raise BackendError(f"the server at {url} was not ready within {_READY_TIMEOUT_S:.0f} s")


def serve_worker(argv: Sequence[str]) -> None:
    """The child process's entry point: serve the store `argv[0]` with the embedder
    `argv[1]` on the listening socket whose file descriptor is `argv[2]`, with
    `argv[3]` slots (0: the server's default)."""
    path, embedder, fd, slots = argv
    sock = socket.socket(fileno=int(fd))
    memory = Memory(path, embedder=embedder, background_formation=True)  # as `memstrata serve`
    try:
        _uvicorn_server(_create_app(memory, int(slots) or None)).run(sockets=[sock])
    finally:
        memory.close()


# -------------------------------------------------------------------- the load


@dataclass
class Sample:
    """One request as the client saw it (times in seconds from the run's start)."""

    index: int
    verb: str
    start: float
    seconds: float
    error: str | None = None


@dataclass
class LoadResult:
    samples: list[Sample]
    acked: list[tuple[str, str, str, str | None]]  # record id, text, user_id, session_id
    errors: list[str]
    stopped_by: str
    wall_s: float


@dataclass
class _Shared:
    plan: Sequence[Op]
    deadline: float
    origin: float
    counter: Iterator[int] = field(default_factory=itertools.count)
    lock: threading.Lock = field(default_factory=threading.Lock)
    samples: list[Sample] = field(default_factory=list)
    acked: list[tuple[str, str, str, str | None]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    timed_out: bool = False

    def take(self) -> tuple[int, Op] | None:
        """The next planned request and its index; None when the plan is done or the
        time is up."""
        with self.lock:
            index = next(self.counter)
            if index >= len(self.plan):
                return None
            if time.perf_counter() >= self.deadline:
                self.timed_out = True
                return None
            return index, self.plan[index]


def _client_loop(client: Client, shared: _Shared, bar: Any) -> None:
    """Take the next planned request until the plan or the time runs out. Errors the
    client raises (MemstrataError) are counted; anything else is a bug and ends the
    run."""
    while (taken := shared.take()) is not None:
        index, op = taken
        start = time.perf_counter()
        error = None
        try:
            if op.verb == "add":
                records = client.add(op.message or {}, user_id=op.user_id,
                                     session_id=op.session_id)  # fmt: skip
            else:
                client.search(op.query or "", user_id=op.user_id, k=K)
                records = []
        except MemstrataError as exc:
            error, records = f"{type(exc).__name__}: {exc}", []
        end = time.perf_counter()
        with shared.lock:
            shared.samples.append(Sample(index, op.verb, start - shared.origin, end - start, error))
            if error is not None:
                shared.errors.append(error)
            shared.acked.extend((r.id, r.text, op.user_id, op.session_id) for r in records)
            bar.update(1)


def run_load(url: str, secret: str, plan: Sequence[Op], config: ServeConfig) -> LoadResult:
    """Run the plan from `config.clients` threads, each with its own Client (its own
    connection pool). One warm-up search per client, untimed, opens its connection."""
    from memstrata.client import Client

    clients = [
        Client(url, secret, timeout=max(60.0, config.seconds)) for _ in range(config.clients)
    ]
    try:
        with ThreadPoolExecutor(config.clients, thread_name_prefix="bench-client") as pool:
            list(pool.map(lambda c: c.search("warm up the server", k=1), clients))
            origin = time.perf_counter()
            shared = _Shared(plan=plan, deadline=origin + config.seconds, origin=origin)
            bar = report.progress(len(plan), "requests", config.progress)
            try:
                futures = [pool.submit(_client_loop, c, shared, bar) for c in clients]
                for future in futures:
                    future.result()  # a bug in a client thread surfaces here
            finally:
                bar.close()
        wall = time.perf_counter() - origin
    finally:
        for client in clients:
            client.close()
    return LoadResult(
        samples=sorted(shared.samples, key=lambda s: s.start), acked=shared.acked,
        errors=shared.errors, stopped_by="time" if shared.timed_out else "requests",
        wall_s=wall,
    )  # fmt: skip


# ------------------------------------------------------------------ the checks


def verify_writes(
    memory: Memory, acked: Sequence[tuple[str, str, str, str | None]], preloaded: int
) -> dict[str, Any]:
    """Read every acknowledged add back from the store file: `lost` were not found,
    `mismatched` came back with another text or scope. `events_stored` counts the
    namespace's turns; beyond the preloaded and acknowledged ones it would hold
    writes whose answer never reached the client (a timeout, say)."""
    lost = mismatched = 0
    for record_id, text, user_id, session_id in acked:
        try:
            record = memory.get(record_id, namespace=NAMESPACE)
        except NotFound:
            lost += 1
            continue
        scope = record.scope
        if record.text != text or (scope.user_id, scope.session_id) != (user_id, session_id):
            mismatched += 1
    by_kind = memory.store.stats(Scope(NAMESPACE)).get("by_kind", {})
    stored = _events(by_kind)
    return {
        "acked_records": len(acked),
        "found": len(acked) - lost,
        "lost": lost,
        "mismatched": mismatched,
        "events_preloaded": preloaded,
        "events_expected": preloaded + len(acked),
        "events_stored": stored,
        "stored_without_ack": stored - preloaded - len(acked),
    }


def _events(by_kind: Any) -> int:
    """Active events from a `stats()["by_kind"]` value (a count, or counts by status)."""
    value = by_kind.get("event", 0) if isinstance(by_kind, dict) else 0
    if isinstance(value, dict):
        return int(value.get("active", 0))
    return int(value)


# --------------------------------------------------------------------- the run


def run_serve(config: ServeConfig, log: Log | None = None) -> dict[str, Any]:
    """Run the benchmark and write results.json, results.md (and latency.png) to
    `config.out`; return the results."""
    log = log or (lambda message: print(message, file=sys.stderr, flush=True))
    config.check()
    config.out.mkdir(parents=True, exist_ok=True)
    plan, batches = plan_requests(config)
    results: dict[str, Any] = {
        "dataset": "serve",
        "schema": report.RESULTS_SCHEMA,
        "started_at": report.utc_now(),
        "finished_at": None,
        "config": {
            **asdict(config),
            "out": str(config.out),
            "k": K,
            "namespace": NAMESPACE,
            "command": command_line(config),
        },
        "machine": report.machine_info(PACKAGES),
        "source_revision": report.source_revision(),
    }
    with tempfile.TemporaryDirectory(prefix="memstrata-serve-") as folder:
        path = Path(folder) / "serve.db"
        # Formation in the background, as `memstrata serve` runs it.
        memory = Memory(path, embedder=config.embedder, background_formation=True)
        opened: Memory | None = memory  # what is open now, to close on the way out
        try:
            preloaded, preload_s = _preload(memory, batches)
            memory.flush()
            log(f"preloaded {preloaded:,} turns in {preload_s:.1f} s")
            results["config"]["embedder_name"] = memory.embedder.name
            _, secret = _create_key(memory)
            if config.server == "process":
                memory.close()  # the child process opens the file itself
                opened = None
            with start_server(path, config.embedder, config.host, config.server,
                              opened, config.slots) as server:  # fmt: skip
                log(f"server ({server.mode}) ready at {server.url} in {server.startup_s:.1f} s")
                load = run_load(server.url, secret, plan, config)
            server_log = _keep_log(server.log_path, config.out)
            # Read back from the file, after the server has stopped.
            opened = opened or Memory(path, embedder=config.embedder)
            writes = verify_writes(opened, load.acked, preloaded)
        finally:
            if opened is not None:
                opened.close()
    results.update(
        finished_at=report.utc_now(),
        server={
            "mode": config.server,
            "slots": config.slots or _default_slots(),
            "startup_s": server.startup_s,
            "preload_turns": preloaded,
            "preload_s": preload_s,
            "log": server_log,
        },
        load=_load_figures(load, len(plan)),
        latency_ms=_latency(load.samples),
        # All clients start at once: the first requests queue behind each other.
        latency_after_start_ms={
            verb: figures
            for verb, figures in _latency([s for s in load.samples if s.start >= WARM_UP_S]).items()
            if figures["n"]
        },
        errors=_error_figures(load),
        writes=writes,
        load_average_after=report.load_average(),
    )
    write_outputs(results, config.out, plots=config.plots, samples=load.samples)
    return results


def _keep_log(log_path: Path | None, out: Path) -> str | None:
    """Copy what the server process wrote (warnings, errors) to `out/server.log`, if
    it wrote anything; return that path."""
    text = log_path.read_text(errors="replace") if log_path and log_path.exists() else ""
    target = out / "server.log"
    target.unlink(missing_ok=True)  # from an earlier run
    if not text.strip():
        return None
    return str(report.write_text(target, text))


def _preload(memory: Memory, batches: Sequence[dict[str, Any]]) -> tuple[int, float]:
    start, count = time.perf_counter(), 0
    for batch in batches:
        memory.add(batch["messages"], namespace=NAMESPACE, user_id=batch["user_id"],
                   session_id=batch["session_id"])  # fmt: skip
        count += len(batch["messages"])
    return count, time.perf_counter() - start


def _create_key(memory: Memory) -> tuple[str, str]:
    from memstrata.server.keys import create_key

    return create_key(memory.store, NAMESPACE, label="bench serve")


def _load_figures(load: LoadResult, planned: int) -> dict[str, Any]:
    done = Counter(s.verb for s in load.samples)
    wall = load.wall_s
    return {
        "planned": planned,
        "done": len(load.samples),
        "by_verb": {v: done.get(v, 0) for v in VERBS},
        "wall_s": wall,
        "req_per_s": len(load.samples) / wall if wall else None,
        "req_per_s_by_verb": {v: done.get(v, 0) / wall if wall else None for v in VERBS},
        "stopped_by": load.stopped_by,
        "acked_adds": sum(1 for s in load.samples if s.verb == "add" and s.error is None),
    }


def _latency(samples: Sequence[Sample]) -> dict[str, Any]:
    """Latency of the successful requests, per verb and all together."""
    ok = [s for s in samples if s.error is None]
    out = {v: report.latency_summary([s.seconds for s in ok if s.verb == v]) for v in VERBS}
    out["all"] = report.latency_summary([s.seconds for s in ok])
    return out


def _after_start_line(results: dict[str, Any]) -> str:
    after = results.get("latency_after_start_ms") or {}
    parts = [
        f"{verb} p50/p95/p99 {after[verb]['p50_ms']:.1f}/{after[verb]['p95_ms']:.1f}/"
        f"{after[verb]['p99_ms']:.1f} ms"
        for verb in VERBS
        if after.get(verb, {}).get("n")
    ]
    if not parts:
        return ""
    return (
        f"Requests sent after the first {WARM_UP_S:g} s (when every client has sent its "
        f"first, which all send at once): {'; '.join(parts)}.\n"
    )


def _error_figures(load: LoadResult) -> dict[str, Any]:
    failed = [s for s in load.samples if s.error is not None]
    return {
        "count": len(failed),
        "by_verb": {v: sum(1 for s in failed if s.verb == v) for v in VERBS},
        "by_type": dict(Counter(str(s.error).split(":", 1)[0] for s in failed)),
        "examples": list(dict.fromkeys(load.errors))[:_EXAMPLES],
    }


def command_line(config: ServeConfig) -> str:
    """The command that reproduces a run (progress bars change nothing)."""
    words = ["memstrata", "bench", "serve", "--clients", str(config.clients),
             "--requests", str(config.requests), "--add-share", f"{config.add_share:g}",
             "--seconds", f"{config.seconds:g}", "--embedder", config.embedder,
             "--preload", str(config.preload), "--server", config.server,
             "--seed", str(config.seed), "--out", str(config.out)]  # fmt: skip
    words += [] if config.host == "127.0.0.1" else ["--host", config.host]
    words += [] if config.slots is None else ["--slots", str(config.slots)]
    words += [] if config.plots else ["--no-plots"]
    return shlex.join(words)


# ------------------------------------------------------------------- outputs


def write_outputs(
    results: dict[str, Any], out: Path, *, plots: bool = True, samples: Sequence[Sample] = ()
) -> list[Path]:
    """results.json, results.md and (with `plots`) latency.png, the latency
    distribution per verb."""
    paths = [
        report.write_json(out / "results.json", results),
        report.write_text(out / "results.md", results_markdown(results)),
    ]
    if plots:
        ok = [s for s in samples if s.error is None]
        paths.append(report.distribution_plot(
            out / "latency.png",
            {v: [s.seconds * 1000.0 for s in ok if s.verb == v] for v in VERBS},
            title=f"Request latency, {results['config']['clients']} clients\n"
                  f"{results['config'].get('embedder_name', results['config']['embedder'])}",
            ylabel="ms (client side, HTTP included)",
        ))  # fmt: skip
    return paths


def results_markdown(results: dict[str, Any]) -> str:
    """The results as Markdown: what ran, on what, and one table of figures."""
    cfg, load, lat = results["config"], results["load"], results["latency_ms"]
    errors, writes, server = results["errors"], results["writes"], results["server"]
    f = report.fmt_number
    rows = [
        [verb, f(load["by_verb"][verb]) if verb in load["by_verb"] else f(load["done"]),
         f(errors["by_verb"].get(verb, errors["count"] if verb == "all" else 0)),
         f(load["req_per_s_by_verb"].get(verb, load["req_per_s"]), 1),
         *[f(lat[verb][p], 2) for p in ("p50_ms", "p95_ms", "p99_ms", "max_ms")]]
        for verb in (*VERBS, "all")
    ]  # fmt: skip
    table = report.markdown_table(
        ["verb", "requests", "errors", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms"], rows
    )
    return "\n".join([
        "# memstrata serving benchmark\n",
        f"{cfg['clients']} client threads (one `memstrata.Client` each) against the HTTP server "
        f"({server['mode']}, uvicorn on {cfg['host']}, {server.get('slots')} slots), "
        f"{load['planned']:,} planned requests "
        f"({cfg['add_share']:.0%} adds of one turn, the rest layered searches with k={cfg['k']} "
        f"in one user's memories), capped at {cfg['seconds']:g} s; embedder "
        f"`{cfg.get('embedder_name', cfg['embedder'])}`; store preloaded with "
        f"{server['preload_turns']:,} turns. Latency is measured by the client (HTTP, JSON and "
        f"the engine), successful requests only. Each client sends its next request when the "
        "last one is answered (a closed loop): a slow verb holds clients, and the other verb "
        "then meets less concurrency. The clients run on the same machine as the server. "
        f"Started {results['started_at']}, memstrata commit "
        f"`{results.get('source_revision') or 'unknown'}`.\n",
        f"Command: `{cfg['command']}`\n",
        report.machine_markdown(results["machine"]),
        f"- Load average after the run: {results.get('load_average_after')}\n",
        "## Throughput and latency\n",
        table,
        f"{load['done']:,} of {load['planned']:,} requests in {load['wall_s']:.2f} s "
        f"(stopped by {load['stopped_by']}): {f(load['req_per_s'], 1)} req/s.\n",
        _after_start_line(results),
        "## Errors\n",
        f"{errors['count']} errors" + (
            ": " + ", ".join(f"{k} {v}" for k, v in errors["by_type"].items())
            if errors["count"] else "") + ".\n",
        *[f"- `{e}`\n" for e in errors["examples"]],
        "## Writes\n",
        f"{writes['acked_records']:,} acknowledged adds read back from the store file after "
        f"the server stopped: {writes['found']:,} found, {writes['lost']} lost, "
        f"{writes['mismatched']} with another text or scope. The namespace holds "
        f"{writes['events_stored']:,} turns ({writes['events_preloaded']:,} preloaded + "
        f"{writes['acked_records']:,} acknowledged; {writes['stored_without_ack']} stored "
        "without an acknowledgement).\n",
    ])  # fmt: skip


# ----------------------------------------------------------------------- CLI

_out = Console(highlight=False, soft_wrap=True)
_err = Console(stderr=True, highlight=False)


def serve_bench_command(
    clients: Annotated[
        int, typer.Option(min=1, max=MAX_CLIENTS, help="Concurrent client threads.")
    ] = 32,
    requests: Annotated[
        int, typer.Option(min=1, max=MAX_REQUESTS, help="Requests in all (adds + searches).")
    ] = 2000,
    add_share: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of the requests that are adds.")
    ] = 0.3,
    seconds: Annotated[
        float,
        typer.Option(
            min=0.1, max=MAX_SECONDS, help="Time cap in seconds: no new request after this."
        ),
    ] = 120.0,
    embedder: Annotated[
        str, typer.Option(help="minilm (default model), hash (instant, for smoke runs).")
    ] = "minilm",
    out: Annotated[Path, typer.Option(help="Folder for results.json, results.md, latency.png.")] = (
        Path("bench-results/serve")
    ),
    preload: Annotated[
        int, typer.Option(min=0, max=1_000_000, help="Generated turns stored before the run.")
    ] = 1000,
    host: Annotated[str, typer.Option(help="Loopback address to listen on.")] = "127.0.0.1",
    server: Annotated[
        str, typer.Option(help="process (a child process, as deployed) or thread (this one).")
    ] = "process",
    slots: Annotated[
        int | None,
        typer.Option(min=1, help="The server's --slots [default: its own, CPUs - 1]."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the plan and the generated data.")] = 0,
    plots: Annotated[bool, typer.Option("--plots/--no-plots", help="Draw latency.png.")] = True,
    progress: Annotated[bool, typer.Option("--progress/--no-progress")] = True,
) -> None:
    """Start the HTTP server on a fresh store on loopback, run CLIENTS concurrent
    clients through REQUESTS adds and searches, and report throughput, latency per
    verb, errors and whether every acknowledged add was stored."""
    config = ServeConfig(
        clients=clients, requests=requests, add_share=add_share, seconds=seconds,
        embedder=embedder, out=out, preload=preload, host=host, server=server, slots=slots,
        seed=seed, plots=plots, progress=progress,
    )  # fmt: skip
    try:
        results = run_serve(config, log=lambda m: _err.print(m, markup=False))
    except MemstrataError as exc:
        _err.print(f"error: {exc}", markup=False)
        raise typer.Exit(2) from None
    _out.print(summary_table(results))
    if line := _after_start_line(results):
        _out.print(line.strip(), markup=False)
    _out.print(f"results: {out / 'results.json'}, {out / 'results.md'}", markup=False)
    if results["errors"]["count"] or results["writes"]["lost"] or results["writes"]["mismatched"]:
        raise typer.Exit(1)


def summary_table(results: dict[str, Any]) -> Table:
    """A rich table: one row per verb with its count, errors, rate and latency."""
    load, lat, errors = results["load"], results["latency_ms"], results["errors"]
    table = Table(title=f"memstrata bench serve ({results['config']['clients']} clients, "
                        f"{results['config'].get('embedder_name')})")  # fmt: skip
    for column in ("verb", "requests", "errors", "req/s", "p50 ms", "p95 ms", "p99 ms"):
        table.add_column(column, justify="left" if column == "verb" else "right")
    f = report.fmt_number
    for verb in (*VERBS, "all"):
        table.add_row(
            verb, f(load["by_verb"].get(verb, load["done"])),
            f(errors["by_verb"].get(verb, errors["count"])),
            f(load["req_per_s_by_verb"].get(verb, load["req_per_s"]), 1),
            *[f(lat[verb][p], 2) for p in ("p50_ms", "p95_ms", "p99_ms")],
        )  # fmt: skip
    writes = results["writes"]
    table.caption = (
        f"{load['done']:,}/{load['planned']:,} requests in {load['wall_s']:.1f} s "
        f"(stopped by {load['stopped_by']}); acknowledged adds {writes['acked_records']:,}, "
        f"lost {writes['lost']}, mismatched {writes['mismatched']}"
    )
    return table
