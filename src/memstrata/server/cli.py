"""The server's commands: `memstrata serve`, `memstrata mcp` and `memstrata keys`.

The main CLI mounts them. FastAPI, uvicorn and the MCP SDK are imported only when a
command that needs them runs, so `memstrata` works without the server extra.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from memstrata.config import default_db_path, default_embedder_spec, parse_assignments
from memstrata.errors import InvalidInput, MemstrataError, NotFound
from memstrata.memory import Memory
from memstrata.server import keys as api_keys
from memstrata.server.deadlines import BODY_TIMEOUT_S, HEADER_TIMEOUT_S, header_deadline
from memstrata.validate import check_scope_part

EXTRA = "pip install 'memstrata[server]'"
_out = Console(highlight=False, soft_wrap=True)
_err = Console(stderr=True, highlight=False)
_EXIT = {InvalidInput: 2, NotFound: 3}

DbOpt = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Store file, or postgresql://… [default: $MEMSTRATA_DB or data dir]",
    ),
]
EmbedderOpt = Annotated[
    str | None, typer.Option(help="minilm (default), hash, hash-DIM or openai:MODEL@BASE_URL.")
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", help="Engine setting key=value (repeatable), e.g. --set facts=false."),
]

keys_app = typer.Typer(
    help="API keys for `memstrata serve`. Each key acts for one namespace (tenant); "
    "clients send it as 'Authorization: Bearer <key>'.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)


def serve_command(
    db: DbOpt = None,
    host: Annotated[
        str, typer.Option(help="Address to listen on; 0.0.0.0 for every interface.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8420,
    embedder: EmbedderOpt = None,
    no_auth: Annotated[
        bool,
        typer.Option(
            "--no-auth",
            help="No API keys: everything in namespace 'default'. Only on a loopback host.",
        ),
    ] = False,
    slots: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Verb calls run at once (more wait, reads first); default: CPUs - 1, at least 1.",
        ),
    ] = None,
    header_timeout: Annotated[
        float,
        typer.Option(
            min=0.1,
            help="Seconds a connection may take to send a request's headers (then 408).",
        ),
    ] = HEADER_TIMEOUT_S,
    body_timeout: Annotated[
        float,
        typer.Option(min=0.1, help="Seconds a request may take to send its body (then 408)."),
    ] = BODY_TIMEOUT_S,
    settings: SetOpt = None,
) -> None:
    """Serve the HTTP API, with MCP at /mcp, on one store.

    Every request needs an API key (`memstrata keys create --namespace NAME`), sent
    as 'Authorization: Bearer <key>'; the key's namespace is the tenant. The verbs
    are POST /v1/{verb} with the verb's arguments as JSON; /docs describes them.
    """
    uvicorn, http = _server_modules()
    if no_auth and not http.is_loopback(host):
        _fail(
            InvalidInput(
                f"--no-auth serves every memory to anyone who can connect, so it is allowed "
                f"only on a loopback host (127.0.0.1, ::1, localhost), not {host!r}; create "
                "a key with `memstrata keys create --namespace NAME` instead"
            )
        )
    path = _db_path(db)
    memory = _open_memory(path, embedder, settings)
    try:
        app = http.create_app(memory, auth=not no_auth, slots=slots, body_timeout=body_timeout)
        if no_auth:
            _err.print(
                "[bold red]WARNING: --no-auth: no API keys. Anything on this machine that "
                f"can reach {host}:{port} reads and writes every memory (namespace "
                "'default').[/bold red]"
            )
        elif all(key.revoked_at for key in api_keys.list_keys(memory.store)):
            _err.print(
                "no API keys yet: every request will be refused until you create one with "
                f"`memstrata keys create --namespace NAME --db {path}`",
                markup=False,
            )
        _err.print(
            f"memstrata {path} on http://{host}:{port} (API /v1, docs /docs, MCP /mcp)",
            markup=False,
        )
        # uvicorn bounds neither a request's headers nor its body: deadlines does.
        protocol = header_deadline(header_timeout)
        config = uvicorn.Config(app, host=host, port=port, log_level="info", http=protocol)
        uvicorn.Server(config).run()
    except MemstrataError as exc:
        _fail(exc)
    finally:
        memory.close()


def mcp_command(
    db: DbOpt = None,
    namespace: Annotated[
        str, typer.Option("--namespace", "-n", help="The namespace the tools act on.")
    ] = "default",
    embedder: EmbedderOpt = None,
    settings: SetOpt = None,
) -> None:
    """Serve MCP over stdio, for an assistant that starts memstrata itself.

    Client configuration: {"command": "memstrata", "args": ["mcp", "--db", "PATH"]}.
    """
    try:
        from memstrata.server.mcp import create_mcp
    except ImportError as exc:
        _fail_import(exc)
    try:
        check_scope_part(namespace, "namespace", required=True)
    except MemstrataError as exc:
        _fail(exc)
    memory = _open_memory(_db_path(db), embedder, settings)
    try:
        create_mcp(memory, lambda: namespace).run("stdio")
    finally:
        memory.close()


@keys_app.command("create")
def create_key(
    namespace: Annotated[
        str, typer.Option("--namespace", "-n", help="The namespace (tenant) the key acts for.")
    ],
    label: Annotated[str | None, typer.Option(help="A note to tell keys apart.")] = None,
    db: DbOpt = None,
) -> None:
    """Create a key and print it. It is shown only this once: the store keeps a hash."""
    try:
        key_id, secret = api_keys.create_key(_db_path(db), namespace, label)
    except MemstrataError as exc:
        _fail(exc)
    if _want_json():
        _emit({"id": key_id, "namespace": namespace, "label": label, "key": secret})
        return
    _out.print(f"created key {key_id} for namespace {namespace!r}:\n\n  {secret}\n", markup=False)
    _out.print("Keep it now: it cannot be shown again. Send it as 'Authorization: Bearer <key>'.")


@keys_app.command("list")
def list_keys(db: DbOpt = None) -> None:
    """The keys: id, namespace, label, when created and revoked (never the secret)."""
    try:
        found = api_keys.list_keys(_db_path(db))
    except MemstrataError as exc:
        _fail(exc)
    if _want_json():
        _emit({"keys": [key.to_dict() for key in found]})
        return
    table = Table()
    for column in ("id", "namespace", "label", "created", "revoked"):
        table.add_column(column, overflow="fold")
    for key in found:
        table.add_row(key.id, key.namespace, key.label or "", key.created_at[:19],
                      (key.revoked_at or "")[:19])  # fmt: skip
    _out.print(table)


@keys_app.command("revoke")
def revoke_key(
    key_id: Annotated[str, typer.Argument(help="The key's id, as `keys list` shows it.")],
    db: DbOpt = None,
) -> None:
    """Revoke a key: a running server refuses it within a second."""
    try:
        key = api_keys.revoke_key(_db_path(db), key_id)
    except MemstrataError as exc:
        _fail(exc)
    if _want_json():
        _emit(key.to_dict())
    else:
        _out.print(f"revoked key {key.id} (namespace {key.namespace!r}) at {key.revoked_at}")


def _server_modules() -> tuple[Any, Any]:
    try:
        import uvicorn

        from memstrata.server import http
    except ImportError as exc:
        _fail_import(exc)
    return uvicorn, http


def _main_options() -> Any:
    """The main CLI's own options (`memstrata --db X serve`); a command's options win."""
    from memstrata import cli  # here, not above: memstrata.cli mounts these commands

    return cli.state


def _db_path(db: str | None) -> str | Path:
    return db or _main_options().db or default_db_path()


def _open_memory(path: str | Path, embedder: str | None, settings: list[str] | None) -> Memory:
    main = _main_options()
    try:
        chosen = parse_assignments(settings or main.settings)
        # A server answers many clients: an add returns once its turns are stored, and
        # formation follows in the background (unless --set background_formation=false).
        chosen.setdefault("background_formation", True)
        return Memory(
            path,
            embedder=embedder or main.embedder or default_embedder_spec(),
            settings=chosen,
        )
    except MemstrataError as exc:
        _fail(exc)


def _want_json() -> bool:
    forced = _main_options().json
    return forced if forced is not None else not sys.stdout.isatty()


def _emit(data: Any) -> None:
    _out.print(json.dumps(data, ensure_ascii=False), markup=False)


def _fail(exc: MemstrataError) -> NoReturn:
    _err.print(f"error: {exc}", markup=False)
    raise typer.Exit(_EXIT.get(type(exc), 1))


def _fail_import(exc: ImportError) -> NoReturn:
    missing = (exc.name or "a module").split(".")[0]
    _err.print(f"error: the server needs {missing}: {EXTRA}", markup=False)
    raise typer.Exit(1)
