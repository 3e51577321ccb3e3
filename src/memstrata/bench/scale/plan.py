"""What a scale run does: its configuration, the strategies it times, the targets it
reports against, and the distinct query texts of each phase."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from memstrata.bench.gen import Query, Turn, generate_queries
from memstrata.embed import Embedder

STRATEGIES = ("layered", "hybrid", "dense", "bm25")
K = 10
# Candidates the flat strategies (dense, bm25, hybrid) ask each source for; the
# layered strategy asks the vector index for more (retrieve.layered.VECTOR_DEPTH).
DEPTH = 100
TARGETS = {"batch_add_turns_per_s": 150.0, "search_p50_ms": 15.0, "search_p50_at_n": 100_000}


@dataclass
class ScaleConfig:
    """What to run. `sizes` are the store sizes N; `out` receives the results."""

    sizes: list[int]
    embedder: str = "minilm"
    out: Path = Path("bench-results/scale")
    queries: int = 200
    seed: int = 0
    batch: int = 256
    warmup: int = 10
    single_adds: int = 100
    warm_adds: int | None = None  # turns added with the index loaded (None: N/20, 256-5000)
    keep_db: bool = False
    progress: bool = True
    plots: bool = True


@dataclass
class QuerySets:
    """Distinct query texts per phase, so that the engine's query-embedding cache
    never answers a timed query."""

    warmup: list[Query]
    by_strategy: dict[str, list[Query]]
    user_scoped: list[Query]


def make_query_sets(turns: Sequence[Turn], count: int, warmup: int, seed: int) -> QuerySets:
    """Warm-up queries plus `count` distinct queries for each strategy and for the
    user-scoped run."""
    phases = [*STRATEGIES, "user"]
    queries = generate_queries(turns, warmup + count * len(phases), seed)
    sets = [queries[warmup + i * count : warmup + (i + 1) * count] for i in range(len(phases))]
    return QuerySets(
        warmup=queries[:warmup],
        by_strategy=dict(zip(STRATEGIES, sets)),
        user_scoped=sets[-1],
    )


def config_dict(config: ScaleConfig, embedder: Embedder, load_s: float) -> dict[str, Any]:
    """The run's configuration as results.json records it."""
    data = asdict(config)
    data.update(
        out=str(config.out),
        sizes=sorted(set(config.sizes)),
        k=K,
        strategies=list(STRATEGIES),
        embedder_name=embedder.name,
        embedder_dim=embedder.dim,
        embedder_fingerprint=embedder.fingerprint,
        embedder_load_s=load_s,
        search_scope="namespace 'default' (all N records); layered_user_scoped: the target's user",
    )
    return data
