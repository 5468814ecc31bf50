"""Fold-in for latent factor models: a user's factors from the likes and dislikes passed in.

Factor models learn item factors ``Y`` (``n_items x f``) offline; a user is then placed at request
time by solving the implicit-ALS user update against those fixed item factors (Hu, Koren & Volinsky,
2008). Every paper is a target: liked papers with target 1 and confidence ``1 + alpha``, disliked
papers with target 0 and confidence ``1 + dislike_confidence``, all others with target 0 and
confidence 1. Written out::

    u = (YᵀY + λI + Σ_liked α y yᵀ + Σ_disliked d y yᵀ)⁻¹ Σ_liked (1 + α) y

``YᵀY`` is shared by every user, so it is computed once per fit (:func:`gram`) and one user costs
``O(|likes| f² + f³)``: no Python loop over papers, which is what makes it usable inside a request.
"""

from __future__ import annotations

import logging
from typing import ClassVar

import numpy as np
import scipy.sparse as sp

from recommender.matrices import Features, State, l2_normalize
from recommender.models.base import Recommender

__all__ = [
    "BiasedFactorModel",
    "fold_in",
    "fold_in_one",
    "gram",
    "mean_sq_norm",
    "score_scale",
]

log = logging.getLogger(__name__)

#: Users solved together in one stacked ``np.linalg.solve`` (bounds memory to ~chunk f² floats).
_CHUNK = 512


def gram(Y: np.ndarray) -> np.ndarray:
    """``YᵀY`` in float64 (the part of the fold-in system shared by every user)."""
    Y64 = np.asarray(Y, dtype=np.float64)
    return Y64.T @ Y64


def mean_sq_norm(Y: np.ndarray) -> float:
    """The mean squared norm of the rows of ``Y`` (1.0 when it is empty or all zero).

    Used to express a fold-in regularization in units of an average item, so it does not depend on
    the arbitrary scale of factors learned by a ranking loss (BPR, WARP).
    """
    if Y.shape[0] == 0:
        return 1.0
    m = float(np.mean(np.einsum("ij,ij->i", Y, Y, dtype=np.float64)))
    return m if m > 0 else 1.0


def _rows(m: sp.csr_matrix, u: int) -> np.ndarray:
    return m.indices[m.indptr[u] : m.indptr[u + 1]]


def _add_user_terms(
    A: np.ndarray,
    b: np.ndarray,
    Y: np.ndarray,
    liked: np.ndarray,
    disliked: np.ndarray | None,
    alpha: float,
    dislike_confidence: float,
) -> None:
    """One user's part of the fold-in system, in place: ``A += alpha YlᵀYl (+ dislike_confidence
    YdᵀYd)`` and ``b = (1 + alpha) Σ Yl``; a paper both liked and disliked counts as liked."""
    Yl = Y[liked].astype(np.float64)
    A += alpha * (Yl.T @ Yl)
    b[:] = (1.0 + alpha) * Yl.sum(axis=0)
    if disliked is not None and len(disliked):
        d = np.setdiff1d(np.asarray(disliked, dtype=np.int64), liked, assume_unique=True)
        if d.size:
            Yd = Y[d].astype(np.float64)
            A += dislike_confidence * (Yd.T @ Yd)


