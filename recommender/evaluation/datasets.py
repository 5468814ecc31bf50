"""Datasets and content features for offline experiments, on top of :mod:`recommender.datasets`.

Features follow DATASETS.md: citeulike-a uses TF-IDF of the paper text the catalog holds (titles for
all papers, abstracts for the 1,929 that have one); citeulike-t uses TF-IDF of the ``mult.dat`` word
counts. The featurizer is fitted on the text of *all* papers: content is known for every paper in
the catalog and is not test information (likes are).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import scipy.sparse as sp

from recommender.datasets.citeulike import load_citeulike
from recommender.features import (
    FEATURE_SETS,
    FEATURE_WEIGHTS,
    CitationFeaturizer,
    FeatureSet,
    TfidfFeaturizer,
    check_feature_weights,
    stack_features,
)
from recommender.matrices import Features

__all__ = [
    "FEATURE_SETS",
    "FEATURE_WEIGHTS",
    "ExperimentData",
    "FeatureSetUnavailable",
    "load_experiment_data",
]

log = logging.getLogger(__name__)


@dataclass
class ExperimentData:
    """One dataset ready for experiments: all likes and the paper features."""

    name: str
    likes: sp.csr_matrix
    features: Features
    n_items: int
    feature_set: str = "text"
    #: The unweighted blocks (text, embed, citations) ``features`` was stacked from.
    blocks: dict[str, Features] = field(default_factory=dict)

    def weighted(self, weights: Mapping[str, float] | None) -> Features:
        """The features with the blocks re-weighted (:func:`stack_blocks`); ``features`` itself
        when no weight is given."""
        if not weights:
            return self.features
        return stack_blocks(self.blocks or {"text": self.features}, weights)


# Content feature sets an experiment can use are the service's (FEATURE_SETS). "text" is what
# the published content rows used; "+citations" adds the papers' citation links (paper metadata,
# no user information); "+embed" adds sentence embeddings of the paper text (the optional
# ``[embed]`` extra; datasets with raw text only, i.e. citeulike-a), cached on disk in the folder
# the caller names (the experiments: out/embeddings-cache of the checkout).


class FeatureSetUnavailable(ValueError):
    """A feature set the dataset cannot provide (e.g. embeddings of data published as word
    counts)."""


def text_features(dataset: Any, *, from_catalog: bool = False) -> Features:
    """TF-IDF features of every paper of a loaded CiteULike dataset (see the module docstring);
    with ``from_catalog``, of the catalog's text even where the dataset has word counts (what
    the service's featurizer reads of an imported catalog)."""
    counts = getattr(dataset, "counts", None)
    if not from_catalog and counts is not None and getattr(dataset, "vocabulary", None):
        f = TfidfFeaturizer().fit_counts(dataset.counts, dataset.vocabulary)
        return f.transform_counts(dataset.counts)
    texts = dataset.catalog.texts()
    return TfidfFeaturizer().fit(texts).transform(texts)


def feature_blocks(
    dataset: Any,
    features: FeatureSet | str = "text",
    *,
    embed_cache: Path | None = None,
    text_from_catalog: bool = False,
) -> dict[str, Features]:
    """The unweighted blocks of the ``features`` set (one of :data:`FEATURE_SETS`) of every paper
    of a loaded dataset: ``text``, and ``embed`` and/or ``citations`` when the set names them.
    Sentence embeddings are cached in ``embed_cache`` (None: not on disk); ``text_from_catalog``:
    see :func:`text_features`."""
    fs = FeatureSet.parse(features)
    blocks: dict[str, Features] = {"text": text_features(dataset, from_catalog=text_from_catalog)}
    if fs.embed:
        if getattr(dataset, "counts", None) is not None:
            raise FeatureSetUnavailable(
                f"{dataset.name} has word counts, not text: nothing to embed"
            )
        from recommender.embeddings import SentenceEmbedder

        embedder = SentenceEmbedder(cache_dir=embed_cache)
        try:
            blocks["embed"] = embedder.transform(dataset.catalog.texts())
        except ImportError as exc:  # the [embed] extra is missing and the cache lacks texts
            raise FeatureSetUnavailable(str(exc)) from exc
    if fs.citations:
        papers = list(dataset.catalog)
        if not any(p.references for p in papers):
            raise ValueError(
                f"{dataset.name}: no paper has citation links (citations.dat missing?)"
            )
        blocks["citations"] = CitationFeaturizer().fit_transform(papers)
    return blocks


def stack_blocks(blocks: Mapping[str, Features], weights: Mapping[str, float] | None) -> Features:
    """``blocks`` stacked by :func:`~recommender.features.stack_features`, text at weight 1 and
    the others at ``weights`` (keys of :data:`FEATURE_WEIGHTS`; 1 where absent), as
    :class:`~recommender.features.PaperFeaturizer` stacks them for the service."""
    weights = check_feature_weights(weights)
    by_block = {block: weights.get(key, 1.0) for key, block in FEATURE_WEIGHTS.items()}
    parts = [(m, 1.0 if name == "text" else by_block[name]) for name, m in blocks.items()]
    return parts[0][0] if len(parts) == 1 else stack_features(parts)


def content_features(
    dataset: Any,
    features: FeatureSet | str = "text",
    weights: Mapping[str, float] | None = None,
    *,
    embed_cache: Path | None = None,
) -> Features:
    """The ``features`` set (one of :data:`FEATURE_SETS`) of every paper of a loaded dataset,
    its blocks weighted by ``weights`` (see :func:`stack_blocks`)."""
    return stack_blocks(feature_blocks(dataset, features, embed_cache=embed_cache), weights)


def load_experiment_data(
    name: str,
    data_dir: str | Path | None = None,
    features: FeatureSet | str = "text",
    *,
    embed_cache: Path | None = None,
    text_from_catalog: bool = False,
) -> ExperimentData:
    """Load ``name`` (``citeulike-a`` or ``citeulike-t``) from ``data_dir`` (``None``:
    :func:`~recommender.datasets.default_data_dir`) with its content ``features`` set
    (embeddings cached in ``embed_cache``; ``text_from_catalog``: the text block as the service's
    featurizer builds it from the imported catalog, see :func:`text_features`)."""
    ds = load_citeulike(name, data_dir)
    blocks = feature_blocks(
        ds, features, embed_cache=embed_cache, text_from_catalog=text_from_catalog
    )
    feats = stack_blocks(blocks, None)
    likes = sp.csr_matrix(ds.likes, dtype="float32")
    log.info(
        "%s: %d users, %d papers, %d likes, features %s",
        name,
        likes.shape[0],
        likes.shape[1],
        likes.nnz,
        feats.shape,
    )
    return ExperimentData(
        name, likes, feats, int(feats.shape[0]), FeatureSet.parse(features).name, blocks
    )
