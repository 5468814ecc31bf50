"""Top-k selection, exclusions and explanations: written once, used by every model.

Ties are broken by a fixed pseudo-random order of the papers, not by row number: paper rows often
follow the date a paper was added, and breaking ties by row would quietly favour old papers.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import scipy.sparse as sp

__all__ = ["as_rows", "only_candidates", "rows_to_csr", "tiebreak_keys", "top_k", "top_k_batch"]

_GOLDEN = np.uint64(2654435761)


def as_rows(rows: Iterable[int] | np.ndarray | None) -> np.ndarray:
    """A 1-d int64 array of unique rows from any iterable of ints (or None)."""
    if rows is None:
        return np.empty(0, dtype=np.int64)
    arr = np.asarray(rows if isinstance(rows, np.ndarray) else list(rows), dtype=np.int64).ravel()
    if arr.size < 2 or bool((arr[1:] > arr[:-1]).all()):
        return arr  # already sorted and unique (e.g. the output of an earlier call): no sort
    return np.unique(arr)


def rows_to_csr(row_lists: Iterable[Iterable[int] | np.ndarray], n_items: int) -> sp.csr_matrix:
    """A binary ``len(row_lists) x n_items`` CSR matrix, one row per list of item rows."""
    indptr = [0]
    indices: list[np.ndarray] = []
    for rows in row_lists:
        r = as_rows(rows)
        if r.size and (r[0] < 0 or r[-1] >= n_items):
            raise IndexError(f"item row out of range [0, {n_items}): {r[0] if r[0] < 0 else r[-1]}")
        indices.append(r)
        indptr.append(indptr[-1] + r.size)
    idx = np.concatenate(indices) if indices else np.empty(0, dtype=np.int64)
    data = np.ones(idx.size, dtype=np.float32)
    return sp.csr_matrix((data, idx, np.asarray(indptr)), shape=(len(indptr) - 1, n_items))


def tiebreak_keys(rows: np.ndarray) -> np.ndarray:
    """A fixed pseudo-random key per row (Knuth's multiplicative hash), stable as the catalog grows."""
    return (rows.astype(np.uint64) * _GOLDEN) & np.uint64(0xFFFFFFFF)


def _order(scores: np.ndarray, cand: np.ndarray) -> np.ndarray:
    """Candidates sorted by descending score, ties by the fixed pseudo-random key."""
    return cand[np.lexsort((tiebreak_keys(cand), -scores[cand]))]


#: :func:`_kth_largest`: the length of the blocks whose maxima bound the k-th largest score (at
#: most; shorter for large k).
_BLOCK = 64


def _kth_largest(s: np.ndarray, k: int) -> float:
    """The ``k``-th largest value of ``s`` (1 <= k <= s.size), exactly.

    ``np.partition`` of a whole list (17k scores) costs about 130 µs; most of the values are far
    below the top. The maxima of blocks of (up to) :data:`_BLOCK` values bound it first: the ``k``-th
    largest block maximum ``t`` has at least ``k`` values at or above it (one in each of those
    blocks), so the ``k``-th largest value is at least ``t`` and is the ``k``-th largest of the
    values >= ``t`` (usually a few hundred)."""
    # Shorter blocks for a long list (k of hundreds): at least 2k of them.
    block = min(_BLOCK, s.size // (2 * k))
    n_blocks = s.size // block if block >= 4 else 0
    if n_blocks > k:
        maxima = s[: n_blocks * block].reshape(n_blocks, block).max(axis=1)
        t = np.partition(maxima, n_blocks - k)[n_blocks - k]
        if t > -np.inf:
            top = s[s >= t]
            return float(np.partition(top, top.size - k)[top.size - k])
    return float(np.partition(s, s.size - k)[s.size - k])


def top_k(
    scores: np.ndarray, k: int, exclude: Iterable[int] | np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best rows of a 1-d score vector, without ``exclude``; returns ``(rows, scores)``.

    Excluded rows and rows scored NaN or -inf are never returned, so fewer than ``k`` may come back.
    """
    scores = np.asarray(scores)
    # float32 scores stay float32 (the order is the same in float64, at twice the memory traffic).
    s: np.ndarray = scores.astype(np.float32 if scores.dtype == np.float32 else np.float64)
    s[~np.isfinite(s)] = -np.inf
    # Repeated rows are harmless here, so no as_rows (it sorts).
    if exclude is None:
        ex = np.empty(0, np.int64)
    elif isinstance(exclude, np.ndarray):
        ex = exclude.astype(np.int64, copy=False).ravel()
    else:
        ex = np.fromiter(exclude, dtype=np.int64)
    if ex.size:
        s[ex[(ex >= 0) & (ex < s.size)]] = -np.inf
    n_valid = int(np.count_nonzero(s > -np.inf))
    k = min(k, n_valid)
    if k <= 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
    if k < n_valid:
        # Over the whole array: -inf rows sort last, and k <= n_valid keeps them out.
        kth = _kth_largest(s, k)
        # Every row tied with the k-th score competes on the tie-break key, not on partition luck:
        # the candidates are the rows above the k-th score and all rows equal to it.
        cand = np.flatnonzero(s >= kth)
    else:
        cand = np.flatnonzero(s > -np.inf)
    rows = _order(s, cand)[:k]
    return rows.astype(np.int64), s[rows].astype(np.float32)


def top_k_batch(
    scores: np.ndarray, k: int, exclude: sp.csr_matrix | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise :func:`top_k` of a ``(users, items)`` score matrix.

    ``exclude`` is a CSR matrix of the same shape whose non-zeros are removed. Returns ``(rows,
    scores)`` of shape ``(users, k)``; where fewer than ``k`` items are eligible the row is padded
    with -1 and -inf.
    """
    s = np.array(scores, dtype=np.float32, copy=True)
    s[~np.isfinite(s)] = -np.inf
    if exclude is not None and exclude.nnz:
        ex = exclude.tocoo()
        s[ex.row, ex.col] = -np.inf
    n_users, n_items = s.shape
    k_eff = min(k, n_items)
    out_rows = np.full((n_users, k), -1, dtype=np.int64)
    out_scores = np.full((n_users, k), -np.inf, dtype=np.float32)
    if k_eff == 0:
        return out_rows, out_scores
    if k_eff < n_items:
        part = np.argpartition(-s, k_eff - 1, axis=1)[:, :k_eff]
    else:
        part = np.broadcast_to(np.arange(n_items), (n_users, n_items))
    part_scores = np.take_along_axis(s, part, axis=1)
    kth = part_scores.min(axis=1)
    n_at_least = (s >= kth[:, None]).sum(axis=1)
    keys = tiebreak_keys(part)
    order = np.lexsort((keys, -part_scores), axis=1)
    sorted_rows = np.take_along_axis(part, order, axis=1)
    out_rows[:, :k_eff] = sorted_rows
    out_scores[:, :k_eff] = np.take_along_axis(s, sorted_rows, axis=1)
    # Rows with ties at the cut (or fewer eligible items) get the exact single-row treatment.
    for u in np.flatnonzero((n_at_least > k_eff) | ~np.isfinite(kth)):
        rows, sc = top_k(s[u], k)
        out_rows[u] = -1
        out_scores[u] = -np.inf
        out_rows[u, : rows.size] = rows
        out_scores[u, : rows.size] = sc
    return out_rows, out_scores


def only_candidates(
    scores: np.ndarray, candidates: Iterable[int] | np.ndarray | None
) -> np.ndarray:
    """``scores`` with every row outside ``candidates`` at -inf (never ranked); ``scores`` itself
    when ``candidates`` is None. Rows outside the vector are ignored."""
    if candidates is None:
        return scores
    allowed = np.zeros(scores.size, dtype=bool)
    cand = as_rows(candidates)
    allowed[cand[(cand >= 0) & (cand < scores.size)]] = True
    return np.where(allowed, scores, -np.inf).astype(scores.dtype, copy=False)
