"""`memstrata`: the library's verbs on the command line.

Output is JSON when piped (or with --json) and a table for people otherwise.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from memstrata.config import default_db_path, default_embedder_spec, parse_assignments
from memstrata.errors import InvalidInput, MemstrataError, NotFound
from memstrata.memory import Memory
from memstrata.store.backends import is_postgres, open_store
from memstrata.store.copy import Copied, copy_store, verify
from memstrata.store.integrity import backup_file, check_file
from memstrata.types import HistoryEntry, Hit, Record

app = typer.Typer(
    help="Long-term memory for AI agents, in one SQLite file.\n\n"
    "Store what an agent experiences, then find it again:\n\n"
    '  memstrata add "I moved to Lisbon in March" --user alice\n\n'
    '  memstrata search "where does alice live" --user alice',
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)
_out = Console(highlight=False, soft_wrap=True)
_err = Console(stderr=True, highlight=False)
_EXIT = {InvalidInput: 2, NotFound: 3}


class _State:
    db: str | None = None
    embedder: str | None = None
    json: bool | None = None
    settings: tuple[str, ...] = ()


state = _State()

DbOpt = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Store file, or postgresql://… [default: $MEMSTRATA_DB or data dir]",
    ),
]
NsOpt = Annotated[str, typer.Option("--namespace", "-n", help="Tenant namespace.")]
UserOpt = Annotated[str | None, typer.Option("--user", "-u", help="User id.")]
AgentOpt = Annotated[str | None, typer.Option("--agent", "-a", help="Agent id.")]
SessionOpt = Annotated[str | None, typer.Option("--session", "-s", help="Session id.")]
AsOfOpt = Annotated[
    str | None,
    typer.Option("--as-of", metavar="TIME", help="Answer as memory stood at this time (ISO)."),
]
NowOpt = Annotated[
    str | None,
    typer.Option("--now", metavar="TIME",
                 help="The time the query's 'last week' counts from (ISO) [default: the "
                      "newest memory's]."),
]  # fmt: skip


@app.callback()
def _main(
    db: DbOpt = None,
    embedder: Annotated[
        str | None,
        typer.Option(help="minilm (default), hash, hash-DIM or openai:MODEL@BASE_URL."),
    ] = None,
    as_json: Annotated[
        bool | None, typer.Option("--json/--table", help="Force JSON or table output.")
    ] = None,
    settings: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="Engine setting key=value (repeatable), e.g. --set facts=false; see "
            "memstrata.Settings for the keys.",
        ),
    ] = None,
) -> None:
    state.db = db
    state.embedder = embedder
    state.json = as_json
    state.settings = tuple(settings or ())


def _want_json() -> bool:
    return state.json if state.json is not None else not sys.stdout.isatty()


@contextmanager
def _memory() -> Iterator[Memory]:
    path = state.db or default_db_path()
    try:
        memory = Memory(
            path,
            embedder=state.embedder or default_embedder_spec(),
            settings=parse_assignments(state.settings),
        )
    except MemstrataError as exc:
        _fail(exc)
    try:
        yield memory
    except MemstrataError as exc:
        _fail(exc)
    finally:
        memory.close()


def _fail(exc: MemstrataError) -> NoReturn:
    _err.print(f"error: {exc}", markup=False)
    raise typer.Exit(_EXIT.get(type(exc), 1))


def _scope(namespace: str, user: str | None, agent: str | None, session: str | None) -> dict:
    return {"namespace": namespace, "user_id": user, "agent_id": agent, "session_id": session}


def _emit(data: Any) -> None:
    _out.print(json.dumps(data, ensure_ascii=False, indent=None), markup=False)


def _records_table(records: list[Record], title: str | None = None) -> None:
    table = Table(title=title)
    for column in ("id", "when", "who", "kind", "text"):
        table.add_column(column, overflow="fold")
    for r in records:
        who = r.speaker or r.role or r.scope.user_id or ""
        table.add_row(r.id, r.occurred_at[:16].replace("T", " "), who, r.kind, r.text)
    _out.print(table)


def _show_records(records: list[Record], **extra: Any) -> None:
    if _want_json():
        _emit({"records": [r.to_dict() for r in records], **extra})
    else:
        _records_table(records)
        if extra.get("next_cursor"):
            _out.print(f"more: --cursor {extra['next_cursor']}")


def _parse_meta(pairs: list[str] | None) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise typer.BadParameter(f"{pair!r}: use key=value", param_hint="--meta")
        key, value = pair.split("=", 1)
        try:
            meta[key] = json.loads(value)
        except json.JSONDecodeError:
            meta[key] = value
    return meta


@app.command()
def add(
    texts: Annotated[
        list[str] | None,
        typer.Argument(
            help="Texts to remember, one record each. '-' reads JSON lines of "
            'messages ({"content": …, "role": …, "name": …}) from stdin.'
        ),
    ] = None,
    role: Annotated[str | None, typer.Option(help="user, assistant, system, tool, …")] = None,
    name: Annotated[str | None, typer.Option(help="Who said it (the speaker).")] = None,
    occurred_at: Annotated[
        str | None, typer.Option("--at", help="When it happened (ISO 8601) [default: now].")
    ] = None,
    meta: Annotated[
        list[str] | None, typer.Option(help="Metadata key=value (value may be JSON).")
    ] = None,
    namespace: NsOpt = "default",
    user: UserOpt = None,
    agent: AgentOpt = None,
    session: SessionOpt = None,
) -> None:
    """Remember texts (or messages piped in as JSON lines).

    memstrata add "I moved to Lisbon in March" --user alice --at 2026-03-02
    """
    messages: list[Any] = []
    for text in texts or []:
        if text == "-":
            messages.extend(_stdin_messages())
        else:
            message: dict[str, Any] = {"content": text}
            if role:
                message["role"] = role
            if name:
                message["name"] = name
            messages.append(message)
    if not messages:
        raise typer.BadParameter("give at least one text, or '-' to read from stdin")
    with _memory() as memory:
        records = memory.add(
            messages,
            occurred_at=occurred_at,
            metadata=_parse_meta(meta),
            **_scope(namespace, user, agent, session),
        )
        if _want_json():
            _emit({"records": [r.to_dict() for r in records]})
        else:
            for r in records:
                _out.print(f"added {r.id}")


def _stdin_messages() -> list[Any]:
    raw = sys.stdin.buffer.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        _fail(InvalidInput(f"stdin is not valid UTF-8 (byte {exc.start}); convert it first"))
    messages = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            messages.append(json.loads(line))
        except json.JSONDecodeError as exc:
            _fail(InvalidInput(f"stdin line {number} is not JSON ({exc.msg})"))
    return messages


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What to look for, in plain words.")],
    k: Annotated[int, typer.Option("-k", help="How many hits.")] = 10,
    offset: Annotated[int, typer.Option(help="Skip this many hits (paging).")] = 0,
    strategy: Annotated[
        str, typer.Option(help="layered (default), hybrid, bm25 or dense.")
    ] = "layered",
    kind: Annotated[list[str] | None, typer.Option(help="Only these kinds.")] = None,
    since: Annotated[str | None, typer.Option(help="Occurred at or after (ISO).")] = None,
    until: Annotated[str | None, typer.Option(help="Occurred before (ISO).")] = None,
    as_of: AsOfOpt = None,
    now: NowOpt = None,
    meta: Annotated[list[str] | None, typer.Option(help="Metadata key=value filter.")] = None,
    namespace: NsOpt = "default",
    user: UserOpt = None,
    agent: AgentOpt = None,
    session: SessionOpt = None,
) -> None:
    """Find the memories that best match a query.

    memstrata search "where does alice live" --user alice -k 5
    """
    with _memory() as memory:
        started = time.perf_counter()
        hits = memory.search(
            query,
            k=k,
            offset=offset,
            strategy=strategy,
            kinds=kind,
            since=since,
            until=until,
            metadata=_parse_meta(meta) or None,
            as_of=as_of,
            now=now,
            **_scope(namespace, user, agent, session),
        )
        elapsed = (time.perf_counter() - started) * 1000
    if _want_json():
        _emit({"hits": [h.to_dict() for h in hits], "ms": round(elapsed, 2)})
        return
    _hits_table(hits)
    _out.print(f"{len(hits)} hits in {elapsed:.1f} ms (a new process loads the model first)")


def _hits_table(hits: list[Hit]) -> None:
    table = Table()
    for column in ("score", "via", "when", "who", "text", "id"):
        table.add_column(column, overflow="fold")
    for h in hits:
        via = " ".join(f"{s}#{int(v['rank'])}" for s, v in h.sources.items())
        r = h.record
        table.add_row(
            f"{h.score:.4f}",
            via,
            r.occurred_at[:16].replace("T", " "),
            r.speaker or r.role or "",
            "\n".join([r.text, *(f"-> {f.text}" for f in h.facts[:2])]),
            r.id,
        )
    _out.print(table)


@app.command()
def context(
    query: Annotated[str, typer.Argument(help="What the prompt is about.")],
    budget: Annotated[int, typer.Option(help="Token budget of the block.")] = 1000,
    recent: Annotated[int, typer.Option(help="Last turns of --session to end with.")] = 8,
    as_of: AsOfOpt = None,
    now: NowOpt = None,
    namespace: NsOpt = "default",
    user: UserOpt = None,
    agent: AgentOpt = None,
    session: SessionOpt = None,
) -> None:
    """A prompt-ready block of the memories that matter, within a token budget.

    memstrata context "plan alice's birthday" --user alice --budget 500
    """
    with _memory() as memory:
        block = memory.context(
            query,
            budget_tokens=budget,
            recent=recent,
            as_of=as_of,
            now=now,
            **_scope(namespace, user, agent, session),
        )
    _emit(block.to_dict()) if _want_json() else _out.print(block.text, markup=False)


@app.command()
def get(
    record_id: Annotated[str, typer.Argument(help="Record id.")],
    namespace: NsOpt = "default",
    user: UserOpt = None,
    agent: AgentOpt = None,
    session: SessionOpt = None,
) -> None:
    """Show one record."""
    with _memory() as memory:
        record = memory.get(record_id, **_scope(namespace, user, agent, session))
    if _want_json():
        _emit(record.to_dict())
    else:
        _out.print_json(json.dumps(record.to_dict(), ensure_ascii=False))


@app.command("list")
def list_(
    limit: Annotated[int, typer.Option(help="Records per page.")] = 20,
    cursor: Annotated[str | None, typer.Option(help="Continue after this page.")] = None,
    kind: Annotated[list[str] | None, typer.Option(help="Only these kinds.")] = None,
    status: Annotated[list[str], typer.Option(help="Only these statuses.")] = ["active"],  # noqa: B006
    since: Annotated[str | None, typer.Option(help="Occurred at or after (ISO).")] = None,
    until: Annotated[str | None, typer.Option(help="Occurred before (ISO).")] = None,
    namespace: NsOpt = "default",
    user: UserOpt = None,
    agent: AgentOpt = None,
    session: SessionOpt = None,
) -> None:
    """List records, newest first."""
    with _memory() as memory:
        page = memory.list(
            limit=limit,
            cursor=cursor,
            kinds=kind,
            statuses=status,
            since=since,
            until=until,
            **_scope(namespace, user, agent, session),
        )
    _show_records(page.records, next_cursor=page.next_cursor)


@app.command()
def update(
    record_id: Annotated[str, typer.Argument(help="Record id.")],
    text: Annotated[str | None, typer.Option(help="New text.")] = None,
    meta: Annotated[list[str] | None, typer.Option(help="Replace metadata: key=value.")] = None,
    occurred_at: Annotated[str | None, typer.Option("--at", help="New time.")] = None,
    expected_version: Annotated[
        int | None, typer.Option(help="Fail if the record is not at this version.")
    ] = None,
    namespace: NsOpt = "default",
    user: UserOpt = None,
    agent: AgentOpt = None,
    session: SessionOpt = None,
) -> None:
    """Write a new version of a record (the old one stays in its history)."""
    with _memory() as memory:
        record = memory.update(
            record_id,
            text=text,
            metadata=_parse_meta(meta) if meta else None,
            occurred_at=occurred_at,
            expected_version=expected_version,
            **_scope(namespace, user, agent, session),
        )
    _emit(record.to_dict()) if _want_json() else _out.print(
        f"updated {record.id} to version {record.version}"
    )


@app.command()
def delete(
    record_id: Annotated[str, typer.Argument(help="Record id.")],
    namespace: NsOpt = "default",
    user: UserOpt = None,
    agent: AgentOpt = None,
    session: SessionOpt = None,
) -> None:
    """Delete a record (a tombstone: gone from search, kept in history)."""
    with _memory() as memory:
        record = memory.delete(record_id, **_scope(namespace, user, agent, session))
    _emit(record.to_dict()) if _want_json() else _out.print(f"deleted {record.id}")


@app.command()
def purge(
    record_id: Annotated[str, typer.Argument(help="Record id.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    namespace: NsOpt = "default",
    user: UserOpt = None,
    agent: AgentOpt = None,
    session: SessionOpt = None,
) -> None:
    """Erase a record's content for good (privacy); the erasure is recorded."""
    if not yes and sys.stdin.isatty() and not typer.confirm(f"Erase {record_id} for good?"):
        raise typer.Exit(1)
    with _memory() as memory:
        memory.purge(record_id, **_scope(namespace, user, agent, session))
    _emit({"purged": record_id}) if _want_json() else _out.print(f"purged {record_id}")


