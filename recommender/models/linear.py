"""Per-user linear classifier, the arxiv-sanity way: for each request, train a linear SVM over the
whole catalog's content vectors with the user's liked papers as positives and every other paper as
a negative, then rank papers by the decision function.

Nothing is learned at fit time beyond keeping the features, and every request trains a model: slow
by design, it is the reference the faster models are compared against.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning
from sklearn.svm import LinearSVC

from recommender.matrices import Features, State, dense, l2_normalize
from recommender.models.base import Recommender

log = logging.getLogger(__name__)


class PerUserLinear(Recommender):
    """``LinearSVC(C, class_weight="balanced")`` per user on the content features.

    Disliked papers are negatives with sample weight ``dislike_weight`` (others weigh 1), so the
    boundary is pushed away from them harder than from papers merely not liked. Users without
    likes score all zeros.
    """

    name = "linear"
    uses_content = True

    def __init__(
        self, C: float = 0.1, dislike_weight: float = 3.0, max_iter: int = 1000, tol: float = 1e-4
    ) -> None:
        self.C = C
        self.dislike_weight = dislike_weight
        self.max_iter = max_iter
        self.tol = tol

    def _fit(
        self,
        likes: sp.csr_matrix,
        features: Features | None,
        dislikes: sp.csr_matrix | None,
        *,
        show_progress: bool,
    ) -> None:
        assert features is not None
        self.features_ = features

    def _add_items(self, features: Features | None, n_new: int) -> None:
        assert features is not None
        if sp.issparse(self.features_):
            self.features_ = sp.vstack([self.features_, sp.csr_matrix(features)], format="csr")
        else:
            self.features_ = np.vstack([self.features_, dense(features)])

    def score_user(self, liked: np.ndarray, disliked: np.ndarray | None = None) -> np.ndarray:
        """Decision function over the catalog of a classifier trained for one user."""
        n = self.n_items
        y = np.zeros(n, dtype=np.int8)
        y[liked] = 1
        if liked.size == 0 or liked.size == n:
            return np.zeros(n, dtype=np.float32)  # one class only: nothing to separate
        w = np.ones(n, dtype=np.float64)
        if disliked is not None and disliked.size:
            disliked = disliked[y[disliked] == 0]  # liked wins over disliked
            w[disliked] = self.dislike_weight
        clf = LinearSVC(
            C=self.C,
            class_weight="balanced",
            max_iter=self.max_iter,
            tol=self.tol,
            dual="auto",
            random_state=0,
        )
        with warnings.catch_warnings():
            # A few hundred iterations rank well even when liblinear would like more.
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(self.features_, y, sample_weight=w)
        return np.asarray(clf.decision_function(self.features_), dtype=np.float32)

    def score_batch(
        self, likes: sp.csr_matrix, dislikes: sp.csr_matrix | None = None
    ) -> np.ndarray:
        self._check_fitted()
        likes = sp.csr_matrix(likes)
        D = sp.csr_matrix(dislikes) if dislikes is not None else None
        out = np.zeros((likes.shape[0], self.n_items), dtype=np.float32)
        for u in range(likes.shape[0]):
            liked = likes.indices[likes.indptr[u] : likes.indptr[u + 1]]
            disliked = None if D is None else D.indices[D.indptr[u] : D.indptr[u + 1]]
            out[u] = self.score_user(liked, disliked)
        return out

    def item_vectors(self) -> Features:
        return l2_normalize(self.features_)

    def _state(self) -> State:
        return {"features": self.features_}

    def _load_state(self, state: State) -> None:
        f = state["features"]
        self.features_ = sp.csr_matrix(f) if sp.issparse(f) else np.asarray(f, dtype=np.float32)
