"""`memstrata bench reliability`: run the sections, hold the figures to the contract,
write results.json and results.md (bench/report.py does the writing,
bench/machine.py the machine facts).

>>> results = run_reliability(ReliabilityConfig(kills=6, only=("crash",), out=Path("o")))
>>> [row for row in results["contract"] if not row["ok"]]
"""

from __future__ import annotations

import dataclasses
import logging
import re
import shlex
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from memstrata.bench import report, stores
from memstrata.bench.machine import (
    DEFAULT_PACKAGES,
    load_average,
    machine_info,
    machine_markdown,
    source_revision,
    utc_now,
)
from memstrata.bench.reliability.crashloop import MODES, CrashConfig, run_crash

SECTIONS = ("crash", "isolation", "residue", "faults")
PACKAGES = (*DEFAULT_PACKAGES, "fastapi", "uvicorn", "mcp")
Log = Callable[[str], None]

_out = Console(highlight=False, soft_wrap=True)
_err = Console(stderr=True, highlight=False, soft_wrap=True)


@dataclass
class ReliabilityConfig:
    kills: int = 30
    seconds: float = 600.0  # the crash loop starts no round after this
    seed: int = 0
    out: Path = Path("bench-results/reliability")
    only: tuple[str, ...] = SECTIONS
    modes: tuple[str, ...] = MODES
    keep: bool = False  # keep the stores and ledgers under OUT/db
    residue_variants: tuple[str, ...] = ("small", "ann", "reader", "speaker")

    def command(self) -> str:
        words = ["memstrata", "bench", "reliability", "--kills", str(self.kills), "--seconds",
                 f"{self.seconds:g}", "--seed", str(self.seed), "--out", str(self.out),
                 "--only", ",".join(self.only), "--modes", ",".join(self.modes)]  # fmt: skip
        return shlex.join(words + (["--keep-db"] if self.keep else []))


@contextmanager
def _quiet_server_log() -> Iterator[None]:
    """The in-process servers log every 5xx with its traceback; the run counts them
    instead (the examples in the results say what they were)."""
    logger = logging.getLogger("memstrata.server")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def run_reliability(config: ReliabilityConfig, log: Log = lambda m: None) -> dict[str, Any]:
    """Run the chosen sections; the results (also written to OUT)."""
    from memstrata.bench.reliability.faults import run_faults
    from memstrata.bench.reliability.isolation import IsolationConfig, run_isolation
    from memstrata.bench.reliability.residue import ResidueConfig, run_residue

    machine = machine_info(PACKAGES)
    started = utc_now()
    sections: dict[str, Any] = {}
    folder = stores.store_dir(config.out, keep=config.keep, prefix="memstrata-rel-")
    with folder as work, _quiet_server_log():
        if "crash" in config.only:
            crash = CrashConfig(
                kills=config.kills,
                seconds=config.seconds,
                seed=config.seed,
                modes=config.modes,
                work=work / "crash",
            )
            sections["crash"] = run_crash(crash, log)
        if "isolation" in config.only:
            iso = IsolationConfig(seed=config.seed, work=work / "isolation")
            sections["isolation"] = run_isolation(iso, log)
        if "residue" in config.only:
            res = ResidueConfig(seed=config.seed, work=work / "residue",
                                    variants=config.residue_variants)  # fmt: skip
            sections["residue"] = run_residue(res, log)
        if "faults" in config.only:
            sections["faults"] = run_faults(work / "faults", config.seed, log)
    results = {
        "schema": report.RESULTS_SCHEMA,
        "benchmark": "reliability",
        "command": config.command(),
        "source_revision": source_revision(),
        "started_at": started,
        "finished_at": utc_now(),
        "machine": machine,
        "load_average_at_end": load_average(),
        "config": {
            k: (str(v) if isinstance(v, Path) else v) for k, v in dataclasses.asdict(config).items()
        },
        "sections": sections,
        "contract": contract(sections),
    }
    report.write_json(config.out / "results.json", results)
    report.write_text(config.out / "results.md", markdown(results))
    return results


# ---------------------------------------------------------------- the contract


def _row(section: str, check: str, observed: Any, ok: bool | None, target: str) -> dict[str, Any]:
    """One figure: `ok` None for a figure that is reported, not held to a target."""
    return {"section": section, "check": check, "observed": observed, "target": target, "ok": ok}


def _zero(section: str, check: str, value: Any) -> dict[str, Any]:
    return _row(section, check, value, value == 0, "0")


