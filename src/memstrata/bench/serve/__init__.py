"""`memstrata bench serve`: many clients at once against a memstrata server on
loopback.

It builds a fresh store (with `preload` generated turns and a fresh API key), starts
the HTTP server on a free 127.0.0.1 port (a child process by default, or a thread),
and runs `clients` threads, each with its own `memstrata.Client`, through a fixed
plan of `requests` calls: adds (`add_share` of them, one generated turn each) and
layered searches (k=10, in the user of the turn the query was made from). It stops
at the end of the plan or after `seconds`, whichever comes first. Then it stops the
server, opens the store directly and checks that every add the server
acknowledged is there with its text. It reports throughput, latency per verb, errors
and lost writes, and writes results.json, results.md and latency.png to `out`.

The store is a fresh SQLite file by default; `db` (a postgresql:// DSN) runs on a
schema of its own in that database, and `backend="postgres"` without `db` on a
throwaway PostgreSQL + pgvector server (bench/pg_server.py). `kill` SIGKILLs the
server process or that PostgreSQL server mid-run and restarts it; the clients retry,
and the errors while it was down are counted apart from the others.

Loopback only: the server is started here and never listens beyond this machine.

- `plan`: the configuration (`ServeConfig`), its bounds, and the request plan;
- `server`: the server on loopback, in a child process or a thread;
- `load`: the client threads and what each request took;
- `target`: where the store lives (a file, a schema in a database, a throwaway server);
- `kill`: the mid-run kill and restart, and the outage's figures;
- `run`: `run_serve`, the whole run, and the check of the writes afterwards;
- `report`: results.md, latency.png and the terminal table;
- `command`: the Typer command `memstrata bench serve`.

>>> from memstrata.bench.serve.run import run_serve
>>> results = run_serve(ServeConfig(clients=4, requests=60, embedder="hash", out=Path("o")))
"""
