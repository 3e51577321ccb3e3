"""Crash loop: SIGKILL a writer at random moments, then hold the store to its ledger.

Each round starts a workload child (workload.py) on a store that earlier rounds
left, kills it, and runs the verifier (verify.py) in a fresh process. Modes:

- `library`: `Memory(path)` in the child, formation inline;
- `library-bg`: the same with background formation (a backlog to resume);
- `server`: a `memstrata serve` child with an API key, and the workload child
  acting over HTTP; the server is what gets killed.

A round kills at a random moment, or (`break_share` of library rounds) at the start
of a chosen write transaction inside a delete, purge or update of a turn with
derived records, or between an add's turns and their formation: the child stops
itself there (`--break-after`) and the parent kills it. Server rounds kill a few
milliseconds after a delete, purge or update was sent, or at a random moment.

Problems are counted once each however many rounds see them (see verify.py).
"""

from __future__ import annotations

import json
import random
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from memstrata.bench.reliability import procs
from memstrata.bench.reliability.procs import Proc
from memstrata.bench.reliability.verify import PROBLEMS

MODES = ("library", "library-bg", "server")
NAMESPACE_SERVER = "crash"
_READY_S = 120.0
_VERIFY_S = 300.0
_EXAMPLES = 5

Log = Callable[[str], None]


@dataclass
class CrashConfig:
    kills: int = 30
    seconds: float = 600.0
    seed: int = 0
    modes: tuple[str, ...] = MODES
    break_share: float = 0.5  # of library rounds: kill inside a chosen transaction
    round_seconds: float = 2.0  # longest a child runs before a random kill
    work: Path = Path("crash")


@dataclass
class _ModeState:
    folder: Path
    rounds: int = 0
    plans: Counter[str] = field(default_factory=Counter)
    problems: dict[str, dict[str, str]] = field(
        default_factory=lambda: {name: {} for name in PROBLEMS}
    )
    integrity_rounds: int = 0
    pending_rounds: int = 0
    owed_rounds: int = 0
    workload_errors: list[str] = field(default_factory=list)
    last: dict[str, Any] = field(default_factory=dict)
    key: str | None = None

    @property
    def db(self) -> Path:
        return self.folder / "store.db"

    @property
    def ledger(self) -> Path:
        return self.folder / "ledger.jsonl"


def run_crash(config: CrashConfig, log: Log = lambda m: None) -> dict[str, Any]:
    """Run the rounds; the figures as a JSON-ready dict."""
    rng = random.Random(f"memstrata-crash-{config.seed}")
    states = {m: _ModeState(procs.folder(config.work / m)) for m in config.modes}
    started = time.monotonic()
    for number in range(config.kills):
        if time.monotonic() - started > config.seconds:
            log(f"crash: stopped after {number} kills ({config.seconds:.0f} s)")
            break
        mode = config.modes[number % len(config.modes)]
        state = states[mode]
        seed = rng.randrange(2**31)
        if mode == "server":
            plan = _server_round(state, rng, seed, config)
        else:
            plan = _library_round(state, rng, seed, config, background=mode == "library-bg")
        state.rounds += 1
        state.plans[plan] += 1
        namespace = NAMESPACE_SERVER if mode == "server" else "default"
        verdict = _verify(state, background=mode != "library", namespace=namespace)
        _absorb(state, verdict)
        counts = {k: len(v) for k, v in state.problems.items() if v}
        log(f"crash: kill {number + 1}/{config.kills} ({mode}, {plan}): problems so far {counts}")
    return _summary(states, time.monotonic() - started, config)


def _library_round(
    state: _ModeState, rng: random.Random, seed: int, config: CrashConfig, *, background: bool
) -> str:
    plan = "break" if rng.random() < config.break_share else "random"
    args = ["--db", str(state.db), "--ledger", str(state.ledger), "--seed", str(seed)]
    if background:
        args.append("--background")
    if plan == "break":
        args += ["--break-after", str(rng.randint(0, 12))]
    child = Proc(procs.module_args("memstrata.bench.reliability.workload", *args))
    try:
        if child.wait_for(lambda line: line == "READY", _READY_S) is None:
            state.workload_errors.append(procs.tail(child.stderr))
            return "failed-start"
        if plan == "break":
            hit = child.wait_for(
                lambda line: line.startswith("BREAK"), max(10.0, config.round_seconds * 5)
            )
            # "break:delete@3": killed as the delete's third write transaction began.
            plan = "break:{}@{}".format(*hit.split()[1:3]) if hit else "break-missed"
        else:
            time.sleep(rng.uniform(0.02, config.round_seconds))
        if not child.alive():  # it ended before the kill: an operation raised
            state.workload_errors.append(procs.tail(child.stderr))
    finally:
        child.kill()
    return plan


