"""What a retrieval benchmark's `--strategy` and `--set` may say, checked before
anything runs, and the engine's defaults the results record."""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any

from memstrata.config import Settings, parse_assignments
from memstrata.errors import InvalidInput
from memstrata.memory import Memory

STRATEGY_CHOICES: tuple[str, ...] = ("bm25", "dense", "hybrid", "layered", "default")


def parse_strategies(text: str) -> list[str]:
    """ "bm25,dense" -> ["bm25", "dense"]; InvalidInput naming the choices otherwise."""
    names = [s.strip() for s in text.split(",") if s.strip()]
    bad = [s for s in names if s not in STRATEGY_CHOICES]
    if bad or not names:
        raise InvalidInput(
            f"unknown strategy {', '.join(map(repr, bad)) or '(none given)'}; use one or more "
            f"of {', '.join(STRATEGY_CHOICES)}, comma-separated"
        )
    return list(dict.fromkeys(names))


def default_strategy() -> str:
    """The strategy `Memory.search` uses when none is given."""
    default = inspect.signature(Memory.search).parameters["strategy"].default
    return str(default)


def known_settings() -> dict[str, Any]:
    """Settings `--set` can change: every field of `memstrata.Settings`, with its
    default."""
    return Settings().as_dict()


def parse_settings(items: Sequence[str]) -> dict[str, Any]:
    """Parse `key=value` items (values as JSON when they parse: true, 3, 0.5, "x";
    else as text) and check them against `known_settings()`."""
    settings = parse_assignments(items)
    check_settings(settings)
    return settings


def check_settings(settings: Mapping[str, Any]) -> None:
    """ConfigError for a key `Settings` does not have, or a value of the wrong type."""
    Settings.build(settings)
