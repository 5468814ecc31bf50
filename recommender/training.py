"""Training a servable bundle from feedback, and the policy of what it is trained with.

:func:`train` fits a featurizer and a model on a catalog and everyone's feedback, by real paper
ids (rows stay inside). Which hyperparameters a catalog is trained with is decided here too, so
that a service only names its settings and asks: :func:`training_plan` gives the model
parameters, feature weights and the feature set a catalog really gets, and
:func:`bundle_differences` says whether a saved bundle is what those settings would train.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from recommender.artifacts import Bundle
from recommender.catalog import Catalog, IdMap
from recommender.embeddings import SentenceEmbedder
from recommender.features import (
    FEATURE_SETS,
    FEATURE_WEIGHTS,
    FeatureSet,
    PaperFeaturizer,
    check_feature_weights,
)
from recommender.models import create_model
from recommender.tuned import TUNED_PATH, serving_defaults

__all__ = [
    "DEFAULT_FEATURES",
    "DEFAULT_MODEL",
    "TrainingPlan",
    "bundle_differences",
    "feedback_matrix",
    "train",
    "training_plan",
]

log = logging.getLogger(__name__)

#: What the service trains unless its settings say otherwise (``PAPERREC_MODEL``,
#: ``PAPERREC_FEATURES``); ``experiments.compare --served`` evaluates exactly this.
DEFAULT_MODEL = "hybrid"
DEFAULT_FEATURES = FeatureSet(citations=True)


def feedback_matrix(
    feedback: Mapping[str, Iterable[str]], papers: IdMap, users: IdMap
) -> tuple[sp.csr_matrix, int]:
    """A binary ``users x papers`` CSR matrix from ``{user_id: [paper_id, ...]}``.

    Users are added to ``users``; paper ids unknown to ``papers`` are skipped and counted (second
    value), since a paper can be removed from a catalog after someone liked it.
    """
    rows: list[int] = []
    cols: list[int] = []
    skipped = 0
    for user_id, paper_ids in feedback.items():
        u = users.add(user_id)
        for pid in paper_ids:
            if pid in papers:
                rows.append(u)
                cols.append(papers.row(pid))
            else:
                skipped += 1
    m = sp.csr_matrix(
        (np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(len(users), len(papers))
    )
    m.sum_duplicates()
    m.data[:] = 1.0
    return m, skipped


def train(
    catalog: Catalog,
    likes: Mapping[str, Iterable[str]],
    dislikes: Mapping[str, Iterable[str]] | None = None,
    *,
    model: str = DEFAULT_MODEL,
    params: Mapping[str, Any] | None = None,
    featurizer_params: Mapping[str, Any] | None = None,
    features: FeatureSet | str = "text",
    feature_weights: Mapping[str, float] | None = None,
    embedding_cache: str | os.PathLike[str] | None = None,
    show_progress: bool = False,
) -> Bundle:
    """Fit featurizer and model on a catalog and everyone's feedback (``{user_id: [paper_id]}``).

    ``features``: a :class:`~recommender.features.FeatureSet` or one of
    :data:`recommender.features.FEATURE_SETS` (TF-IDF text, plus citation links and/or sentence
    embeddings); ``feature_weights``: ``citation_weight`` and/or ``embedding_weight`` of those
    blocks beside the text (1 each by default); ``featurizer_params``: the TF-IDF settings;
    ``embedding_cache``: the embeddings' on-disk cache. :func:`training_plan` gives the tuned
    ``params`` and ``feature_weights`` of a model and feature set."""
    if len(catalog) == 0:
        raise ValueError("cannot train on an empty catalog: add papers first")
    t0 = time.perf_counter()
    feature_set = FeatureSet.parse(features)
    embedder = None
    if feature_set.embed:
        embedder = SentenceEmbedder(cache_dir=embedding_cache)
    weights = check_feature_weights(feature_weights)
    featurizer = PaperFeaturizer.for_set(
        feature_set, tfidf=dict(featurizer_params or {}), embedder=embedder, **weights
    )
    papers = list(catalog)
    X = featurizer.fit_transform(papers)
    users = IdMap()
    L, skipped_l = feedback_matrix(likes, catalog.ids, users)
    D, skipped_d = feedback_matrix(dislikes or {}, catalog.ids, users)
    # Both matrices must cover the same users (rows), who were added in two passes.
    L.resize((len(users), len(catalog)))
    D.resize((len(users), len(catalog)))
    m = create_model(model, **dict(params or {}))
    m.fit(L, X, D, show_progress=show_progress)
    seconds = time.perf_counter() - t0
    version = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + f"-{model}"
    meta = {
        "version": version,
        "trained_at": time.time(),
        "fit_seconds": round(seconds, 3),
        "n_users": len(users),
        "n_papers": len(catalog),
        "n_likes": int(L.nnz),
        "n_dislikes": int(D.nnz),
        "skipped_unknown_papers": skipped_l + skipped_d,
        "features": featurizer.feature_set,
    }
    log.info("trained %s on %d papers, %d likes in %.1fs", model, len(catalog), L.nnz, seconds)
    return Bundle(m, catalog.paper_ids, featurizer, meta)


@dataclass(frozen=True)
class TrainingPlan:
    """What a retrain of one catalog is given (see :func:`training_plan`)."""

    model: str
    #: The feature set asked for; :func:`train` is given this one, and its featurizer leaves
    #: the citation block out by itself while no paper has ``references``.
    features: FeatureSet
    #: The feature set the catalog really gets: the one whose tuned choice applies.
    catalog_features: FeatureSet
    params: dict[str, Any]
    feature_weights: dict[str, float]

    def train(
        self,
        catalog: Catalog,
        likes: Mapping[str, Iterable[str]],
        dislikes: Mapping[str, Iterable[str]] | None = None,
        **kwargs: Any,
    ) -> Bundle:
        """:func:`train` with this plan's model, features, params and feature weights
        (``kwargs``: its other keywords, such as ``embedding_cache``)."""
        return train(
            catalog,
            likes,
            dislikes,
            model=self.model,
            params=self.params,
            features=self.features,
            feature_weights=self.feature_weights,
            **kwargs,
        )


def training_plan(
    model: str,
    features: FeatureSet | str,
    *,
    catalog_has_references: bool,
    tuned: bool = True,
    overrides: Mapping[str, Any] | None = None,
    tuned_path: Path = TUNED_PATH,
) -> TrainingPlan:
    """Which settings train a catalog: with ``tuned``, the choice made on validation for
    ``model`` and the feature set the catalog really gets
    (:func:`recommender.tuned.serving_defaults`; text only while no paper has ``references``),
    else the model's own defaults and every block at weight 1; ``overrides`` (single
    hyperparameters) over either."""
    asked = FeatureSet.parse(features)
    gets = asked.for_catalog(has_references=catalog_has_references)
    params: dict[str, Any] = {}
    weights: dict[str, float] = {}
    if tuned:
        params, weights = serving_defaults(model, gets.name, tuned_path)
    return TrainingPlan(model, asked, gets, {**params, **dict(overrides or {})}, weights)


def bundle_differences(
    bundle: Bundle,
    model: str,
    features: FeatureSet | str,
    *,
    tuned: bool = True,
    overrides: Mapping[str, Any] | None = None,
    tuned_path: Path = TUNED_PATH,
) -> list[str]:
    """How ``bundle`` differs from what :func:`training_plan` with these settings would train,
    one sentence each; empty when it fits. Another model or feature set is said alone (the
    hyperparameters of another model do not compare); else one sentence names every
    hyperparameter and feature weight that differs. A bundle trained on text only while
    citations were asked fits: its catalog had no ``references`` then."""
    if bundle.model.name != model:
        return [f"holds model {bundle.model.name!r}, the settings ask for {model!r}"]
    asked = FeatureSet.parse(features)
    used_name = str(bundle.metadata.get("features", "text"))
    used = FeatureSet.parse(used_name) if used_name in FEATURE_SETS else None
    if used is None or used not in (asked, asked.without_citations()):
        return [f"trained on {used_name!r} features, the settings ask for {asked.name!r}"]
    plan = training_plan(
        model,
        asked,
        # Trained without citations although asked for: the catalog had no references.
        catalog_has_references=used.citations or not asked.citations,
        tuned=tuned,
        overrides=overrides,
        tuned_path=tuned_path,
    )
    try:
        wanted = create_model(model, **plan.params).get_params()
    except (TypeError, ValueError) as e:
        # Bad overrides: keep what was saved; a retrain reports the error.
        log.warning("the settings' model hyperparameters are not valid: %s", e)
        wanted = bundle.model.get_params()
    have = bundle.model.get_params()
    differ = sorted(k for k, v in wanted.items() if have.get(k) != v)
    differ += [
        k
        for k in FEATURE_WEIGHTS
        if getattr(bundle.featurizer, k, 1.0) != plan.feature_weights.get(k, 1.0)
    ]
    if differ:
        return [f"trained with other hyperparameters than the settings give ({', '.join(differ)})"]
    return []
