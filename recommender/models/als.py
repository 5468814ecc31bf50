"""Implicit-feedback ALS (Hu, Koren & Volinsky 2008), fitted with implicit's CPU solver.

Users are placed at request time by the exact ALS user update (:func:`factors.fold_in`), which is
what implicit's ``recommend(..., recalculate_user=True)`` does, extended with dislikes.
"""

from __future__ import annotations

import logging

import numpy as np
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares

from recommender.matrices import Features, State, l2_normalize
from recommender.models.base import Recommender
from recommender.models.factors import fold_in, gram

log = logging.getLogger(__name__)


def confidence_matrix(
    likes: sp.csr_matrix, dislikes: sp.csr_matrix | None, alpha: float, dislike_confidence: float
) -> sp.csr_matrix:
    """implicit's input: ``1 + alpha`` where liked, ``-(1 + dislike_confidence)`` where disliked.

    implicit reads a value ``c > 0`` as target 1 with confidence ``c`` and ``c < 0`` as target 0
    with confidence ``|c|`` (unobserved entries: target 0, confidence 1), so this is exactly the
    system :func:`fold_in` solves. The confidences are given directly and implicit's own ``alpha``
    is left at 1 (implicit 0.7 scales values by ``alpha``, i.e. ``c = alpha``, not ``1 + alpha``).
    """
    C = sp.csr_matrix(likes, dtype=np.float32, copy=True)
    C.data[:] = 1.0 + alpha
    if dislikes is not None and dislikes.nnz and dislike_confidence:
        D = sp.csr_matrix(dislikes, dtype=np.float32, copy=True)
        D = D - D.multiply(likes > 0)  # liked wins over disliked
        D.eliminate_zeros()
        D.data[:] = 1.0 + dislike_confidence
        C = sp.csr_matrix(C - D)
    return C


class ALS(Recommender):
    """Matrix factorization of the likes (weighted least squares, all unobserved papers as weak
    negatives). Dislikes are confident negatives at fit time and at fold-in."""

    name = "als"

    def __init__(
        self,
        factors: int = 64,
        regularization: float = 0.05,
        alpha: float = 10.0,
        iterations: int = 15,
        dislike_confidence: float = 10.0,
        random_state: int = 0,
        num_threads: int = 0,
    ) -> None:
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.dislike_confidence = dislike_confidence
        self.random_state = random_state
        self.num_threads = num_threads

    def _fit(
        self,
        likes: sp.csr_matrix,
        features: Features | None,
        dislikes: sp.csr_matrix | None,
        *,
        show_progress: bool,
    ) -> None:
        mf = AlternatingLeastSquares(
            factors=self.factors,
            regularization=self.regularization,
            alpha=1.0,  # confidences are built by confidence_matrix
            iterations=self.iterations,
            num_threads=self.num_threads,
            random_state=self.random_state,
        )
        C = confidence_matrix(likes, dislikes, self.alpha, self.dislike_confidence)
        mf.fit(C, show_progress=show_progress)
        self.item_factors_ = np.ascontiguousarray(mf.item_factors, dtype=np.float32)
        self.YtY_ = gram(self.item_factors_)
        log.info("ALS fitted: %d papers x %d factors", *self.item_factors_.shape)

    def _add_items(self, features: Features | None, n_new: int) -> None:
        # Zero factors: a neutral score of 0 and no change to YᵀY, until the next fit.
        pad = np.zeros((n_new, self.item_factors_.shape[1]), dtype=np.float32)
        self.item_factors_ = np.vstack([self.item_factors_, pad])

    def user_factors(
        self, likes: sp.csr_matrix, dislikes: sp.csr_matrix | None = None
    ) -> np.ndarray:
        """Folded-in factors of the users given by these likes (and dislikes)."""
        self._check_fitted()
        return fold_in(
            self.item_factors_,
            self.YtY_,
            likes,
            dislikes,
            regularization=self.regularization,
            alpha=self.alpha,
            dislike_confidence=self.dislike_confidence,
        )

    def score_batch(
        self, likes: sp.csr_matrix, dislikes: sp.csr_matrix | None = None
    ) -> np.ndarray:
        U = self.user_factors(likes, dislikes)
        return np.asarray(U @ self.item_factors_.T, dtype=np.float32)

    def query_vectors(
        self, likes: sp.csr_matrix, dislikes: sp.csr_matrix | None = None
    ) -> np.ndarray | None:
        return np.asarray(self.user_factors(likes, dislikes), dtype=np.float32)

    def index_vectors(self) -> np.ndarray | None:
        return self.item_factors_

    def item_vectors(self) -> Features:
        return l2_normalize(self.item_factors_)

    def _state(self) -> State:
        return {"item_factors": self.item_factors_}

    def _load_state(self, state: State) -> None:
        self.item_factors_ = np.ascontiguousarray(state["item_factors"], dtype=np.float32)
        self.YtY_ = gram(self.item_factors_)