def contract(sections: dict[str, Any]) -> list[dict[str, Any]]:
    """Every figure of the run, each held to its target (issue 10's contract)."""
    rows: list[dict[str, Any]] = []
    if "crash" in sections:
        rows += _crash_rows(sections["crash"])
    if "isolation" in sections:
        rows += _isolation_rows(sections["isolation"])
    if "residue" in sections:
        rows += _residue_rows(sections["residue"])
    if "faults" in sections:
        rows += _fault_rows(sections["faults"])
    return rows


def _crash_rows(c: dict[str, Any]) -> list[dict[str, Any]]:
    s = "crash"
    acked = ", ".join(f"{k} {v}" for k, v in c["acked"].items())
    return [
        _row(s, "SIGKILLs (library, library-bg, server)", c["kills"], None, "–"),
        _row(s, "acked operations", acked, None, "–"),
        _zero(s, "acked writes lost", c["lost_acked_writes"]),
        _zero(s, "unacked adds half stored", c["torn_adds"]),
        _zero(
            s,
            "half-applied cascades (live derived record with dead content)",
            c["half_applied_cascades"],
        ),
        _zero(s, "turns left without their facts", c["turns_left_unformed"]),
        _zero(
            s,
            "cascades still half after the delete/purge is retried",
            c["cascades_left_after_retry"],
        ),
        _zero(s, "rounds failing PRAGMA integrity_check", c["integrity_failures"]),
        _zero(s, "rounds with formation owed after flush()", c["pending_after_flush"]),
        _zero(s, "raw exceptions", c["raw_exceptions"]),
        _zero(s, "workload operations that failed", c["workload_errors"]),
    ]


def _isolation_rows(i: dict[str, Any]) -> list[dict[str, Any]]:
    s, a = "isolation", i["availability"]
    return [
        _row(s, "cross-tenant attempts (HTTP routes and MCP tools)", i["attempts"], None, "–"),
        _zero(s, "leaks (B's strings or ids in an answer to A)", i["leaks"]),
        _zero(s, "B's records changed by A", i["b_records_changed"]),
        _zero(s, "server errors (5xx) in the matrix", i["server_errors"]),
        _zero(s, "verbs no attempt reached", len(i["untried_verbs"])),
        _zero(
            s, f"5xx answers to A's {a['poison_sent']} hostile inputs", a["poison_server_errors"]
        ),
        _zero(s, "B's calls broken after A's input", a["b_calls_broken"]),
        _row(
            s,
            "B's add answered with an error, yet stored",
            a["failed_add_stored"],
            not a["failed_add_stored"],
            "False",
        ),
        _row(
            s,
            "Memory.close() after A's input",
            "raised" if a["close_failed"] else "ok",
            not a["close_failed"],
            "ok",
        ),
        _row(
            s,
            "store opens again (restart)",
            "failed" if a["restart_failed"] else "ok",
            not a["restart_failed"],
            "ok",
        ),
    ]


def _residue_rows(r: dict[str, Any]) -> list[dict[str, Any]]:
    s = "residue"
    rows = [
        _row(
            s,
            "variants where formation made too little to test",
            ", ".join(r["under_formed"]) or 0,
            not r["under_formed"],
            "0",
        ),
        _zero(s, "variants with the purged name in the file bytes", r["name_left"]),
        _zero(s, "purged words (or stems) in the file bytes", r["words_left"]),
        _zero(s, "purged vectors in the file bytes", r["vectors_left"]),
        _zero(s, "purged names, words or vectors in the exports", r["left_in_export"]),
    ]
    reader = r["variants"].get("reader")
    if reader:
        rows.append(_row(s, "seconds per purged turn while a reader holds a snapshot",
                         reader["purge_seconds_per_turn"], None, "–"))  # fmt: skip
    speaker = r["variants"].get("speaker")
    if speaker:
        left = "yes" if speaker["name_in_files"] or speaker["text_in_export"] else "no"
        rows.append(_row(s, "name of a purged speaker left (not asked by issue 10)", left, None,
                         "–"))  # fmt: skip
    return rows


_FULL = re.compile(r"space|full|free", re.IGNORECASE)
_READ_ONLY = re.compile(r"read-only|readonly|read only|writ|permission", re.IGNORECASE)


_PATH = re.compile(r"(?<!\S)/\S*")


def without_paths(message: str) -> str:
    """A message with its file paths cut out (they hold temporary folder names)."""
    return _PATH.sub("PATH", message)


def _names_cause(pattern: re.Pattern[str], message: str) -> bool:
    """Whether a message names the cause, its paths left out (a folder called
    "diskfull" names nothing)."""
    return bool(pattern.search(without_paths(message)))


