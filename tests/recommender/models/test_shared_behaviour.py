"""Behaviour several models share: a dislike lowers that paper, state survives added papers,
collaborative models give new papers a neutral score."""

from __future__ import annotations

import numpy as np
import pytest
from model_helpers import SMALL, fit

from recommender.models import create_model
from recommender.models.item_knn import ItemKNN
from recommender.ranking import rows_to_csr
from recommender.synthetic import BlockData

MINE = list(SMALL)


# --------------------------------------------------------------------------- every model
@pytest.mark.parametrize("name", MINE)
def test_dislike_lowers_that_papers_score(name: str, data: BlockData, features):
    model = fit(name, data, features)
    topic0 = data.items_of_block(0)
    likes, target = topic0[:5], int(topic0[7])
    before = model.score(likes)
    after = model.score(likes, [target])
    if isinstance(model, ItemKNN):
        # Item-kNN pushes down what the disliked paper points to (never itself a neighbour).
        near = model.similarity_[target].indices
        assert near.size and (after[near] < before[near]).all()
    else:
        assert after[target] < before[target]


@pytest.mark.parametrize("name", MINE)
def test_state_round_trip_after_adding_papers(name: str, data: BlockData, featurizer, features):
    model = fit(name, data, features)
    new = featurizer.transform(["topic2word1 topic2word3 topic2word5", "topic0word2 topic0word4"])
    model.add_items(new if model.uses_content else None, n=2)
    loaded = create_model(name, **model.get_params()).load_state(model.state())
    L = rows_to_csr([data.likes[u].indices for u in range(0, 60, 7)], model.n_items)
    D = rows_to_csr([[81], [80], [], [3], [], [], [], [], []], model.n_items)
    np.testing.assert_allclose(loaded.score_batch(L, D), model.score_batch(L, D), rtol=1e-5)


@pytest.mark.parametrize("name", ["als", "bpr", "lightfm"])
def test_collaborative_models_give_new_papers_a_neutral_score(name: str, data: BlockData):
    model = fit(name, data, None)
    model.add_items(n=3)
    f = model.item_factors_  # type: ignore[attr-defined]
    assert f.shape[0] == data.n_items + 3 and not f[-3:].any()
    s = model.score(data.items_of_block(1)[:6])
    assert np.isfinite(s).all()
    # Neutral: below the user's own topic, above nothing in particular.
    assert (s[-3:] < np.sort(s[data.items_of_block(1)])[-5]).all()
