"""``top_k`` against a brute-force reference: sort everything by (-score, tie-break key)."""

from __future__ import annotations

import numpy as np
import pytest

from recommender.ranking import tiebreak_keys, top_k


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
    n = int(rng.integers(1, 300))
    s = np.round(rng.normal(size=n), 1).astype(np.float32)  # many ties
    s[rng.random(n) < 0.05] = np.nan
    s[rng.random(n) < 0.05] = -np.inf
    exclude = rng.choice(n, size=int(rng.integers(0, n)), replace=False)
    for k in (1, 5, 50, n, n + 10):
        rows, scores = top_k(s, k, exclude)
        np.testing.assert_array_equal(rows, reference(s, k, exclude))
        np.testing.assert_array_equal(scores, s[rows])