@app.command()
def history(
    record_id: Annotated[str, typer.Argument(help="Record id.")],
    namespace: NsOpt = "default",
    user: UserOpt = None,
    agent: AgentOpt = None,
    session: SessionOpt = None,
) -> None:
    """Every change to a record, oldest first."""
    with _memory() as memory:
        entries = memory.history(record_id, **_scope(namespace, user, agent, session))
    if _want_json():
        _emit({"history": [e.to_dict() for e in entries]})
        return
    _history_table(entries)


def _history_table(entries: list[HistoryEntry]) -> None:
    table = Table()
    for column in ("seq", "at", "op", "version", "text"):
        table.add_column(column, overflow="fold")
    for e in entries:
        after = e.after or {}
        table.add_row(
            str(e.seq),
            e.at[:19].replace("T", " "),
            e.op,
            str(after.get("version", "")),
            str(after.get("text", "")),
        )
    _out.print(table)


@app.command()
def export(
    path: Annotated[Path, typer.Argument(help="Where to write the JSON lines ('-': stdout).")],
    namespace: NsOpt = "default",
    user: UserOpt = None,
    agent: AgentOpt = None,
    session: SessionOpt = None,
) -> None:
    """Export records, vectors and history as JSON lines."""
    with _memory() as memory:
        target: Any = sys.stdout if str(path) == "-" else path
        count = memory.export(target, **_scope(namespace, user, agent, session))
    if str(path) != "-":
        _err.print(f"exported {count} records to {path}")


