"""The one contract every ranking model implements.

A model is fitted on a users x papers sparse matrix of likes (1 = liked), optionally a matrix of
dislikes of the same shape, and optionally paper features (rows aligned with the papers). It then
scores **a user given as the likes and dislikes passed in**, not as a row stored at fit time, so a
like made a second ago counts without refitting and users unseen at fit time are served too.

Ranking, exclusion of seen papers, top-k and explanations are written once here and in
:mod:`recommender.ranking`; an algorithm implements only ``_fit`` and ``score_batch`` (and, for
persistence, ``_state``/``_load_state``).
"""

from __future__ import annotations

import inspect
import logging
from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import Any, ClassVar, Self

import numpy as np
import scipy.sparse as sp

from recommender.matrices import Features, State, as_binary_csr, as_features
from recommender.ranking import as_rows, only_candidates, rows_to_csr, top_k, top_k_batch

__all__ = ["Features", "NotFittedError", "Recommender", "State"]

log = logging.getLogger(__name__)


class NotFittedError(RuntimeError):
    """Raised when a model is used before ``fit`` (or ``load``)."""


class Recommender(ABC):
    """Base class of every ranking model.

    Subclasses take their hyperparameters as keyword arguments of ``__init__`` (stored under the
    same attribute names), set learned state in ``_fit`` and implement ``score_batch``.
    """

    #: Registry name, e.g. ``"als"``.
    name: ClassVar[str] = ""
    #: True when the model reads paper features: it can then rank papers nobody has liked.
    uses_content: ClassVar[bool] = False
    #: False for models whose ranking does not depend on the user (popularity).
    personalized: ClassVar[bool] = True

    n_items: int = 0
    _fitted: bool = False

    # ------------------------------------------------------------------ fitting
    def fit(
        self,
        likes: sp.spmatrix,
        features: Features | None = None,
        dislikes: sp.spmatrix | None = None,
        *,
        show_progress: bool = False,
    ) -> Self:
        """Learn from a ``users x papers`` matrix of likes (and optional dislikes and features).

        Returns ``self``.
        """
        likes = as_binary_csr(likes, "likes")
        n_items = likes.shape[1]
        if dislikes is not None:
            dislikes = as_binary_csr(dislikes, "dislikes")
            if dislikes.shape != likes.shape:
                raise ValueError(f"dislikes shape {dislikes.shape} != likes shape {likes.shape}")
        if features is not None:
            features = as_features(features)
            if features.shape[0] != n_items:
                raise ValueError(
                    f"features have {features.shape[0]} rows but the likes matrix has {n_items} papers"
                )
        elif self.uses_content:
            raise ValueError(f"model {self.name!r} needs paper features")
        self.n_items = n_items
        self._fit(likes, features, dislikes, show_progress=show_progress)
        self._fitted = True
        return self

    @abstractmethod
    def _fit(
        self,
        likes: sp.csr_matrix,
        features: Features | None,
        dislikes: sp.csr_matrix | None,
        *,
        show_progress: bool,
    ) -> None:
        """Learn state from validated inputs (binary float32 CSR, features aligned with papers)."""

    def add_items(self, features: Features | None = None, n: int | None = None) -> None:
        """Append papers after fitting, without refitting.

        Content models place them with their features (``features``, one row per new paper), so a
        paper nobody has liked yet can be recommended at once; collaborative models give them a
        neutral score until the next fit. Give ``n`` when no features are available.
        """
        self._check_fitted()
        if features is not None:
            features = as_features(features)
            n_new = features.shape[0]
        elif n is not None:
            n_new = int(n)
        else:
            raise ValueError("add_items needs features or n")
        if self.uses_content and features is None:
            raise ValueError(f"model {self.name!r} needs features for new papers")
        if n_new <= 0:
            return
        self._add_items(features, n_new)
        self.n_items += n_new

    def _add_items(self, features: Features | None, n_new: int) -> None:  # noqa: B027
        """Extend learned state by ``n_new`` papers. The default suits models whose state does not
        depend on the number of papers; others override."""

    # ------------------------------------------------------------------ scoring
    @abstractmethod
    def score_batch(
        self, likes: sp.csr_matrix, dislikes: sp.csr_matrix | None = None
    ) -> np.ndarray:
        """Scores of every paper for a batch of users.

        ``likes`` (and ``dislikes``) are ``(users, n_items)`` binary CSR matrices: the users are
        whatever these rows say, fitted or not. Returns a float32 ``(users, n_items)`` array;
        higher is better. Liked papers are not removed here (see :meth:`recommend`).
        """

    def score(
        self, likes: Iterable[int] | np.ndarray, dislikes: Iterable[int] | np.ndarray | None = None
    ) -> np.ndarray:
        """Scores of every paper for one user given by the rows of their liked (and disliked)
        papers. A float32 array of length ``n_items``."""
        self._check_fitted()
        L = rows_to_csr([likes], self.n_items)
        if dislikes is not None and not isinstance(dislikes, np.ndarray):
            dislikes = as_rows(dislikes)
        # No dislikes is no matrix: every model treats an empty one as none, at a cost.
        D = (
            rows_to_csr([dislikes], self.n_items)
            if dislikes is not None and len(dislikes)
            else None
        )
        return self.score_batch(L, D)[0]

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
        """Top-``k`` ``(rows, scores)`` for one user given by likes and dislikes.

        Liked and disliked papers are excluded when ``filter_seen``; ``exclude`` removes more.
        ``candidates``, when given, are the only rows that may be returned (e.g. the papers that
        appeared since a date); their scores and order are those of the full ranking.
        """
        likes_a, dislikes_a = as_rows(likes), as_rows(dislikes)
        scores = only_candidates(self.score(likes_a, dislikes_a), candidates)
        return top_k(scores, k, self._excluded(likes_a, dislikes_a, exclude, filter_seen))

    def recommend_batch(
        self,
        likes: sp.csr_matrix,
        k: int = 10,
        *,
        dislikes: sp.csr_matrix | None = None,
        exclude: sp.csr_matrix | None = None,
        filter_seen: bool = True,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` ``(rows, scores)`` for a batch of users; shape ``(users, k)``, padded with -1."""
        self._check_fitted()
        likes = as_binary_csr(likes, "likes")
        scores = self.score_batch(likes, dislikes)
        return top_k_batch(scores, k, self._excluded_batch(likes, dislikes, exclude, filter_seen))

    @staticmethod
    def _excluded(
        likes: np.ndarray,
        dislikes: np.ndarray,
        exclude: Iterable[int] | np.ndarray | None,
        filter_seen: bool,
    ) -> np.ndarray:
        """Rows one user's list leaves out: ``exclude``, and the liked and disliked rows when
        ``filter_seen`` (rows may repeat)."""
        ex = [as_rows(exclude)]
        if filter_seen:
            ex += [likes, dislikes]
        return np.concatenate(ex)

    @staticmethod
    def _excluded_batch(
        likes: sp.csr_matrix,
        dislikes: sp.csr_matrix | None,
        exclude: sp.csr_matrix | None,
        filter_seen: bool,
    ) -> sp.csr_matrix | None:
        """:meth:`_excluded` of a batch: non-zeros are left out (None: nothing is)."""
        ex = exclude
        if filter_seen:
            ex = likes if ex is None else (ex + likes)
            if dislikes is not None:
                ex = ex + dislikes
        return ex

    def similar_items(
        self, item: int, k: int = 10, *, candidates: Iterable[int] | np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` ``(rows, scores)`` most similar to paper ``item`` (itself excluded), among
        ``candidates`` when given.

        The default asks the model how it would rank for a user who liked only ``item``.
        """
        self._check_fitted()
        if not 0 <= item < self.n_items:
            raise IndexError(f"item row {item} out of range [0, {self.n_items})")
        return top_k(only_candidates(self.score([item]), candidates), k, [item])

    # ------------------------------------------------------------- explanations
    def item_vectors(self) -> np.ndarray | sp.csr_matrix | None:
        """L2-normalised vectors of the papers whose dot products say how alike two papers are
        for this model, or ``None`` when it has none (popularity)."""
        return None

    def explain(
        self, likes: Iterable[int] | np.ndarray, items: Iterable[int] | np.ndarray, n: int = 3
    ) -> list[list[int]]:
        """For each of ``items``, up to ``n`` liked rows that most explain it (most similar
        first). Empty lists when the model has no notion of paper similarity."""
        likes_a, items_a = as_rows(likes), np.asarray(list(items), dtype=np.int64)
        V = self.item_vectors()
        if V is None or likes_a.size == 0 or items_a.size == 0:
            return [[] for _ in items_a]
        sims = V[items_a] @ V[likes_a].T
        sims = sims.toarray() if sp.issparse(sims) else np.asarray(sims)
        out = []
        for row in sims:
            best = np.argsort(-row, kind="stable")[:n]
            out.append([int(likes_a[j]) for j in best if row[j] > 0])
        return out

    # ------------------------------------------------------- vector scoring
    def query_vectors(
        self, likes: sp.csr_matrix, dislikes: sp.csr_matrix | None = None
    ) -> np.ndarray | None:
        """Users as dense vectors ``Q`` such that ``score_batch(likes, dislikes)`` equals
        ``Q @ index_vectors().T``, or ``None`` when the model does not score by vectors.

        Models that do can rank through an approximate nearest-neighbour index
        (:mod:`recommender.ann`) instead of scoring every paper."""
        return None

    def index_vectors(self) -> np.ndarray | None:
        """Dense ``(n_items, dims)`` paper vectors of :meth:`query_vectors`, or ``None``."""
        return None

    # ------------------------------------------------------------ persistence
    def get_params(self) -> dict[str, Any]:
        """The hyperparameters given to ``__init__`` (JSON-serialisable)."""
        sig = inspect.signature(type(self).__init__)
        return {
            p: getattr(self, p)
            for p in sig.parameters
            if p != "self" and sig.parameters[p].kind is not inspect.Parameter.VAR_KEYWORD
        }

    def state(self) -> State:
        """Learned state as named arrays (see :mod:`recommender.artifacts`)."""
        self._check_fitted()
        st = self._state()
        st["_n_items"] = np.asarray([self.n_items], dtype=np.int64)
        return st

    def load_state(self, state: State) -> Self:
        """Restore learned state produced by :meth:`state`."""
        state = dict(state)
        self.n_items = int(np.asarray(state.pop("_n_items"))[0])
        self._load_state(state)
        self._fitted = True
        return self

    @abstractmethod
    def _state(self) -> State: ...

    @abstractmethod
    def _load_state(self, state: State) -> None: ...

    # ---------------------------------------------------------------- helpers
    def _check_fitted(self) -> None:
        if not self._fitted:
            raise NotFittedError(f"model {self.name!r} is not fitted: call fit() or load it first")

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"
