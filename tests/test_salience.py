"""Salience policy: bounds, monotonicity in every input, and the ranking prior."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from memstrata.evolve.salience import PRIOR_WEIGHT, novelty, prior, salience

unit_floats = st.floats(0.0, 1.0)
counts = st.integers(0, 10_000)
ages = st.floats(0.0, 36_500.0)
records = st.fixed_dictionaries(
    {
        "novelty": unit_floats,
        "hits": counts,
        "useful": counts,
        "not_useful": counts,
        "age_days": ages,
        "half_life_days": st.floats(0.5, 3650.0),
    }
)


@given(records)
def test_salience_is_within_0_and_1(record: dict[str, Any]) -> None:
    assert 0.0 <= salience(**record) <= 1.0


@pytest.mark.parametrize(
    ("field", "direction", "step"),
    [
        ("novelty", +1, st.floats(0.0, 1.0)),
        ("hits", +1, st.integers(0, 1000)),
        ("useful", +1, st.integers(0, 1000)),
        ("not_useful", -1, st.integers(0, 1000)),
        ("age_days", -1, st.floats(0.0, 10_000.0)),
    ],
)
def test_salience_is_monotone_in_each_input(field: str, direction: int, step: Any) -> None:
    @given(records, step)
    def check(record: dict[str, Any], delta: Any) -> None:
        more = dict(record)
        more[field] = (
            min(1.0, record[field] + delta) if field == "novelty" else record[field] + delta
        )
        change = salience(**more) - salience(**record)
        assert change * direction >= 0.0, (record, more)

    check()


def test_salience_moves_as_documented() -> None:
    fresh: dict[str, Any] = {"hits": 0, "useful": 0, "not_useful": 0, "age_days": 0.0}
    assert salience(novelty=0.5, **fresh) == pytest.approx(0.5)
    assert salience(novelty=1.0, **fresh) == pytest.approx(0.9)
    assert salience(novelty=0.0, **fresh) == pytest.approx(0.1)
    liked = dict(fresh, useful=1)
    assert salience(novelty=0.5, **liked) == pytest.approx(1 / (1 + math.exp(-1)))
    # One useful and one not-useful vote cancel; use fades with age, rejection does not.
    mixed = dict(fresh, useful=1, not_useful=1)
    assert salience(novelty=0.5, **mixed) == pytest.approx(0.5)
    assert salience(novelty=0.5, **dict(liked, age_days=90.0)) == pytest.approx(
        1 / (1 + math.exp(-0.5))
    )
    assert salience(novelty=0.5, **dict(liked, age_days=3650.0)) == pytest.approx(0.5, abs=1e-6)
    rejected = dict(fresh, not_useful=1)
    assert salience(novelty=0.5, **dict(rejected, age_days=3650.0)) == pytest.approx(
        salience(novelty=0.5, **rejected)
    )
    # Hits have diminishing returns: the tenth adds less than the first.
    h = [salience(novelty=0.5, **dict(fresh, hits=n)) for n in (0, 1, 9, 10)]
    assert h[1] - h[0] > h[3] - h[2] > 0


def test_salience_inputs_are_checked() -> None:
    base: dict[str, Any] = {
        "novelty": 0.5,
        "hits": 0,
        "useful": 0,
        "not_useful": 0,
        "age_days": 1.0,
    }
    for field in ("hits", "useful", "not_useful"):
        with pytest.raises(ValueError, match="cannot be negative"):
            salience(**{**base, field: -1})
    with pytest.raises(ValueError, match="half_life_days"):
        salience(**base, half_life_days=0.0)
    with pytest.raises(ValueError, match="NaN"):
        salience(**{**base, "novelty": math.nan})
    # Clock skew gives a negative age: treated as brand new, not as an error.
    assert salience(**{**base, "age_days": -5.0}) == salience(**{**base, "age_days": 0.0})
    assert salience(**{**base, "novelty": 7.0}) == salience(**{**base, "novelty": 1.0})


# novelty ----------------------------------------------------------------------


@given(st.floats(-1.0, 1.0), st.floats(-1.0, 1.0))
def test_novelty_is_bounded_and_falls_as_similarity_rises(a: float, b: float) -> None:
    low, high = sorted((a, b))
    assert 0.0 <= novelty(high) <= novelty(low) <= 1.0


def test_novelty_edge_cases() -> None:
    assert novelty(None) == 1.0
    assert novelty(-math.inf) == 1.0  # max() over nothing stored
    assert novelty(1.0) == 0.0 and novelty(1.0000001) == 0.0
    assert novelty(0.2) == pytest.approx(0.8)
    with pytest.raises(ValueError, match="NaN"):
        novelty(math.nan)


# prior ------------------------------------------------------------------------


@given(unit_floats, unit_floats, st.floats(0.0, 2.0))
def test_prior_is_weak_bounded_and_monotone(a: float, b: float, weight: float) -> None:
    low, high = sorted((a, b))
    assert 1 - weight / 2 - 1e-12 <= prior(low, weight) <= prior(high, weight)
    assert prior(high, weight) <= 1 + weight / 2 + 1e-12


def test_prior_defaults_and_errors() -> None:
    assert prior(0.5) == 1.0
    assert prior(1.0) == pytest.approx(1 + PRIOR_WEIGHT / 2)
    assert prior(0.0) == pytest.approx(1 - PRIOR_WEIGHT / 2)
    assert 0 < PRIOR_WEIGHT <= 0.4  # weak by design: at most ±20%
    assert prior(1.5) == prior(1.0)
    with pytest.raises(ValueError, match="weight"):
        prior(0.5, weight=-0.1)
    with pytest.raises(ValueError, match="weight"):
        prior(0.5, weight=3.0)
    with pytest.raises(ValueError, match="NaN"):
        prior(math.nan)