@app.command("import")
def import_(
    path: Annotated[Path, typer.Argument(help="An export file ('-': stdin).")],
    namespace: Annotated[
        str | None, typer.Option("--namespace", "-n", help="Move every record into this one.")
    ] = None,
) -> None:
    """Import an export file; records already present are skipped."""
    with _memory() as memory:
        source: Any = sys.stdin if str(path) == "-" else path
        if source is path and not path.is_file():
            _fail(InvalidInput(f"{path} is not a file"))
        count = memory.import_(source, namespace=namespace)
    _emit({"imported": count}) if _want_json() else _out.print(f"imported {count} records")


@app.command()
def stats(
    namespace: NsOpt = "default",
    user: UserOpt = None,
    agent: AgentOpt = None,
    session: SessionOpt = None,
) -> None:
    """Counts, pending work, file size and the embedding model."""
    with _memory() as memory:
        data = memory.stats(**_scope(namespace, user, agent, session))
    _emit(data) if _want_json() else _out.print_json(json.dumps(data))


@app.command()
def reindex(
    embedder: Annotated[
        str | None,
        typer.Option(help="Switch the store to this model and re-embed every record."),
    ] = None,
) -> None:
    """Embed records that have no vector, or re-embed all with another model."""
    path = state.db or default_db_path()
    try:
        memory = (
            Memory.open_for_reindex(path, embedder=embedder)
            if embedder
            else Memory(path, embedder=state.embedder or default_embedder_spec())
        )
        with memory:
            count = memory.reindex()
    except MemstrataError as exc:
        _fail(exc)
    _emit({"embedded": count}) if _want_json() else _out.print(f"embedded {count} records")


