"""BPR: the bias column and the fold-in against BPR's own user vectors."""

from __future__ import annotations

import numpy as np
from implicit.cpu.bpr import BayesianPersonalizedRanking
from model_helpers import fit, top_overlap

from recommender.models.bpr import BPR
from recommender.synthetic import BlockData


# ----------------------------------------------------------------------------------- BPR
def implicit_bpr(data: BlockData) -> BayesianPersonalizedRanking:
    mf = BayesianPersonalizedRanking(
        factors=8, learning_rate=0.05, regularization=0.01, iterations=200, num_threads=1
    )
    mf.random_state = 0
    mf.fit(data.likes, show_progress=False)
    return mf


def test_bpr_keeps_the_bias_column_apart(data: BlockData):
    model = fit("bpr", data, None)
    assert isinstance(model, BPR)
    mf = implicit_bpr(data)
    np.testing.assert_array_equal(model.item_factors_, mf.item_factors[:, :-1])
    np.testing.assert_array_equal(model.item_bias_, mf.item_factors[:, -1])
    # A user without likes is the zero vector: what is left is the bias alone.
    np.testing.assert_array_equal(model.score([]), model.item_bias_)


def test_bpr_fold_in_ranks_like_bprs_own_user_vectors(data: BlockData):
    model = fit("bpr", data, None)
    mf = implicit_bpr(data)
    own = mf.user_factors @ mf.item_factors.T
    assert top_overlap(own, model.score_batch(data.likes), data.likes) >= 0.8
