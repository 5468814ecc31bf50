"""Item-kNN on content: each paper keeps its ``k_neighbors`` most similar papers by cosine of
their content vectors; a user scores a paper by summing its similarity to the papers they liked
(minus ``dislike_weight`` times to those they disliked).

The similarity matrix is computed in blocks of rows, each a dense ``block x n_items`` slab cut to
its top ``k`` at once, so memory stays bounded by the block and the final sparse matrix. Papers
added later are inserted in both directions (their own neighbours, and as a neighbour of the old
papers they beat), which gives the same matrix as a refit on the grown catalog.
"""

from __future__ import annotations

import logging

import numpy as np
import scipy.sparse as sp

from recommender.matrices import Features, State, dense, l2_normalize
from recommender.models.base import Recommender
from recommender.similarity import extend_topk_cosine, topk_cosine

__all__ = ["ItemKNN"]

log = logging.getLogger(__name__)


class ItemKNN(Recommender):
    """Content item-kNN: ``score = likes @ S - dislike_weight * dislikes @ S``.

    ``shrink`` > 0 discounts similarities resting on few shared features (significance weighting,
    ``sim * n / (n + shrink)``); it is meant for sparse (TF-IDF) features, where ``n`` is the number
    of shared words.
    """

    name = "item_knn"
    uses_content = True

    def __init__(
        self, k_neighbors: int = 50, shrink: float = 0.0, dislike_weight: float = 0.5
    ) -> None:
        self.k_neighbors = k_neighbors
        self.shrink = shrink
        self.dislike_weight = dislike_weight

    def _fit(
        self,
        likes: sp.csr_matrix,
        features: Features | None,
        dislikes: sp.csr_matrix | None,
        *,
        show_progress: bool,
    ) -> None:
        assert features is not None
        self.vectors_ = l2_normalize(features)
        self.similarity_ = topk_cosine(
            self.vectors_, self.k_neighbors, self.shrink, show_progress=show_progress
        )
        log.info(
            "item-kNN fitted: %d papers, %d neighbour links",
            self.similarity_.shape[0],
            self.similarity_.nnz,
        )

    def _add_items(self, features: Features | None, n_new: int) -> None:
        assert features is not None
        n_old = self.vectors_.shape[0]
        new = l2_normalize(features)
        if sp.issparse(self.vectors_):
            V = sp.vstack([self.vectors_, sp.csr_matrix(new)], format="csr")
        else:
            V = np.vstack([self.vectors_, dense(new)])
        self.similarity_ = extend_topk_cosine(
            self.similarity_, V, n_old, self.k_neighbors, self.shrink
        )
        self.vectors_ = V

    def score_batch(
        self, likes: sp.csr_matrix, dislikes: sp.csr_matrix | None = None
    ) -> np.ndarray:
        self._check_fitted()
        scores = dense(sp.csr_matrix(likes) @ self.similarity_)
        if dislikes is not None and dislikes.nnz and self.dislike_weight:
            scores -= self.dislike_weight * dense(sp.csr_matrix(dislikes) @ self.similarity_)
        return scores

    def item_vectors(self) -> Features:
        return self.vectors_

    def _state(self) -> State:
        return {"similarity": self.similarity_, "vectors": self.vectors_}

    def _load_state(self, state: State) -> None:
        self.similarity_ = sp.csr_matrix(state["similarity"], dtype=np.float32)
        v = state["vectors"]
        self.vectors_ = sp.csr_matrix(v) if sp.issparse(v) else np.asarray(v, dtype=np.float32)
