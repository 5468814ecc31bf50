"""Datasets and content features for offline experiments, on top of :mod:`recommender.loaders`.

Features follow DATASETS.md: citeulike-a uses TF-IDF of the paper text the catalog holds (titles for
all papers, abstracts for the 1,929 that have one); citeulike-t uses TF-IDF of the ``mult.dat`` word
counts. The featurizer is fitted on the text of *all* papers: content is known for every paper in
the catalog and is not test information (likes are).
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import scipy.sparse as sp

from recommender.features import CitationFeaturizer, TfidfFeaturizer, stack_features
from recommender.models.base import Features

__all__ = [
    "DATASETS",
    "FEATURE_SETS",
    "M_VALUES",
    "ExperimentData",
    "FeatureSetUnavailable",
    "default_data_dir",
    "load_experiment_data",
    "published_rows",
]

log = logging.getLogger(__name__)

#: The datasets with published splits, in table order.
DATASETS = ("citeulike-a", "citeulike-t")
#: The cut-offs of the published recall curves.
M_VALUES = (50, 100, 150, 200, 250, 300)
_PUBLISHED_TSV = Path(
    "citeulike-a", "published-results", "ferraridacrema_TOIS_appendix_tables15-18.tsv"
)


def default_data_dir() -> Path:
    """``../shared/datasets`` relative to the repository root."""
    return Path(__file__).resolve().parents[2].parent / "shared" / "datasets"


@dataclass
class ExperimentData:
    """One dataset ready for experiments: all likes and the paper features."""

    name: str
    likes: sp.csr_matrix
    features: Features
    n_items: int
    feature_set: str = "text"


#: Content feature sets an experiment can use. "text" is what the published content rows used;
#: "+citations" adds the papers' citation links (paper metadata, no user information); "+embed"
#: adds sentence embeddings of the paper text (the optional ``[embed]`` extra; datasets with raw
#: text only, i.e. citeulike-a), cached on disk in :data:`EMBED_CACHE`.
FEATURE_SETS = ("text", "text+citations", "text+embed", "text+embed+citations")
EMBED_CACHE = Path(__file__).resolve().parents[2] / "out" / "embeddings-cache"


class FeatureSetUnavailable(ValueError):
    """A feature set the dataset cannot provide (e.g. embeddings of data published as word
    counts)."""


def text_features(dataset: Any) -> Features:
    """TF-IDF features of every paper of a loaded CiteULike dataset (see the module docstring)."""
    if getattr(dataset, "counts", None) is not None and getattr(dataset, "vocabulary", None):
        f = TfidfFeaturizer().fit_counts(dataset.counts, dataset.vocabulary)
        return f.transform_counts(dataset.counts)
    texts = dataset.catalog.texts()
    return TfidfFeaturizer().fit(texts).transform(texts)


def content_features(
    dataset: Any, features: str = "text", citation_weight: float = 1.0
) -> Features:
    """The ``features`` set (one of :data:`FEATURE_SETS`) of every paper of a loaded dataset."""
    if features not in FEATURE_SETS:
        raise ValueError(f"unknown feature set {features!r}; known: {', '.join(FEATURE_SETS)}")
    parts: list[tuple[Features, float]] = [(text_features(dataset), 1.0)]
    if "embed" in features:
        if getattr(dataset, "counts", None) is not None:
            raise FeatureSetUnavailable(
                f"{dataset.name} has word counts, not text: nothing to embed"
            )
        from recommender.embeddings import SentenceEmbedder

        embedder = SentenceEmbedder(cache_dir=EMBED_CACHE)
        parts.append((embedder.transform(dataset.catalog.texts()), 1.0))
    if "citations" in features:
        papers = list(dataset.catalog)
        if not any(p.references for p in papers):
            raise ValueError(
                f"{dataset.name}: no paper has citation links (citations.dat missing?)"
            )
        parts.append((CitationFeaturizer().fit_transform(papers), citation_weight))
    return parts[0][0] if len(parts) == 1 else stack_features(parts)


def load_experiment_data(
    name: str, data_dir: str | Path | None = None, features: str = "text"
) -> ExperimentData:
    """Load ``name`` (``citeulike-a`` or ``citeulike-t``) with its content ``features`` set."""
    from recommender.loaders import load_citeulike

    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    ds = load_citeulike(name, data_dir)
    feats = content_features(ds, features)
    likes = sp.csr_matrix(ds.likes, dtype="float32")
    log.info(
        "%s: %d users, %d papers, %d likes, features %s",
        name,
        likes.shape[0],
        likes.shape[1],
        likes.nnz,
        feats.shape,
    )
    return ExperimentData(name, likes, feats, int(feats.shape[0]), features)


def published_rows(name: str, p: int, data_dir: str | Path | None = None) -> list[dict[str, Any]]:
    """The published rows (Ferrari Dacrema et al., TOIS appendix) for one dataset and split, read
    from the data directory at run time: ``[{"method": ..., "recall@50": ..., ...}]``. An empty list
    when the file is absent."""
    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    path = data_dir / _PUBLISHED_TSV
    if not path.is_file():
        log.warning("published results not found at %s", path)
        return []
    rows = []
    with path.open(newline="", encoding="utf-8") as fh:
        for rec in csv.DictReader(fh, delimiter="\t"):
            if rec.get("dataset") != name or rec.get("setting") != f"P={p}":
                continue
            row: dict[str, Any] = {"method": rec["method"]}
            for m in M_VALUES:
                row[f"recall@{m}"] = float(rec[f"REC@{m}"])
            rows.append(row)
    return rows
