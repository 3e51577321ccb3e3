"""The server a serving run measures: uvicorn on a free loopback port, in a child
process (its own GIL, as deployed) or in a thread of this process."""

from __future__ import annotations

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

from memstrata.bench.serve.plan import check_loopback
from memstrata.errors import BackendError, ConfigError, InvalidInput
from memstrata.memory import Memory

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


def _in_child(
    sock: socket.socket, path: Path, embedder: str, slots: int | None, log_path: Path
) -> tuple[Stop, Alive]:
    with open(log_path, "wb") as log:
        child = subprocess.Popen(
            [sys.executable, "-c",
             "import sys; from memstrata.bench.serve.server import serve_worker; "
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