@app.command()
def migrate(
    source: Annotated[
        str | None,
        typer.Option("--from", help="Copy this store (sqlite:PATH, a path, or postgresql://…)."),
    ] = None,
    target: Annotated[
        str | None, typer.Option("--to", help="…into this one (postgresql://… or a path).")
    ] = None,
) -> None:
    """Upgrade a store file to this version's schema (back it up first); with --from
    and --to, copy a whole store into another, losslessly and resumably, then verify
    the copy by counts and checksums."""
    if source is None and target is None:
        path = state.db or default_db_path()
        try:
            Memory(path, embedder=state.embedder or default_embedder_spec(), migrate=True).close()
        except MemstrataError as exc:
            _fail(exc)
        _out.print(f"{path} is up to date")
        return
    if source is None or target is None:
        _fail(InvalidInput("give both --from and --to (or neither, to upgrade --db in place)"))
    try:
        copied, problems = _copy(source.removeprefix("sqlite:"), target.removeprefix("sqlite:"))
    except MemstrataError as exc:
        _fail(exc)
    report = {"copied": copied.records, "already_there": copied.skipped, "links": copied.links,
              "state": copied.state, "keys": copied.keys, "problems": problems}  # fmt: skip
    if _want_json():
        _emit(report)
    else:
        _out.print(f"copied {copied.records:,} records ({copied.skipped:,} already there), "
                   f"{copied.links:,} links, {copied.keys} keys", markup=False)  # fmt: skip
        for problem in problems:
            _err.print(f"  {problem}", markup=False)
        if not problems:
            _out.print("verified: the same records, vectors, history, links, keys and state")
    if problems:
        raise typer.Exit(1)


