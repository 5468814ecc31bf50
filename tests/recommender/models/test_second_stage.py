"""The hybrid's learned second stage: it re-orders the first stage's candidates only, learns a
signal the first stage misses, agrees between its one-user and batch forms, and survives a save;
a model without it serves the first stage's order."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from model_helpers import random_tfidf

from recommender.models.hybrid import Hybrid
from recommender.models.second_stage import FEATURES, SecondStage, candidate_features
from recommender.ranking import rows_to_csr

pytest.importorskip("lightgbm")

N_ITEMS, N_USERS, LIKES = 300, 500, 12
#: A first stage that knows nothing useful: content on random text, no co-likes, no prior.
BLIND = {
    "content_weight": 1.0,
    "cf_weight": 0.0,
    "pop_weight": 0.0,
    "content_neighbors": 20,
    "cold_impute": 0.0,
}


def _popular_likes(seed: int) -> sp.csr_matrix:
    """Users whose likes follow the papers' popularity (a steep Zipf law over random papers)."""
    rng = np.random.default_rng(seed)
    weight = 1.0 / np.arange(1, N_ITEMS + 1) ** 1.2
    weight = weight[rng.permutation(N_ITEMS)]
    weight /= weight.sum()
    rows = [
        np.sort(rng.choice(N_ITEMS, size=LIKES, replace=False, p=weight)) for _ in range(N_USERS)
    ]
    return rows_to_csr(rows, N_ITEMS)


@pytest.fixture(scope="module")
def world() -> tuple[sp.csr_matrix, sp.csr_matrix, sp.csr_matrix]:
    """``(features, training likes, held-out likes)``: each user's last 3 likes held out."""
    likes = _popular_likes(1)
    held_rows, kept_rows = [], []
    for u in range(N_USERS):
        r = likes.indices[likes.indptr[u] : likes.indptr[u + 1]]
        order = np.random.default_rng(u).permutation(r.size)
        held_rows.append(np.sort(r[order[:3]]))
        kept_rows.append(np.sort(r[order[3:]]))
    return (
        random_tfidf(N_ITEMS, 40, 2),
        rows_to_csr(kept_rows, N_ITEMS),
        rows_to_csr(held_rows, N_ITEMS),
    )


@pytest.fixture(scope="module")
def models(world) -> tuple[Hybrid, Hybrid]:
    features, train, _ = world
    first = Hybrid(**BLIND).fit(train, features)
    second = Hybrid(**BLIND, second_stage=60, second_stage_users=300).fit(train, features)
    return first, second


def _recall(model: Hybrid, train: sp.csr_matrix, held: sp.csr_matrix, k: int) -> float:
    top, _ = model.recommend_batch(train, k)
    hits = [
        len(set(top[u]) & set(held.indices[held.indptr[u] : held.indptr[u + 1]])) / 3
        for u in range(train.shape[0])
    ]
    return float(np.mean(hits))


def test_it_learns_what_the_first_stage_misses(world, models) -> None:
    """Popularity decides what these users like; the blind first stage cannot see it, the ranker
    reads it among its features (the prior) and its top 10 finds far more of the held-out likes.
    (Its training labels come from its own split of the training likes, not from ``held``.)"""
    _, train, held = world
    first, second = models
    assert second.second_stage_ is not None
    r1, r2 = _recall(first, train, held, 10), _recall(second, train, held, 10)
    assert r2 > 1.5 * r1 + 0.02, (r1, r2)


def test_it_only_reorders_the_first_stages_candidates(world, models) -> None:
    _, train, _ = world
    first, second = models
    for u in range(0, 50, 7):
        liked = train.indices[train.indptr[u] : train.indptr[u + 1]]
        top1, _ = first.recommend(liked, k=60)
        top2, _ = second.recommend(liked, k=60)
        assert set(top1) == set(top2)
        assert not set(top2) & set(liked)
        # Beyond the candidates the first stage's order stays.
        full1, _ = first.recommend(liked, k=100)
        full2, _ = second.recommend(liked, k=100)
        assert list(full1[60:]) == list(full2[60:])


def test_one_user_and_batch_forms_agree(world, models) -> None:
    _, train, _ = world
    _, second = models
    users = np.arange(0, 40, 3)
    batch = second.score_batch(train[users])
    for i, u in enumerate(users):
        one = second.score(train.indices[train.indptr[u] : train.indptr[u + 1]])
        np.testing.assert_allclose(one, batch[i], rtol=1e-4, atol=1e-4)


def test_dislikes_are_left_out_of_the_candidates(world, models) -> None:
    _, train, _ = world
    _, second = models
    liked = train.indices[train.indptr[0] : train.indptr[1]]
    top, _ = second.recommend(liked, k=20)
    disliked = np.sort(top[:5])
    again, _ = second.recommend(liked, disliked, k=20)
    assert not set(again) & set(disliked)


def test_the_ranker_survives_its_state_and_a_state_without_it_serves_the_first_stage(
    world, models
) -> None:
    _, train, _ = world
    first, second = models
    state = second.state()
    assert state["second_stage"].dtype == np.uint8  # LightGBM's text, never a pickle
    loaded = Hybrid(**second.get_params()).load_state(state)
    liked = train.indices[train.indptr[3] : train.indptr[4]]
    np.testing.assert_array_equal(
        second.recommend(liked, k=30)[0], loaded.recommend(liked, k=30)[0]
    )
    del state["second_stage"]
    fallback = Hybrid(**second.get_params()).load_state(state)
    assert fallback.second_stage_ is None
    np.testing.assert_array_equal(
        first.recommend(liked, k=30)[0], fallback.recommend(liked, k=30)[0]
    )


def test_a_damaged_ranker_is_an_error_not_a_guess() -> None:
    with pytest.raises(ValueError):
        SecondStage.from_array(np.zeros(4, dtype=np.uint8))
    with pytest.raises(Exception):  # noqa: B017 - LightGBM's own error for a text that is no model
        SecondStage.from_array(np.frombuffer(b"\x05\0\0\0\0\0\0\0not a model", dtype=np.uint8))


def test_candidate_features_of_a_hand_made_user() -> None:
    score = np.array([0.9, 0.1, 0.5, 0.7, 0.3], dtype=np.float32)
    vectors = sp.csr_matrix(np.eye(5, dtype=np.float32))
    rows, X = candidate_features(
        score,
        {"content": score * 2},
        np.array([0]),
        np.array([3]),
        prior=np.linspace(0, 1, 5, dtype=np.float32),
        cold=np.array([False, True, False, False, True]),
        vectors=vectors,
        n=3,
    )
    assert rows.tolist() == [2, 4, 1]  # liked 0 and disliked 3 left out, best first
    col = {name: j for j, name in enumerate(FEATURES)}
    np.testing.assert_allclose(X[:, col["score"]], [0.5, 0.3, 0.1])
    np.testing.assert_allclose(X[:, col["content"]], [1.0, 0.6, 0.2])
    np.testing.assert_allclose(X[:, col["profile"]], 0.0)  # a part that is off says nothing
    np.testing.assert_allclose(X[:, col["cold"]], [0, 1, 1])
    np.testing.assert_allclose(X[:, col["warm_share"]], 1.0)  # the one liked paper has co-likes
    np.testing.assert_allclose(X[:, col["max_similarity"]], 0.0)
