"""The server a serving run measures: uvicorn on a free loopback port, in a child
process (its own GIL, as deployed) or in a thread of this process."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from memstrata.bench.serve.plan import check_loopback
from memstrata.errors import BackendError, ConfigError, InvalidInput
from memstrata.memory import Memory
from memstrata.store.backends import is_postgres

_READY_TIMEOUT_S = 180.0  # a child process imports the stack and loads the model
_STOP_TIMEOUT_S = 30.0


@dataclass
class RunningServer:
    """A started server: its URL, how it runs, and its log (a child process's
    output; None for a thread, which logs to this process's stderr)."""

    url: str
    mode: str
    startup_s: float
    log_path: Path | None
    child: ServerChild | None = None  # a child process, which can be killed and restarted


def _listening_socket(host: str, port: int = 0) -> socket.socket:
    """A socket bound to `port` of `host` (a free one for 0) and listening, handed to
    the server (so no other process can take the port between choosing and binding
    it)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
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


def slots_in_use(slots: int | None) -> int:
    """The slots a server runs with: `slots`, or else the server's own default."""
    if slots is not None:
        return slots
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


class ServerChild:
    """The server in a child process on a store `target` (a path or a DSN), which
    can be SIGKILLed and started again on the same port."""

    def __init__(
        self, target: str, embedder: str, slots: int | None, log_path: Path, url: str
    ) -> None:
        self.target, self.embedder, self.slots = target, embedder, slots
        self.log_path, self.url = log_path, url
        self._child: subprocess.Popen[bytes] | None = None

    def start(self, sock: socket.socket) -> None:
        """Serve on the listening `sock`, which this process then closes: only the
        child listens, so if it dies, connecting fails at once rather than waiting in
        the backlog of a socket nobody accepts on."""
        with open(self.log_path, "ab") as log:
            self._child = subprocess.Popen(
                [sys.executable, "-c",
                 "import sys; from memstrata.bench.serve.server import serve_worker; "
                 "serve_worker(sys.argv[1:])",
                 self.target, self.embedder, str(sock.fileno()), str(self.slots or 0)],
                pass_fds=(sock.fileno(),), stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        sock.close()

    def alive(self) -> bool:
        return self._child is not None and self._child.poll() is None

    def kill(self) -> None:
        """SIGKILL the server process (by its pid) and reap it."""
        if self._child is None or not self.alive():
            raise BackendError("the server process is not running, so it cannot be killed")
        with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
            os.kill(self._child.pid, signal.SIGKILL)
        self._child.wait(_STOP_TIMEOUT_S)

    def restart(self) -> float:
        """Start the server again on the same port and store; the seconds until it
        was ready."""
        began = time.perf_counter()
        host, port = urlsplit(self.url).hostname or "", urlsplit(self.url).port or 0
        self.start(_listening_socket(host, port))
        _wait_ready(self.url, self.alive, self.log_path)
        return time.perf_counter() - began

    def stop(self) -> None:
        child = self._child
        if child is None or child.poll() is not None:
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


@contextmanager
def start_server(
    path: str | Path,
    embedder: str,
    host: str,
    mode: str,
    memory: Memory | None = None,
    slots: int | None = None,
    log_path: Path | None = None,
) -> Iterator[RunningServer]:
    """Serve the store at `path` (a SQLite file, or a PostgreSQL DSN) on a free port
    of `host` (loopback only) until the block ends. "process" runs uvicorn in a child
    Python process (its own GIL, as a deployment would), writing to `log_path`
    (default: beside the store file); "thread" runs it in this process on the open
    `memory`. `slots` is the server's `--slots` (None: its default)."""
    check_loopback(host)
    start = time.perf_counter()
    log_path = log_path if mode == "process" else None
    if mode == "process" and log_path is None:
        if isinstance(path, str) and is_postgres(path):
            raise InvalidInput("a server process on a PostgreSQL store needs a log_path")
        log_path = Path(path).with_name(Path(path).name + ".server.log")
    child: ServerChild | None = None
    with _listening_socket(host) as sock:
        url = _url(sock, host)
        if mode == "process":
            assert log_path is not None
            child = ServerChild(str(path), embedder, slots, log_path, url)
            child.start(sock)
            stop, alive = child.stop, child.alive
        elif memory is not None:
            stop, alive = _in_thread(sock, memory, slots)
        else:
            raise InvalidInput("a server in a thread needs the open Memory")
        try:
            _wait_ready(url, alive, log_path)
            yield RunningServer(url, mode, time.perf_counter() - start, log_path, child)
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
