"""LightFM with the WARP loss (Kula 2015): pure collaborative (:class:`LightFMWarp`) and hybrid,
with paper content as item features (:class:`LightFMHybrid`).

LightFM's model object is used for fitting only. What is kept are numpy arrays: the item
representations and biases (and, for the hybrid, the embeddings of the content features, to place
papers added later). Users are placed by fold-in against the item representations (see
:class:`recommender.models.factors.BiasedFactorModel`), so a user unseen at fit time, or a like made
a second ago, is served without refitting.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.preprocessing import normalize

from recommender.matrices import Features, State
from recommender.models.factors import BiasedFactorModel, gram

log = logging.getLogger(__name__)


def _lightfm(**params: Any) -> Any:
    # Imported on use: LightFM is a heavy optional-feeling dependency and warns on import when
    # built without OpenMP (irrelevant here: num_threads is 1 for reproducibility).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from lightfm import LightFM
    return LightFM(loss="warp", **params)


def _l1_rows(X: Features) -> sp.csr_matrix:
    """Rows scaled to unit L1 norm (LightFM's ``Dataset`` convention for item features)."""
    return sp.csr_matrix(normalize(sp.csr_matrix(X), norm="l1"), dtype=np.float32)


class LightFMWarp(BiasedFactorModel):
    """Collaborative LightFM (one embedding per paper and per user), WARP loss.

    Dislikes are not used at fit time (WARP learns from positives); at fold-in they are confident
    negatives. Papers added later get zero factors and the mean bias until the next fit.
    """

    name = "lightfm"

    def __init__(
        self,
        no_components: int = 64,
        learning_rate: float = 0.05,
        epochs: int = 30,
        item_alpha: float = 1e-6,
        user_alpha: float = 1e-6,
        max_sampled: int = 10,
        alpha: float = 10.0,
        dislike_confidence: float = 10.0,
        fold_in_regularization: float = 1.0,
        num_threads: int = 1,
        random_state: int = 0,
    ) -> None:
        self.no_components = no_components
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.item_alpha = item_alpha
        self.user_alpha = user_alpha
        self.max_sampled = max_sampled
        self.alpha = alpha
        self.dislike_confidence = dislike_confidence
        self.fold_in_regularization = fold_in_regularization
        self.num_threads = num_threads
        self.random_state = random_state

    def _item_features(self, n_items: int, features: Features | None) -> sp.csr_matrix | None:
        """LightFM's item feature matrix; ``None``: identity (one embedding per paper)."""
        return None

    def _fit(
        self,
        likes: sp.csr_matrix,
        features: Features | None,
        dislikes: sp.csr_matrix | None,
        *,
        show_progress: bool,
    ) -> None:
        model = _lightfm(
            no_components=self.no_components,
            learning_rate=self.learning_rate,
            item_alpha=self.item_alpha,
            user_alpha=self.user_alpha,
            max_sampled=self.max_sampled,
            random_state=self.random_state,
        )
        item_features = self._item_features(likes.shape[1], features)
        model.fit(
            likes.tocoo(),
            item_features=item_features,
            epochs=self.epochs,
            num_threads=self.num_threads,
            verbose=show_progress,
        )
        bias, Y = model.get_item_representations(item_features)
        _, U = model.get_user_representations()
        self._set_factors(np.asarray(Y), np.asarray(bias), np.asarray(U, dtype=np.float32), likes)
        self._keep_feature_embeddings(model, likes.shape[1])
        log.info(
            "%s fitted: %d papers x %d components, fold-in scale %.3g",
            type(self).__name__,
            self.item_factors_.shape[0],
            self.item_factors_.shape[1],
            self.score_scale_,
        )

    def _keep_feature_embeddings(self, model: Any, n_items: int) -> None:
        """Keep what placing new papers needs (nothing for the collaborative model)."""


class LightFMHybrid(LightFMWarp):
    """LightFM with item features = one indicator per paper + the paper's content features.

    A paper's representation is the weighted sum of its indicator's embedding and its content
    features' embeddings. A paper added later has no indicator yet: it is placed from its content
    part alone, which is how LightFM serves papers nobody has liked.

    Each paper's feature row (indicator + content) is scaled to sum to 1, as LightFM's ``Dataset``
    does, and a new paper's content row is scaled the same way, so its content carries the whole
    weight that indicator and content share for a paper seen in training. Without it a cold
    paper's representation is systematically shorter than a warm one's (no indicator part) and
    ranks below the warm papers of its own topic.
    """

    name = "lightfm_hybrid"
    uses_content = True

    def _item_features(self, n_items: int, features: Features | None) -> sp.csr_matrix:
        assert features is not None
        ident = sp.identity(n_items, dtype=np.float32, format="csr")
        return _l1_rows(sp.hstack([ident, sp.csr_matrix(features)], format="csr"))

    def _keep_feature_embeddings(self, model: Any, n_items: int) -> None:
        # Rows past the paper indicators are the content features' embeddings and biases.
        self.content_embeddings_ = np.ascontiguousarray(
            model.item_embeddings[n_items:], dtype=np.float32
        )
        self.content_bias_ = np.ascontiguousarray(model.item_biases[n_items:], dtype=np.float32)

    def _add_items(self, features: Features | None, n_new: int) -> None:
        assert features is not None
        X = _l1_rows(features)
        if X.shape[1] != self.content_embeddings_.shape[0]:
            raise ValueError(
                f"new papers have {X.shape[1]} features, the model was fitted on "
                f"{self.content_embeddings_.shape[0]}"
            )
        Y = np.asarray(X @ self.content_embeddings_, dtype=np.float32)
        b = np.asarray(X @ self.content_bias_, dtype=np.float32).ravel()
        self.item_factors_ = np.vstack([self.item_factors_, Y])
        self.item_bias_ = np.concatenate([self.item_bias_, b])
        # New rows carry non-zero factors: YᵀY (shared by every fold-in) must include them.
        self.YtY_ = gram(self.item_factors_)

    def _state(self) -> State:
        return {
            **super()._state(),
            "content_embeddings": self.content_embeddings_,
            "content_bias": self.content_bias_,
        }

    def _load_state(self, state: State) -> None:
        super()._load_state(state)
        self.content_embeddings_ = np.asarray(state["content_embeddings"], dtype=np.float32)
        self.content_bias_ = np.asarray(state["content_bias"], dtype=np.float32)