def fold_in(
    Y: np.ndarray,
    YtY: np.ndarray,
    likes: sp.csr_matrix,
    dislikes: sp.csr_matrix | None = None,
    *,
    regularization: float,
    alpha: float,
    dislike_confidence: float = 0.0,
) -> np.ndarray:
    """Factors of a batch of users, one implicit-ALS least-squares solve each.

    ``Y`` are the item factors, ``YtY`` their :func:`gram`; ``likes`` and ``dislikes`` are
    ``(users, n_items)`` binary CSR matrices (values are ignored; a paper both liked and disliked
    counts as liked). Users without likes get a zero vector (a dislike alone says nothing about
    what to show). Returns a float32 ``(users, f)`` array.
    """
    likes = sp.csr_matrix(likes)
    n_users, f = likes.shape[0], Y.shape[1]
    if likes.shape[1] != Y.shape[0]:
        raise ValueError(f"likes have {likes.shape[1]} papers, the item factors {Y.shape[0]}")
    if dislikes is not None:
        dislikes = sp.csr_matrix(dislikes)
        if dislikes.shape != likes.shape:
            raise ValueError(f"dislikes shape {dislikes.shape} != likes shape {likes.shape}")
        if not dislikes.nnz or not dislike_confidence:
            dislikes = None
    U = np.zeros((n_users, f), dtype=np.float32)
    active = np.flatnonzero(np.diff(likes.indptr) > 0)
    if active.size == 0:
        return U
    base = np.asarray(YtY, dtype=np.float64) + regularization * np.eye(f)
    for start in range(0, active.size, _CHUNK):
        users = active[start : start + _CHUNK]
        A = np.repeat(base[None], users.size, axis=0)
        b = np.empty((users.size, f), dtype=np.float64)
        for j, u in enumerate(users):
            disliked = None if dislikes is None else _rows(dislikes, u)
            _add_user_terms(A[j], b[j], Y, _rows(likes, u), disliked, alpha, dislike_confidence)
        U[users] = np.linalg.solve(A, b[..., None])[..., 0]
    return U


def fold_in_one(
    Y: np.ndarray,
    YtY: np.ndarray,
    liked: np.ndarray,
    disliked: np.ndarray | None = None,
    *,
    regularization: float,
    alpha: float,
    dislike_confidence: float = 0.0,
) -> np.ndarray:
    """:func:`fold_in` of one user given by rows (sorted, unique) instead of sparse matrices: the
    same system and solve, without a matrix built per request. A float32 vector of length f."""
    liked = np.asarray(liked, dtype=np.int64)
    f = Y.shape[1]
    if liked.size == 0:
        return np.zeros(f, dtype=np.float32)
    if liked[0] < 0 or liked[-1] >= Y.shape[0]:
        raise IndexError(f"item row out of range [0, {Y.shape[0]})")
    A = np.asarray(YtY, dtype=np.float64) + regularization * np.eye(f)
    b = np.empty(f, dtype=np.float64)
    if not dislike_confidence:
        disliked = None
    _add_user_terms(A, b, Y, liked, disliked, alpha, dislike_confidence)
    return np.linalg.solve(A, b).astype(np.float32)


def score_scale(U_model: np.ndarray, U_fold: np.ndarray, YtY: np.ndarray) -> float:
    """The scalar ``s`` that best maps folded-in scores onto a model's own: least squares of
    ``s · U_fold Yᵀ ≈ U_model Yᵀ`` over all (user, item) pairs, from ``YᵀY`` alone.

    Models trained on a ranking loss (BPR, WARP) add an item bias to ``u·y`` and their factors have
    no fixed scale, whereas the fold-in's dot products live on the 0..1 scale of its targets. This
    scale keeps the biases in the proportion the model learned. Returns 1.0 when undetermined.
    """
    G = U_fold.astype(np.float64) @ YtY
    den = float(np.sum(G * U_fold))
    num = float(np.sum(G * U_model))
    if den <= 0 or not np.isfinite(num) or num <= 0:
        log.warning("fold-in score scale undetermined (num=%g, den=%g): using 1", num, den)
        return 1.0
    return num / den


