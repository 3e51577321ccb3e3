"""What a result was measured on: the machine, the packages, the load, the commit."""

from __future__ import annotations

import os
import platform
import sqlite3
import subprocess
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from memstrata.bench.report import fmt_bytes
from memstrata.config import usable_cpus

DEFAULT_PACKAGES = ("memstrata", "numpy", "onnxruntime", "tokenizers", "matplotlib")


def cpu_model() -> str:
    """The CPU's model name, as well as the platform tells it."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def package_versions(names: Iterable[str]) -> dict[str, str | None]:
    """Installed distribution versions (None for a package that is not installed)."""
    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def machine_info(packages: Iterable[str] = DEFAULT_PACKAGES) -> dict[str, Any]:
    """CPU model, core counts, memory, OS, Python, SQLite and package versions."""
    logical = os.cpu_count() or 0
    physical: int | None = None
    total_memory: int | None = None
    try:
        import psutil

        physical = psutil.cpu_count(logical=False)
        total_memory = int(psutil.virtual_memory().total)
    except ImportError:
        pass
    return {
        "cpu_model": cpu_model(),
        "cores_logical": logical,
        "cores_physical": physical,
        "cores_usable": usable_cpus(),
        "memory_bytes": total_memory,
        "os": platform.platform(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "sqlite": sqlite3.sqlite_version,
        "load_average": load_average(),
        "packages": package_versions(packages),
    }


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages (None where the OS has none): other work
    on the machine during a run shows up here and in the latency tails."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def source_revision(anchor: str | os.PathLike[str] | None = None) -> str | None:
    """The git commit the code under `anchor` (default: this package) was run from,
    or None outside a git checkout. Read-only: runs `git rev-parse HEAD`."""
    folder = Path(anchor) if anchor is not None else Path(__file__).resolve().parent
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True,
            timeout=5, check=False,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.strip() or None


def utc_now() -> str:
    """The current time, ISO 8601 UTC, to the second."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def machine_markdown(machine: Mapping[str, Any]) -> str:
    """A short Markdown description of a `machine_info()` dict."""
    packages = ", ".join(f"{k} {v}" for k, v in machine.get("packages", {}).items() if v)
    memory = machine.get("memory_bytes")
    return (
        f"- CPU: {machine.get('cpu_model')} ({machine.get('cores_usable')} usable cores, "
        f"{machine.get('cores_logical')} logical)\n"
        f"- Memory: {fmt_bytes(memory) if memory else 'unknown'}\n"
        f"- OS: {machine.get('os')}\n"
        f"- Python {machine.get('python')}, SQLite {machine.get('sqlite')}\n"
        f"- Load average (1/5/15 min) when described: {machine.get('load_average')}\n"
        f"- Packages: {packages}\n"
    )
