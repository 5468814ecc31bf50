"""One contract, run against every registered model on a synthetic dataset whose right answer is
known (users like papers of their own topic only; paper text is made of its topic's words), and
against models that score by vectors ranked through an index (IndexedModel)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recommender.ann import VectorIndex
from recommender.artifacts import Bundle, load_bundle, save_bundle
from recommender.models import MODELS, create_model
from recommender.models.base import NotFittedError, Recommender
from recommender.models.indexed import IndexedModel
from recommender.ranking import rows_to_csr
from recommender.synthetic import BlockData

# Settings for the tiny dataset (defaults are sized for real catalogs).
SMALL: dict[str, dict] = {
    "als": {"factors": 8, "iterations": 15, "regularization": 0.05},
    "bpr": {"factors": 8, "iterations": 200, "learning_rate": 0.05},
    "lightfm": {"no_components": 8, "epochs": 40},
    "lightfm_hybrid": {"no_components": 8, "epochs": 40},
}

ALL = list(MODELS)
#: Models ranked through an index over their papers: ``key -> (model, index method)``. With this
#: few papers IVF scans every cell, so the answers are those of the model, through faiss.
INDEXED = {"als@ivf": ("als", "ivf"), "bpr@hnsw": ("bpr", "hnsw")}


def fitted(key: str, data: BlockData, features) -> Recommender:
    """A fitted model of the registry, or one of :data:`INDEXED` fitted through its wrapper."""
    if key in INDEXED:
        name, method = INDEXED[key]
        return IndexedModel(create_model(name, **SMALL[name]), VectorIndex(method)).fit(
            data.likes, features
        )
    return create_model(key, **SMALL.get(key, {})).fit(data.likes, features)


@pytest.fixture(scope="module", params=ALL + list(INDEXED))
def model_key(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def model(model_key, data, features) -> Recommender:
    return fitted(model_key, data, features)


def user_likes(data: BlockData, u: int) -> np.ndarray:
    return data.likes[u].indices


# ---------------------------------------------------------------- basic shape of the contract
def test_fit_returns_self_and_scores_every_paper(data, features):
    for name in ALL:
        m = create_model(name, **SMALL.get(name, {}))
        with pytest.raises(NotFittedError):
            m.score([0])
        assert m.fit(data.likes, features) is m
        s = m.score(user_likes(data, 0))
        assert s.shape == (data.n_items,) and s.dtype == np.float32
        assert np.isfinite(s).all(), name


def test_recommend_excludes_seen_and_sorts(model: Recommender, data):
    likes = user_likes(data, 3)
    dislikes = [int(data.heldout[40])]
    extra = [int(data.heldout[50])]
    rows, scores = model.recommend(likes, dislikes, k=15, exclude=extra)
    assert len(rows) == 15 and len(set(rows.tolist())) == 15
    assert not set(rows.tolist()) & (set(likes.tolist()) | set(dislikes) | set(extra))
    assert (np.diff(scores) <= 0).all()


def test_recommend_within_candidates_keeps_the_full_order(model: Recommender, data):
    likes = user_likes(data, 3)
    full, full_scores = model.recommend(likes, k=data.n_items)
    # Every third paper, a liked one among them: liked papers stay out, the order is the full one.
    cand = np.concatenate([np.arange(0, data.n_items, 3), likes[:1], [-1, data.n_items + 5]])
    rows, scores = model.recommend(likes, k=12, candidates=cand)
    expected = [r for r in full.tolist() if r % 3 == 0][:12]
    assert rows.tolist() == expected
    assert np.allclose(scores, full_scores[np.isin(full, expected)][:12])
    empty, _ = model.recommend(likes, k=5, candidates=[])
    assert empty.size == 0
    # The same for papers like one paper.
    near, _ = model.similar_items(7, k=data.n_items)
    within, _ = model.similar_items(7, k=5, candidates=np.arange(0, data.n_items, 2))
    assert within.tolist() == [r for r in near.tolist() if r % 2 == 0][:5]


def test_batch_agrees_with_single(model: Recommender, data):
    users = [0, 17, 33, 59]
    L = data.likes[users]
    rows_b, _ = model.recommend_batch(L, k=10)
    for j, u in enumerate(users):
        rows, _ = model.recommend(user_likes(data, u), k=10)
        assert rows.tolist() == rows_b[j].tolist()


# ------------------------------------------------------------------ the known right answer
def own_topic_share(model: Recommender, data: BlockData, k: int = 10) -> float:
    rows, _ = model.recommend_batch(data.likes, k=k)
    return float((data.item_block[rows] == data.user_block[:, None]).mean())


def test_personalized_models_recommend_own_topic(model: Recommender, data):
    share = own_topic_share(model, data)
    if model.personalized:
        assert share >= 0.9, f"{model.name}: only {share:.2f} of top-10 in the user's topic"
    else:
        # Popularity: the same list for everyone, the most-liked papers first.
        rows, _ = model.recommend([], k=5)
        counts = np.asarray(data.likes.sum(axis=0)).ravel()
        assert (np.diff(counts[rows]) <= 0).all() and counts[rows[0]] == counts.max()


def test_heldout_like_is_found(model: Recommender, data):
    """The held-out diagonal: personalized models rank the hidden like high."""
    rows, _ = model.recommend_batch(data.likes, k=10)
    hit = float(np.mean([data.heldout[u] in rows[u] for u in range(data.n_users)]))
    if model.personalized:
        # 10 of the 13 unseen own-topic papers are shown: a model that found the topic scores ~0.75
        assert hit >= 0.5, f"{model.name}: held-out hit rate {hit:.2f}"


def test_new_like_changes_ranking_without_refit(model: Recommender, data):
    """A user unseen at fit time is served from the likes passed in, and each like counts."""
    topic0 = data.items_of_block(0)
    topic2 = data.items_of_block(2)
    before, _ = model.recommend(topic0[:3], k=10)
    after, _ = model.recommend(np.r_[topic0[:3], topic2[:6]], k=10)
    if model.personalized:
        assert before.tolist() != after.tolist()
        assert np.isin(before, topic0).mean() >= 0.7
        assert np.isin(after, topic2).sum() > np.isin(before, topic2).sum()


def test_similar_items_share_the_topic(model: Recommender, data):
    if not model.personalized:
        return
    rows, _ = model.similar_items(5, k=5)
    assert 5 not in rows
    assert (data.item_block[rows] == data.item_block[5]).mean() >= 0.8


# --------------------------------------------------------------------------- new papers
def test_paper_added_after_fit_is_recommended_through_content(model_key, model, data, featurizer):
    n0 = model.n_items
    text = " ".join(f"topic1word{w}" for w in range(8))
    if model.uses_content:
        model_ = fitted(model_key, data, featurizer.transform_counts(data.counts))
        model_.add_items(featurizer.transform([text]))
        assert model_.n_items == n0 + 1
        rows, _ = model_.recommend(data.items_of_block(1)[:6], k=5)
        assert n0 in rows, f"{model.name}: new topic-1 paper not recommended to a topic-1 user"
    else:
        model_ = fitted(model_key, data, None)
        model_.add_items(n=1)
        s = model_.score(data.items_of_block(1)[:6])
        assert s.shape == (n0 + 1,) and np.isfinite(s).all()


# ------------------------------------------------------------------------- persistence
def test_bundle_round_trip_gives_identical_scores(model, data, featurizer, tmp_path):
    if isinstance(model, IndexedModel):
        # An index is built where the model is served: the model is saved, not its wrapper.
        with pytest.raises(TypeError, match="save its model"):
            save_bundle(tmp_path / "m.npz", Bundle(model, [], featurizer, {}))
        assert not list(tmp_path.iterdir())  # nothing half-written left behind
        model = model.model
    path = save_bundle(
        tmp_path / "m.npz",
        Bundle(model, [f"p{i}" for i in range(model.n_items)], featurizer, {"version": "t1"}),
    )
    loaded = load_bundle(path)
    assert loaded.model.name == model.name and loaded.version == "t1"
    assert loaded.model.get_params() == model.get_params()
    L = rows_to_csr([user_likes(data, u) for u in range(5)], data.n_items)
    np.testing.assert_allclose(
        loaded.model.score_batch(L), model.score_batch(L), rtol=1e-5, atol=1e-6
    )
    assert sp.issparse(featurizer.transform(["topic1word1"])) == sp.issparse(
        loaded.featurizer.transform(["topic1word1"])
    )
