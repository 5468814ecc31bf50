"""The evidence parts the hybrid weighs and sums, each in one home: its batch form beside its
one-user form.

A part says, per paper, how much a user's likes and dislikes point to it. ``batch(likes,
dislikes)`` takes ``(users, papers)`` binary CSR matrices (``dislikes`` may be None) and answers
``(users, papers)``; it is what offline evaluation and ``Hybrid.score_batch`` use. ``one(liked,
disliked)`` takes one user's sorted rows and answers one row, gathered straight from the rows of
the liked and disliked papers without building sparse matrices per request: the service's path.
The two forms agree up to float rounding (tests/recommender/models/test_hybrid_parts.py). Each answer is a
fresh array the caller may scale in place, or None when the part has nothing to say.

A part holds references to the learned state and the hyperparameters it was made with; the
hybrid makes its parts from its own when it scores (keeping only the profile, whose one-user form
builds an index of the vectors on first use), so a part never outlives the state it reads.
Within each form the float operations run in the order they always had in the hybrid: float32
sums are order-sensitive at the rounding level, and rankings of existing settings must not move.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import scipy.sparse as sp

from recommender.kernels import sum_rows_with_support
from recommender.matrices import Features, dense
from recommender.models.content import content_profiles, profile_scores
from recommender.models.factors import fold_in, fold_in_one
from recommender.similarity import FeatureIndex, sum_rows

__all__ = ["EvidencePart", "FactorEvidence", "NeighbourEvidence", "ProfileEvidence"]


class EvidencePart(Protocol):
    """What the hybrid weighs and sums: one user's evidence per paper, in batch or one at a time."""

    def batch(self, likes: sp.csr_matrix, dislikes: sp.csr_matrix | None) -> np.ndarray | None:
        """Evidence of each user (row of ``likes`` and ``dislikes``) for every paper."""
        ...

    def one(self, liked: np.ndarray, disliked: np.ndarray) -> np.ndarray | None:
        """Evidence of one user, given by the sorted rows they liked and disliked."""
        ...


class NeighbourEvidence:
    """Neighbour evidence over a sparse similarity matrix ``S`` (the content neighbours, or the
    co-likes): per paper, the summed similarity to the liked papers over the user's maximum,
    minus ``dislike_weight`` times the same sum over the disliked papers (on the likes' scale, so
    a user's dislikes weigh the same whatever their number of likes). None when ``S`` is empty.
    """

    def __init__(self, similarity: sp.csr_matrix, dislike_weight: float) -> None:
        self.similarity = similarity
        self.dislike_weight = dislike_weight

    def batch(self, likes: sp.csr_matrix, dislikes: sp.csr_matrix | None) -> np.ndarray | None:
        S = self.similarity
        if S.nnz == 0:
            return None
        evidence = dense(likes @ S)
        scale = evidence.max(axis=1, keepdims=True)
        scale[scale <= 0] = 1.0
        if dislikes is not None and dislikes.nnz and self.dislike_weight:
            evidence -= self.dislike_weight * dense(dislikes @ S)
        evidence /= scale
        return evidence

    def one(self, liked: np.ndarray, disliked: np.ndarray) -> np.ndarray | None:
        S = self.similarity
        if S.nnz == 0:
            return None
        evidence = sum_rows(S, liked)
        scale = float(evidence.max(initial=0.0))
        if disliked.size and self.dislike_weight:
            against = sum_rows(S, disliked)
            against *= self.dislike_weight
            evidence -= against
        evidence *= 1.0 / scale if scale > 0 else 1.0
        return evidence


