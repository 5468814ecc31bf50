"""IndexedModel, the model that ranks another model through a vector index: models that score by
vectors say so correctly, and ranking through the index gives the model's own answer (papers added
since the build included, exclusions honoured, candidates ranked exactly). The model contract
itself is run against IndexedModel in models/test_contract.py."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import scipy.sparse as sp

from recommender.ann import VectorIndex
from recommender.models import create_model
from recommender.models.base import NotFittedError
from recommender.models.indexed import IndexedModel
from recommender.ranking import rows_to_csr
from recommender.synthetic import block_dataset


def clustered(n: int = 3000, d: int = 16, clusters: int = 30, seed: int = 0) -> np.ndarray:
    """L2-normalised vectors around random centres (like LSA or embedding vectors)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, d))
    V = centres[rng.integers(clusters, size=n)] + 0.5 * rng.normal(size=(n, d))
    return (V / np.linalg.norm(V, axis=1, keepdims=True)).astype(np.float32)


# ------------------------------------------------------------ models that score by vectors
@pytest.fixture(scope="module")
def data():
    return block_dataset(seed=0)


def dense_features(data) -> np.ndarray:
    rng = np.random.default_rng(0)
    counts = data.counts.toarray()
    return (counts @ rng.normal(size=(counts.shape[1], 12))).astype(np.float32)  # a projection


VECTOR_MODELS = {
    "content": {},
    "als": {"factors": 8, "iterations": 15, "regularization": 0.05},
    "bpr": {"factors": 8, "iterations": 200, "learning_rate": 0.05},
}


def clustered_content(n_users: int = 200) -> tuple[IndexedModel, np.ndarray, list[np.ndarray]]:
    """The content profile on clustered dense vectors, a wrapper over it (IVF scanning 8 of 30
    cells) and users who like 3 papers each."""
    V = clustered()
    rng = np.random.default_rng(2)
    users = [np.sort(rng.choice(V.shape[0], 3, replace=False)) for _ in range(n_users)]
    model = create_model("content").fit(rows_to_csr(users, V.shape[0]), V)
    return IndexedModel(model, VectorIndex("ivf", nlist=30, nprobe=8)), V, users


@pytest.mark.parametrize("name", list(VECTOR_MODELS))
def test_query_vectors_times_index_vectors_are_the_scores(name, data):
    model = create_model(name, **VECTOR_MODELS[name]).fit(data.likes, dense_features(data))
    L = data.likes[:10]
    D = rows_to_csr([[int(data.likes[u].indices[0]) + 1] for u in range(10)], data.n_items)
    Q, V = model.query_vectors(L, D), model.index_vectors()
    assert Q is not None and V is not None
    np.testing.assert_allclose(Q @ V.T, model.score_batch(L, D), rtol=1e-4, atol=1e-4)


def test_models_that_do_not_score_by_vectors_say_so(data):
    hybrid = create_model("hybrid").fit(data.likes, dense_features(data))
    assert hybrid.query_vectors(data.likes[:2]) is None and not IndexedModel.supports(hybrid)
    content_tfidf = create_model("content").fit(data.likes, sp.csr_matrix(data.counts))
    assert content_tfidf.index_vectors() is None
    with pytest.raises(ValueError, match="does not score by vectors"):
        IndexedModel(hybrid)


@pytest.mark.parametrize("name", list(VECTOR_MODELS))
def test_ranking_through_an_exact_index_is_the_models_own_ranking(name, data):
    model = create_model(name, **VECTOR_MODELS[name]).fit(data.likes, dense_features(data))
    indexed = IndexedModel(model, VectorIndex("exact"))
    for u in range(0, data.n_users, 7):
        likes = data.likes[u].indices
        dislikes = [int((likes[0] + 3) % data.n_items)]
        want = model.recommend(likes, dislikes, k=10)
        got = indexed.recommend(likes, dislikes, k=10)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_allclose(got[1], want[1], rtol=1e-5, atol=1e-6)
    # Scores, explanations and similar papers are the model's own.
    likes = data.likes[0].indices
    np.testing.assert_array_equal(indexed.score(likes), model.score(likes))
    assert indexed.explain(likes, [1, 2]) == model.explain(likes, [1, 2])
    np.testing.assert_array_equal(indexed.similar_items(3, k=5)[0], model.similar_items(3, k=5)[0])


def test_an_approximate_index_finds_nearly_all_of_the_models_own_top_k():
    indexed, _, users = clustered_content()
    model = indexed.model
    recalls = []
    for likes in users:
        exclude = [int(likes[0]) + 1]
        want, _ = model.recommend(likes, k=20, exclude=exclude)
        got, scores = indexed.recommend(likes, k=20, exclude=exclude)
        assert got.size == 20 and not np.isin(got, np.r_[likes, exclude]).any()
        assert (np.diff(scores) <= 0).all()
        recalls.append(len(np.intersect1d(got, want)) / 20)
    assert np.mean(recalls) >= 0.95
    # The batch path asks the index for all users at once: the same lists.
    rows, _ = indexed.recommend_batch(rows_to_csr(users[:20], indexed.n_items), k=20)
    for u in range(20):
        assert rows[u].tolist() == indexed.recommend(users[u], k=20)[0].tolist()


