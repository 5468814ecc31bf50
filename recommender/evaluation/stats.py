"""Uncertainty of offline results: bootstrap confidence intervals over users and paired tests.

Users are the unit of resampling: a metric's value is the mean of per-user values, so resampling
users with replacement shows how much that mean would move on another draw of users. Per-user arrays
carry ``NaN`` for users who are not evaluated; they are dropped (pairwise for paired tests).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

__all__ = ["CI", "PairedTest", "bootstrap_ci", "paired_test"]


@dataclass(frozen=True)
class CI:
    """Mean with a percentile bootstrap interval ``[low, high]`` at ``level``."""

    mean: float
    low: float
    high: float
    level: float
    n: int


@dataclass(frozen=True)
class PairedTest:
    """Model A minus model B over the same users.

    ``diff`` is the mean per-user difference with its bootstrap interval; ``p_bootstrap`` is the
    two-sided paired-bootstrap p-value (how often a resampled mean difference lands on the other
    side of zero, doubled) and ``p_wilcoxon`` the Wilcoxon signed-rank p-value.
    """

    diff: float
    low: float
    high: float
    p_bootstrap: float
    p_wilcoxon: float
    n: int

    def significant(self, alpha: float = 0.05) -> bool:
        return self.p_bootstrap < alpha


def _boot_means(values: np.ndarray, n_boot: int, seed: int, chunk: int = 200) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = values.size
    out = np.empty(n_boot, dtype=np.float64)
    # Chunks keep the index matrix small (n_boot x n users would not fit for large n).
    for start in range(0, n_boot, chunk):
        stop = min(start + chunk, n_boot)
        idx = rng.integers(0, n, size=(stop - start, n))
        out[start:stop] = values[idx].mean(axis=1)
    return out


def bootstrap_ci(
    values: np.ndarray, *, n_boot: int = 1000, level: float = 0.95, seed: int = 0
) -> CI:
    """Percentile bootstrap interval of the mean of ``values`` over users (NaNs dropped)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[~np.isnan(v)]
    if v.size == 0:
        nan = float("nan")
        return CI(nan, nan, nan, level, 0)
    means = _boot_means(v, n_boot, seed)
    a = (1.0 - level) / 2.0
    low, high = np.quantile(means, [a, 1.0 - a])
    return CI(float(v.mean()), float(low), float(high), level, int(v.size))


def paired_test(
    a: np.ndarray,
    b: np.ndarray,
    *,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> PairedTest:
    """Paired comparison of two per-user metric arrays over the users both evaluate."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired arrays differ in shape: {a.shape} vs {b.shape}")
    keep = ~np.isnan(a) & ~np.isnan(b)
    d = a[keep] - b[keep]
    nan = float("nan")
    if d.size == 0:
        return PairedTest(nan, nan, nan, nan, nan, 0)
    means = _boot_means(d, n_boot, seed)
    q = (1.0 - level) / 2.0
    low, high = np.quantile(means, [q, 1.0 - q])
    # Share of resampled means at or beyond zero on the side opposite to the observed mean; a
    # difference that is exactly zero for every user gives p = 1.
    p_boot = min(1.0, 2.0 * min(float((means <= 0).mean()), float((means >= 0).mean())))
    p_wil = float(sps.wilcoxon(d, zero_method="wilcox").pvalue) if np.any(d != 0) else 1.0
    return PairedTest(float(d.mean()), float(low), float(high), p_boot, p_wil, int(d.size))
