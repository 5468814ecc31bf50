"""Content item-kNN: add_items equals a refit, scores are likes minus dislikes times S, new papers
become neighbours."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from model_helpers import fit, random_tfidf

from recommender.models.item_knn import ItemKNN
from recommender.synthetic import BlockData


@pytest.mark.parametrize("shrink", [0.0, 2.0])
def test_item_knn_add_items_equals_refit(shrink: float):
    V = random_tfidf(50, 30, seed=4)
    likes = sp.csr_matrix((3, 44), dtype=np.float32)
    grown = ItemKNN(k_neighbors=6, shrink=shrink).fit(likes, V[:44])
    grown.add_items(V[44:])
    full = ItemKNN(k_neighbors=6, shrink=shrink).fit(sp.csr_matrix((3, 50)), V)
    np.testing.assert_allclose(grown.similarity_.toarray(), full.similarity_.toarray(), atol=1e-6)
    assert grown.n_items == 50


def test_item_knn_scores_are_likes_minus_dislikes_times_s(data: BlockData, features):
    model = fit("item_knn", data, features)
    assert isinstance(model, ItemKNN)
    S = model.similarity_.toarray()
    got = model.score([1, 4, 9], [30, 31])
    want = S[[1, 4, 9]].sum(axis=0) - model.dislike_weight * S[[30, 31]].sum(axis=0)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_item_knn_new_paper_is_a_neighbour_of_similar_old_ones(data: BlockData, featurizer):
    features = featurizer.transform_counts(data.counts)
    model = fit("item_knn", data, features)
    n0 = model.n_items
    model.add_items(featurizer.transform([" ".join(f"topic3word{w}" for w in range(12))]))
    assert isinstance(model, ItemKNN)
    # The new paper's column (old papers pointing to it) is filled with topic-3 papers.
    pointing = model.similarity_[:n0, n0].nonzero()[0]
    assert pointing.size and (data.item_block[pointing] == 3).mean() >= 0.9
    rows, _ = model.recommend(data.items_of_block(3)[:3], k=3)
    assert n0 in rows
