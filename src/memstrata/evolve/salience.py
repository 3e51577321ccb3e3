"""Salience: how much a memory deserves to surface, as pure functions of its record.

The store keeps the inputs (the novelty measured at write time, hit and feedback
counts, the age); these functions turn them into a number and a ranking prior.

    base      = 0.1 + 0.8 * novelty                              in [0.1, 0.9]
    use       = 0.5 * ln(1 + hits) + 1.0 * useful
    evidence  = use * 2 ** (-age_days / half_life_days) - 1.0 * not_useful
    salience  = sigmoid(logit(base) + evidence)

Why this shape:

- Logit space lets evidence add up, with diminishing returns near 0 and 1, and keeps
  the result within (0, 1) without clipping. One useful vote moves a neutral memory
  from 0.5 to 0.73; one not-useful vote cancels one useful vote.
- The write-time novelty only sets the starting point, within [0.1, 0.9], so use
  can always lift a near-duplicate and neglect or bad feedback can always sink a
  novel one.
- A hit (the memory was returned) is weaker evidence than an explicit useful vote,
  and repeated hits count logarithmically: ten hits are worth about 1.2 useful votes.
- Use decays with age (half-life 90 days): what was useful last season says less
  about today. Not-useful feedback does not decay: a memory judged wrong or
  irrelevant does not become right by waiting, and decaying it would let salience
  rise with age. So salience never increases with age, never decreases with hits or
  useful votes or novelty, and never increases with not-useful votes.
"""

from __future__ import annotations

import math

PRIOR_WEIGHT = 0.2
_BASE_FLOOR = 0.1
_HIT_WEIGHT = 0.5
_USEFUL_WEIGHT = 1.0
_NOT_USEFUL_WEIGHT = 1.0


def novelty(max_similarity: float | None) -> float:
    """How unlike existing memories a new one is, in [0, 1]: one minus its highest
    cosine to what is stored, floored at 0 (1.0 when nothing is stored: pass None or
    -inf, the max over an empty set).

    >>> novelty(0.25), novelty(None), novelty(1.0)
    (0.75, 1.0, 0.0)
    """
    if max_similarity is None:
        return 1.0
    if math.isnan(max_similarity):
        raise ValueError(
            "max_similarity is NaN; pass the highest cosine, or None if nothing is stored"
        )
    return min(1.0, max(0.0, 1.0 - max_similarity))


def salience(
    *,
    novelty: float,
    hits: int,
    useful: int,
    not_useful: int,
    age_days: float,
    half_life_days: float = 90.0,
) -> float:
    """A memory's salience in (0, 1); see the module docstring for the formula.

    Novelty is clipped to [0, 1]; a negative age (clock skew) counts as zero.

    >>> round(salience(novelty=0.5, hits=0, useful=0, not_useful=0, age_days=0), 3)
    0.5
    >>> round(salience(novelty=0.5, hits=0, useful=1, not_useful=0, age_days=90), 3)
    0.622
    """
    if min(hits, useful, not_useful) < 0:
        raise ValueError(
            f"hits, useful and not_useful are counts and cannot be negative, "
            f"got {hits}, {useful}, {not_useful}"
        )
    if not half_life_days > 0:
        raise ValueError(f"half_life_days must be positive, got {half_life_days}")
    if math.isnan(novelty) or math.isnan(age_days):
        raise ValueError("novelty and age_days must be numbers, got NaN")
    base = _BASE_FLOOR + (1.0 - 2.0 * _BASE_FLOOR) * min(1.0, max(0.0, novelty))
    use = _HIT_WEIGHT * math.log1p(hits) + _USEFUL_WEIGHT * useful
    decay = 0.5 ** (max(0.0, age_days) / half_life_days)
    evidence = use * decay - _NOT_USEFUL_WEIGHT * not_useful
    return _sigmoid(math.log(base / (1.0 - base)) + evidence)


def prior(salience: float, weight: float = PRIOR_WEIGHT) -> float:
    """The multiplicative ranking prior a search applies: 1 + weight * (salience - 0.5),
    within [1 - weight/2, 1 + weight/2]. Neutral salience (0.5) leaves a score as it
    is. The default (0.2, so at most ±10%) is deliberately weak: it reorders close
    results but cannot lift a poor match over a clearly better one.

    >>> prior(0.5), prior(1.0), prior(0.0)
    (1.0, 1.1, 0.9)
    """
    if not 0.0 <= weight <= 2.0:
        raise ValueError(f"weight must be within [0, 2] so the prior stays >= 0, got {weight}")
    if math.isnan(salience):
        raise ValueError("salience is NaN")
    return 1.0 + weight * (min(1.0, max(0.0, salience)) - 0.5)


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


__all__ = ["PRIOR_WEIGHT", "novelty", "prior", "salience"]