def _copy(source: str, target: str) -> tuple[Copied, list[str]]:
    if not is_postgres(source) and not Path(source).is_file():
        raise InvalidInput(f"no store at {source}; give --from an existing store")
    src = open_store(source)
    try:
        dst = open_store(target)
        try:
            return copy_store(src, dst), verify(src, dst)
        finally:
            dst.close()
    finally:
        src.close()


@app.command()
def check(
    db: DbOpt = None,
    quick: Annotated[
        bool, typer.Option("--quick", help="Check the pages only (faster on large files).")
    ] = False,
) -> None:
    """Check that a store file is whole: SQLite's integrity check of every page and
    index, the tables a store has, and the full-text index against the records.
    Exits 1 and lists the problems if there are any."""
    path = db or state.db or default_db_path()
    problems = check_file(path, full=not quick)
    if _want_json():
        _emit({"path": str(path), "ok": not problems, "problems": problems})
    elif problems:
        _err.print(f"{path} is damaged:", markup=False)
        for problem in problems:
            _err.print(f"  {problem}", markup=False)
        _err.print("restore it from a backup (`memstrata backup` makes one)", markup=False)
    else:
        _out.print(f"{path}: ok")
    if problems:
        raise typer.Exit(1)


@app.command()
def backup(
    dest: Annotated[Path, typer.Argument(help="Where to write the copy (a new file).")],
    db: DbOpt = None,
) -> None:
    """Copy the store to DEST while it is in use (SQLite's online backup: a consistent
    snapshot), and check the copy."""
    path = Path(db or state.db or default_db_path())
    if not path.is_file():
        _fail(
            InvalidInput(
                f"{path} is not a store file; give the store with --db (a backup "
                "copies a SQLite file; back a PostgreSQL store up with pg_dump)"
            )
        )
    source = sqlite3.connect(path)
    try:
        backup_file(source, dest)
    except MemstrataError as exc:
        _fail(exc)
    finally:
        source.close()
    if _want_json():
        _emit({"backup": str(dest), "bytes": dest.stat().st_size})
    else:
        _out.print(f"{path} copied to {dest} ({dest.stat().st_size:,} bytes)")


_DEMO = [
    ("alice", "user", "I moved to Lisbon in March, the light there is wonderful."),
    ("alice", "user", "My sister Clara is visiting me next weekend."),
    ("alice", "user", "I'm allergic to peanuts, so no satay for me."),
    ("alice", "user", "Started learning Portuguese on Tuesdays and Thursdays."),
    ("bob", "user", "I just adopted a greyhound called Pixel."),
    ("bob", "user", "My favourite band is Radiohead; I saw them in Berlin."),
]


@app.command()
def demo() -> None:
    """Run a short demo on the packaged model in a throwaway store."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(state.db or Path(folder) / "demo.db")
        started = time.perf_counter()
        memory = Memory(
            path,
            embedder=state.embedder or default_embedder_spec(),
            settings=parse_assignments(state.settings),
        )
        with memory:
            for user, role, text in _DEMO:
                memory.add({"role": role, "name": user, "content": text}, user_id=user)
            _out.print(f"stored {len(_DEMO)} memories for alice and bob in {path}")
            for user, query in (
                ("alice", "where does alice live?"),
                ("alice", "what food should I avoid cooking for her?"),
                ("bob", "does bob have a pet?"),
            ):
                hits = memory.search(query, user_id=user, k=2)
                _out.print(f"\n[bold]{user}[/bold] · {query}")
                for h in hits:
                    _out.print(f"  {h.score:.4f}  {h.record.text}", markup=False)
        _out.print(f"\ndone in {time.perf_counter() - started:.1f} s (model load included)")


def _mount_bench() -> None:
    from memstrata.bench.cli import app as bench_app

    app.add_typer(bench_app, name="bench", help="Benchmarks: recall, latency, scale.")


_mount_bench()


def _mount_server() -> None:
    # fastapi, uvicorn and mcp are imported only when one of these commands runs.
    from memstrata.server.cli import keys_app, mcp_command, serve_command

    app.command("serve")(serve_command)
    app.command("mcp")(mcp_command)
    app.add_typer(keys_app, name="keys", help="API keys for `memstrata serve`.")


_mount_server()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
