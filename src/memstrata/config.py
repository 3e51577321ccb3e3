"""Settings, built once at the edge (arguments > environment > defaults)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import platformdirs

from memstrata.errors import ConfigError, InvalidInput


def usable_cpus() -> int:
    """The CPUs this process may run on, which in containers can be fewer than
    os.cpu_count()."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


ENV_DB = "MEMSTRATA_DB"
ENV_EMBEDDER = "MEMSTRATA_EMBEDDER"
DEFAULT_MAX_TEXT_BYTES = 1_000_000


def default_db_path(environ: dict[str, str] | None = None) -> Path:
    """`$MEMSTRATA_DB`, else `memory.db` in the user's data directory."""
    env = os.environ if environ is None else environ
    if env.get(ENV_DB):
        return Path(env[ENV_DB]).expanduser()
    return Path(platformdirs.user_data_dir("memstrata", appauthor=False)) / "memory.db"


def default_embedder_spec(environ: dict[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    return env.get(ENV_EMBEDDER) or "minilm"


@dataclass(frozen=True)
class Settings:
    """Every policy of the engine, each one a switch that `memstrata bench --set`
    can flip, so that what a mechanism adds can be measured by turning it off.

    Write path (formation):
      `facts`: split turns into statements, first person resolved to the speaker,
      relative times resolved into dates, entities found (L3).
      `episodes`: topic segments of each session with an extractive summary and a
      centroid (L2); off by default: no search or context used them to any measured
      gain (LoCoMo and BEAM dev), and they cost ~4% of ingest and of the file.
      `profiles`: per-entity profiles of salient facts (L4).
      `topics`: online k-means topic clusters over event vectors (L4).
      `novelty`: each new event's novelty, a salience prior.
    Read path (the "layered" strategy):
      `text_weight`: share of full text (BM25) against vectors in the score.
      `fact_weight`: share of an event's best statement against its whole text in
      the vector score. `name_boost`: added when the event's speaker or entities are
      named in the query. `neighbour_weight`: share of an event's score passed to
      the turns just before and after it in its session (a question and its answer).
      `window_weight`, `window_text`: a turn is also read with the turn before it,
      and a user's turn with the assistant's reply to it (its windows); a window's
      vector is the turn's plus
      `window_weight` times its neighbour's, its full-text score the turn's plus
      `window_text` times its neighbour's (averaged), and a turn scores the better of
      its own and its windows' (0 turns windows off). `feedback_weight`: the best
      50 are scored again with the question moved toward its best 2 matches, and
      this share of that (scaled) cosine is added (pseudo-relevance feedback).
      `episode_boost`, `topic_boost`: added to events in the best-matching episodes
      and topics (coarse to fine). `time_boost`: added when an event's time falls
      in the query's time range. `when_boost`: added, for a "when" question, to
      evidence that carries a resolved date. `salience_weight`: the strength of the salience prior.
      `prefer_present`: for a question about the present, the best-matching turns
      that state a value of the person asked about (those whose cosine to the
      question is at least 1 - `rival_margin` times the best's) are ordered newest first
      (`retrieve.present`).
    `supersede` (write path): a newer fact about the same subject and attribute with
      another value supersedes the older one (`form.supersede`); the two statements'
      cosine must be at least `supersede_similarity`.
    `dedup` (write path): a fact that repeats an earlier one of the same speaker (the
      same text once normalised, or a cosine of at least `dedup_similarity`) is not
      kept: the earlier fact gains its turn as evidence and a mention; and search
      returns a turn that repeats a better-ranked one once.
    `answer_facts` (write path): a short reply to another speaker's question also
      gives the fact "question + reply" (what "Galway, for now." answers).
    Context: `profile_share`: the share of the budget the stable profile prefix
    may take. `excerpt_sentences`: a turn of 160 characters or more shows only the
    sentences of its best this many matching statements, verbatim, "…" where text is
    left out (0 shows whole turns). `count_hits`: each search counts a hit on what
    it returns (a write per search; hits raise salience a little), off by default.
    `background_formation`: `add` returns once the turns are stored and embedded, and
    a worker thread forms facts, episodes and profiles after it (`flush()` waits for
    it); the server turns this on. Off, `add` returns with formation done.
    """

    max_text_bytes: int = DEFAULT_MAX_TEXT_BYTES
    embed_speaker: bool = True
    facts: bool = True
    episodes: bool = False
    profiles: bool = True
    topics: bool = True
    novelty: bool = True
    text_weight: float = 0.5
    fact_weight: float = 0.3
    name_boost: float = 0.3
    neighbour_weight: float = 0.1
    window_weight: float = 0.5
    window_text: float = 0.5
    feedback_weight: float = 0.3
    episode_boost: float = 0.0
    topic_boost: float = 0.0
    time_boost: float = 0.1
    when_boost: float = 0.05
    salience_weight: float = 0.1
    answer_facts: bool = True
    unnamed_query: bool = True
    supersede: bool = True
    dedup: bool = True
    dedup_similarity: float = 0.97
    supersede_similarity: float = 0.65
    prefer_present: bool = True
    rival_margin: float = 0.4
    profile_share: float = 0.15
    excerpt_sentences: int = 1
    count_hits: bool = False
    background_formation: bool = False

    @classmethod
    def build(
        cls, settings: Settings | Mapping[str, Any] | None = None, **overrides: Any
    ) -> Settings:
        """Settings from a `Settings`, a mapping and keyword overrides (later wins);
        ConfigError naming the key for an unknown name or a value of the wrong type."""
        base = settings if isinstance(settings, Settings) else cls()
        values = dict(settings) if isinstance(settings, Mapping) else {}
        if settings is not None and not isinstance(settings, (Settings, Mapping)):
            raise ConfigError(
                f"settings must be a Settings or a dict, got {type(settings).__name__}"
            )
        values.update(overrides)
        known = {f.name: f for f in fields(cls)}
        for key, value in values.items():
            if key not in known:
                raise ConfigError(
                    f"unknown setting {key!r}; known settings: {', '.join(sorted(known))}"
                )
            default = getattr(cls, key)
            ok = isinstance(value, type(default)) and (
                isinstance(value, bool) == isinstance(default, bool)
            )
            if (
                isinstance(default, float)
                and isinstance(value, int)
                and not isinstance(value, bool)
            ):
                value = values[key] = float(value)
                ok = True
            if not ok:
                raise ConfigError(
                    f"setting {key!r} expects {type(default).__name__} (default {default!r}), "
                    f"got {value!r}"
                )
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
                raise ConfigError(f"setting {key!r} must not be negative, got {value!r}")
        if "max_text_bytes" in values and values["max_text_bytes"] < 1:
            raise ConfigError("setting 'max_text_bytes' must be at least 1")
        return replace(base, **values)

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def parse_assignments(items: Sequence[str]) -> dict[str, Any]:
    """`key=value` items (`--set`) as a dict, values as JSON when they parse (true, 3,
    0.5, "x"), else as text. InvalidInput for an item without "=" or a key given twice."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InvalidInput(f"--set expects key=value, got {item!r}")
        if key in out:
            raise InvalidInput(f"--set {key} given twice")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out