class ProfileEvidence:
    """The content profile: the cosine of every paper (L2-normalised ``vectors``) to the
    normalised sum of the liked papers' vectors minus ``dislike_weight`` times the normalised
    sum of the disliked ones' (:func:`~recommender.models.content.content_profiles`). Unlike the
    neighbour sums it reaches every paper.

    The one-user form multiplies through a :class:`~recommender.similarity.FeatureIndex` of the
    vectors, built on its first use (``index``) and kept with this part.

    ``center`` (β, 0 by default) subtracts ``β · cos(paper, c)`` from every paper's score, ``c``
    the direction of the catalog's mean vector: a paper close to what every paper is about (a
    generic one) is the nearest paper to any profile, and this takes that head start back. It
    is one vector per catalog (:meth:`offset`, made on first use), subtracted for users whose
    profile is not empty.
    """

    def __init__(self, vectors: Features, dislike_weight: float, center: float = 0.0) -> None:
        self.vectors = vectors
        self.dislike_weight = dislike_weight
        self.center = center
        self.index: FeatureIndex | None = None
        self._offset: np.ndarray | None = None

    def offset(self) -> np.ndarray:
        """``center`` times each paper's cosine to the catalog's mean direction (float32)."""
        if self._offset is None:
            V = self.vectors
            c = np.asarray(V.sum(axis=0), dtype=np.float64).ravel()
            norm = float(np.linalg.norm(c))
            if norm > 0:
                c /= norm
            g = np.asarray(V @ c, dtype=np.float64).ravel()
            self._offset = (self.center * g).astype(np.float32)
        return self._offset

    def batch(self, likes: sp.csr_matrix, dislikes: sp.csr_matrix | None) -> np.ndarray:
        P = content_profiles(self.vectors, likes, dislikes, self.dislike_weight)
        S = profile_scores(P, self.vectors)
        if self.center:
            has = np.diff(sp.csr_matrix(likes).indptr) > 0
            S[has] -= self.offset()
        return S

    def one(self, liked: np.ndarray, disliked: np.ndarray) -> np.ndarray:
        p, support = self._vector_sum(liked)
        norm = float(np.linalg.norm(p if support is None else p[support]))
        if norm > 0:
            p /= norm
        if disliked.size and self.dislike_weight:
            q, against = self._vector_sum(disliked)
            norm = float(np.linalg.norm(q if against is None else q[against]))
            if norm > 0:
                p -= (self.dislike_weight / norm) * q
            if support is not None and against is not None:
                support = np.union1d(support, against)
        if self.index is None:
            self.index = FeatureIndex(self.vectors)
        scores = self.index.dot(p, support)
        if self.center and liked.size:
            scores -= self.offset()
        return scores

    def _vector_sum(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """The sum of the vectors of papers ``rows`` (float64, one entry per feature), and for
        sparse vectors the features where it can be non-zero (sorted), else None."""
        V = self.vectors
        if sp.issparse(V):
            return sum_rows_with_support(V, rows)
        return np.asarray(V[rows].sum(axis=0, dtype=np.float64), dtype=np.float64).ravel(), None


class FactorEvidence:
    """Latent-factor evidence: the scores ``Y u`` of the user folded in from their likes and
    dislikes against fixed item factors ``Y`` (:func:`~recommender.models.factors.fold_in`, with
    ``gram`` = ``YᵀY``) over the user's maximum; a user without likes scores 0 everywhere."""

    def __init__(
        self,
        factors: np.ndarray,
        gram: np.ndarray,
        *,
        regularization: float,
        alpha: float,
        dislike_confidence: float,
    ) -> None:
        self.factors = factors
        self.gram = gram
        self.regularization = regularization
        self.alpha = alpha
        self.dislike_confidence = dislike_confidence

    def batch(self, likes: sp.csr_matrix, dislikes: sp.csr_matrix | None) -> np.ndarray:
        U = fold_in(
            self.factors,
            self.gram,
            likes,
            dislikes,
            regularization=self.regularization,
            alpha=self.alpha,
            dislike_confidence=self.dislike_confidence,
        )
        evidence = np.asarray(U @ self.factors.T, dtype=np.float32)
        scale = evidence.max(axis=1, keepdims=True)
        scale[scale <= 0] = 1.0
        evidence /= scale
        return evidence

    def one(self, liked: np.ndarray, disliked: np.ndarray) -> np.ndarray:
        u = fold_in_one(
            self.factors,
            self.gram,
            liked,
            disliked,
            regularization=self.regularization,
            alpha=self.alpha,
            dislike_confidence=self.dislike_confidence,
        )
        evidence = np.asarray(self.factors @ u, dtype=np.float32)
        scale = float(evidence.max(initial=0.0))
        evidence /= scale if scale > 0 else 1.0
        return evidence
