"""Episodes: split a session into topic segments and summarise a segment by extraction.

Pure functions over numpy arrays of unit-norm embeddings (one row per turn or
sentence, in order); the store decides what to persist.

Segmentation is divisive: a segment is cut where the window-mean cosine across a gap
(the mean of up to `window` turns before it against the mean of up to `window` turns
after it, neither window leaving the segment) is lowest, if that cosine is below
`threshold` and both halves keep at least `min_len` turns; each half is then
considered again. Taking the deepest gap first puts the cut at the bottom of a valley
rather than at the first gap that dips below the threshold, which for a sliding
window is one or two turns early. The score is an absolute cosine rather than a
TextTiling depth score (how far a gap dips below the peaks on either side): one knob
with a plain meaning, and a session that stays on one topic has no gap below it.

`SEGMENT_THRESHOLD` was chosen by measurement with the packaged minilm model: 720
chat sessions, each three blocks of eight turns on clearly different topics (ten
hand-written topics of twelve turns, every ordered triple, eight turns drawn per
block), window 3, min_len 4. Window cosines across a gap inside one topic have a
median of 0.43 (5th percentile 0.22); across a planted boundary a median of 0.11
(95th percentile 0.29), so the two overlap and no threshold is perfect. Boundary F1
(exact position / within one turn) by threshold: 0.15 -> 0.72 / 0.78, 0.20 -> 0.77 /
0.85, 0.22 -> 0.77 / 0.86, 0.25 -> 0.76 / 0.86, 0.30 -> 0.73 / 0.83, 0.40 -> 0.66 /
0.75. We take 0.20, on the plateau, with the higher precision (0.82): splitting one
topic in two costs more than leaving two topics in one episode. Twelve-turn sessions
on a single topic are cut 0.07 times on average, and the 70 LoCoMo dev sessions
(14-39 turns of drifting small talk) 1.07 segments per session. A depth score did a little better
on these sessions (F1 0.80, 0.11 false cuts per one-topic session) but not enough to
justify a second knob; a window of 4 did better too (F1 0.81 at 0.25) and suits
sessions whose topics last longer than eight turns.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

SEGMENT_THRESHOLD = 0.20
_MIN_WORDS = 4


def segment(
    vectors: np.ndarray,
    *,
    threshold: float = SEGMENT_THRESHOLD,
    min_len: int = 4,
    window: int = 3,
    max_len: int | None = None,
) -> list[tuple[int, int]]:
    """Split a session's turns (rows of unit vectors, in order) into topic segments.

    Returns half-open ranges [start, end) that cover every row in order. No segment
    is shorter than `min_len`, so a session of fewer than 2 * min_len turns is one
    segment, unless a segment would be longer than `max_len`: it is then cut into
    runs of `max_len` turns (the last one shorter). Zero rows (empty texts) are
    ignored when averaging a window. Ties go to the earliest gap, so the result is
    deterministic.

    >>> v = np.repeat(np.eye(3, dtype=np.float32), 8, axis=0)
    >>> segment(v)
    [(0, 8), (8, 16), (16, 24)]
    """
    x = _rows(vectors, "vectors")
    if min_len < 1 or window < 1:
        raise ValueError(f"min_len and window must be at least 1, got {min_len} and {window}")
    n = len(x)
    if n == 0:
        return []
    sums = np.zeros((n + 1, x.shape[1]), dtype=np.float64)
    np.cumsum(x, axis=0, dtype=np.float64, out=sums[1:])
    done: list[tuple[int, int]] = []
    todo = [(0, n)]
    while todo:
        start, end = todo.pop()
        cut = _deepest_gap(sums, start, end, threshold, min_len, window)
        if cut is None:
            done.append((start, end))
        else:
            todo += [(start, cut), (cut, end)]
    if max_len is not None:
        if max_len < 1:
            raise ValueError(f"max_len must be at least 1, got {max_len}")
        done = [(lo, min(lo + max_len, end)) for start, end in done
                for lo in range(start, end, max_len)]  # fmt: skip
    return sorted(done)


def _deepest_gap(
    sums: np.ndarray, start: int, end: int, threshold: float, min_len: int, window: int
) -> int | None:
    """The gap in [start, end) with the lowest window cosine below `threshold`, or None."""
    gaps = np.arange(start + min_len, end - min_len + 1)
    if len(gaps) == 0:
        return None
    left = sums[gaps] - sums[np.maximum(gaps - window, start)]
    right = sums[np.minimum(gaps + window, end)] - sums[gaps]
    norms = np.linalg.norm(left, axis=1) * np.linalg.norm(right, axis=1)
    dots = np.einsum("ij,ij->i", left, right)
    # A window of empty turns says nothing about a topic change: never cut there.
    cos = np.where(norms > 0, dots / np.where(norms > 0, norms, 1.0), np.inf)
    best = int(np.argmin(cos))
    return int(gaps[best]) if cos[best] < threshold else None


def summarize(
    sentences: Sequence[str],
    vectors: np.ndarray,
    *,
    max_sentences: int = 3,
    max_chars: int = 400,
    diversity: float = 0.3,
) -> list[int]:
    """Indices (in original order) of sentences forming an extractive summary.

    Sentences are picked greedily by maximal marginal relevance: (1 - diversity) times
    the cosine to the centroid of all sentences, minus diversity times the highest
    cosine to a sentence already picked. Only statements of four words or more are
    considered when there are any, else sentences of four words or more, else all;
    exact repeats of a picked sentence are never picked. A sentence that would take
    the total (sentences joined by one space) over `max_chars` is skipped, so the
    result can be shorter than `max_sentences`, and empty when every sentence alone
    is too long.

    >>> summarize(["Yes.", "We fixed the leak in the cache."], np.eye(2, dtype=np.float32))
    [1]
    """
    x = _rows(vectors, "vectors")
    if len(sentences) != len(x):
        raise ValueError(f"{len(sentences)} sentences but {len(x)} vectors; pass one row each")
    if not 0.0 <= diversity <= 1.0:
        raise ValueError(f"diversity must be within [0, 1], got {diversity}")
    texts = [s.strip() for s in sentences]
    pool: list[int] = []
    for usable in (_statement, _long, bool):  # the first kind of sentence that exists
        pool = [i for i, t in enumerate(texts) if t and usable(t)]
        if pool:
            break
    if not pool or max_sentences < 1:
        return []
    relevance = x @ centroid(x)
    chosen: list[int] = []
    redundancy = np.full(len(x), -np.inf)
    used = 0
    while pool and len(chosen) < max_sentences:
        candidates = np.array(pool)
        score = (1.0 - diversity) * relevance[candidates]
        if chosen:
            score -= diversity * redundancy[candidates]
        best = int(candidates[int(np.argmax(score))])  # ties: earliest sentence
        pool.remove(best)
        cost = len(texts[best]) + (1 if chosen else 0)
        if used + cost > max_chars:
            continue
        used += cost
        chosen.append(best)
        redundancy = np.maximum(redundancy, x @ x[best])
        pool = [i for i in pool if texts[i] != texts[best]]
    return sorted(chosen)


def _long(text: str) -> bool:
    return len(text.split()) >= _MIN_WORDS


def _statement(text: str) -> bool:
    """Not a question, and not so short it says little: good summary material."""
    return _long(text) and not text.endswith("?")


def centroid(vectors: np.ndarray) -> np.ndarray:
    """The unit-norm mean of the rows (float32); a zero vector when the mean is zero
    or there are no rows, never NaN.

    >>> centroid(np.array([[1.0, 0.0], [0.0, 1.0]])).astype(float).round(3).tolist()
    [0.707, 0.707]
    """
    x = _rows(vectors, "vectors")
    mean = x.sum(axis=0, dtype=np.float64)
    norm = float(np.linalg.norm(mean))
    if not np.isfinite(norm) or norm <= 1e-12:
        return np.zeros(x.shape[1], dtype=np.float32)
    return (mean / norm).astype(np.float32)


def _rows(vectors: np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(vectors, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (one row per item), got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return x


__all__ = ["SEGMENT_THRESHOLD", "centroid", "segment", "summarize"]