def _fault_rows(f: dict[str, Any]) -> list[dict[str, Any]]:
    s = "faults"
    rows = []
    for how in ("rlimit", "tmpfs"):
        d = f.get(f"disk_full_{how}", {})
        label = f"disk full ({'RLIMIT_FSIZE' if how == 'rlimit' else 'small tmpfs'})"
        if "skipped" in d:
            rows.append(_row(s, label, f"skipped: {d['skipped']}", None, "–"))
            continue
        first = d.get("first_failure", {})
        clear = first.get("error") == "BackendError" and _names_cause(
            _FULL, first.get("message", "")
        )
        rows += [
            _row(
                s,
                f"{label}: the failing write",
                f"{first.get('error')}: {without_paths(first.get('message', ''))[:80]}",
                clear,
                "BackendError naming the cause",
            ),
            _zero(s, f"{label}: acked writes lost", d.get("acked_lost")),
            _row(
                s,
                f"{label}: writes again once space is back",
                d.get("write_after_space_back", {}).get("ok"),
                bool(d.get("write_after_space_back", {}).get("ok")) and d.get("integrity") == "ok",
                "True, integrity ok",
            ),
        ]
    ro = f.get("read_only", {})
    if "skipped" in ro:
        rows.append(_row(s, "read-only media", f"skipped: {ro['skipped']}", None, "–"))
    for name, case in ro.get("cases", {}).items():
        opened = case["open"]
        seen = opened["error"] or ", ".join(sorted({v for v in case["verbs"].values()}))
        message = opened["message"] or " ".join(case["messages"].values())
        clean = not case["raw"] and not case["writes_taken"] and _names_cause(_READ_ONLY, message)
        rows += [
            _row(
                s,
                f"read-only media, {name}: what the caller saw",
                f"{seen}: {without_paths(message)[:80]}",
                clean,
                "BackendError naming read-only; no write taken",
            ),
            _row(
                s,
                f"read-only media, {name}: writable again, nothing lost",
                case["writable_again"] and case["turns_after"] == case["turns_before"],
                case["writable_again"] and case["turns_after"] == case["turns_before"],
                "True",
            ),
        ]
    c = f.get("corrupt")
    if c:
        rows += [
            _zero(
                s,
                f"damaged files ({c['cases']} cases): cases with raw exceptions",
                c["cases_with_raw_exceptions"],
            ),
            _zero(
                s, f"of {c['damaged']} failing quick_check: took a write", c["damaged_took_writes"]
            ),
            _zero(
                s,
                f"of {c['damaged']} failing quick_check: not refused with BackendError "
                "or ConfigError",
                c["damaged_not_refused"],
            ),
            _row(
                s,
                "`memstrata check` on a healthy store: exit code",
                c["check_healthy_exit"],
                c["check_healthy_exit"] == 0,
                "0",
            ),
            _zero(
                s,
                "`memstrata check` on a damaged store: cases not exiting 1",
                c["check_damaged_wrong_exit"],
            ),
            _row(
                s,
                "`memstrata backup`: a copy that opens with the same records",
                c["backup"]["copy_ok"],
                bool(c["backup"]["copy_ok"]),
                "True",
            ),
        ]
    m = f.get("model")
    if m:
        rows.append(_zero(s, f"damaged model: of {len(m['cases'])} cases, failing the contract",
                          m["failing_cases"]))  # fmt: skip
    return rows


# ------------------------------------------------------------------ markdown


def markdown(results: dict[str, Any]) -> str:
    rows = results["contract"]
    mark = {True: "yes", False: "**NO**", None: "–"}
    parts = [
        "# memstrata bench reliability\n",
        f"`{results['command']}` at {results['source_revision'] or 'an unknown revision'}, "
        f"{results['started_at']} to {results['finished_at']}.\n",
        machine_markdown(results["machine"]),
        f"- Load average at the end: {results['load_average_at_end']}\n",
        "## Contract\n",
        report.markdown_table(
            ["section", "check", "observed", "target", "met"],
            [
                [
                    r["section"],
                    r["check"],
                    str(r["observed"]).replace("|", "/"),
                    r["target"],
                    mark[r["ok"]],
                ]
                for r in rows
            ],
        ),
    ]
    sections = results["sections"]
    if "crash" in sections:
        parts.append(_crash_md(sections["crash"]))
    if "faults" in sections and "corrupt" in sections["faults"]:
        parts.append(_corrupt_md(sections["faults"]["corrupt"]))
    if "faults" in sections and "model" in sections["faults"]:
        parts.append(_model_md(sections["faults"]["model"]))
    if "isolation" in sections:
        parts.append(_isolation_md(sections["isolation"]))
    return "\n".join(parts)


