"""Matrices every floor of the library works in: the types of paper features and of a model's
saved state, and the few conversions on them (binary CSR, float32 features, L2 rows, dense).

The ground floor beside :mod:`recommender.ranking`: features, similarity, models, serving and
evaluation all import it; it imports nothing of the library.
"""

from __future__ import annotations

from typing import TypeAlias

import numpy as np
import scipy.sparse as sp
from sklearn.preprocessing import normalize

__all__ = [
    "Features",
    "State",
    "as_binary_csr",
    "as_features",
    "dense",
    "l2_normalize",
    "per_user_positions",
]

#: Paper features: a sparse (TF-IDF) or dense (LSA, embeddings) matrix, one row per paper.
Features: TypeAlias = sp.csr_matrix | np.ndarray
#: What a model persists: named arrays (dense or sparse). Hyperparameters travel separately.
State: TypeAlias = dict[str, np.ndarray | sp.csr_matrix]


def as_binary_csr(m: sp.spmatrix | np.ndarray, what: str) -> sp.csr_matrix:
    """``m`` as a float32 CSR matrix of ones (duplicates summed, zeros dropped); ``ValueError``
    naming ``what`` for negative entries."""
    if not sp.issparse(m):
        m = sp.csr_matrix(np.asarray(m))
    m = sp.csr_matrix(m, dtype=np.float32)
    m.sum_duplicates()
    m.eliminate_zeros()
    if m.nnz and (m.data < 0).any():
        raise ValueError(f"{what} must be non-negative (likes and dislikes are separate matrices)")
    m.data[:] = 1.0
    return m


def as_features(f: Features) -> Features:
    """Paper features as float32: CSR when sparse, a 2-d array when dense."""
    if sp.issparse(f):
        return sp.csr_matrix(f, dtype=np.float32)
    arr = np.asarray(f, dtype=np.float32)
    if arr.ndim != 2:
        raise ValueError(f"features must be 2-d, got shape {arr.shape}")
    return arr


def l2_normalize(f: Features) -> Features:
    """Row-wise L2 normalisation of sparse or dense features (zero rows stay zero)."""
    out = normalize(f, norm="l2", axis=1, copy=True)
    return sp.csr_matrix(out, dtype=np.float32) if sp.issparse(out) else out.astype(np.float32)


def dense(m: np.ndarray | sp.spmatrix) -> np.ndarray:
    """A dense float32 ndarray from a dense or sparse matrix product."""
    if sp.issparse(m):
        return np.asarray(m.toarray(), dtype=np.float32)  # type: ignore[union-attr]
    return np.asarray(m, dtype=np.float32)


def per_user_positions(likes: sp.csr_matrix, rng: np.random.Generator) -> np.ndarray:
    """For each stored like of a CSR matrix, its position in a random order of its user's
    likes (0-based): what holding out a random share of each user's likes is cut from."""
    counts = np.diff(likes.indptr)
    rows = np.repeat(np.arange(likes.shape[0]), counts)
    order = np.lexsort((rng.random(likes.nnz), rows))
    pos = np.empty(likes.nnz, dtype=np.int64)
    pos[order] = np.arange(likes.nnz) - likes.indptr[rows[order]]
    return pos
