"""BEAM's ability figures, as pure functions of the ranked turns a search returned
and of a question's labelled evidence: nothing here touches a store, so every figure
can be checked by hand.

- knowledge_update: the rank of the original and of the updated message, and whether
  the updated one ranks above the original one;
- contradiction_resolution (and temporal_reasoning, whose evidence also comes in two
  parts): whether both statements are within the first k turns;
- event_ordering: Kendall's tau between the order in which search returns the
  evidence messages and the order in which they were said.

Ranks are 1-based positions among the first `DEPTH` distinct turns (the deepest k of
recall@k), so "not retrieved" means what it means for recall@20. A part of the
evidence (a statement, an update) that names several messages is found at the best
rank of any of them.

>>> update_ranks(["7", "3", "9"], original=["9"], updated=["3"])
{'rank_original': 3, 'rank_updated': 2, 'updated_above': True}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from statistics import median
from typing import Any

from memstrata.bench.metrics import KS, mean

DEPTH = max(KS)
PAIR_KS: tuple[int, ...] = (5, 10, 20)
TWO_PART_ABILITIES = ("contradiction_resolution", "temporal_reasoning")
UPDATE = ("original_info", "updated_info")


def first_rank(ranked: Sequence[str], ids: Sequence[str], depth: int = DEPTH) -> int | None:
    """The 1-based rank of the best-ranked of `ids` among the first `depth` ranked
    turns; None when none of them is there."""
    wanted = set(ids)
    for rank, unit in enumerate(ranked[:depth], start=1):
        if unit in wanted:
            return rank
    return None


def update_ranks(
    ranked: Sequence[str], original: Sequence[str], updated: Sequence[str], depth: int = DEPTH
) -> dict[str, Any]:
    """Where the original and the updated message rank, and whether the update ranks
    above the original (also when the original is not retrieved at all; never when
    the update is not retrieved, nor when both are one message)."""
    rank_original = first_rank(ranked, original, depth)
    rank_updated = first_rank(ranked, updated, depth)
    above = rank_updated is not None and (rank_original is None or rank_updated < rank_original)
    return {"rank_original": rank_original, "rank_updated": rank_updated, "updated_above": above}


def parts_within(
    ranked: Sequence[str], parts: Sequence[Sequence[str]], ks: Sequence[int] = PAIR_KS
) -> dict[str, bool]:
    """For each k (keys str(k)): whether every part has a message among the first k
    ranked turns."""
    ranks = [first_rank(ranked, part, max(ks)) for part in parts]
    return {str(k): bool(parts) and all(r is not None and r <= k for r in ranks) for k in ks}


def kendall_tau(retrieved: Sequence[str], true_order: Sequence[str]) -> float | None:
    """Kendall's tau between the order of `retrieved` and the order the same items
    have in `true_order` (items absent from `true_order` are ignored; no ties, as
    every item has one place in each). None when fewer than two items are shared."""
    place = {item: i for i, item in enumerate(true_order)}
    items = [i for i in dict.fromkeys(retrieved) if i in place]
    concordant, discordant = _pairs(items, place)
    total = concordant + discordant
    return (concordant - discordant) / total if total else None


def _pairs(items: Sequence[str], place: Mapping[str, int]) -> tuple[int, int]:
    concordant = discordant = 0
    for i, a in enumerate(items):
        for b in items[i + 1 :]:
            if place[a] < place[b]:
                concordant += 1
            else:
                discordant += 1
    return concordant, discordant


def ordering_scores(
    ranked: Sequence[str], true_order: Sequence[str], depth: int = DEPTH
) -> dict[str, Any]:
    """How well the first `depth` ranked turns give the evidence in the order it was
    said. `tau` counts only the evidence retrieved (None when fewer than two were);
    `concordant_share` is the share of all evidence pairs that were both retrieved
    and returned in the right order, so evidence not retrieved counts against it."""
    order = list(dict.fromkeys(true_order))
    place = {item: i for i, item in enumerate(order)}
    retrieved = [u for u in ranked[:depth] if u in place]
    concordant, _ = _pairs(retrieved, place)
    all_pairs = len(order) * (len(order) - 1) // 2
    return {
        "n_evidence": len(order),
        "retrieved": len(retrieved),
        "tau": kendall_tau(retrieved, order),
        "concordant_share": concordant / all_pairs if all_pairs else None,
    }


# ----------------------------------------------------------- from the rows


def _scored(rows: Sequence[Mapping[str, Any]], ability: str) -> list[Mapping[str, Any]]:
    return [r for r in rows if r["category"] == ability and not r["skip"]]


def _share(flags: Sequence[bool]) -> float | None:
    return mean([1.0 if f else 0.0 for f in flags])


def _median(values: Sequence[int | None]) -> float | None:
    found = [v for v in values if v is not None]
    return float(median(found)) if found else None


def _parts(row: Mapping[str, Any], names: Sequence[str] | None = None) -> list[list[str]] | None:
    parts = (row.get("extra") or {}).get("parts")
    if not isinstance(parts, Mapping) or not parts:
        return None
    keys = list(parts) if names is None else list(names)
    if any(not parts.get(k) for k in keys):
        return None
    return [list(parts[k]) for k in keys]


def knowledge_update_figures(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Per knowledge_update question with both original and updated messages: both
    ranks and whether the update ranks above; the share and the median ranks."""
    per, without = [], 0
    for row in _scored(rows, "knowledge_update"):
        parts = _parts(row, UPDATE)
        if parts is None:
            without += 1
            continue
        original, updated = parts
        per.append({"id": row["id"], **update_ranks(row["ranked_turns"], original, updated)})
    return {
        "n": len(per),
        "without_both_parts": without,
        "updated_above_rate": _share([p["updated_above"] for p in per]),
        "updated_retrieved": _share([p["rank_updated"] is not None for p in per]),
        "original_retrieved": _share([p["rank_original"] is not None for p in per]),
        "median_rank_updated": _median([p["rank_updated"] for p in per]),
        "median_rank_original": _median([p["rank_original"] for p in per]),
        "questions": per,
    }


