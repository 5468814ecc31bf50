"""Popularity: every user gets the most-liked papers. The baseline every other model must beat,
and the cold-start fallback."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recommender.matrices import Features, State
from recommender.models.base import Recommender


class Popularity(Recommender):
    """Papers ranked by number of likes, minus ``dislike_weight`` times their dislikes."""

    name = "popularity"
    personalized = False

    def __init__(self, dislike_weight: float = 1.0) -> None:
        self.dislike_weight = dislike_weight

    def _fit(
        self,
        likes: sp.csr_matrix,
        features: Features | None,
        dislikes: sp.csr_matrix | None,
        *,
        show_progress: bool,
    ) -> None:
        counts = np.asarray(likes.sum(axis=0), dtype=np.float32).ravel()
        if dislikes is not None:
            counts -= (
                self.dislike_weight * np.asarray(dislikes.sum(axis=0), dtype=np.float32).ravel()
            )
        self.counts_ = counts

    def _add_items(self, features: Features | None, n_new: int) -> None:
        self.counts_ = np.concatenate([self.counts_, np.zeros(n_new, dtype=np.float32)])

    def score_batch(
        self, likes: sp.csr_matrix, dislikes: sp.csr_matrix | None = None
    ) -> np.ndarray:
        self._check_fitted()
        return np.broadcast_to(self.counts_, (likes.shape[0], self.n_items)).copy()

    def _state(self) -> State:
        return {"counts": self.counts_}

    def _load_state(self, state: State) -> None:
        self.counts_ = np.asarray(state["counts"], dtype=np.float32)
