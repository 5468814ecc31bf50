"""Content profile (Rocchio): the user is the weighted centroid of the vectors of the papers they
liked, minus ``dislike_weight`` times the centroid of those they disliked; papers are ranked by
cosine similarity to that profile. Needs no other user, so it serves a user's first like."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.preprocessing import normalize

from recommender.matrices import Features, State, dense, l2_normalize
from recommender.models.base import Recommender


def content_profiles(
    V: Features, likes: sp.csr_matrix, dislikes: sp.csr_matrix | None, dislike_weight: float
) -> Features:
    """Per user: the normalised sum of liked papers' vectors ``V`` minus ``dislike_weight`` times
    the normalised sum of disliked ones'. With L2-normalised ``V``, ``profiles @ V.T`` is cosine."""
    P = normalize(likes @ V, norm="l2")
    if dislikes is not None and dislikes.nnz and dislike_weight:
        P = P - dislike_weight * normalize(dislikes @ V, norm="l2")
    return P


#: Largest dense copy of a batch of sparse profiles (users x features floats) that
#: :func:`profile_scores` makes; beyond it the sparse product is used.
_DENSE_PROFILE_LIMIT = 50_000_000


def profile_scores(P: Features, V: Features) -> np.ndarray:
    """``P @ V.T`` as dense float32 (users x papers). With sparse profiles and sparse papers the
    sparse-sparse product builds a full output through hash tables; a sparse matrix times the
    dense profiles is the same numbers 10x faster (citeulike-a with embeddings stacked: 0.75 s
    instead of 9 s for 256 users)."""
    if sp.issparse(P) and sp.issparse(V) and P.shape[0] * P.shape[1] <= _DENSE_PROFILE_LIMIT:
        return np.ascontiguousarray((V @ dense(P).T).T, dtype=np.float32)
    return dense(P @ V.T)


class ContentProfile(Recommender):
    name = "content"
    uses_content = True

    def __init__(self, dislike_weight: float = 0.5) -> None:
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

    def _add_items(self, features: Features | None, n_new: int) -> None:
        assert features is not None
        new = l2_normalize(features)
        if sp.issparse(self.vectors_):
            self.vectors_ = sp.vstack([self.vectors_, sp.csr_matrix(new)], format="csr")
        else:
            self.vectors_ = np.vstack([self.vectors_, dense(new)])

    def profiles(self, likes: sp.csr_matrix, dislikes: sp.csr_matrix | None) -> Features:
        """One profile vector per user row (see :func:`content_profiles`)."""
        return content_profiles(self.vectors_, likes, dislikes, self.dislike_weight)

    def score_batch(
        self, likes: sp.csr_matrix, dislikes: sp.csr_matrix | None = None
    ) -> np.ndarray:
        self._check_fitted()
        return profile_scores(self.profiles(likes, dislikes), self.vectors_)

    def query_vectors(
        self, likes: sp.csr_matrix, dislikes: sp.csr_matrix | None = None
    ) -> np.ndarray | None:
        # Only dense features (LSA, embeddings) make an index worth having.
        if sp.issparse(self.vectors_):
            return None
        return dense(self.profiles(likes, dislikes))

    def index_vectors(self) -> np.ndarray | None:
        return None if sp.issparse(self.vectors_) else self.vectors_

    def item_vectors(self) -> Features:
        return self.vectors_

    def _state(self) -> State:
        return {"vectors": self.vectors_}

    def _load_state(self, state: State) -> None:
        v = state["vectors"]
        self.vectors_ = sp.csr_matrix(v) if sp.issparse(v) else np.asarray(v, dtype=np.float32)