def _crash_md(c: dict[str, Any]) -> str:
    rows = []
    for mode, m in c["by_mode"].items():
        problems = ", ".join(f"{k} {v}" for k, v in m["problems"].items() if v) or "none"
        plans = ", ".join(f"{k} {v}" for k, v in sorted(m["plans"].items()))
        rows.append([mode, m["kills"], plans, sum(m["acked"].values()), problems])
    text = "## Crash loop by mode\n\n" + report.markdown_table(
        ["mode", "kills", "how killed", "acked ops", "problems"], rows
    )
    for mode, m in c["by_mode"].items():
        for name, examples in m["examples"].items():
            text += f"\n{mode}, {name}:\n" + "".join(f"- {e}\n" for e in examples[:3])
    return text


def _corrupt_md(c: dict[str, Any]) -> str:
    rows = [
        [
            case["case"],
            case["quick_check"][:40].replace("\n", " "),
            case["open_error"] or "opened",
            ", ".join(case["writes_taken_while_damaged"]) or "–",
            len(case["raw"]),
            case["check_exit"],
        ]
        for case in c["by_case"]
    ]
    return "## Damaged files\n\n" + report.markdown_table(
        ["damage", "quick_check", "open", "writes taken", "raw exceptions", "check exit"], rows
    )


def _model_md(m: dict[str, Any]) -> str:
    text = "## Damaged model\n\n"
    for name, case in m["cases"].items():
        text += f"{name}:\n" + ("".join(f"- {w}\n" for w in case["wrong"]) or "- as promised\n")
    return text


def _isolation_md(i: dict[str, Any]) -> str:
    a = i["availability"]
    rows = [[label, status] for label, status in a["poison_answers"].items()]
    text = "## Tenant isolation\n\nAttempts by route: " + ", ".join(
        f"{k} {v}" for k, v in i["by_route"].items()
    )
    text += "\n\nA's hostile inputs:\n\n" + report.markdown_table(["input", "status"], rows)
    for label, examples in (("B's calls after them", a["examples"]["b_broken"]),):
        text += f"\n{label}:\n" + "".join(f"- {e}\n" for e in examples)
    return text


# -------------------------------------------------------------------- command


def _split(text: str, allowed: tuple[str, ...], option: str) -> tuple[str, ...]:
    chosen = tuple(p.strip() for p in text.split(",") if p.strip())
    unknown = [p for p in chosen if p not in allowed]
    if unknown or not chosen:
        raise typer.BadParameter(f"{option} takes {', '.join(allowed)} (comma-separated)")
    return chosen


def reliability_command(
    kills: Annotated[
        int, typer.Option(min=1, help="SIGKILLs in the crash loop, spread over the modes.")
    ] = 30,
    seconds: Annotated[
        float, typer.Option(min=1, help="No new crash round after this many seconds.")
    ] = 600.0,
    seed: Annotated[int, typer.Option(help="Seed of every random choice.")] = 0,
    out: Annotated[Path, typer.Option(help="Folder for results.json and results.md.")] = Path(
        "bench-results/reliability"
    ),
    only: Annotated[str, typer.Option(help="Sections: crash,isolation,residue,faults.")] = (
        ",".join(SECTIONS)
    ),
    modes: Annotated[str, typer.Option(help="Crash-loop modes: library,library-bg,server.")] = (
        ",".join(MODES)
    ),
    keep_db: Annotated[
        bool, typer.Option("--keep-db", help="Keep the stores and ledgers under OUT/db.")
    ] = False,
) -> None:
    """Crash loop (SIGKILLs against a ledger), tenant isolation matrix, purge residue
    and faults (disk full, read-only, damaged files and model); every figure held to
    issue 10's contract. Exits 1 if any check fails."""
    config = ReliabilityConfig(
        kills=kills,
        seconds=seconds,
        seed=seed,
        out=out,
        keep=keep_db,
        only=_split(only, SECTIONS, "--only"),
        modes=_split(modes, MODES, "--modes"),
    )
    results = run_reliability(config, log=lambda m: _err.print(m, markup=False))
    _out.print(summary_table(results))
    _out.print(f"results: {out / 'results.json'}, {out / 'results.md'}", markup=False)
    if any(r["ok"] is False for r in results["contract"]):
        raise typer.Exit(1)


def summary_table(results: dict[str, Any]) -> Table:
    table = Table(title="memstrata bench reliability")
    for column in ("section", "check", "observed", "met"):
        table.add_column(column, overflow="fold")
    for r in results["contract"]:
        met = {True: "yes", False: "NO", None: "–"}[r["ok"]]
        table.add_row(r["section"], r["check"], str(r["observed"]), met)
    return table
