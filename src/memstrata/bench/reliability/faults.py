"""Faults of the machine under a store: disk full, read-only media, a damaged model
(damaged store files are in corrupt.py). Each reports what the caller saw.

- Disk full, two ways: a child process whose file-size limit (RLIMIT_FSIZE, with
  SIGXFSZ ignored) is set just above the store's size, and, where this machine
  lets us mount one (root), a small tmpfs filled with a ballast file. The child
  adds until a write fails, tries another write and a read, then gets its space
  back (the limit raised, the ballast removed) and writes again. A fresh process
  then checks that every acked add is there and the file is intact.
- Read-only media: a read-only bind mount of the store's folder (chmod does not
  stop root). A cleanly closed store and one left with a -wal to recover are
  opened there and every verb is run; then the store is opened writable again.
  Skipped, and said so, where mounting is not allowed.
- Damaged model: a copy of the packaged model folder with model.onnx changed
  (bytes flipped, truncated, missing), used as `MiniLMEmbedder(model_dir=...)`.
  The contract: `add` still stores (vectorless records counted in
  `pending_vectors`, `counters["embedding_failures"]` > 0), search returns
  full-text hits and warns (a UserWarning; over HTTP a `warnings` list), and
  `reindex()` with the good model embeds them later.

Run the disk-full child as `python -m memstrata.bench.reliability.faults diskfull ...`.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from memstrata.bench.reliability import battery, procs
from memstrata.bench.reliability.corrupt import build_crashed_store, build_store

_BIG = "a long note about the weather and the rose garden, written to fill the disk. " * 12


# ------------------------------------------------------------------ disk full


def diskfull_child(db: Path, *, extra: int | None, ballast: Path | None) -> dict[str, Any]:
    """In this process: fill the disk under an open store, then give space back."""
    from memstrata.memory import Memory

    memory = Memory(db, embedder="hash")
    acked: list[str] = []
    limits = resource.getrlimit(resource.RLIMIT_FSIZE)
    if extra is not None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails instead
        size = max(Path(f"{db}{s}").stat().st_size for s in ("", "-wal")
                   if Path(f"{db}{s}").exists())  # fmt: skip
        resource.setrlimit(resource.RLIMIT_FSIZE, (size + extra, limits[1]))

    def add() -> Any:
        records = memory.add([_BIG] * 2, user_id="u1", session_id="s-full")
        acked.extend(r.id for r in records)
        return records

    first: dict[str, Any] = {"ok": True}
    for _ in range(5000):
        _, first = battery.attempt(add)
        if not first["ok"]:
            break
    before_full = len(acked)
    _, again = battery.attempt(add)
    _, read = battery.attempt(lambda: memory.search("rose garden", strategy="bm25"))
    if extra is not None:
        resource.setrlimit(resource.RLIMIT_FSIZE, limits)
    if ballast is not None:
        ballast.unlink()
    _, after = battery.attempt(add)
    _, closed = battery.attempt(memory.close)
    return {"acked": acked, "acked_before_full": before_full, "first_failure": first,
            "second_write": again, "read": read, "write_after_space_back": after,
            "close": closed}  # fmt: skip


def run_diskfull(folder: Path, *, how: str) -> dict[str, Any]:
    """One disk-full run ("rlimit" or "tmpfs"); what the caller saw, and whether
    anything acked was lost."""
    folder.mkdir(parents=True, exist_ok=True)
    if how == "tmpfs":
        with _mounted_tmpfs(folder / "tmpfs", "4m") as mount:
            if mount is None:
                return {"skipped": "cannot mount a tmpfs here (needs root)"}
            db = mount / "store.db"
            build_store(db, turns=40)
            ballast = mount / "ballast"
            _fill(ballast, keep=640 * 1024)
            result = _run_child(db, ["--ballast", str(ballast)])
            return {**result, **_after(db, result)}
    db = folder / "rlimit" / "store.db"
    db.parent.mkdir(parents=True, exist_ok=True)
    for old in db.parent.glob("store.db*"):
        old.unlink()
    build_store(db, turns=40)
    result = _run_child(db, ["--extra", str(1024 * 1024)])
    return {**result, **_after(db, result)}


def _run_child(db: Path, args: list[str]) -> dict[str, Any]:
    done = subprocess.run(
        procs.module_args("memstrata.bench.reliability.faults", "diskfull", "--db", str(db), *args),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        return {"child_failed": procs.tail(done.stderr), "acked": []}
    return json.loads(lines[-1])  # type: ignore[no-any-return]


def _after(db: Path, result: dict[str, Any]) -> dict[str, Any]:
    """A fresh open of the store after the run: acked adds present, file intact."""
    from memstrata.memory import Memory

    def present() -> int:
        with Memory(db, embedder="hash") as memory:
            found = memory.store.get_many(result["acked"], memory.store_scope())
            return len(found)

    count, opened = battery.attempt(present)
    return {
        "acked_count": len(result["acked"]),
        "acked_lost": None if count is None else len(result["acked"]) - count,
        "reopen": opened,
        "integrity": battery.pragma_check(db, "integrity_check"),
    }


def _fill(path: Path, *, keep: int) -> None:
    """Write `path` until the filesystem has only `keep` bytes free."""
    stats = os.statvfs(path.parent)
    free = stats.f_bavail * stats.f_frsize
    with open(path, "wb") as handle:
        handle.write(b"\0" * max(0, free - keep))


@contextmanager
def _mounted_tmpfs(where: Path, size: str) -> Iterator[Path | None]:
    where.mkdir(parents=True, exist_ok=True)
    if not _mount(["-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)]):
        yield None
        return
    try:
        yield where
    finally:
        _umount(where)


# -------------------------------------------------------------- read-only media


def _mount(args: list[str]) -> bool:
    if shutil.which("mount") is None or os.geteuid() != 0:
        return False
    done = subprocess.run(["mount", *args], capture_output=True, text=True, check=False)
    return done.returncode == 0


def _umount(where: Path) -> None:
    done = subprocess.run(["umount", str(where)], capture_output=True, check=False)
    if done.returncode != 0:  # something still holds it: detach it now, free it later
        subprocess.run(["umount", "-l", str(where)], capture_output=True, check=False)


@contextmanager
def read_only_view(folder: Path, view: Path) -> Iterator[Path | None]:
    """`folder` seen read-only at `view` (a read-only bind mount), or None where
    this machine does not allow mounting."""
    view.mkdir(parents=True, exist_ok=True)
    if not _mount(["--bind", str(folder), str(view)]):
        yield None
        return
    try:
        if not _mount(["-o", "remount,ro,bind", str(view)]):
            yield None
            return
        yield view
    finally:
        _umount(view)


def run_readonly(folder: Path) -> dict[str, Any]:
    cases: dict[str, Any] = {}
    for name, build in (("closed store", _closed), ("store with a -wal to recover", _crashed)):
        source = folder / name.replace(" ", "-")
        if source.exists():
            shutil.rmtree(source)
        source.mkdir(parents=True)
        db = source / "store.db"
        record_id, turns = build(db)
        with read_only_view(source, folder / "ro-view") as view:
            if view is None:
                return {"skipped": "cannot mount read-only here (needs root and mount)"}
            result = battery.open_and_exercise(view / db.name, record_id)
        again = battery.open_and_exercise(db, record_id)
        cases[name] = {
            "open": result["open"],
            "verbs": {k: v["error"] or "ok" for k, v in result["verbs"].items()},
            "messages": {k: v["message"] for k, v in result["verbs"].items() if v["message"]},
            "raw": battery.raw_errors(result),
            "writes_taken": battery.writes_taken(result),
            "writable_again": again["open"]["ok"]
            and not battery.raw_errors(again)
            and again["verbs"]["add"]["ok"],
            "turns_before": turns,
            "turns_after": battery.sql_value(
                db, "SELECT count(*) FROM records WHERE kind = 'event' AND status = 'active'"
            ),
        }
    return {"cases": cases}


def _closed(db: Path) -> tuple[str, int]:
    return build_store(db, turns=40), 40


def _crashed(db: Path) -> tuple[str, int]:
    return build_crashed_store(db, adds=20)


# --------------------------------------------------------------- damaged model


def _flip_middle(data: bytes) -> bytes:
    mid = len(data) // 2
    return data[:mid] + bytes(b ^ 0x5A for b in data[mid : mid + 256]) + data[mid + 256 :]


MODEL_DAMAGE: dict[str, Any] = {
    "model.onnx bytes flipped": _flip_middle,
    "model.onnx truncated": lambda d: d[: len(d) // 2],
    "model.onnx missing": None,
}


def damaged_model(folder: Path, damage: Any) -> Path:
    """A copy of the packaged model folder with model.onnx damaged."""
    from memstrata.embed.onnx import DEFAULT_MODEL_DIR

    if folder.exists():
        shutil.rmtree(folder)
    shutil.copytree(DEFAULT_MODEL_DIR, folder)
    model = folder / "model.onnx"
    if damage is None:
        model.unlink()
    else:
        model.write_bytes(damage(model.read_bytes()))
    return folder


def run_model_case(folder: Path, damage: Any) -> dict[str, Any]:
    """A store used with a damaged model, in Python and over HTTP, then reindexed
    with the good one."""
    from memstrata.embed.onnx import MiniLMEmbedder
    from memstrata.memory import Memory
    from memstrata.server.keys import create_key

    model = damaged_model(folder / "model", damage)
    db = folder / "store.db"
    for old in folder.glob("store.db*"):
        old.unlink()
    texts = ["Marta planted roses in the garden", "the tulip bed needs water on Friday"]
    out: dict[str, Any] = {}
    memory, out["open"] = battery.attempt(lambda: Memory(db, embedder=MiniLMEmbedder(model)))
    if memory is None:
        return out
    try:
        added, out["add"] = battery.attempt(lambda: memory.add(texts, user_id="u1"))
        out["add"]["records"] = len(added or [])
        stats, _ = battery.attempt(lambda: memory.stats())
        out["pending_vectors"] = (stats or {}).get("pending_vectors")
        out["embedding_failures"] = (stats or {}).get("counters", {}).get("embedding_failures", 0)
        hits, out["search"] = battery.attempt(lambda: memory.search("roses garden", user_id="u1"))
        out["search"]["hits"] = len(hits or [])
        out["search"]["warned"] = bool(out["search"]["warnings"])
        key = create_key(memory.store, "default")[1]
        _, out["http_start"] = battery.attempt(lambda: _http_model_case(db, memory, key, out))
    except Exception as exc:  # the model case itself failed: say how
        out["error"] = battery.outcome(exc)
    finally:
        battery.attempt(memory.close)
    good, out["reopen_good_model"] = battery.attempt(lambda: Memory(db))
    if good is not None:
        try:
            out["reindexed"], out["reindex"] = battery.attempt(good.reindex)
            stats, _ = battery.attempt(lambda: good.stats())
            out["pending_after_reindex"] = (stats or {}).get("pending_vectors")
            hits, _ = battery.attempt(lambda: good.search("roses garden", strategy="dense"))
            out["dense_after_reindex"] = len(hits or [])
        finally:
            battery.attempt(good.close)
    return out


def _http_model_case(db: Path, memory: Any, key: str, out: dict[str, Any]) -> None:
    """The same over HTTP: a server on the open store (its start loads the model)."""
    import httpx

    from memstrata.bench.serve.server import start_server

    with start_server(db, "minilm", "127.0.0.1", "thread", memory=memory) as server:
        auth = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=server.url, headers=auth, timeout=120) as http:
            answer = http.post("/v1/add", json={"messages": ["Jonas fixed the fence"]})
            out["http_add"] = {"status": answer.status_code, "body": answer.text[:200]}
            answer = http.post("/v1/search", json={"query": "fence"})
            json_body = answer.headers.get("content-type", "").startswith("application/json")
            body = answer.json() if json_body else {}
            out["http_search"] = {
                "status": answer.status_code,
                "hits": len(body.get("hits", [])),
                "warnings": body.get("warnings"),
                "body": answer.text[:200],
            }


def model_contract(case: dict[str, Any], stored: int) -> list[str]:
    """What a damaged-model case got wrong against the contract."""
    wrong = []
    add = case.get("add", {})
    if not add.get("ok") or add.get("records") != stored:
        wrong.append(f"add did not store: {add.get('error')}: {add.get('message', '')[:100]}")
    if (case.get("pending_vectors") or 0) < stored:
        wrong.append(f"pending_vectors {case.get('pending_vectors')} < {stored}")
    if not case.get("embedding_failures"):
        wrong.append("counters['embedding_failures'] not counted")
    search = case.get("search", {})
    if not search.get("ok") or not search.get("hits") or not search.get("warned"):
        wrong.append(f"search: {search.get('error') or ''} hits {search.get('hits')}, "
                     f"warned {search.get('warned')}")  # fmt: skip
    start = case.get("http_start") or {}
    if not start.get("ok"):
        reason = " ".join(start.get("message", "").split())[:100]
        wrong.append(f"the server did not start: {reason}")
    if case.get("http_add", {}).get("status") != 200:
        wrong.append(f"HTTP add answered {case.get('http_add', {}).get('status')}")
    http_search = case.get("http_search", {})
    if http_search.get("status") != 200 or not http_search.get("warnings"):
        wrong.append(f"HTTP search answered {http_search.get('status')} with warnings "
                     f"{http_search.get('warnings')}")  # fmt: skip
    if case.get("pending_after_reindex") != 0:
        wrong.append(f"after reindex with the good model, pending_vectors "
                     f"{case.get('pending_after_reindex')}")  # fmt: skip
    return wrong


def run_model(folder: Path, log: Any = lambda m: None) -> dict[str, Any]:
    cases = {}
    for name, damage in MODEL_DAMAGE.items():
        case = run_model_case(folder / name.replace(" ", "-").replace(".", "-"), damage)
        case["wrong"] = model_contract(case, stored=2)
        cases[name] = case
        log(f"faults: {name}: {len(case['wrong'])} contract failures")
    return {"cases": cases, "failing_cases": sum(1 for c in cases.values() if c["wrong"])}


# ------------------------------------------------------------------------ run


def run_faults(work: Path, seed: int = 0, log: Any = lambda m: None) -> dict[str, Any]:
    from memstrata.bench.reliability.corrupt import run_corrupt

    out: dict[str, Any] = {}
    for how in ("rlimit", "tmpfs"):
        out[f"disk_full_{how}"] = run_diskfull(work / "diskfull", how=how)
        log(f"faults: disk full ({how}): {_brief(out[f'disk_full_{how}'])}")
    out["read_only"] = run_readonly(work / "readonly")
    log(f"faults: read-only: {out['read_only'].get('skipped') or 'done'}")
    out["corrupt"] = run_corrupt(work / "corrupt", seed, log)
    out["model"] = run_model(work / "model", log)
    return out


def _brief(result: dict[str, Any]) -> str:
    if "skipped" in result:
        return f"skipped ({result['skipped']})"
    first = result.get("first_failure", {})
    return (f"{result.get('acked_count')} turns acked, then {first.get('error')}: "
            f"{first.get('message', '')[:80]}; lost {result.get('acked_lost')}")  # fmt: skip


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="memstrata.bench.reliability.faults")
    parser.add_argument("mode", choices=["diskfull"])
    parser.add_argument("--db", required=True, type=Path)
    parser.add_argument("--extra", type=int, help="bytes the files may grow (RLIMIT_FSIZE)")
    parser.add_argument("--ballast", type=Path, help="file to delete when space comes back")
    args = parser.parse_args(argv)
    result = diskfull_child(args.db, extra=args.extra, ballast=args.ballast)
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
