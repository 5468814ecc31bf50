"""Sparse top-k similarities: exact against brute force, the pruned search, pruning, the
feature index's products."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from model_helpers import random_tfidf

from recommender.similarity import prune_topk, pruned_topk_cosine, topk_cosine


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


def test_prune_topk_keeps_the_largest_per_row():
    S = sp.csr_matrix(np.array([[0.1, 0.5, 0.3, 0.0], [0.0, 0.0, 0.2, 0.0], [0.9, 0.8, 0.7, 0.6]]))
    expected = [[0.0, 0.5, 0.3, 0.0], [0.0, 0.0, 0.2, 0.0], [0.9, 0.8, 0.0, 0.0]]
    np.testing.assert_array_equal(prune_topk(S, 2).toarray(), expected)


@pytest.mark.parametrize("kind", ["sparse", "stacked", "dense"])
def test_feature_index_dot_is_the_matrix_vector_product(kind: str) -> None:
    from recommender import similarity

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
