"""`memstrata bench …`: the benchmarks on the command line.

`app` is a Typer sub-app; the main CLI mounts it as `bench`. Run it on its own with
`python -c "from memstrata.bench.cli import app; app()" scale --n 1000 --embedder hash`.

- `scale`: ingest, storage and search latency on generated data as the store grows;
- `locomo`: turn-level evidence recall, context coverage and latency on LoCoMo;
- `longmemeval`: session- and turn-level recall by question type on LongMemEval;
- `beam`: message-level recall and the ability figures (updates, contradictions, order)
  on BEAM chats;
- `updates`: knowledge updates (current value, value before a change, value at a date) on a
  generated suite;
- `serve`: throughput, latency and lost writes of the HTTP server under concurrent clients;
- `reliability`: crash loop, tenant isolation, purge residue and faults, against issue 10's
  contract.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from memstrata.bench.report import fmt_number, fmt_share
from memstrata.errors import MemstrataError

app = typer.Typer(
    help="Benchmarks: how fast, how big, how exact.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)
_out = Console(highlight=False, soft_wrap=True)
_err = Console(stderr=True, highlight=False)


@app.callback()
def _bench() -> None:
    """Benchmarks: how fast, how big, how exact."""


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmM]?)\s*$")


def parse_sizes(text: str) -> list[int]:
    """Parse "10000,100k,1e5,1.5m" into sizes; raise typer.BadParameter otherwise."""
    sizes: list[int] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        match = _SIZE.match(part)
        try:
            value = (
                float(match.group(1)) * {"": 1, "k": 1e3, "m": 1e6}[match.group(2).lower()]
                if match
                else float(part)
            )
        except ValueError:
            raise typer.BadParameter(f"{part!r} is not a size; use e.g. 10000,100k") from None
        if value < 1 or value != int(value):
            raise typer.BadParameter(f"{part!r}: sizes must be whole numbers >= 1")
        sizes.append(int(value))
    if not sizes:
        raise typer.BadParameter("give at least one size, e.g. --n 10000,100000")
    return sizes


@app.command()
def scale(
    n: Annotated[str, typer.Option("--n", help="Store sizes, comma-separated (10000,100k).")] = (
        "10000,100000"
    ),
    embedder: Annotated[
        str, typer.Option(help="minilm (default model), hash (instant; isolates index cost).")
    ] = "minilm",
    out: Annotated[Path, typer.Option(help="Folder for results.json, results.md, plots.")] = (
        Path("bench-results/scale")
    ),
    queries: Annotated[int, typer.Option(min=1, help="Timed queries per strategy.")] = 200,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic data.")] = 0,
    batch: Annotated[int, typer.Option(min=1, max=10_000, help="Turns per add call.")] = 256,
    warmup: Annotated[int, typer.Option(min=1, help="Warm-up queries.")] = 10,
    single_adds: Annotated[int, typer.Option(min=1, help="Single-turn add calls to time.")] = 100,
    warm_adds: Annotated[
        int | None,
        typer.Option(min=1, help="Turns added with the index loaded [default: N/20, 256-5000]."),
    ] = None,
    keep_db: Annotated[
        bool, typer.Option("--keep-db", help="Keep the stores under OUT/db instead of a temp dir.")
    ] = False,
    progress: Annotated[bool, typer.Option("--progress/--no-progress")] = True,
) -> None:
    """Ingest N synthetic turns, then time search, embedding and adds, and check the
    vector index against an exact brute-force scan."""
    from memstrata.bench.scale.plan import ScaleConfig
    from memstrata.bench.scale.report import summary_table
    from memstrata.bench.scale.run import run_scale

    config = ScaleConfig(
        sizes=parse_sizes(n), embedder=embedder, out=out, queries=queries, seed=seed,
        batch=batch, warmup=warmup, single_adds=single_adds, warm_adds=warm_adds, keep_db=keep_db,
        progress=progress,
    )  # fmt: skip
    results = run_scale(config, log=lambda m: _err.print(m, markup=False))
    _out.print(summary_table(results))
    _out.print(f"results: {out / 'results.json'}, {out / 'results.md'}, plots in {out}")


# ------------------------------------------------------- LoCoMo, LongMemEval

StrategyOpt = Annotated[
    str,
    typer.Option(
        help="Retrieval to measure: bm25, dense, hybrid or default (the library's default "
        "search), or several comma-separated (bm25,dense,hybrid): the store is built once "
        "and each is measured on it. Top-level figures are for the first."
    ),
]
EmbedderOpt = Annotated[
    str, typer.Option(help="minilm (default model), hash (instant, for smoke runs), ...")
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        help="key=value passed to Memory(...) (repeatable); unknown keys are refused with "
        "the list of known ones.",
    ),
]
KeepDbOpt = Annotated[
    bool, typer.Option("--keep-db", help="Keep the stores under OUT/db instead of a temp dir.")
]
ProgressOpt = Annotated[bool, typer.Option("--progress/--no-progress")]
PlotsOpt = Annotated[bool, typer.Option("--plots/--no-plots", help="Draw the PNG plots.")]


def _retrieval_config(
    name: str, data: Path, out: Path, strategy: str, embedder: str, settings: list[str] | None,
    limit: int | None, keep_db: bool, plots: bool, progress: bool, search_k: int,
    speaker_in_text: bool = False,
) -> Any:  # fmt: skip
    from memstrata.bench.model import RunConfig
    from memstrata.bench.options import parse_settings, parse_strategies

    strategies = parse_strategies(strategy)
    parsed = parse_settings(settings or [])
    # The command that reproduces the figures (progress bars change nothing).
    words = ["memstrata", "bench", name, "--data", str(data), "--out", str(out),
             "--strategy", ",".join(strategies), "--embedder", embedder]  # fmt: skip
    for item in settings or []:
        words += ["--set", item]
    words += [] if limit is None else ["--limit", str(limit)]
    words += ["--keep-db"] if keep_db else []
    words += [] if plots else ["--no-plots"]
    words += ["--speaker-in-text"] if speaker_in_text else []
    return RunConfig(
        data=data, out=out, strategies=strategies, embedder=embedder, settings=parsed,
        search_k=search_k, limit=limit, keep_db=keep_db, progress=progress, plots=plots,
        command=shlex.join(words), speaker_in_text=speaker_in_text,
    )  # fmt: skip


def _run_retrieval(runner: Any, make_config: Any) -> None:
    try:
        config = make_config()
        results = runner(config)
    except MemstrataError as exc:
        _err.print(f"error: {exc}", markup=False, soft_wrap=True)  # paths stay whole
        raise typer.Exit(2) from None
    _out.print(retrieval_table(results))
    ev = results["evidence"]
    _out.print(
        f"evidence: {ev['malformed_ids']} malformed ids, {ev['unknown_ids']} ids not in their "
        f"conversation, {ev['questions'] - ev['questions_scored']} questions not scored",
        markup=False,
    )
    out = config.out
    _out.print(
        f"results: {out / 'results.json'}, {out / 'results.md'}, "
        f"{out / 'per_question.jsonl'}, plots in {out}",
        markup=False,
    )


@app.command()
def locomo(
    data: Annotated[
        Path,
        typer.Option(help="locomo10.json, or a folder of per-conversation JSON files."),
    ],
    out: Annotated[Path, typer.Option(help="Folder for the results.")] = Path(
        "bench-results/locomo"
    ),
    strategy: StrategyOpt = "default",
    embedder: EmbedderOpt = "minilm",
    settings: SetOpt = None,
    limit: Annotated[
        int | None, typer.Option(min=1, help="Only the first N conversations.")
    ] = None,
    keep_db: KeepDbOpt = False,
    progress: ProgressOpt = True,
    plots: PlotsOpt = True,
    speaker_in_text: Annotated[
        bool,
        typer.Option(
            "--speaker-in-text",
            help="Input ablation: start each turn's text with 'Speaker: ' (the speaker is "
            "always passed as the message's name; this also puts it in the text).",
        ),
    ] = False,
    evidence_corrections: Annotated[
        Path | None,
        typer.Option(
            "--evidence-corrections",
            help="A JSON file of audited evidence ({corrections: [{conversation, "
            "question_index, question, cited_evidence, correct_evidence}]}): every figure "
            "is also scored against it (results.json 'figures', *_audited).",
        ),
    ] = None,
) -> None:
    """Turn-level evidence recall@1/5/10/20, all-evidence hit, MRR, context coverage
    and latency on LoCoMo: each conversation in a fresh store, every question searched
    in its own conversation. Category 5 (adversarial) is reported apart."""
    from dataclasses import replace

    from memstrata.bench.locomo import run_locomo

    def config() -> Any:
        made = _retrieval_config(
            "locomo", data, out, strategy, embedder, settings, limit, keep_db, plots,
            progress, 20, speaker_in_text,
        )  # fmt: skip
        if evidence_corrections is None:
            return made
        words = ["--evidence-corrections", str(evidence_corrections)]
        return replace(made, command=f"{made.command} {shlex.join(words)}")

    def run(made: Any) -> dict[str, Any]:
        results = run_locomo(made, evidence_corrections)
        if evidence_corrections is not None:
            from memstrata.bench.audit import headline

            _out.print(headline(results), markup=False)
        return results

    _run_retrieval(run, config)


@app.command()
def longmemeval(
    data: Annotated[
        Path, typer.Option(help="A LongMemEval JSON file (longmemeval_s / _m / _oracle).")
    ],
    out: Annotated[Path, typer.Option(help="Folder for the results.")] = Path(
        "bench-results/longmemeval"
    ),
    strategy: StrategyOpt = "default",
    embedder: EmbedderOpt = "minilm",
    settings: SetOpt = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first N questions.")] = None,
    keep_db: KeepDbOpt = False,
    progress: ProgressOpt = True,
    plots: PlotsOpt = True,
) -> None:
    """Session- and turn-level recall@1/5/10/20 by question type on LongMemEval: each
    question's haystack in a fresh store. Abstention questions are counted, not scored."""
    from memstrata.bench.longmemeval import SEARCH_K, run_longmemeval

    _run_retrieval(
        run_longmemeval,
        lambda: _retrieval_config(
            "longmemeval",
            data,
            out,
            strategy,
            embedder,
            settings,
            limit,
            keep_db,
            plots,
            progress,
            SEARCH_K,
        ),
    )


