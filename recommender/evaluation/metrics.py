"""Ranking metrics as small pure functions.

Every metric takes the ``(users, K)`` matrix of recommended rows that
:meth:`~recommender.models.base.Recommender.recommend_batch` returns (best first, ``-1`` padding)
and the ``users x papers`` CSR matrix of test papers, row for row. Per-user functions return a float
array with ``NaN`` for users who have no test paper; :func:`mean_over_users` averages the rest, which
is the published protocol (users without a test paper are skipped).

Definitions (binary relevance: a recommended paper is a hit when it is in the user's test row):

* ``recall@M`` = hits in the top M / number of the user's test papers (DATASETS.md).
* ``precision@k`` = hits in the top k / k.
* ``nDCG@k`` = sum of ``1/log2(rank+1)`` over hits at ranks 1..k, divided by the same sum for an
  ideal list holding ``min(k, |test|)`` hits first.
* ``MAP@k``: average precision at k = sum over hit ranks r <= k of precision@r, divided by
  ``min(k, |test|)`` (so a list that is perfect up to k scores 1).
* ``MRR`` = 1 / rank of the first hit in the whole list given (its length is the cut-off; 0 when no
  hit is in the list).
* ``coverage@k`` = distinct papers recommended in anyone's top k / papers in the catalog.
* ``novelty@k`` = mean self-information ``-log2 p(i)`` of the papers in the top k, with ``p(i)`` the
  share of training users who liked ``i``, smoothed as ``(likes_i + 1) / (users + 1)`` so papers
  nobody liked have a finite value.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = [
    "average_precision_at",
    "catalog_coverage",
    "hits",
    "mean_over_users",
    "ndcg_at",
    "novelty",
    "precision_at",
    "recall_at",
    "reciprocal_rank",
    "relevant_counts",
]


def hits(topk: np.ndarray, test: sp.csr_matrix) -> np.ndarray:
    """Boolean ``(users, K)``: ``True`` where the recommended row is one of the user's test papers.

    ``-1`` padding is never a hit. Vectorised: every (user, paper) pair is encoded as one integer
    and looked up in the sorted codes of the test matrix.
    """
    topk = np.asarray(topk, dtype=np.int64)
    if topk.ndim != 2 or topk.shape[0] != test.shape[0]:
        raise ValueError(f"topk shape {topk.shape} does not match test matrix {test.shape}")
    n_items = int(test.shape[1])
    coo = sp.coo_matrix(test)
    keep = coo.data != 0
    codes = np.sort(coo.row[keep].astype(np.int64) * n_items + coo.col[keep].astype(np.int64))
    valid = (topk >= 0) & (topk < n_items)
    query = np.arange(topk.shape[0], dtype=np.int64)[:, None] * n_items + np.where(valid, topk, 0)
    if codes.size == 0:
        return np.zeros(topk.shape, dtype=bool)
    pos = np.searchsorted(codes, query).clip(max=codes.size - 1)
    return valid & (codes[pos] == query)


def relevant_counts(test: sp.csr_matrix) -> np.ndarray:
    """Number of test papers per user (distinct non-zeros of each row)."""
    t = sp.csr_matrix(test, copy=True)
    t.eliminate_zeros()
    return np.diff(t.indptr).astype(np.int64)


def _per_user(values: np.ndarray, n_test: np.ndarray) -> np.ndarray:
    out = np.asarray(values, dtype=np.float64).copy()
    out[n_test == 0] = np.nan
    return out


def recall_at(h: np.ndarray, n_test: np.ndarray, m: int) -> np.ndarray:
    """Per-user recall@m from a hit matrix and the users' test counts (NaN without test papers)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return _per_user(h[:, :m].sum(axis=1) / n_test, n_test)


def precision_at(h: np.ndarray, n_test: np.ndarray, k: int) -> np.ndarray:
    """Per-user precision@k: hits in the top k / k (a list shorter than k counts as missing)."""
    return _per_user(h[:, :k].sum(axis=1) / float(k), n_test)


def _discounts(k: int) -> np.ndarray:
    return 1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64))


def ndcg_at(h: np.ndarray, n_test: np.ndarray, k: int) -> np.ndarray:
    """Per-user binary nDCG@k (ideal list: ``min(k, |test|)`` hits at the top)."""
    k_eff = min(k, h.shape[1])
    disc = _discounts(k)
    dcg = (h[:, :k_eff] * disc[:k_eff]).sum(axis=1)
    ideal_cum = np.concatenate([[0.0], np.cumsum(disc)])
    idcg = ideal_cum[np.minimum(n_test, k)]
    with np.errstate(divide="ignore", invalid="ignore"):
        return _per_user(dcg / idcg, n_test)


def average_precision_at(h: np.ndarray, n_test: np.ndarray, k: int) -> np.ndarray:
    """Per-user AP@k, normalised by ``min(k, |test|)``; its mean over users is MAP@k."""
    hk = h[:, :k].astype(np.float64)
    ranks = np.arange(1, hk.shape[1] + 1, dtype=np.float64)
    prec = np.cumsum(hk, axis=1) / ranks
    with np.errstate(divide="ignore", invalid="ignore"):
        return _per_user((prec * hk).sum(axis=1) / np.minimum(n_test, k), n_test)


def reciprocal_rank(h: np.ndarray, n_test: np.ndarray) -> np.ndarray:
    """Per-user 1 / rank of the first hit within the list (0 when there is none)."""
    any_hit = h.any(axis=1)
    first = np.argmax(h, axis=1) + 1
    return _per_user(np.where(any_hit, 1.0 / first, 0.0), n_test)


def catalog_coverage(topk: np.ndarray, n_items: int, k: int) -> float:
    """Share of the catalog that appears in at least one user's top k."""
    top = np.asarray(topk)[:, :k]
    seen = np.unique(top[top >= 0])
    return float(seen.size) / float(n_items) if n_items else 0.0


def novelty(topk: np.ndarray, train: sp.csr_matrix, k: int) -> float:
    """Mean self-information (bits) of the papers recommended in the top k, under training
    popularity ``p(i) = (likes_i + 1) / (users + 1)``. Higher means less popular papers."""
    t = sp.csr_matrix(train, copy=True)
    t.eliminate_zeros()
    t.data[:] = 1
    likes = np.asarray(t.sum(axis=0)).ravel()
    info = -np.log2((likes + 1.0) / (t.shape[0] + 1.0))
    top = np.asarray(topk)[:, :k]
    rec = top[top >= 0]
    return float(info[rec].mean()) if rec.size else float("nan")


def mean_over_users(values: np.ndarray) -> float:
    """Mean over users with a value (users without test papers carry NaN and are skipped)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[~np.isnan(v)]
    return float(v.mean()) if v.size else float("nan")
