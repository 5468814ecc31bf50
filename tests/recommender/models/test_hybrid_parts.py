"""Each part of the hybrid: its batch form and its one-user form give the same evidence for random
users (random likes and dislikes, a paper both liked and disliked, dislikes only, no likes)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recommender.matrices import l2_normalize
from recommender.models.factors import gram
from recommender.models.hybrid_parts import (
    EvidencePart,
    FactorEvidence,
    NeighbourEvidence,
    ProfileEvidence,
)
from recommender.ranking import rows_to_csr

N_PAPERS = 120


def random_users(seed: int = 0, n_users: int = 40) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Liked and disliked rows of random users, with the edge cases appended."""
    rng = np.random.default_rng(seed)
    likes, dislikes = [], []
    for _ in range(n_users):
        liked = np.sort(rng.choice(N_PAPERS, rng.integers(1, 15), replace=False))
        disliked = np.setdiff1d(rng.choice(N_PAPERS, rng.integers(0, 5), replace=False), liked)
        likes.append(liked)
        dislikes.append(disliked)
    both = likes[0][:2]
    likes += [likes[0], np.empty(0, np.int64), np.empty(0, np.int64)]
    dislikes += [np.union1d(both, [N_PAPERS - 1]), likes[1][:3], np.empty(0, np.int64)]
    return likes, dislikes


def assert_forms_agree(part: EvidencePart, seed: int = 0) -> None:
    likes, dislikes = random_users(seed)
    L, D = rows_to_csr(likes, N_PAPERS), rows_to_csr(dislikes, N_PAPERS)
    batch = part.batch(L, D)
    assert batch is not None and batch.shape == (len(likes), N_PAPERS)
    assert batch.dtype == np.float32 and np.isfinite(batch).all()
    assert np.abs(batch).max() > 0  # a part that says nothing would agree trivially
    for u, (liked, disliked) in enumerate(zip(likes, dislikes, strict=True)):
        one = part.one(liked, disliked)
        assert one is not None and one.shape == (N_PAPERS,)
        np.testing.assert_allclose(one, batch[u], rtol=1e-5, atol=1e-6)
    # No dislikes given to the batch form is no dislikes for the one-user form.
    no_dislikes = part.batch(L, None)
    assert no_dislikes is not None
    np.testing.assert_allclose(
        part.one(likes[3], np.empty(0, np.int64)), no_dislikes[3], 1e-5, 1e-6
    )


def symmetric_neighbours(seed: int) -> sp.csr_matrix:
    """A symmetric sparse similarity matrix without a diagonal, as the hybrid derives them."""
    S = sp.random(N_PAPERS, N_PAPERS, density=0.08, format="csr", random_state=seed)
    S = sp.csr_matrix(S.maximum(S.T), dtype=np.float32)
    S.setdiag(0)
    S.eliminate_zeros()
    return S


@pytest.mark.parametrize("dislike_weight", [0.0, 0.5])
def test_neighbour_evidence_batch_and_one_user_forms_agree(dislike_weight: float) -> None:
    part = NeighbourEvidence(symmetric_neighbours(1), dislike_weight)
    assert_forms_agree(part)
    # The user's maximum is 1: the evidence is on the user's own scale.
    one = part.one(np.array([3, 17, 40]), np.empty(0, np.int64))
    assert one is not None and one.max() == pytest.approx(1.0)
    empty = NeighbourEvidence(sp.csr_matrix((N_PAPERS, N_PAPERS), dtype=np.float32), 0.5)
    assert empty.batch(rows_to_csr([[1]], N_PAPERS), None) is None
    assert empty.one(np.array([1]), np.empty(0, np.int64)) is None


@pytest.mark.parametrize("kind", ["sparse", "stacked", "dense"])
def test_profile_evidence_batch_and_one_user_forms_agree(kind: str) -> None:
    V = sp.random(N_PAPERS, 60, density=0.1, format="csr", random_state=2, dtype=np.float32)
    if kind == "stacked":  # a dense block beside the sparse one, as embeddings beside TF-IDF
        block = np.random.default_rng(3).normal(size=(N_PAPERS, 5)).astype(np.float32)
        V = sp.hstack([V, sp.csr_matrix(block)], format="csr")
    vectors = l2_normalize(V.toarray() if kind == "dense" else V)
    part = ProfileEvidence(vectors, dislike_weight=0.5)
    assert_forms_agree(part)
    assert part.index is not None  # built by the one-user form, kept for the next user
    # Cosines to the profile: a paper liked alone is at cosine 1.
    liked = int(np.flatnonzero(np.abs(vectors).sum(axis=1))[0])
    assert part.one(np.array([liked]), np.empty(0, np.int64))[liked] == pytest.approx(1.0)


@pytest.mark.parametrize("kind", ["sparse", "dense"])
def test_a_centered_profile_takes_each_papers_closeness_to_the_catalog_mean_back(kind: str) -> None:
    """β · cos(paper, catalog mean) less for a user with likes, in both forms; nothing changes
    for a user without likes (a newcomer's list is not ranked against the catalog's centre)."""
    V = sp.random(N_PAPERS, 60, density=0.1, format="csr", random_state=5, dtype=np.float32)
    vectors = l2_normalize(V.toarray() if kind == "dense" else V)
    plain = ProfileEvidence(vectors, dislike_weight=0.5)
    centered = ProfileEvidence(vectors, dislike_weight=0.5, center=0.25)
    assert_forms_agree(centered)
    dense_v = np.asarray(vectors.toarray() if sp.issparse(vectors) else vectors, np.float64)
    mean = dense_v.sum(axis=0) / np.linalg.norm(dense_v.sum(axis=0))
    np.testing.assert_allclose(centered.offset(), 0.25 * dense_v @ mean, rtol=1e-5, atol=1e-6)
    liked, none = np.array([3, 17, 40]), np.empty(0, np.int64)
    np.testing.assert_allclose(
        centered.one(liked, none), plain.one(liked, none) - centered.offset(), 1e-5, 1e-6
    )
    only_dislikes = np.array([5])
    np.testing.assert_array_equal(centered.one(none, only_dislikes), plain.one(none, only_dislikes))
    L = rows_to_csr([liked, none], N_PAPERS)
    np.testing.assert_allclose(
        centered.batch(L, None),
        plain.batch(L, None) - np.stack([centered.offset(), np.zeros(N_PAPERS, np.float32)]),
        1e-5,
        1e-6,
    )


def test_factor_evidence_batch_and_one_user_forms_agree() -> None:
    Y = np.random.default_rng(4).normal(size=(N_PAPERS, 8)).astype(np.float32)
    part = FactorEvidence(Y, gram(Y), regularization=0.1, alpha=5.0, dislike_confidence=5.0)
    assert_forms_agree(part)
    # A user without likes says nothing.
    assert not part.one(np.empty(0, np.int64), np.array([2, 5])).any()