@app.command()
def beam(
    data: Annotated[
        Path,
        typer.Option(
            help="A folder of BEAM chats (e.g. the BEAM repository's chats/100K), one chat's "
            "folder, or its chat.json; the questions are read from probing_questions/"
            "probing_questions.json or probing_questions.json beside it."
        ),
    ],
    out: Annotated[Path, typer.Option(help="Folder for the results.")] = Path("bench-results/beam"),
    strategy: StrategyOpt = "default",
    embedder: EmbedderOpt = "minilm",
    settings: SetOpt = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first N chats.")] = None,
    keep_db: KeepDbOpt = False,
    progress: ProgressOpt = True,
    plots: PlotsOpt = True,
) -> None:
    """Message-level evidence recall@1/5/10/20, all-evidence hit, MRR and context
    coverage (500 to 4,000 tokens) per ability on BEAM: each chat in a fresh store, every
    message added with its role and date. Also: whether an updated message ranks above
    the original, both sides of a contradiction within k, and Kendall's tau of the order
    in which the evidence of ordering questions is found. Abstention is counted, not
    scored."""
    from dataclasses import replace

    from memstrata.bench.beam import BUDGETS, SEARCH_K, run_beam

    _run_retrieval(
        run_beam,
        lambda: replace(
            _retrieval_config(
                "beam", data, out, strategy, embedder, settings, limit, keep_db, plots,
                progress, SEARCH_K,
            ),
            budgets=BUDGETS,
        ),
    )  # fmt: skip


