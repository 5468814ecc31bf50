"""A model that ranks through an approximate nearest-neighbour index over another model's papers.

A model that scores a user as ``q(user) · v(paper)`` says so through the contract
(:meth:`~recommender.models.base.Recommender.query_vectors` and
:meth:`~recommender.models.base.Recommender.index_vectors`: the content profile on dense features
and the factor models). :class:`IndexedModel` wraps such a model, as implicit's ``FaissModel`` and
Cornac's ``BaseANN`` wrap theirs: it is a :class:`Recommender` itself, whose ``recommend`` asks a
:class:`~recommender.ann.VectorIndex` for the best papers instead of scoring every one, which is
what a catalog of a million papers needs. Everything else (scores, explanations, similar papers,
new papers) is the wrapped model's.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any, Self

import numpy as np
import scipy.sparse as sp

from recommender.ann import VectorIndex
from recommender.matrices import Features, State, as_binary_csr
from recommender.models.base import Recommender
from recommender.ranking import as_rows, rows_to_csr, top_k

__all__ = ["IndexedModel"]


class IndexedModel(Recommender):
    """``model`` ranked through ``index`` (built over ``model.index_vectors()``).

    ``model`` may be fitted already (the index is built at once) or fitted through this wrapper.
    The index covers the papers the model had at the build; papers added since (``add_items``,
    handed on to the model) are scored exactly, a short tail merged into the index's answer, so a
    new paper is recommendable at once, until the next build. ``recommend`` with ``candidates``
    (papers published since a date) ranks exactly among them: that list must hold every candidate
    in the full ranking's order, which an index answer cut at ``k`` cannot promise.

    Not saved: an index is built where the model is served (the service builds it at load time).
    Save ``model`` and wrap it again after loading; :meth:`state` says so. Copies (``deepcopy``,
    as the service makes to add papers) copy the model and share the index, which is never
    changed once built.
    """

    name = "indexed"
    # ``uses_content`` stays False: whether features are needed is the wrapped model's to say
    # (fit and add_items hand them on, and it checks). Every model that scores by vectors is
    # personalized, the default.

    def __init__(self, model: Recommender, index: VectorIndex | None = None) -> None:
        self.model = model
        self.index = index if index is not None else VectorIndex()
        #: Index vectors of the papers added since the build (see :meth:`_tail_vectors`).
        self._tail = np.empty((0, 0), dtype=np.float32)
        if model._fitted:
            self._build()

    @staticmethod
    def supports(model: Recommender) -> bool:
        """Whether ``model`` can rank through an index (it scores by vectors)."""
        return model.index_vectors() is not None

    # ------------------------------------------------------------------ fitting
    def _fit(
        self,
        likes: sp.csr_matrix,
        features: Features | None,
        dislikes: sp.csr_matrix | None,
        *,
        show_progress: bool,
    ) -> None:
        self.model.fit(likes, features, dislikes, show_progress=show_progress)
        self._build()

    def _build(self) -> None:
        V = self.model.index_vectors()
        if V is None:
            raise ValueError(f"model {self.model.name!r} does not score by vectors")
        # A copy of the index settings is built, so that refitting one copy of this model never
        # rebuilds the index another copy ranks with.
        self.index = copy.copy(self.index).build(V)
        self._tail = np.empty((0, self.index.dim), dtype=np.float32)
        self.n_items = self.model.n_items
        self._fitted = True

    def _add_items(self, features: Features | None, n_new: int) -> None:
        self.model.add_items(features, n_new)
        self._tail_vectors()  # here, under the writer's lock, rather than in the next request

    def _tail_vectors(self) -> np.ndarray:
        """Index vectors of the papers the model has beyond the index (scored exactly), kept
        until it has more: a factor model's ``index_vectors`` stacks the bias beside the factors,
        a copy of every paper's vector at each call, which a request should not pay for."""
        n_indexed, n = len(self.index), self.model.n_items
        if n_indexed + self._tail.shape[0] != n:
            V = self.model.index_vectors()
            assert V is not None
            self._tail = np.array(V[n_indexed:n], dtype=np.float32)
        return self._tail

    def __deepcopy__(self, memo: dict[int, Any]) -> Self:
        # The index is shared: copying a million vectors to add one paper would cost as much as
        # the build, and the index never changes once built (new papers go to the tail).
        clone = copy.copy(self)
        clone.model = copy.deepcopy(self.model, memo)
        return clone

    # ------------------------------------------------------------------ scoring
    def score_batch(
        self, likes: sp.csr_matrix, dislikes: sp.csr_matrix | None = None
    ) -> np.ndarray:
        self._check_fitted()
        return self.model.score_batch(likes, dislikes)

    def score(
        self, likes: Iterable[int] | np.ndarray, dislikes: Iterable[int] | np.ndarray | None = None
    ) -> np.ndarray:
        self._check_fitted()
        return self.model.score(likes, dislikes)

    def recommend(
        self,
        likes: Iterable[int] | np.ndarray,
        dislikes: Iterable[int] | np.ndarray | None = None,
        k: int = 10,
        *,
        exclude: Iterable[int] | np.ndarray | None = None,
        filter_seen: bool = True,
        candidates: Iterable[int] | np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` ``(rows, scores)`` as :meth:`Recommender.recommend`: through the index
        (approximately), or exactly among ``candidates`` when they are given."""
        self._check_fitted()
        likes_a, dislikes_a = as_rows(likes), as_rows(dislikes)
        if candidates is not None:
            return self.model.recommend(
                likes_a,
                dislikes_a,
                k,
                exclude=exclude,
                filter_seen=filter_seen,
                candidates=candidates,
            )
        excluded = np.unique(self._excluded(likes_a, dislikes_a, exclude, filter_seen))
        n = self.model.n_items
        q = self.model.query_vectors(
            rows_to_csr([likes_a], n), rows_to_csr([dislikes_a], n) if dislikes_a.size else None
        )
        assert q is not None
        return self._search(q, [excluded], k)[0]

    def recommend_batch(
        self,
        likes: sp.csr_matrix,
        k: int = 10,
        *,
        dislikes: sp.csr_matrix | None = None,
        exclude: sp.csr_matrix | None = None,
        filter_seen: bool = True,
    ) -> tuple[np.ndarray, np.ndarray]:
        self._check_fitted()
        likes = as_binary_csr(likes, "likes")
        ex = self._excluded_batch(likes, dislikes, exclude, filter_seen)
        ex = sp.csr_matrix(ex if ex is not None else likes.shape, dtype=np.float32)
        ex.sum_duplicates()
        q = self.model.query_vectors(likes, dislikes)
        assert q is not None
        excluded = [ex.indices[ex.indptr[u] : ex.indptr[u + 1]] for u in range(likes.shape[0])]
        rows = np.full((likes.shape[0], k), -1, dtype=np.int64)
        scores = np.full((likes.shape[0], k), -np.inf, dtype=np.float32)
        for u, (r, s) in enumerate(self._search(q, excluded, k)):
            rows[u, : r.size] = r
            scores[u, : r.size] = s
        return rows, scores

    def _search(
        self, Q: np.ndarray, excluded: list[np.ndarray], k: int
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per query vector (row of ``Q``), the top-``k`` ``(rows, scores)`` without its
        ``excluded`` rows: the index's answer and the tail's exact scores, ranked together."""
        n_indexed = len(self.index)
        # Excluded papers may take places in the index's answer: ask for that many more.
        extra = max((int(np.count_nonzero(ex < n_indexed)) for ex in excluded), default=0)
        found_rows, found_scores = self.index.search(Q, k + extra)
        tail_vectors = self._tail_vectors()
        tail_rows = np.arange(n_indexed, n_indexed + tail_vectors.shape[0])
        out = []
        for u, ex in enumerate(excluded):
            keep = found_rows[u] >= 0
            rows, scores = found_rows[u][keep], found_scores[u][keep]
            if tail_rows.size:
                tail = np.asarray(tail_vectors @ Q[u], dtype=np.float32)
                rows = np.concatenate([rows, tail_rows])
                scores = np.concatenate([scores, tail])
            # Rank the candidates only (a few hundred), never a catalog-long array.
            best, best_scores = top_k(scores, k, np.flatnonzero(np.isin(rows, ex)))
            out.append((rows[best].astype(np.int64), best_scores))
        return out

    def similar_items(
        self, item: int, k: int = 10, *, candidates: Iterable[int] | np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        self._check_fitted()
        return self.model.similar_items(item, k, candidates=candidates)

    # ------------------------------------------------------------- explanations
    def item_vectors(self) -> np.ndarray | sp.csr_matrix | None:
        return self.model.item_vectors()

    def explain(
        self, likes: Iterable[int] | np.ndarray, items: Iterable[int] | np.ndarray, n: int = 3
    ) -> list[list[int]]:
        return self.model.explain(likes, items, n)

    # ------------------------------------------------------- vector scoring
    def query_vectors(
        self, likes: sp.csr_matrix, dislikes: sp.csr_matrix | None = None
    ) -> np.ndarray | None:
        return self.model.query_vectors(likes, dislikes)

    def index_vectors(self) -> np.ndarray | None:
        return self.model.index_vectors()

    # ------------------------------------------------------------ persistence
    def _state(self) -> State:
        raise TypeError(
            f"an {type(self).__name__} is not saved: save its model ({self.model.name!r}) and "
            "wrap it again after loading (the index is built where the model is served)"
        )

    def _load_state(self, state: State) -> None:
        raise TypeError(f"an {type(self).__name__} is not loaded: load its model and wrap it again")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.model!r}, {self.index!r})"
