"""Bootstrap intervals and paired tests over users."""

from __future__ import annotations

import numpy as np

from recommender.evaluation.stats import bootstrap_ci, paired_test


def test_ci_contains_the_mean_and_shrinks_with_more_users() -> None:
    rng = np.random.default_rng(0)
    small = rng.random(50)
    large = rng.random(5000)
    ci_s, ci_l = bootstrap_ci(small, n_boot=500), bootstrap_ci(large, n_boot=500)
    assert ci_s.low < ci_s.mean < ci_s.high
    assert ci_l.low < ci_l.mean < ci_l.high
    assert ci_s.mean == np.mean(small) and ci_s.n == 50
    assert (ci_l.high - ci_l.low) < (ci_s.high - ci_s.low)
    # Uniform(0, 1): the true mean 0.5 lies in the 95% interval of 5,000 users.
    assert ci_l.low < 0.5 < ci_l.high


def test_ci_skips_users_without_a_value() -> None:
    ci = bootstrap_ci(np.array([1.0, np.nan, 0.0, np.nan]), n_boot=200)
    assert ci.n == 2 and ci.mean == 0.5


def test_big_true_difference_is_significant() -> None:
    rng = np.random.default_rng(1)
    b = rng.random(400) * 0.5
    a = b + 0.1 + rng.normal(0, 0.05, 400)
    t = paired_test(a, b, n_boot=500)
    assert t.significant()
    assert t.p_wilcoxon < 0.001
    assert t.low < 0.1 < t.high and t.diff > 0


def test_identical_models_are_not_significant() -> None:
    a = np.random.default_rng(2).random(300)
    t = paired_test(a, a.copy(), n_boot=500)
    assert t.diff == 0.0 and t.p_bootstrap == 1.0 and t.p_wilcoxon == 1.0
    assert not t.significant()


def test_null_differences_are_rarely_significant() -> None:
    # Two models drawn from the same distribution: at alpha = 0.05 about 1 in 20 comparisons is
    # "significant" by chance; over 60 independent draws far fewer than 1 in 5 may be.
    rng = np.random.default_rng(3)
    rejections = 0
    for i in range(60):
        a, b = rng.random(200), rng.random(200)
        rejections += paired_test(a, b, n_boot=300, seed=i).significant()
    assert rejections <= 10


def test_pairs_drop_users_missing_in_either() -> None:
    a = np.array([1.0, np.nan, 0.5, 0.2])
    b = np.array([0.0, 0.3, np.nan, 0.1])
    assert paired_test(a, b, n_boot=100).n == 2
