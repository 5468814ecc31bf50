"""The vector index: exact equals brute force, faiss finds nearly all of it, models that score by
vectors say so correctly, and ranking through an index gives the model's own answer."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recommender.ann import IndexedRanker, VectorIndex, topk_neighbors
from recommender.matrices import l2_normalize
from recommender.models import create_model
from recommender.ranking import rows_to_csr
from recommender.similarity import topk_cosine
from recommender.synthetic import block_dataset


def clustered(n: int = 3000, d: int = 16, clusters: int = 30, seed: int = 0) -> np.ndarray:
    """L2-normalised vectors around random centres (like LSA or embedding vectors)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, d))
    V = centres[rng.integers(clusters, size=n)] + 0.5 * rng.normal(size=(n, d))
    return (V / np.linalg.norm(V, axis=1, keepdims=True)).astype(np.float32)


def brute_force(V: np.ndarray, Q: np.ndarray, k: int) -> np.ndarray:
    return np.argsort(-(Q @ V.T), axis=1, kind="stable")[:, :k]


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(
        np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth, strict=True)])
    )


def test_exact_index_equals_brute_force():
    V, Q = clustered(), clustered(50, seed=1)
    rows, scores = VectorIndex("exact").build(V).search(Q, 20)
    np.testing.assert_array_equal(rows, brute_force(V, Q, 20))
    np.testing.assert_allclose(scores, np.take_along_axis(Q @ V.T, rows, axis=1), rtol=1e-5)


def test_exact_index_pads_when_fewer_papers_than_k():
    rows, scores = VectorIndex("exact").build(clustered(5)).search(clustered(2, seed=1), 8)
    assert (rows[:, :5] >= 0).all() and (rows[:, 5:] == -1).all()
    assert np.isneginf(scores[:, 5:]).all()


@pytest.mark.parametrize("method", ["hnsw", "ivf"])
def test_faiss_index_finds_nearly_all_of_the_exact_top_k(method):
    V, Q = clustered(), clustered(100, seed=1)
    rows, scores = VectorIndex(method, nlist=30, nprobe=8).build(V).search(Q, 10)
    assert recall(rows, brute_force(V, Q, 10)) >= 0.95
    # Scores are the true inner products, best first.
    np.testing.assert_allclose(
        scores, np.take_along_axis(Q @ V.T, rows, axis=1), rtol=1e-4, atol=1e-5
    )
    assert (np.diff(scores, axis=1) <= 1e-6).all()


def test_ivf_visiting_every_cell_is_exact():
    V, Q = clustered(), clustered(30, seed=1)
    rows, _ = VectorIndex("ivf", nlist=20, nprobe=20).build(V).search(Q, 10)
    assert recall(rows, brute_force(V, Q, 10)) == 1.0


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
    assert hybrid.query_vectors(data.likes[:2]) is None and not IndexedRanker.supports(hybrid)
    content_tfidf = create_model("content").fit(data.likes, sp.csr_matrix(data.counts))
    assert content_tfidf.index_vectors() is None


@pytest.mark.parametrize("name", list(VECTOR_MODELS))
def test_ranking_through_an_exact_index_is_the_models_own_ranking(name, data):
    model = create_model(name, **VECTOR_MODELS[name]).fit(data.likes, dense_features(data))
    ranker = IndexedRanker(model, VectorIndex("exact"))
    for u in range(0, data.n_users, 7):
        likes = data.likes[u].indices
        dislikes = [int((likes[0] + 3) % data.n_items)]
        want = model.recommend(likes, dislikes, k=10)
        got = ranker.recommend(likes, dislikes, k=10)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_allclose(got[1], want[1], rtol=1e-5, atol=1e-6)


def test_papers_added_after_the_build_are_ranked_too(data):
    features = dense_features(data)
    model = create_model("content").fit(data.likes, features)
    ranker = IndexedRanker(model, VectorIndex("hnsw"))
    liked = data.likes[0].indices
    grown = create_model("content").fit(data.likes, features)
    twin = model.index_vectors()[liked].mean(axis=0, keepdims=True)  # the profile itself
    grown.add_items(twin)
    rows, _ = ranker.recommend(liked, k=5, model=grown)
    assert rows[0] == data.n_items  # the new paper, best match of all
    assert not np.isin(rows, liked).any()


def test_topk_neighbors_through_an_exact_index_equals_topk_cosine():
    V = l2_normalize(clustered(500))
    want = topk_cosine(V, 10)
    got = topk_neighbors(V, 10, VectorIndex("exact"))
    np.testing.assert_array_equal(got.indptr, want.indptr)
    np.testing.assert_array_equal(got.indices, want.indices)
    np.testing.assert_allclose(got.data, want.data, rtol=1e-5)


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
