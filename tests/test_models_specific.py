"""Model-specific known answers for the factor models (fold-in), LightFM, the per-user linear model
and content item-kNN: each checked against a closed form, brute force or the library it wraps."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares
from implicit.cpu.bpr import BayesianPersonalizedRanking
from sklearn.svm import LinearSVC

from recommender.matrices import l2_normalize
from recommender.models import create_model
from recommender.models.als import ALS, confidence_matrix
from recommender.models.base import Recommender
from recommender.models.bpr import BPR
from recommender.models.factors import fold_in, gram, score_scale
from recommender.models.hybrid import Hybrid
from recommender.models.item_knn import ItemKNN
from recommender.models.lightfm import LightFMHybrid, LightFMWarp, _lightfm
from recommender.models.linear import PerUserLinear
from recommender.ranking import rows_to_csr
from recommender.similarity import prune_topk, pruned_topk_cosine, topk_cosine
from recommender.synthetic import BlockData

SMALL: dict[str, dict] = {
    "als": {"factors": 8},
    "bpr": {"factors": 8, "iterations": 200},
    "lightfm": {"no_components": 8, "epochs": 40},
    "lightfm_hybrid": {"no_components": 8, "epochs": 40},
    "linear": {},
    "item_knn": {"k_neighbors": 20},
}
MINE = list(SMALL)


def fit(name: str, data: BlockData, features, **extra) -> Recommender:
    return create_model(name, **{**SMALL[name], **extra}).fit(data.likes, features)


def csr(rows: list[list[int]], n: int) -> sp.csr_matrix:
    return rows_to_csr(rows, n)


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


# ----------------------------------------------------------------------------------- BPR
def implicit_bpr(data: BlockData) -> BayesianPersonalizedRanking:
    mf = BayesianPersonalizedRanking(
        factors=8, learning_rate=0.05, regularization=0.01, iterations=200, num_threads=1
    )
    mf.random_state = 0
    mf.fit(data.likes, show_progress=False)
    return mf


def top_overlap(a: np.ndarray, b: np.ndarray, seen: sp.csr_matrix, k: int = 10) -> float:
    a, b = a.copy(), b.copy()
    a[seen.nonzero()] = -np.inf
    b[seen.nonzero()] = -np.inf
    ta, tb = np.argsort(-a, axis=1)[:, :k], np.argsort(-b, axis=1)[:, :k]
    return float(np.mean([len(set(x) & set(y)) / k for x, y in zip(ta, tb, strict=True)]))


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


# ------------------------------------------------------------------------------ ItemKNN
def brute_topk(V: np.ndarray, k: int, shrink: float = 0.0) -> np.ndarray:
    S = V @ V.T
    if shrink:
        n = (V != 0).astype(float) @ (V != 0).T.astype(float)
        S = S * n / (n + shrink)
    np.fill_diagonal(S, 0.0)
    out = np.zeros_like(S)
    for i, row in enumerate(S):
        best = np.argsort(-row)[:k]
        best = best[row[best] > 0]
        out[i, best] = row[best]
    return out


def random_tfidf(n: int, d: int, seed: int) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    X = sp.random(n, d, density=0.15, random_state=rng, dtype=np.float32, format="lil")
    X[:, :3] = (rng.random((n, 3)) < 0.6).astype(np.float32)  # frequent words: dense columns
    X = sp.csr_matrix(X)
    X.eliminate_zeros()
    X.data = rng.random(X.nnz, dtype=np.float32) + 0.1
    return sp.csr_matrix(l2_normalize(X))


@pytest.mark.parametrize("shrink", [0.0, 2.0])
@pytest.mark.parametrize("as_dense", [False, True])
def test_topk_cosine_equals_brute_force(shrink: float, as_dense: bool):
    V = random_tfidf(37, 25, seed=3)
    Vin = V.toarray() if as_dense else V
    S = topk_cosine(Vin, k=5, shrink=shrink, block_rows=4)
    np.testing.assert_allclose(S.toarray(), brute_topk(V.toarray(), 5, shrink), atol=1e-6)
    assert (np.diff(S.indptr) <= 5).all() and not S.diagonal().any()


def test_pruned_topk_cosine_is_exact_when_nothing_is_pruned_and_a_lower_bound_otherwise():
    V = random_tfidf(60, 25, seed=5)
    exact = brute_topk(V.toarray(), 5)
    # Every term of every paper kept, every paper in every posting: the exact answer.
    S = pruned_topk_cosine(V, 5, terms=25, postings=60)
    np.testing.assert_allclose(S.toarray(), exact, atol=1e-6)
    # Pruned: at most k per row, never itself, and each score at most the pair's true cosine.
    P = pruned_topk_cosine(V, 5, terms=3, postings=10)
    cos = V.toarray() @ V.toarray().T
    assert (np.diff(P.indptr) <= 5).all() and not P.diagonal().any()
    r, c = P.nonzero()
    assert (P.data > 0).all() and (P.toarray()[r, c] <= cos[r, c] + 1e-6).all()
    # It finds most of the exact neighbours all the same.
    found = (P.toarray() > 0) & (exact > 0)
    assert found.sum() >= 0.5 * (exact > 0).sum()


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


def test_prune_topk_keeps_the_largest_per_row():
    S = sp.csr_matrix(np.array([[0.1, 0.5, 0.3, 0.0], [0.0, 0.0, 0.2, 0.0], [0.9, 0.8, 0.7, 0.6]]))
    expected = [[0.0, 0.5, 0.3, 0.0], [0.0, 0.0, 0.2, 0.0], [0.9, 0.8, 0.0, 0.0]]
    np.testing.assert_array_equal(prune_topk(S, 2).toarray(), expected)


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


def test_profile_scores_equal_the_sparse_product() -> None:
    """The dense-profile shortcut gives P @ V.T, sparse or dense, under or over its size limit."""
    from recommender.models import content

    rng = np.random.default_rng(0)
    V = sp.random(40, 30, density=0.2, format="csr", random_state=1, dtype=np.float32)
    P = sp.random(5, 30, density=0.3, format="csr", random_state=2, dtype=np.float32)
    want = (P @ V.T).toarray()
    got = content.profile_scores(P, V)
    assert got.dtype == np.float32 and got.flags.c_contiguous
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    Vd = rng.random((40, 30), dtype=np.float32)
    np.testing.assert_allclose(content.profile_scores(P, Vd), P @ Vd.T, rtol=1e-5)
    limit = content._DENSE_PROFILE_LIMIT
    try:
        content._DENSE_PROFILE_LIMIT = 10  # forces the sparse product
        np.testing.assert_allclose(content.profile_scores(P, V), want, rtol=1e-5, atol=1e-6)
    finally:
        content._DENSE_PROFILE_LIMIT = limit


# ----------------------------------------------- hybrid: the one-user path with every part on
HYBRID_PARTS: dict[str, dict] = {
    "profile": {"profile_weight": 0.7},
    "als": {"als_weight": 1.5},
    "pop_boost": {"pop_boost": 3.0, "pop_weight": 0.3},
    "all": {"profile_weight": 0.7, "als_weight": 1.5, "pop_boost": 3.0, "pop_weight": 0.3},
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


@pytest.mark.parametrize("slice_cost", [0, 10**9])
def test_hybrid_profile_by_either_product_gives_the_same_scores(
    data: BlockData, features, slice_cost: int, monkeypatch: pytest.MonkeyPatch
):
    """Whichever way the profile product goes (over the inverted index's rows of the profile's
    features, or over all papers), the scores are those of the batch path."""
    from recommender import similarity
    from recommender.models.hybrid import Hybrid

    monkeypatch.setattr(similarity, "_SLICE_COST", slice_cost)
    monkeypatch.setattr(similarity, "_SLICE_OVERHEAD", -1 if slice_cost == 0 else 0)
    model = Hybrid(**HYBRID_SMALL, **HYBRID_PARTS["all"])
    model.fit(data.likes, _feature_kind(features, "stacked"))
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


@pytest.mark.parametrize("slice_cost", [0, 10**9])
@pytest.mark.parametrize("kind", ["sparse", "stacked", "dense"])
def test_feature_index_dot_is_the_matrix_vector_product(
    kind: str, slice_cost: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from recommender import similarity

    monkeypatch.setattr(similarity, "_SLICE_COST", slice_cost)
    monkeypatch.setattr(similarity, "_SLICE_OVERHEAD", -1 if slice_cost == 0 else 0)
    V = sp.random(50, 40, density=0.1, format="csr", random_state=3, dtype=np.float32)
    if kind == "stacked":
        V = sp.hstack([V, sp.csr_matrix(np.ones((50, 3), np.float32))], format="csr")
    Vx = V.toarray() if kind == "dense" else V
    index = similarity.FeatureIndex(Vx)
    assert (index.dense_t is not None) == (kind != "sparse")
    rng = np.random.default_rng(0)
    for nonzero in (0, 1, 5, V.shape[1]):
        p = np.zeros(V.shape[1], np.float32)
        p[rng.choice(V.shape[1], nonzero, replace=False)] = rng.normal(size=nonzero)
        want = V.toarray() @ p
        np.testing.assert_allclose(index.dot(p), want, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="columns"):
        index.dot(np.zeros(3, np.float32))
