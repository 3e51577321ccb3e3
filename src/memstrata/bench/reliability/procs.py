"""Child processes for the reliability runs: stdout read line by line on a queue (so
every wait has a timeout), stderr kept, SIGKILL by pid."""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

from memstrata.errors import BackendError

PYTHON = sys.executable


def module_args(module: str, *args: str) -> list[str]:
    """The command that runs `python -m module args...` with this interpreter."""
    return [PYTHON, "-m", module, *args]


def cli_args(*args: str) -> list[str]:
    """The command that runs `memstrata args...` with this interpreter."""
    return [PYTHON, "-c", "from memstrata.cli import main; main()", *args]


class Proc:
    """A child whose stdout lines arrive on a queue and whose stderr is collected."""

    def __init__(self, args: Sequence[str], *, env: dict[str, str] | None = None) -> None:
        self.args = list(args)
        self.proc = subprocess.Popen(
            self.args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self._err: list[str] = []
        self._pumps = [
            threading.Thread(
                target=self._pump, args=(self.proc.stdout, self.lines.put), daemon=True
            ),
            threading.Thread(
                target=self._pump, args=(self.proc.stderr, self._err.append), daemon=True
            ),
        ]
        for pump in self._pumps:
            pump.start()

    @staticmethod
    def _pump(stream: IO[str] | None, sink: Callable[[str], None]) -> None:
        assert stream is not None
        for line in stream:
            sink(line)
        sink(None)  # type: ignore[arg-type]

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def stderr(self) -> str:
        return "".join(x for x in self._err if x is not None)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait_for(self, wanted: Callable[[str], bool], timeout: float) -> str | None:
        """The first stdout line for which `wanted` holds; None if the child's stdout
        closes or `timeout` seconds pass first."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                return None
            if line is None:
                self.lines.put(None)  # stays closed for later waits
                return None
            if line.endswith("\n") and wanted(line.rstrip("\n")):
                return line.rstrip("\n")

    def kill(self) -> None:
        """SIGKILL this child (by its pid) and reap it."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
                os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=60)
        for pump in self._pumps:
            pump.join(timeout=10)

    def finish(self, timeout: float) -> int:
        """Wait for the child to end by itself (killed after `timeout`); its exit code."""
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        for pump in self._pumps:
            pump.join(timeout=10)
        return int(self.proc.returncode)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def wait_http_ready(url: str, proc: Proc, timeout: float) -> None:
    """Until GET url answers 200; BackendError if the child dies or time runs out."""
    import httpx

    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=5.0) as http:
        while time.monotonic() < deadline:
            if not proc.alive():
                raise BackendError(f"the server exited before it was ready:\n{proc.stderr[-2000:]}")
            try:
                if http.get(url).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
    raise BackendError(f"the server was not ready in {timeout:.0f} s:\n{proc.stderr[-2000:]}")


def tail(text: str, lines: int = 12) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def folder(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
