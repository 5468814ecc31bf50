"""Fold-in of latent factors: the closed-form implicit-ALS user update and the score scale."""

from __future__ import annotations

import numpy as np
import pytest
from model_helpers import csr

from recommender.models.factors import fold_in, gram, score_scale


# ------------------------------------------------------------------------------ fold-in
def test_fold_in_solves_the_implicit_als_user_update():
    rng = np.random.default_rng(1)
    Y = rng.normal(size=(30, 5)).astype(np.float32)
    lam, alpha, dc = 0.3, 4.0, 2.0
    likes = csr([[1, 3, 5], [], [7], [2]], 30)
    dislikes = csr([[3, 8, 9], [4], [], [2, 6]], 30)  # 3 and 2: both liked and disliked
    U = fold_in(Y, gram(Y), likes, dislikes, regularization=lam, alpha=alpha, dislike_confidence=dc)

    Y64 = Y.astype(np.float64)

    def expected(liked: list[int], disliked: list[int]) -> np.ndarray:
        A = Y64.T @ Y64 + lam * np.eye(5)
        A += alpha * Y64[liked].T @ Y64[liked] + dc * Y64[disliked].T @ Y64[disliked]
        return np.linalg.solve(A, (1 + alpha) * Y64[liked].sum(axis=0))

    np.testing.assert_allclose(U[0], expected([1, 3, 5], [8, 9]), rtol=1e-5, atol=1e-6)
    assert not U[1].any()  # no likes: zero vector, whatever the dislikes
    np.testing.assert_allclose(U[2], expected([7], []), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(U[3], expected([2], [6]), rtol=1e-5, atol=1e-6)
    # A batch gives what each user alone gives.
    for u in range(4):
        one = fold_in(
            Y,
            gram(Y),
            likes[u],
            dislikes[u],
            regularization=lam,
            alpha=alpha,
            dislike_confidence=dc,
        )
        np.testing.assert_allclose(one[0], U[u], rtol=1e-6)


def test_score_scale_recovers_a_known_factor():
    rng = np.random.default_rng(2)
    Y = rng.normal(size=(40, 6))
    U_fold = rng.normal(size=(10, 6))
    assert score_scale(2.5 * U_fold, U_fold, gram(Y)) == pytest.approx(2.5)
    # Undetermined (no folded-in signal): neutral scale.
    assert score_scale(U_fold, np.zeros_like(U_fold), gram(Y)) == 1.0