class BiasedFactorModel(Recommender):
    """Shared serving half of factor models trained on a ranking loss (BPR, LightFM WARP).

    Such a model scores ``u·y + b`` with an item bias ``b``; its own user vectors exist only for
    users seen at fit time. Here a user is folded in against the learned item factors
    (:func:`fold_in`) and the fold-in's dot products are rescaled by :func:`score_scale`, fitted
    once on training users, so item biases weigh what they weighed in training. Subclasses fit and
    call :meth:`_set_factors`; they define the hyperparameters ``alpha``, ``dislike_confidence``,
    ``fold_in_regularization`` (in units of an average item's squared norm) and ``random_state``.
    """

    alpha: float
    dislike_confidence: float
    fold_in_regularization: float
    random_state: int

    #: Training users used to fit the score scale (a sample bounds the cost on big data).
    calibration_users: ClassVar[int] = 2000

    def _set_factors(
        self, Y: np.ndarray, bias: np.ndarray, U_model: np.ndarray, likes: sp.csr_matrix
    ) -> None:
        """Keep item factors and biases; fit the fold-in's regularization and score scale."""
        self.item_factors_ = np.ascontiguousarray(Y, dtype=np.float32)
        self.item_bias_ = np.ascontiguousarray(bias, dtype=np.float32).ravel()
        self.YtY_ = gram(self.item_factors_)
        self.fold_in_lambda_ = float(self.fold_in_regularization * mean_sq_norm(Y))
        users = np.flatnonzero(np.diff(likes.indptr) > 0)
        if users.size > self.calibration_users:
            rng = np.random.default_rng(self.random_state)
            users = np.sort(rng.choice(users, self.calibration_users, replace=False))
        U_fold = self.user_factors(likes[users])
        self.score_scale_ = score_scale(U_model[users], U_fold, self.YtY_)

    def _add_items(self, features: Features | None, n_new: int) -> None:
        # Zero factors and the mean bias: neutral until the next fit.
        f = self.item_factors_.shape[1]
        b = float(self.item_bias_.mean()) if self.item_bias_.size else 0.0
        self.item_factors_ = np.vstack([self.item_factors_, np.zeros((n_new, f), np.float32)])
        self.item_bias_ = np.concatenate([self.item_bias_, np.full(n_new, b, np.float32)])

    def user_factors(
        self, likes: sp.csr_matrix, dislikes: sp.csr_matrix | None = None
    ) -> np.ndarray:
        """Folded-in factors of the users given by these likes (and dislikes), unscaled."""
        return fold_in(
            self.item_factors_,
            self.YtY_,
            likes,
            dislikes,
            regularization=self.fold_in_lambda_,
            alpha=self.alpha,
            dislike_confidence=self.dislike_confidence,
        )

    def score_batch(
        self, likes: sp.csr_matrix, dislikes: sp.csr_matrix | None = None
    ) -> np.ndarray:
        self._check_fitted()
        U = self.user_factors(likes, dislikes)
        s = self.score_scale_ * (U @ self.item_factors_.T) + self.item_bias_
        return np.asarray(s, dtype=np.float32)

    def query_vectors(
        self, likes: sp.csr_matrix, dislikes: sp.csr_matrix | None = None
    ) -> np.ndarray | None:
        # The item bias is one more coordinate, multiplied by a constant 1 on the user side.
        U = self.score_scale_ * self.user_factors(likes, dislikes)
        return np.hstack([U, np.ones((U.shape[0], 1), dtype=np.float32)]).astype(np.float32)

    def index_vectors(self) -> np.ndarray | None:
        return np.hstack([self.item_factors_, self.item_bias_[:, None]]).astype(np.float32)

    def item_vectors(self) -> Features:
        return l2_normalize(self.item_factors_)

    def _state(self) -> State:
        return {
            "item_factors": self.item_factors_,
            "item_bias": self.item_bias_,
            "fold_in": np.asarray([self.fold_in_lambda_, self.score_scale_], dtype=np.float64),
        }

    def _load_state(self, state: State) -> None:
        self.item_factors_ = np.ascontiguousarray(state["item_factors"], dtype=np.float32)
        self.item_bias_ = np.asarray(state["item_bias"], dtype=np.float32)
        self.YtY_ = gram(self.item_factors_)
        self.fold_in_lambda_, self.score_scale_ = (
            float(x) for x in np.asarray(state["fold_in"], dtype=np.float64)
        )
