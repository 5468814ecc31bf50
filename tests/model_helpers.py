"""Helpers the model tests share: small hyperparameters for the known-answer data, fitting by
name, and comparisons of rankings."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recommender.matrices import l2_normalize
from recommender.models import create_model
from recommender.models.base import Recommender
from recommender.ranking import rows_to_csr
from recommender.synthetic import BlockData

#: Small models for the block data (see recommender.synthetic): quick, and still right.
SMALL: dict[str, dict] = {
    "als": {"factors": 8},
    "bpr": {"factors": 8, "iterations": 200},
    "lightfm": {"no_components": 8, "epochs": 40},
    "lightfm_hybrid": {"no_components": 8, "epochs": 40},
    "linear": {},
    "item_knn": {"k_neighbors": 20},
}


def fit(name: str, data: BlockData, features, **extra) -> Recommender:
    """Model ``name`` with its small settings (and ``extra``), fitted on the block data."""
    return create_model(name, **{**SMALL.get(name, {}), **extra}).fit(data.likes, features)


def csr(rows: list[list[int]], n: int) -> sp.csr_matrix:
    return rows_to_csr(rows, n)


def top_overlap(a: np.ndarray, b: np.ndarray, seen: sp.csr_matrix, k: int = 10) -> float:
    """Mean share of the top ``k`` two score matrices have in common, seen papers left out."""
    a, b = a.copy(), b.copy()
    a[seen.nonzero()] = -np.inf
    b[seen.nonzero()] = -np.inf
    ta, tb = np.argsort(-a, axis=1)[:, :k], np.argsort(-b, axis=1)[:, :k]
    return float(np.mean([len(set(x) & set(y)) / k for x, y in zip(ta, tb, strict=True)]))


def random_tfidf(n: int, d: int, seed: int) -> sp.csr_matrix:
    """L2-normalised random sparse features with a few frequent (dense) columns."""
    rng = np.random.default_rng(seed)
    X = sp.random(n, d, density=0.15, random_state=rng, dtype=np.float32, format="lil")
    X[:, :3] = (rng.random((n, 3)) < 0.6).astype(np.float32)  # frequent words: dense columns
    X = sp.csr_matrix(X)
    X.eliminate_zeros()
    X.data = rng.random(X.nnz, dtype=np.float32) + 0.1
    return sp.csr_matrix(l2_normalize(X))
