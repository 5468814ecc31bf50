"""ALS: the fold-in equals implicit's recalculate_user; confidences follow implicit; dislikes."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares
from model_helpers import SMALL, csr, fit

from recommender.models.als import ALS, confidence_matrix
from recommender.synthetic import BlockData


# ----------------------------------------------------------------------------------- ALS
def test_als_fold_in_equals_implicit_recalculate_user(data: BlockData):
    model = fit("als", data, None)
    assert isinstance(model, ALS)
    mf = AlternatingLeastSquares(factors=8, regularization=model.regularization, alpha=1.0)
    mf.item_factors = model.item_factors_.copy()
    mf.user_factors = np.zeros((1, 8), dtype=np.float32)
    for u in (0, 21, 47):
        row = data.likes[[u]]
        C = confidence_matrix(row, None, model.alpha, model.dislike_confidence)
        np.testing.assert_allclose(
            model.user_factors(row)[0], mf.recalculate_user(0, C), rtol=1e-4, atol=1e-5
        )
        ids, scores = mf.recommend(
            0, C, N=10, recalculate_user=True, filter_already_liked_items=False
        )
        ours = model.score_batch(row)[0]
        np.testing.assert_allclose(ours[ids], scores, rtol=1e-4, atol=1e-5)
        assert set(np.argsort(-ours)[:10].tolist()) == set(ids.tolist())


def test_confidence_matrix_follows_implicit_conventions():
    likes = csr([[0, 2], [1]], 4)
    dislikes = csr([[2, 3], []], 4)
    C = confidence_matrix(likes, dislikes, alpha=10.0, dislike_confidence=4.0).toarray()
    # Liked: 1 + alpha; disliked: -(1 + d) (implicit reads negatives as confident zeros);
    # liked and disliked: liked.
    np.testing.assert_array_equal(C, [[11.0, 0.0, 11.0, -5.0], [0.0, 11.0, 0.0, 0.0]])


def test_als_fit_with_dislikes_moves_them_down(data: BlockData):
    """A paper disliked by every user of its topic at fit time loses ground in that topic."""
    target = int(data.items_of_block(0)[0])
    users = np.flatnonzero(data.user_block == 0)
    D = sp.lil_matrix(data.likes.shape, dtype=np.float32)
    for u in users:
        if not data.likes[u, target]:
            D[u, target] = 1.0
    plain = ALS(**SMALL["als"]).fit(data.likes)
    with_d = ALS(**SMALL["als"]).fit(data.likes, dislikes=D.tocsr())
    L = data.likes[users]
    assert with_d.score_batch(L)[:, target].mean() < plain.score_batch(L)[:, target].mean()
