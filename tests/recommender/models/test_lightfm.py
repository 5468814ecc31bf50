"""LightFM: the fold-in against LightFM's own user vectors; cold papers placed by topic."""

from __future__ import annotations

import numpy as np
from model_helpers import fit, top_overlap

from recommender.models.lightfm import LightFMHybrid, LightFMWarp, _lightfm
from recommender.synthetic import BlockData


# ------------------------------------------------------------------------------ LightFM
def test_lightfm_fold_in_ranks_like_lightfms_own_user_vectors(data: BlockData):
    model = fit("lightfm", data, None)
    assert isinstance(model, LightFMWarp)
    lf = _lightfm(
        no_components=8,
        learning_rate=model.learning_rate,
        item_alpha=model.item_alpha,
        user_alpha=model.user_alpha,
        max_sampled=model.max_sampled,
        random_state=0,
    )
    lf.fit(data.likes.tocoo(), epochs=40, num_threads=1)
    np.testing.assert_array_equal(model.item_factors_, lf.item_embeddings)
    users = np.repeat(np.arange(data.n_users), data.n_items)
    own = lf.predict(users, np.tile(np.arange(data.n_items), data.n_users))
    own = own.reshape(data.n_users, data.n_items)
    assert top_overlap(own, model.score_batch(data.likes), data.likes) >= 0.8


def test_lightfm_hybrid_places_cold_papers_by_their_topic(data: BlockData, featurizer, features):
    model = fit("lightfm_hybrid", data, features)
    assert isinstance(model, LightFMHybrid)
    assert model.content_embeddings_.shape == (len(data.vocabulary), 8)
    n0 = model.n_items
    words = [" ".join(f"topic{b}word{w}" for w in range(1, 12, 2)) for b in range(4)]
    model.add_items(featurizer.transform(words))  # rows n0 + b: a cold paper of topic b
    for b in range(4):
        scores = model.score(data.items_of_block(b)[:6])
        cold = scores[n0:]
        assert int(np.argmax(cold)) == b, f"topic-{b} user: cold paper scores {cold}"
