"""The vector index: exact equals brute force, faiss finds nearly all of it, and neighbour lists
through an exact index equal the exact top-k cosine."""

from __future__ import annotations

import numpy as np
import pytest

from recommender.ann import VectorIndex, topk_neighbors
from recommender.matrices import l2_normalize
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


# ------------------------------------------------------------ models that score by vectors
@pytest.fixture(scope="module")
def data():
    return block_dataset(seed=0)


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


def test_topk_neighbors_through_an_exact_index_equals_topk_cosine():
    V = l2_normalize(clustered(500))
    want = topk_cosine(V, 10)
    got = topk_neighbors(V, 10, VectorIndex("exact"))
    np.testing.assert_array_equal(got.indptr, want.indptr)
    np.testing.assert_array_equal(got.indices, want.indices)
    np.testing.assert_allclose(got.data, want.data, rtol=1e-5)