@app.command()
def updates(
    out: Annotated[Path, typer.Option(help="Folder for the results.")] = Path(
        "bench-results/updates"
    ),
    people: Annotated[
        int, typer.Option(min=1, help="People (one conversation and store each).")
    ] = 30,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the generated suite.")] = 0,
    split: Annotated[
        str,
        typer.Option(
            help="Template pool: dev (tune on it) or test (disjoint templates, values and "
            "names; measure on it)."
        ),
    ] = "dev",
    strategy: StrategyOpt = "default",
    embedder: EmbedderOpt = "minilm",
    settings: SetOpt = None,
    limit: Annotated[
        int | None, typer.Option(min=1, help="Only the first N people of the suite.")
    ] = None,
    keep_db: KeepDbOpt = False,
    progress: ProgressOpt = True,
    plots: PlotsOpt = True,
) -> None:
    """Knowledge updates on a generated suite (no external data): people state values
    of attributes (city, job, partner, car, ...) and change them among small talk and
    other people's values; questions ask for the current value, the value before a
    change and the value at a date. Reports whether the current value's turn ranks
    above the older ones, at rank 1 and within 5, the older value within 5, and the
    value at a date at rank 1 (when search takes as_of), overall, per attribute and per
    question form."""
    from memstrata.bench.updates import check_options, default_data_label, run_updates

    def config() -> Any:
        check_options(people, seed, split)
        made = _retrieval_config(
            "updates", default_data_label(people, seed, split), out, strategy, embedder,
            settings, limit, keep_db, plots, progress, 20,
        )  # fmt: skip
        words = shlex.split(made.command)
        at = words.index("--data")
        words[at : at + 2] = ["--people", str(people), "--seed", str(seed), "--split", split]
        made.command = shlex.join(words)
        return made

    holder: dict[str, Any] = {}

    def runner(made: Any) -> dict[str, Any]:
        holder["results"] = run_updates(made, people=people, seed=seed, split=split)
        return holder["results"]

    _run_retrieval(runner, config)
    _out.print(updates_table(holder["results"]))


