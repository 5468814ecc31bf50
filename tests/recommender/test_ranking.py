"""``top_k`` against a brute-force reference: sort everything by (-score, tie-break key)."""

from __future__ import annotations

import numpy as np
import pytest

from recommender.ranking import _kth_largest, tiebreak_keys, top_k


def reference(scores: np.ndarray, k: int, exclude: np.ndarray) -> np.ndarray:
    s = np.asarray(scores, dtype=np.float64).copy()
    s[~np.isfinite(s)] = -np.inf
    s[exclude] = -np.inf
    rows = np.arange(s.size)
    order = rows[np.lexsort((tiebreak_keys(rows), -s))]
    return order[np.isfinite(s[order])][:k]


@pytest.mark.parametrize("seed", range(20))
def test_top_k_equals_a_full_sort_with_ties_exclusions_and_nonfinite(seed):
    rng = np.random.default_rng(seed)
    # Odd seeds: lists long enough for the block maxima of _kth_largest (64 per block).
    n = int(rng.integers(1, 300)) if seed % 2 == 0 else int(rng.integers(300, 20_000))
    s = np.round(rng.normal(size=n), 1).astype(np.float32)  # many ties
    s[rng.random(n) < 0.05] = np.nan
    s[rng.random(n) < 0.05] = -np.inf
    exclude = rng.choice(n, size=int(rng.integers(0, n)), replace=False)
    for k in (1, 5, 50, n, n + 10):
        rows, scores = top_k(s, k, exclude)
        np.testing.assert_array_equal(rows, reference(s, k, exclude))
        np.testing.assert_array_equal(scores, s[rows])


@pytest.mark.parametrize("seed", range(10))
def test_kth_largest_is_that_of_a_partition_whatever_the_blocks_hold(seed):
    """The block maxima only narrow where to look: with ties, with whole blocks of -inf, and
    with the largest values packed in one block, the k-th largest is np.partition's."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1_000, 30_000))
    cases = [
        rng.normal(size=n).astype(np.float32),
        np.round(rng.normal(size=n)).astype(np.float32),  # few distinct values
        np.where(rng.random(n) < 0.97, -np.inf, rng.normal(size=n)).astype(np.float32),
        np.concatenate([np.full(n - 64, -1.0), np.arange(64.0)]).astype(np.float32),
    ]
    for s in cases:
        valid = int(np.count_nonzero(s > -np.inf))
        for k in {1, 2, 10, 64, 65, 300, valid}:
            if 1 <= k <= valid:
                assert _kth_largest(s, k) == np.partition(s, s.size - k)[s.size - k]