def _server_round(state: _ModeState, rng: random.Random, seed: int, config: CrashConfig) -> str:
    if state.key is None:
        from memstrata.server.keys import create_key

        state.key = create_key(state.db, NAMESPACE_SERVER, label="crash loop")[1]
    port = procs.free_port()
    url = f"http://127.0.0.1:{port}"
    server = Proc(procs.cli_args("serve", "--db", str(state.db), "--embedder", "hash",
                                 "--port", str(port)))  # fmt: skip
    client: Proc | None = None
    plan = "after-op" if rng.random() < 0.6 else "random"
    try:
        procs.wait_http_ready(f"{url}/healthz", server, _READY_S)
        client = Proc(procs.module_args(
            "memstrata.bench.reliability.workload", "--db", str(state.db), "--ledger",
            str(state.ledger), "--seed", str(seed), "--url", url, "--key", state.key,
        ))  # fmt: skip
        if client.wait_for(lambda line: line == "READY", _READY_S) is None:
            state.workload_errors.append(procs.tail(client.stderr))
            return "failed-start"
        if plan == "after-op":
            skip = rng.randint(0, 8)

            def cascade(line: str) -> bool:  # the skip-th delete, purge or update sent
                nonlocal skip
                words = line.split()
                if words[:1] == ["OP"] and words[2] in ("delete", "purge", "update"):
                    skip -= 1
                return skip < 0

            if client.wait_for(cascade, max(10.0, config.round_seconds * 5)) is None:
                plan = "after-op-missed"
            time.sleep(rng.uniform(0.0, 0.03))
        else:
            time.sleep(rng.uniform(0.05, config.round_seconds))
        if not client.alive():
            state.workload_errors.append(procs.tail(client.stderr))
    except Exception as exc:
        state.workload_errors.append(f"{type(exc).__name__}: {exc}")
        plan = "failed-start"
    finally:
        server.kill()
        if client is not None:
            client.kill()
    return plan


def _verify(state: _ModeState, *, background: bool, namespace: str) -> dict[str, Any]:
    args = ["--db", str(state.db), "--ledger", str(state.ledger), "--namespace", namespace]
    if background:
        args.append("--background")
    done = subprocess.run(
        procs.module_args("memstrata.bench.reliability.verify", *args),
        capture_output=True,
        text=True,
        timeout=_VERIFY_S,
        check=False,
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        return {"problems": {"raw": {"verifier": procs.tail(done.stderr)}}}
    return json.loads(lines[-1])  # type: ignore[no-any-return]


def _absorb(state: _ModeState, verdict: dict[str, Any]) -> None:
    problems = verdict.get("problems", {})
    for name, found in problems.items():
        state.problems.setdefault(name, {}).update(
            {k: v for k, v in found.items() if k not in state.problems[name]}
        )
    state.integrity_rounds += bool(problems.get("integrity"))
    state.pending_rounds += bool(problems.get("pending"))
    state.owed_rounds += int(verdict.get("owed_at_open", 0) or 0) > 0
    state.last = verdict


def _summary(states: dict[str, _ModeState], elapsed: float, config: CrashConfig) -> dict[str, Any]:
    by_mode = {}
    totals: Counter[str] = Counter()
    acked: Counter[str] = Counter()
    for mode, s in states.items():
        acked_mode = Counter(s.last.get("acked", {}))
        acked.update(acked_mode)
        counts = {name: len(s.problems.get(name, {})) for name in PROBLEMS}
        totals.update(counts)
        by_mode[mode] = {
            "kills": s.rounds,
            "plans": dict(s.plans),
            "acked": dict(acked_mode),
            "sent": s.last.get("sent", {}),
            "records": s.last.get("records"),
            "problems": counts,
            "integrity_failed_rounds": s.integrity_rounds,
            "pending_after_flush_rounds": s.pending_rounds,
            "rounds_with_formation_owed_at_kill": s.owed_rounds,
            "workload_errors": len(s.workload_errors),
            "examples": {
                name: list(found.values())[:_EXAMPLES]
                for name, found in s.problems.items()
                if found
            }
            | ({"workload_errors": s.workload_errors[:_EXAMPLES]} if s.workload_errors else {}),
        }
    kills = sum(s.rounds for s in states.values())
    return {
        "kills": kills,
        "seconds": round(elapsed, 1),
        "acked": dict(acked),
        "lost_acked_writes": totals["lost"],
        "torn_adds": totals["torn_adds"],
        "half_applied_cascades": totals["cascades"],
        "turns_left_unformed": totals["unformed"],
        "cascades_left_after_retry": totals["retry_left"],
        "integrity_failures": sum(s.integrity_rounds for s in states.values()),
        "pending_after_flush": sum(s.pending_rounds for s in states.values()),
        "raw_exceptions": totals["raw"],
        "workload_errors": sum(len(s.workload_errors) for s in states.values()),
        "by_mode": by_mode,
        "config": {
            "kills": config.kills,
            "seconds": config.seconds,
            "seed": config.seed,
            "modes": list(config.modes),
            "break_share": config.break_share,
            "round_seconds": config.round_seconds,
        },
    }
