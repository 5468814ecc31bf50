"""The hybrid's known answers: one-user and batch paths agree, explanations, the ALS part, the
popularity boost, pruned content neighbours, state after adding papers."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import scipy.sparse as sp
from model_helpers import csr

from recommender.models.als import ALS
from recommender.models.hybrid import Hybrid
from recommender.ranking import rows_to_csr
from recommender.synthetic import BlockData

# ----------------------------------------------- hybrid: the one-user path with every part on
HYBRID_PARTS: dict[str, dict] = {
    "profile": {"profile_weight": 0.7},
    "als": {"als_weight": 1.5},
    "pop_boost": {"pop_boost": 3.0, "pop_weight": 0.3},
    "all": {
        "profile_weight": 0.7,
        "profile_center": 0.25,
        "als_weight": 1.5,
        "pop_boost": 3.0,
        "pop_weight": 0.3,
        "cold_profile_weight": 1.0,
        "cold_prior": 1.0,
    },
    "ramp": {"evidence_ramp": True, "few_profile_weight": 1.5, "pop_boost": 2.0},
    "ramp+profile": {"evidence_ramp": True, "profile_weight": 0.7, "als_weight": 1.5},
    "centered": {"evidence_ramp": True, "profile_weight": 0.7, "profile_center": 0.5},
    "cold profile": {"evidence_ramp": True, "profile_weight": 0.7, "cold_profile_weight": 2.0},
    "cold profile alone": {"cold_profile_weight": 1.5, "pop_boost": 2.0},
    "cold prior": {"evidence_ramp": True, "cold_prior": 0.5, "pop_weight": 0.3},
}
HYBRID_SMALL = {"cf_neighbors": 10, "content_neighbors": 10, "als_factors": 8, "als_alpha": 5.0}


def _feature_kind(features, kind: str):
    """The TF-IDF features as they are, stacked beside a dense block (as sentence embeddings are
    stacked beside TF-IDF: a CSR matrix with columns every paper uses), or as a dense array."""
    if kind == "sparse":
        return features
    if kind == "stacked":
        block = np.random.default_rng(5).normal(size=(features.shape[0], 6)).astype(np.float32)
        return sp.hstack([features, sp.csr_matrix(block)], format="csr")
    return features.toarray()


def _assert_one_user_path_equals_batch(model, likes: sp.csr_matrix, n_users: int) -> None:
    """``model.score`` equals the ``score_batch`` row for users with likes and random dislikes,
    a paper both liked and disliked, dislikes only, and no likes at all."""
    n = model.n_items
    rng = np.random.default_rng(0)
    cases: list[tuple[np.ndarray, np.ndarray]] = []
    for u in range(0, n_users, 5):
        L = likes[u].indices
        D = np.setdiff1d(rng.choice(n, size=u % 4, replace=False), L)
        cases.append((L, D))
    L0 = likes[1].indices
    cases += [(L0, np.array([L0[0], (L0[-1] + 1) % n])), (np.array([], np.int64), L0[:2])]
    cases += [(np.array([], np.int64), np.array([], np.int64))]
    for L, D in cases:
        batch = model.score_batch(csr([list(L)], n), csr([list(D)], n))[0]
        np.testing.assert_allclose(model.score(L, D), batch, rtol=1e-5, atol=1e-6)
        if not D.size:
            np.testing.assert_allclose(model.score(L), batch, rtol=1e-5, atol=1e-6)


def test_hybrid_content_knn_pruned_from_the_threshold_on(data: BlockData, features, monkeypatch):
    from recommender.models import hybrid

    exact = Hybrid(content_knn="exact").fit(data.likes, features)
    auto = Hybrid().fit(data.likes, features)  # below PRUNED_FROM: exact
    assert (auto.content_knn_ != exact.content_knn_).nnz == 0
    monkeypatch.setattr(hybrid, "PRUNED_FROM", 10)
    pruned = Hybrid().fit(data.likes, features)
    forced = Hybrid(content_knn="pruned").fit(data.likes, features)
    assert (pruned.content_knn_ != forced.content_knn_).nnz == 0
    assert (pruned.content_knn_ != exact.content_knn_).nnz > 0
    # Still the right answer on the block data: the user's own topic.
    rows, _ = pruned.recommend_batch(data.likes, k=10)
    assert (data.item_block[rows] == data.user_block[:, None]).mean() >= 0.9
    # Dense blocks stacked beside the text (embeddings) keep the exact pass under "auto".
    dense_block = np.random.default_rng(0).random((data.n_items, 250), dtype=np.float32)
    stacked = sp.hstack([sp.csr_matrix(features), sp.csr_matrix(dense_block)], format="csr")
    auto_stacked = Hybrid().fit(data.likes, stacked)
    exact_stacked = Hybrid(content_knn="exact").fit(data.likes, stacked)
    assert (auto_stacked.content_knn_ != exact_stacked.content_knn_).nnz == 0
    with pytest.raises(ValueError, match="content_knn"):
        Hybrid(content_knn="fast")


# ------------------------------------------------------------------------------ hybrid
@pytest.mark.parametrize("cold_impute", [0.0, 0.5])
def test_hybrid_one_user_path_equals_the_batch_path(data: BlockData, features, cold_impute: float):
    """``Hybrid.score`` (one user, gathered rows) and ``score_batch`` (sparse products) are two
    routes to the same sums."""
    from recommender.models.hybrid import Hybrid

    model = Hybrid(cold_impute=cold_impute, cf_neighbors=10, content_neighbors=10)
    model.fit(data.likes, features)
    rng = np.random.default_rng(0)
    for u in range(0, data.n_users, 7):
        likes = data.likes[u].indices
        dislikes = rng.choice(data.n_items, size=u % 4, replace=False)
        dislikes = np.setdiff1d(dislikes, likes)
        batch = model.score_batch(
            csr([list(likes)], data.n_items), csr([list(dislikes)], data.n_items)
        )
        np.testing.assert_allclose(model.score(likes, dislikes), batch[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.score([]), model.pop_weight * model.prior_, rtol=1e-6)
    with pytest.raises(IndexError, match="out of range"):
        model.score([data.n_items])


def test_hybrid_explains_by_the_likes_that_added_most(data: BlockData, features):
    from recommender.models.hybrid import Hybrid

    model = Hybrid(cf_neighbors=10, content_neighbors=10).fit(data.likes, features)
    likes = data.likes[0].indices
    rows, _ = model.recommend(likes, k=5)
    because = model.explain(likes, rows, n=2)
    S = model.content_weight * model.content_sim_ + model.cf_weight * model.cf_sim_
    for item, chosen in zip(rows, because, strict=True):
        contrib = S[likes][:, item].toarray().ravel()
        assert chosen, "every suggestion of a user with likes has a reason"
        # the chosen likes are the ones with the largest contribution, largest first
        expect = likes[np.argsort(-contrib, kind="stable")[: len(chosen)]]
        assert chosen == [int(x) for x in expect]
        assert contrib[list(likes).index(chosen[0])] > 0
    assert model.explain([], rows) == [[] for _ in rows]


def test_hybrid_als_part_is_the_folded_in_als_score_over_its_maximum(data: BlockData, features):
    """The optional factor part adds ``als_weight`` times the standalone ALS model's scores of the
    folded-in user divided by their maximum; off (the default) it adds nothing and stores nothing."""
    from recommender.models.hybrid import Hybrid

    common = {"cf_neighbors": 10, "content_neighbors": 10}
    als_params = {"factors": 8, "regularization": 0.1, "alpha": 5.0}
    base = Hybrid(**common).fit(data.likes, features)
    assert base.als_factors_ is None and "als_factors" not in base.state()
    model = Hybrid(
        **common,
        als_weight=1.5,
        als_factors=8,
        als_regularization=0.1,
        als_alpha=5.0,
    ).fit(data.likes, features)
    als = ALS(**als_params, dislike_confidence=5.0, num_threads=1).fit(data.likes)
    L = data.likes[::9]
    D = rows_to_csr([[3] if i % 2 else [] for i in range(L.shape[0])], data.n_items)
    raw = als.score_batch(L, D)
    expect = base.score_batch(L, D) + 1.5 * raw / raw.max(axis=1, keepdims=True)
    np.testing.assert_allclose(model.score_batch(L, D), expect, rtol=1e-4, atol=1e-5)
    # One user goes through the same sums; papers added later get a neutral factor score.
    u = data.likes[0].indices
    np.testing.assert_allclose(
        model.score(u), model.score_batch(csr([list(u)], data.n_items))[0], rtol=1e-5
    )
    model.add_items(features[:2], n=2)
    assert model.als_factors_ is not None and not model.als_factors_[-2:].any()
    loaded = Hybrid(**model.get_params()).load_state(model.state())
    L3 = rows_to_csr([data.likes[i].indices for i in range(3)], model.n_items)
    np.testing.assert_allclose(loaded.score_batch(L3), model.score_batch(L3), rtol=1e-5)


def test_hybrid_pop_boost_scales_the_evidence_by_popularity(data: BlockData, features):
    """``pop_boost`` multiplies the summed evidence by ``1 + pop_boost * prior`` before the
    additive prior; papers nothing points to gain nothing from it."""
    from recommender.models.hybrid import Hybrid

    common = {"cf_neighbors": 10, "content_neighbors": 10, "profile_weight": 0.5}
    plain = Hybrid(**common, pop_weight=0.0).fit(data.likes, features)
    boosted = Hybrid(**common, pop_weight=0.3, pop_boost=4.0, cold_boost=0.0)
    boosted.fit(data.likes, features)
    L = data.likes[::11]
    expect = plain.score_batch(L) * (1.0 + 4.0 * plain.prior_) + 0.3 * plain.prior_
    np.testing.assert_allclose(boosted.score_batch(L), expect, rtol=1e-5, atol=1e-6)
    u = data.likes[0].indices
    np.testing.assert_allclose(boosted.score(u), boosted.score_batch(L[:1])[0], rtol=1e-6)


def test_hybrid_pop_boost_treats_unliked_papers_as_typical(data: BlockData, features):
    """A paper nobody liked (here: papers added after the fit, and a paper whose likes were
    removed before it) is boosted as ``cold_boost`` times the median prior of the liked papers,
    not as the least popular paper; in both scoring paths, and after a save and load."""
    from recommender.models.hybrid import Hybrid

    likes = data.likes.tolil()
    likes[:, 3] = 0  # paper 3: nobody likes it
    likes = sp.csr_matrix(likes)
    likes.eliminate_zeros()
    common = {"cf_neighbors": 10, "content_neighbors": 10, "pop_weight": 0.0, "pop_boost": 4.0}
    plain = Hybrid(**{**common, "pop_boost": 0.0}).fit(likes, features)
    typical = float(np.median(plain.prior_[plain.prior_ > 0]))
    assert plain.prior_[3] == 0 and typical > 0
    for cold_boost in (0.0, 1.0, 0.5):
        model = Hybrid(**common, cold_boost=cold_boost).fit(likes, features)
        want = 1.0 + 4.0 * plain.prior_
        want[3] = 1.0 + 4.0 * cold_boost * typical
        L = likes[::7]
        np.testing.assert_allclose(model.score_batch(L), plain.score_batch(L) * want, rtol=1e-5)
        model.add_items(features[:2], n=2)  # two new papers, as copies of papers 0 and 1
        plain_new = Hybrid(**{**common, "pop_boost": 0.0}).fit(likes, features)
        plain_new.add_items(features[:2], n=2)
        want = np.concatenate([want, np.full(2, 1.0 + 4.0 * cold_boost * typical)])
        u = likes[0].indices
        np.testing.assert_allclose(model.score(u), plain_new.score(u) * want, rtol=1e-5)
        loaded = Hybrid(**model.get_params()).load_state(model.state())
        np.testing.assert_allclose(loaded.score(u), model.score(u), rtol=1e-6)


@pytest.mark.parametrize("kind", ["sparse", "stacked", "dense"])
@pytest.mark.parametrize("parts", list(HYBRID_PARTS))
def test_hybrid_one_user_path_equals_the_batch_path_with_profile_als_and_boost(
    data: BlockData, features, parts: str, kind: str
):
    """The fast one-user path also computes the profile, the folded-in factors and the
    popularity boost: the same scores as ``score_batch``, dislikes included."""
    from recommender.models.hybrid import Hybrid

    model = Hybrid(**HYBRID_SMALL, **HYBRID_PARTS[parts])
    model.fit(data.likes, _feature_kind(features, kind))
    _assert_one_user_path_equals_batch(model, data.likes, data.n_users)


@pytest.mark.parametrize("kind", ["sparse", "stacked", "dense"])
def test_hybrid_one_user_path_after_adding_papers_and_a_state_round_trip(
    data: BlockData, featurizer, features, kind: str
):
    """What the one-user path derives from the paper vectors is rebuilt when papers are added or
    the state is loaded, and is not part of the saved state."""
    from recommender.models.hybrid import Hybrid

    X = _feature_kind(features, kind)
    model = Hybrid(**HYBRID_SMALL, **HYBRID_PARTS["all"]).fit(data.likes, X)
    _assert_one_user_path_equals_batch(model, data.likes, data.n_users)  # builds the index
    assert model._profile_part is not None and model._profile_part.index is not None
    copied = copy.deepcopy(model)  # as the service copies a model to add papers
    assert copied._profile_part is None
    _assert_one_user_path_equals_batch(copied, data.likes, data.n_users)
    state_keys = set(model.state())
    new = featurizer.transform(["topic2word1 topic2word3 topic2word5", "topic0word2 topic0word4"])
    new_x = _feature_kind(new, kind)
    if kind == "stacked":
        new_x = sp.hstack([new, sp.csr_matrix(np.ones((2, 6), np.float32))], format="csr")
    model.add_items(new_x)
    assert model._profile_part is None
    likes = sp.hstack([data.likes, sp.csr_matrix((data.n_users, 2))], format="csr")
    _assert_one_user_path_equals_batch(model, likes, data.n_users)
    # A new paper gets a profile score (the only part that reaches it beside content).
    u = data.likes[0].indices
    assert model.score(u)[-2:].any()
    assert set(model.state()) == state_keys
    loaded = Hybrid(**model.get_params()).load_state(model.state())
    assert loaded._profile_part is None
    _assert_one_user_path_equals_batch(loaded, likes, data.n_users)
    np.testing.assert_allclose(loaded.score(u, [81]), model.score(u, [81]), rtol=1e-5, atol=1e-6)


def test_hybrid_evidence_ramp_ranks_by_the_profile_where_no_liked_paper_has_co_likes(
    data: BlockData, features
):
    """With ``evidence_ramp``, a user whose liked papers nobody else liked gets the content
    profile (at ``few_profile_weight``) plus the popularity prior and nothing of the other
    parts; a user whose liked papers all have co-likes gets the parts' own weights, as without
    the ramp; one with half of each gets half of each."""
    from recommender.models.content import ContentProfile
    from recommender.models.hybrid import Hybrid

    likes = data.likes.tolil()
    lonely = [int(c) for c in likes.rows[0][:2]]
    for u in range(likes.shape[0]):  # nobody liked these two papers at fit time
        for c in lonely:
            likes[u, c] = 0
    likes = sp.csr_matrix(likes)
    likes.eliminate_zeros()
    params = {**HYBRID_SMALL, "cf_weight": 3.0, "content_weight": 2.0, "pop_boost": 1.0}
    ramped = Hybrid(**params, evidence_ramp=True, few_profile_weight=2.0).fit(likes, features)
    plain = Hybrid(**params).fit(likes, features)
    profile = ContentProfile(dislike_weight=ramped.dislike_weight).fit(likes, features)
    assert ramped.cold_[lonely].all()
    prior = ramped.pop_weight * ramped.prior_
    np.testing.assert_allclose(
        ramped.score(lonely), 2.0 * profile.score(lonely) + prior, rtol=1e-5, atol=1e-6
    )
    warm = [int(c) for c in likes[5].indices[:3]]
    assert not ramped.cold_[warm].any()
    np.testing.assert_allclose(ramped.score(warm), plain.score(warm), rtol=1e-5, atol=1e-6)
    mixed = sorted([lonely[0], warm[0]])
    assert ramped._ramp_one(np.asarray(mixed)) == 0.5
    for other in (plain.score(mixed), 2.0 * profile.score(mixed) + prior):
        assert not np.allclose(ramped.score(mixed), other)


def _without_likes_of_three(data: BlockData) -> tuple[sp.csr_matrix, list[int]]:
    """The likes with every like of three papers (the first user's first three) taken out, and
    those papers: nobody liked them at fit time."""
    likes = data.likes.tolil()
    lonely = [int(c) for c in likes.rows[0][:3]]
    for u in range(likes.shape[0]):
        for c in lonely:
            likes[u, c] = 0
    out = sp.csr_matrix(likes)
    out.eliminate_zeros()
    return out, lonely


def test_hybrid_cold_profile_weight_adds_the_profile_to_papers_without_co_likes_only(
    data: BlockData, features
):
    """``cold_profile_weight`` w: a paper without co-likes (nobody else liked it at fit time, or
    added since) scores w times the user's profile evidence more than with it off; a paper with
    co-likes scores the same. The popularity boost multiplies the sum, so it is off here."""
    likes, lonely = _without_likes_of_three(data)
    params = {**HYBRID_SMALL, "profile_weight": 0.5, "als_weight": 1.0}
    off = Hybrid(**params).fit(likes, features)
    on = copy.copy(off)
    on.cold_profile_weight = 3.0
    assert on.cold_[lonely].all() and np.count_nonzero(~on.cold_) > data.n_items // 2
    user = np.asarray(sorted(int(c) for c in likes[5].indices[:4]))
    profile = on._profile().one(user, np.empty(0, np.int64))
    assert profile is not None and profile[lonely].min() > 0
    expected = off.score(user) + np.where(on.cold_, 3.0 * profile, 0.0)
    np.testing.assert_allclose(on.score(user), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        on.score_batch(rows_to_csr([user], data.n_items))[0], expected, rtol=1e-5, atol=1e-6
    )
    # A paper added since the fit has no co-likes either.
    on.add_items(features[lonely[0]])
    assert on.cold_[-1]
    assert on.score(user)[-1] > off.score(user)[lonely[0]]


def test_hybrid_cold_prior_is_the_floor_of_papers_nobody_liked_only(data: BlockData, features):
    """``cold_prior`` f: the floor ``pop_weight`` adds is, for a paper nobody liked at fit time
    (or added since), f times the median prior of the liked papers instead of 0; every liked
    paper's floor, and every other part, stays as it was. A user without likes is ranked by that
    floor alone."""
    likes, lonely = _without_likes_of_three(data)
    params = {**HYBRID_SMALL, "profile_weight": 0.5, "evidence_ramp": True, "pop_weight": 0.4}
    off = Hybrid(**params).fit(likes, features)
    on = copy.copy(off)
    on.cold_prior = 0.5
    unliked = off.prior_ <= 0
    assert unliked[lonely].all() and np.count_nonzero(~unliked) > data.n_items // 2
    typical = float(np.median(off.prior_[~unliked]))
    assert typical > 0
    user = np.asarray(sorted(int(c) for c in likes[5].indices[:4]))
    expected = off.score(user) + np.where(unliked, 0.4 * 0.5 * typical, 0.0)
    np.testing.assert_allclose(on.score(user), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        on.score_batch(rows_to_csr([user], data.n_items))[0], expected, rtol=1e-5, atol=1e-6
    )
    nobody = on.score(np.empty(0, dtype=np.int64))
    np.testing.assert_allclose(
        nobody, 0.4 * np.where(unliked, 0.5 * typical, off.prior_), rtol=1e-6
    )
    # A paper added since the fit is one nobody liked; the off model keeps its floor at 0.
    on.add_items(features[lonely[0]])
    off.add_items(features[lonely[0]])
    assert on.score(user)[-1] - off.score(user)[-1] == pytest.approx(0.4 * 0.5 * typical, rel=1e-5)
