"""Sparse top-k item-item similarity matrices, computed in bounded-memory chunks.

Shared by the neighbourhood models (item-kNN, hybrid). Rows and columns are paper rows.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from tqdm.auto import tqdm

from recommender.models.base import Features, dense, l2_normalize

__all__ = ["cooccurrence_cosine", "symmetrize_max", "topk_cosine", "topk_rows"]


def topk_rows(block: np.ndarray, k: int, diagonal_at: int | None = None) -> sp.csr_matrix:
    """The ``k`` largest positive entries of each row of a dense block, as CSR.

    ``diagonal_at``: when the block is rows ``diagonal_at...`` of a square similarity, zero each
    row's own column first so a paper is never its own neighbour (and wastes no slot).
    """
    n_rows, n_cols = block.shape
    if diagonal_at is not None:
        r = np.arange(n_rows)
        ok = r + diagonal_at < n_cols
        block[r[ok], r[ok] + diagonal_at] = 0.0
    k = min(k, n_cols)
    if k <= 0 or n_rows == 0:
        return sp.csr_matrix((n_rows, n_cols), dtype=np.float32)
    if k < n_cols:
        idx = np.argpartition(-block, k - 1, axis=1)[:, :k]
    else:
        idx = np.broadcast_to(np.arange(n_cols), (n_rows, n_cols))
    vals = np.take_along_axis(block, idx, axis=1)
    keep = vals > 0
    rows = np.broadcast_to(np.arange(n_rows)[:, None], idx.shape)[keep]
    return sp.csr_matrix((vals[keep].astype(np.float32), (rows, idx[keep])), shape=(n_rows, n_cols))


def topk_cosine(
    X: Features,
    k: int,
    Y: Features | None = None,
    *,
    chunk: int = 1024,
    show_progress: bool = False,
) -> sp.csr_matrix:
    """Row ``i``: the ``k`` papers of ``Y`` most cosine-similar to paper ``i`` of ``X``, as a
    ``len(X) x len(Y)`` CSR. Without ``Y``, ``X`` against itself, the diagonal left out."""
    Xn = l2_normalize(X)
    Yn = Xn if Y is None else l2_normalize(Y)
    parts = [sp.csr_matrix((0, Yn.shape[0]), dtype=np.float32)]
    for start in tqdm(
        range(0, Xn.shape[0], chunk), desc="content neighbours", disable=not show_progress
    ):
        block = dense(Xn[start : start + chunk] @ Yn.T)
        parts.append(topk_rows(block, k, start if Y is None else None))
    return sp.vstack(parts, format="csr").astype(np.float32)


def cooccurrence_cosine(
    likes: sp.csr_matrix, k: int, shrink: float = 10.0, *, chunk: int = 2048
) -> sp.csr_matrix:
    """Collaborative item-item cosine, co-likes / (sqrt(n_i n_j) + shrink), top ``k`` per row."""
    L = sp.csr_matrix(likes, dtype=np.float32)
    Lt = L.T.tocsr()
    root = np.sqrt(np.asarray(L.sum(axis=0), dtype=np.float32).ravel())
    parts = [sp.csr_matrix((0, L.shape[1]), dtype=np.float32)]
    for start in range(0, L.shape[1], chunk):
        co = dense(Lt[start : start + chunk] @ L)
        co /= root[start : start + chunk, None] * root[None, :] + shrink + 1e-9
        parts.append(topk_rows(co, k, start))
    return sp.vstack(parts, format="csr").astype(np.float32)


def symmetrize_max(S: sp.csr_matrix) -> sp.csr_matrix:
    """``max(S, S.T)``: if j is among i's neighbours, i counts as one of j's too."""
    return sp.csr_matrix(S.maximum(S.T), dtype=np.float32)
