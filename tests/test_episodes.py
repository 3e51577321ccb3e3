"""Topic segments, extractive summaries and centroids (pure functions over arrays)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memstrata.form.episodes import SEGMENT_THRESHOLD, centroid, segment, summarize

DIM = 384


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def session(lengths: list[int], seed: int, noise: float = 1.2) -> np.ndarray:
    """Turns around one random topic direction per block: noise 1.2 puts a turn at
    cosine ~0.64 to its topic and ~0.4 to its neighbours, like real chat turns."""
    rng = np.random.default_rng(seed)
    topics = unit(rng.standard_normal((len(lengths), DIM)))
    rows = [
        unit(topics[k] + noise * unit(rng.standard_normal((n, DIM)))) for k, n in enumerate(lengths)
    ]
    return np.concatenate(rows)


def starts(segments: list[tuple[int, int]]) -> list[int]:
    return [start for start, _ in segments[1:]]


# segment ----------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(10))
def test_segment_recovers_planted_boundaries(seed: int) -> None:
    lengths = [8, 8, 8] if seed % 2 else [5, 11, 6, 9]
    planted = list(np.cumsum(lengths)[:-1])
    assert starts(segment(session(lengths, seed))) == planted


def test_segment_leaves_a_single_topic_whole() -> None:
    for seed in range(10):
        assert segment(session([30], seed)) == [(0, 30)]


def test_segment_never_cuts_a_session_shorter_than_twice_min_len() -> None:
    v = session([4, 3], seed=1)  # a clear change, but a 3-turn tail is too short
    assert segment(v, min_len=4) == [(0, 7)]
    assert segment(v, min_len=3) == [(0, 4), (4, 7)]


def test_segment_is_deterministic_and_breaks_ties_early() -> None:
    v = session([8, 8, 8], seed=3)
    assert segment(v) == segment(v.copy())
    # Orthogonal one-hot turns: every gap has cosine 0, so every cut is a tie.
    eye = np.eye(12, dtype=np.float32)
    assert segment(eye, threshold=0.5, min_len=4) == [(0, 4), (4, 8), (8, 12)]


def test_segment_threshold_bounds_the_cutting() -> None:
    v = session([8, 8, 8], seed=4)
    assert segment(v, threshold=-1.0) == [(0, 24)]  # a cosine is never below -1
    every = segment(v, threshold=1.01, min_len=2)  # cut wherever lengths allow
    assert len(every) >= 8
    assert all(end - start >= 2 for start, end in every)


def test_segment_edge_cases() -> None:
    assert segment(np.zeros((0, DIM), dtype=np.float32)) == []
    assert segment(session([1], seed=0)) == [(0, 1)]
    # Empty texts embed to zero rows: they must not produce NaN or a spurious cut.
    v = session([8, 8], seed=5)
    v[[2, 3, 11]] = 0.0
    assert segment(v) == [(0, 8), (8, 16)]
    assert segment(np.zeros((12, DIM), dtype=np.float32)) == [(0, 12)]


def test_segment_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="2-D"):
        segment(np.ones(DIM, dtype=np.float32))
    with pytest.raises(ValueError, match="NaN"):
        segment(np.full((10, 4), np.nan, dtype=np.float32))
    with pytest.raises(ValueError, match="at least 1"):
        segment(session([8], seed=0), min_len=0)


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(0, 60),
    seed=st.integers(0, 2**32 - 1),
    min_len=st.integers(1, 8),
    window=st.integers(1, 6),
    threshold=st.floats(-1.0, 1.5),
)
def test_segments_cover_all_rows_in_order_and_respect_min_len(
    n: int, seed: int, min_len: int, window: int, threshold: float
) -> None:
    v = unit(np.random.default_rng(seed).standard_normal((n, 8)) + 0.5)
    segments = segment(v, threshold=threshold, min_len=min_len, window=window)
    if n == 0:
        assert segments == []
        return
    assert segments[0][0] == 0 and segments[-1][1] == n
    assert all(a[1] == b[0] for a, b in itertools.pairwise(segments))
    if n < 2 * min_len:
        assert segments == [(0, n)]
    assert all(end - start >= min(min_len, n) for start, end in segments)


# summarize --------------------------------------------------------------------


def test_summarize_picks_central_statements_over_questions_and_short_ones() -> None:
    rng = np.random.default_rng(0)
    topic = unit(rng.standard_normal(DIM))
    near = [unit(topic + s * unit(rng.standard_normal(DIM))) for s in (0.3, 0.5, 1.5, 3.0)]
    sentences = [
        "What did you end up doing about the leaking cache?",  # the most central
        "Yes, exactly.",  # central too, but too short
        "We capped the session cache at ten thousand entries.",
        "The heap stopped growing after the fix went out.",
        "I also bought a new coffee machine for the office.",
        "By the way, the weather in Lisbon was lovely this spring.",
    ]
    vectors = np.stack([topic, topic, *near])
    picked = summarize(sentences, vectors, max_sentences=2, diversity=0.0)
    assert picked == [2, 3]


def test_summarize_falls_back_to_questions_then_short_sentences() -> None:
    sentences = ["Why?", "How did the release go last night?", "Really?"]
    vectors = unit(np.array([[1.0, 0.1], [1.0, 0.0], [0.0, 1.0]]))
    assert summarize(sentences, vectors, max_sentences=1) == [1]
    assert summarize(["Why?", "Really?"], vectors[[0, 2]], max_sentences=1) == [0]


def test_summarize_respects_max_chars_and_max_sentences() -> None:
    sentences = [
        "A long statement that is the most central one of all, " + "x" * 80,
        "A second statement of middling length here.",
        "A third statement, short enough to fit.",
        "A fourth statement that is also on topic.",
    ]
    vectors = unit(np.array([[1.0, 0.0], [1.0, 0.1], [1.0, 0.2], [1.0, 0.3]]))
    picked = summarize(sentences, vectors, max_chars=90, diversity=0.0)
    assert picked == [1, 2]  # the long one does not fit; the fourth would overflow
    assert len(" ".join(sentences[i] for i in picked)) <= 90
    assert summarize(sentences, vectors, max_chars=10) == []
    assert len(summarize(sentences, vectors, max_sentences=1, max_chars=10_000)) == 1


def test_summarize_diversity_trades_centrality_for_coverage() -> None:
    sentences = [
        "The cache had no size limit at all.",
        "The cache had no limit on its size.",
        "We rolled the release back on Monday.",
        "Cats are better than dogs, honestly.",
    ]
    vectors = unit(np.array([[1.0, 0.3, 0.0], [1.0, 0.31, 0.0], [1.0, -0.6, 0.2], [0, 0, 1.0]]))
    assert summarize(sentences, vectors, max_sentences=2, diversity=0.0) == [0, 1]
    assert summarize(sentences, vectors, max_sentences=2, diversity=0.3) == [0, 2]


def test_summarize_never_repeats_a_sentence() -> None:
    sentences = ["We fixed the cache leak today."] * 3 + ["The release went out on Friday."]
    vectors = unit(np.array([[1.0, 0.0]] * 3 + [[0.6, 0.8]]))
    assert summarize(sentences, vectors, diversity=0.0) == [0, 3]


def test_summarize_edge_cases_and_errors() -> None:
    assert summarize([], np.zeros((0, DIM), dtype=np.float32)) == []
    assert summarize(["  ", ""], np.zeros((2, 3), dtype=np.float32)) == []
    with pytest.raises(ValueError, match="2 sentences but 1 vectors"):
        summarize(["a b c d", "e f g h"], np.ones((1, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="diversity"):
        summarize(["a b c d"], np.ones((1, 3), dtype=np.float32), diversity=1.5)


# centroid ---------------------------------------------------------------------


def test_centroid_is_the_unit_mean() -> None:
    c = centroid(np.array([[3.0, 0.0], [0.0, 4.0]]))
    assert c.dtype == np.float32
    np.testing.assert_allclose(c, [0.6, 0.8], rtol=1e-6)
    v = session([5], seed=0)
    np.testing.assert_allclose(centroid(v[:1]), v[0], rtol=1e-6)


def test_centroid_of_nothing_or_cancelling_rows_is_zero() -> None:
    for rows in (np.zeros((0, 5)), np.zeros((3, 5)), np.array([[1.0, 2.0], [-1.0, -2.0]])):
        c = centroid(rows)
        assert c.shape == (rows.shape[1],)
        assert not np.isnan(c).any() and not c.any()
    with pytest.raises(ValueError, match="2-D"):
        centroid(np.ones(3))


# with the real packaged model ------------------------------------------------

CONVERSATION = [
    # cooking
    "I finally tried making fresh pasta from scratch last night.",
    "How long did you knead the dough before rolling it out?",
    "About ten minutes, until it felt smooth and a bit elastic.",
    "Did you use semolina or just regular flour?",
    "A mix of both, plus three eggs and a pinch of salt.",
    "The sauce was a simple brown butter with sage leaves.",
    "Fresh pasta only needs about two minutes in boiling water.",
    "Next weekend I want to attempt ravioli with ricotta filling.",
    # a production incident
    "Our production server started throwing out of memory errors last night.",
    "Did the memory usage grow slowly or spike all at once?",
    "It climbed steadily over about six hours until the process was killed.",
    "That sounds like a leak, maybe a cache that never evicts entries.",
    "We added an in-memory cache for user sessions in the last release.",
    "Switch it to an LRU with a size limit and see if the graph flattens.",
    "I took a heap dump and the session map was ninety percent of it.",
    "I'll write a regression test that creates a million sessions.",
    # taxes
    "I still haven't filed my taxes and the deadline is next week.",
    "Do you itemize deductions or take the standard one?",
    "Standard, but this year I had freelance income as well.",
    "Then you'll need to fill out a Schedule C for the business.",
    "Can I deduct part of my rent for the home office?",
    "I forgot to make quarterly estimated payments.",
    "Keep receipts for the laptop and software subscriptions too.",
    "I'll set aside thirty percent of every invoice from now on.",
]


@pytest.mark.model
def test_segment_and_summarize_a_real_conversation() -> None:
    from memstrata.embed import load_embedder

    vectors = load_embedder("minilm").embed(CONVERSATION)
    segments = segment(vectors, threshold=SEGMENT_THRESHOLD)
    assert len(segments) == 3
    assert all(abs(got - want) <= 1 for got, want in zip(starts(segments), [8, 16]))
    start, end = segments[1]
    picked = summarize(CONVERSATION[start:end], vectors[start:end])
    assert 1 <= len(picked) <= 3
    assert not any(CONVERSATION[start + i].endswith("?") for i in picked)


def test_max_len_cuts_long_segments_into_runs() -> None:
    one_topic = np.repeat(np.eye(2, dtype=np.float32)[:1], 10, axis=0)
    assert segment(one_topic) == [(0, 10)]
    assert segment(one_topic, max_len=4) == [(0, 4), (4, 8), (8, 10)]
    two = np.repeat(np.eye(2, dtype=np.float32), 6, axis=0)
    assert segment(two, max_len=4) == [(0, 4), (4, 6), (6, 10), (10, 12)]
    with pytest.raises(ValueError, match="max_len"):
        segment(one_topic, max_len=0)