def updates_table(results: dict[str, Any]) -> Table:
    """A rich table of the knowledge-update figures per strategy."""
    table = Table(title=f"knowledge updates ({results['config']['embedder']})")
    for column in ("strategy", "current above older", "current @1", "current @5",
                   "older @5 (before)", "value @1 at date"):  # fmt: skip
        table.add_column(column, justify="left" if column == "strategy" else "right")
    for strategy, block in results["by_strategy"].items():
        fig = block["figures"]
        cur, aof = fig["current"], fig["as_of"]
        at_date = "n/a" if aof["n"] and not aof["applied"] else fmt_share(aof["at_1"])
        table.add_row(
            strategy, fmt_share(cur["above_older"]), fmt_share(cur["at_1"]),
            fmt_share(cur["within_5"]), fmt_share(fig["before"]["older_within_5"]),
            at_date,
        )  # fmt: skip
    if any(b["figures"]["as_of"]["n"] and not b["figures"]["as_of"]["applied"]
           for b in results["by_strategy"].values()):  # fmt: skip
        table.caption = "n/a: search takes no as_of, so value-at-a-date questions are not scored"
    return table


def retrieval_table(results: dict[str, Any]) -> Table:
    """A rich table of recall@k, MRR and search latency per strategy."""
    unit = results["unit"]
    table = Table(title=f"memstrata bench {results['dataset']} ({results['config']['embedder']})")
    for column in ("strategy", "questions", "R@1", "R@5", "R@10", "R@20", "MRR",
                   "search p50 / p95 ms"):  # fmt: skip
        table.add_column(column, justify="left" if column == "strategy" else "right")
    for strategy, block in results["by_strategy"].items():
        recall, lat = block["recall_at"], block["latency_ms"]
        table.add_row(
            strategy, str(block["n_questions"]),
            *[fmt_share(recall[k]) for k in ("1", "5", "10", "20")],
            fmt_share(block["mrr"]),
            f"{fmt_number(lat['search_p50'], 2)} / {fmt_number(lat['search_p95'], 2)}",
        )  # fmt: skip
    table.caption = f"{unit}-level evidence recall"
    return table


def _mount_serve() -> None:
    from memstrata.bench.serve.command import serve_bench_command

    app.command("serve")(serve_bench_command)


_mount_serve()


def _mount_reliability() -> None:
    from memstrata.bench.reliability.run import reliability_command

    app.command("reliability")(reliability_command)


_mount_reliability()
