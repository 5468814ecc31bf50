"""The per-user linear model is a linear SVM per user."""

from __future__ import annotations

import numpy as np
from model_helpers import fit
from sklearn.svm import LinearSVC

from recommender.models.linear import PerUserLinear
from recommender.synthetic import BlockData


# ------------------------------------------------------------------------ PerUserLinear
def test_linear_is_a_linear_svm_per_user(data: BlockData, features):
    model = fit("linear", data, features)
    assert isinstance(model, PerUserLinear)
    liked, disliked = data.items_of_block(2)[:4], np.array([3, 50])
    y = np.zeros(data.n_items)
    y[liked] = 1
    w = np.ones(data.n_items)
    w[disliked] = model.dislike_weight
    clf = LinearSVC(C=model.C, class_weight="balanced", random_state=0)
    clf.fit(features, y, sample_weight=w)
    np.testing.assert_allclose(
        model.score(liked, disliked), clf.decision_function(features), rtol=1e-4, atol=1e-5
    )
    assert not model.score([]).any()
