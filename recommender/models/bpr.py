"""Bayesian Personalized Ranking (Rendle et al. 2009), fitted with implicit's CPU SGD.

implicit's BPR learns an item bias as the last column of its item factors (the matching user column
is fixed at 1). Here that column is split off into ``item_bias_``: it is a per-paper offset, not a
direction in factor space, and must not take part in the fold-in.
"""

from __future__ import annotations

import logging

import numpy as np
import scipy.sparse as sp
from implicit.cpu.bpr import BayesianPersonalizedRanking

from recommender.matrices import Features
from recommender.models.factors import BiasedFactorModel

log = logging.getLogger(__name__)


class BPR(BiasedFactorModel):
    """Pairwise ranking factorization (liked paper above a sampled unliked one).

    implicit's BPR has no ``recalculate_user``; a user given by likes and dislikes is placed by the
    implicit-ALS fold-in (:func:`recommender.models.factors.fold_in`) against BPR's item factors.
    Why that is sound: with the items fixed, BPR's own user update maximises
    ``Σ log σ(u·(y_liked - y_other))``, which pushes ``u`` towards the liked papers' factors and away
    from the bulk of the catalog. The fold-in is the convex, closed-form version of the same aim
    (liked papers target 1 with high confidence, every other paper target 0), so it lands ``u`` in
    the same region of factor space in ``O(f³)`` per request, where re-running SGD would cost a
    sampling loop and depend on a seed. Its dot products are rescaled once per fit so the item
    biases keep the weight BPR gave them (:func:`recommender.models.factors.score_scale`). The
    approximation is checked in the tests: folded-in training users rank like BPR's own vectors.

    Dislikes are not used at fit time (implicit's BPR reads every non-zero as a like); at fold-in
    they are confident negatives.
    """

    name = "bpr"

    def __init__(
        self,
        factors: int = 64,
        learning_rate: float = 0.05,
        regularization: float = 0.01,
        iterations: int = 100,
        alpha: float = 10.0,
        dislike_confidence: float = 10.0,
        fold_in_regularization: float = 1.0,
        random_state: int = 0,
        num_threads: int = 1,
    ) -> None:
        self.factors = factors
        self.learning_rate = learning_rate
        self.regularization = regularization
        self.iterations = iterations
        self.alpha = alpha
        self.dislike_confidence = dislike_confidence
        self.fold_in_regularization = fold_in_regularization
        self.random_state = random_state
        # One thread by default: implicit's BPR runs lock-free SGD (Hogwild), so more threads make
        # the fit depend on scheduling and random_state no longer pins it.
        self.num_threads = num_threads

    def _fit(
        self,
        likes: sp.csr_matrix,
        features: Features | None,
        dislikes: sp.csr_matrix | None,
        *,
        show_progress: bool,
    ) -> None:
        mf = BayesianPersonalizedRanking(
            factors=self.factors,
            learning_rate=self.learning_rate,
            regularization=self.regularization,
            iterations=self.iterations,
            num_threads=self.num_threads,
            random_state=self.random_state,
        )
        mf.fit(likes, show_progress=show_progress)
        items = np.asarray(mf.item_factors, dtype=np.float32)
        users = np.asarray(mf.user_factors, dtype=np.float32)
        # Last column: item bias (items) against a constant 1 (users).
        self._set_factors(items[:, :-1], items[:, -1], users[:, :-1], likes)
        log.info(
            "BPR fitted: %d papers x %d factors, fold-in scale %.3g",
            self.item_factors_.shape[0],
            self.item_factors_.shape[1],
            self.score_scale_,
        )