def two_part_figures(rows: Sequence[Mapping[str, Any]], ability: str) -> dict[str, Any]:
    """Per question whose evidence has two or more parts (first/second statement or
    event): each part's rank and whether all are within k; the shares per k."""
    per, without = [], 0
    for row in _scored(rows, ability):
        parts = _parts(row)
        if parts is None or len(parts) < 2:
            without += 1
            continue
        ranked = row["ranked_turns"]
        per.append({
            "id": row["id"],
            "ranks": [first_rank(ranked, part) for part in parts],
            "within": parts_within(ranked, parts),
        })  # fmt: skip
    return {
        "n": len(per),
        "without_two_parts": without,
        "both_within": {str(k): _share([p["within"][str(k)] for p in per]) for k in PAIR_KS},
        "questions": per,
    }


def event_ordering_figures(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Per event_ordering question: Kendall's tau of the retrieved order against the
    order said (over the evidence retrieved), the concordant-pair share (over all
    evidence pairs) and how much evidence was retrieved; their means."""
    per = []
    for row in _scored(rows, "event_ordering"):
        order = (row.get("extra") or {}).get("true_order") or row["evidence"]
        per.append({"id": row["id"], **ordering_scores(row["ranked_turns"], order)})
    taus = [p["tau"] for p in per if p["tau"] is not None]
    return {
        "n": len(per),
        "n_with_tau": len(taus),
        "kendall_tau_mean": mean(taus),
        "concordant_share_mean": mean(
            [p["concordant_share"] for p in per if p["concordant_share"] is not None]
        ),
        "retrieved_share_mean": mean(
            [p["retrieved"] / p["n_evidence"] for p in per if p["n_evidence"]]
        ),
        "questions": per,
    }


def ability_figures(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The ability figures of one strategy's rows (`Spec.figures` for BEAM)."""
    return {
        "knowledge_update": knowledge_update_figures(rows),
        **{a: two_part_figures(rows, a) for a in TWO_PART_ABILITIES},
        "event_ordering": event_ordering_figures(rows),
    }