def test_papers_added_after_the_build_are_ranked_too(data):
    features = dense_features(data)
    model = create_model("content").fit(data.likes, features)
    indexed = IndexedModel(model, VectorIndex("hnsw"))
    liked = data.likes[0].indices
    twin = model.index_vectors()[liked].mean(axis=0, keepdims=True)  # the profile itself
    indexed.add_items(np.vstack([twin, -twin]))
    assert (
        indexed.n_items == model.n_items == data.n_items + 2 and len(indexed.index) == data.n_items
    )
    rows, _ = indexed.recommend(liked, k=5)
    assert rows[0] == data.n_items  # the new paper, best match of all
    assert not np.isin(rows, liked).any()
    # Papers of the tail are excluded like the others, and the worst one comes last.
    rows, _ = indexed.recommend(liked, k=data.n_items, exclude=[data.n_items])
    assert data.n_items not in rows and rows[-1] == data.n_items + 1
    rows_b, _ = indexed.recommend_batch(rows_to_csr([liked], indexed.n_items), k=5)
    assert rows_b[0].tolist() == indexed.recommend(liked, k=5)[0].tolist()


def test_candidates_are_ranked_exactly_even_where_the_index_would_miss_them():
    """A list limited to candidates (the service's ``since``) is the model's own: every
    candidate in the full ranking's order, papers of the tail included, however few of them
    an approximate index would have found."""
    indexed, V, users = clustered_content(20)
    model = indexed.model
    indexed.add_items(V[:5])
    rng = np.random.default_rng(3)
    cand = np.r_[rng.choice(V.shape[0], 300, replace=False), np.arange(V.shape[0], V.shape[0] + 5)]
    for likes in users:
        want = model.recommend(likes, [int(likes[0]) + 1], k=50, candidates=cand)
        got = indexed.recommend(likes, [int(likes[0]) + 1], k=50, candidates=cand)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])
        assert np.isin(got[0], cand).all() and not np.isin(got[0], likes).any()


def test_copies_share_the_index_and_not_the_model(data):
    """The service copies the model to add papers: the copy grows, the original does not, and
    the index (built once) is shared. An index is not saved with the model."""
    features = dense_features(data)
    indexed = IndexedModel(create_model("content").fit(data.likes, features), VectorIndex("exact"))
    liked = data.likes[0].indices
    before = indexed.recommend(liked, k=10)
    grown = copy.deepcopy(indexed)
    grown.add_items(features[:1])
    assert grown.index is indexed.index and grown.model is not indexed.model
    assert (grown.n_items, indexed.n_items) == (data.n_items + 1, data.n_items)
    np.testing.assert_array_equal(indexed.recommend(liked, k=10)[0], before[0])
    with pytest.raises(TypeError, match="save its model"):
        indexed.state()


def test_fitting_through_the_wrapper_fits_the_model_and_builds_the_index(data):
    indexed = IndexedModel(create_model("als", **VECTOR_MODELS["als"]), VectorIndex("exact"))
    with pytest.raises(NotFittedError):
        indexed.recommend([0])
    assert indexed.fit(data.likes) is indexed
    assert len(indexed.index) == indexed.n_items == data.n_items
    likes = data.likes[0].indices
    np.testing.assert_array_equal(indexed.recommend(likes)[0], indexed.model.recommend(likes)[0])


# ------------------------------------------------------------------ the serving engine
def test_engine_ranks_through_an_index_from_the_threshold_on(data):
    from datetime import date

    from recommender.catalog import Catalog, Paper
    from recommender.serving import Engine
    from recommender.training import train

    catalog = Catalog(Paper(f"p{i}", f"Paper {i}", t) for i, t in enumerate(data.texts))
    likes = {f"u{u}": [f"p{i}" for i in data.likes[u].indices] for u in range(data.n_users)}
    bundle = train(
        catalog,
        likes,
        model="als",
        params=VECTOR_MODELS["als"],
        featurizer_params={"min_df": 1},
    )
    exact = Engine(bundle, catalog)
    indexed = Engine(bundle, catalog, ann_threshold=0, ann_method="exact")
    assert not exact.approximate and indexed.approximate
    assert not Engine(bundle, catalog, ann_threshold=len(catalog) + 1).approximate
    for u in range(0, data.n_users, 9):
        liked = likes[f"u{u}"]
        want = [s.paper_id for s in exact.recommend(liked, k=10)]
        assert [s.paper_id for s in indexed.recommend(liked, k=10)] == want
    # A list limited by ``since`` is scored exactly, so it agrees with the exact engine's.
    dated = [Paper(p.paper_id, p.title, p.abstract, published="2026-01-02") for p in catalog][:30]
    for engine in (exact, indexed):
        engine.add_papers(dated)
    liked = likes["u9"]
    want = [s.paper_id for s in exact.recommend(liked, k=10, since=date(2026, 1, 1))]
    assert [s.paper_id for s in indexed.recommend(liked, k=10, since=date(2026, 1, 1))] == want
    assert want and set(want) <= {p.paper_id for p in dated}
    # A paper added after the index was built is recommendable at once (scored exactly).
    created, _ = indexed.add_papers([Paper("new", "New paper", data.texts[0])])
    assert created == 1 and indexed.approximate
    assert len(indexed.recommend(likes["u0"], k=len(catalog))) == len(catalog) + 1 - len(
        set(likes["u0"])
    )
