"""Evaluation protocols: how likes are divided into training, validation and test.

All splits work on a ``users x papers`` CSR matrix of likes and keep users and papers in place
(same shape everywhere), so a row of any part is the same user.

* :func:`published_split` -- the published CiteULike train/test files (see DATASETS.md).
* :func:`random_holdout` -- per user, a random share of likes to test and another to validation.
* :func:`cold_start_split` -- a random share of *papers* is removed from training entirely; their
  likes are the test set, so every test paper has no training like at all.
* :func:`validation_from_train` -- a validation part carved from training data only, for tuning.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from recommender.matrices import per_user_positions

__all__ = [
    "Split",
    "binarize",
    "cold_start_split",
    "published_split",
    "random_holdout",
    "validation_from_train",
]

log = logging.getLogger(__name__)


@dataclass
class Split:
    """Disjoint ``train``/``test`` (and optional ``validation``) likes of the same shape."""

    name: str
    train: sp.csr_matrix
    test: sp.csr_matrix
    validation: sp.csr_matrix | None = None
    info: dict[str, object] = field(default_factory=dict)

    @property
    def n_users(self) -> int:
        return int(self.train.shape[0])

    @property
    def n_items(self) -> int:
        return int(self.train.shape[1])

    def test_users(self) -> np.ndarray:
        """Rows of the users with at least one test paper (the users that are evaluated)."""
        return np.flatnonzero(np.diff(self.test.indptr) > 0)


def binarize(m: sp.spmatrix) -> sp.csr_matrix:
    """A canonical binary float32 CSR copy (duplicates summed, zeros dropped, sorted indices)."""
    out = sp.csr_matrix(m, dtype=np.float32, copy=True)
    out.sum_duplicates()
    out.eliminate_zeros()
    out.data[:] = 1.0
    out.sort_indices()
    return out


def _from_mask(likes: sp.csr_matrix, mask: np.ndarray) -> sp.csr_matrix:
    """The likes whose entry of ``mask`` (aligned with ``likes.data``) is True, same shape."""
    coo = likes.tocoo()
    return binarize(
        sp.csr_matrix((coo.data[mask], (coo.row[mask], coo.col[mask])), shape=likes.shape)
    )


def published_split(name: str, p: int, data_dir: str | Path) -> Split:
    """The published CiteULike split with ``p`` training papers per user (1 or 10)."""
    from recommender.datasets.citeulike import load_split  # datasets own every data path

    train, test = load_split(name, p, data_dir)
    train, test = binarize(train), binarize(test)
    if train.shape != test.shape:
        n = max(train.shape[1], test.shape[1])
        train.resize((train.shape[0], n))
        test.resize((test.shape[0], n))
    return Split(f"{name} P={p}", train, test, info={"protocol": "published", "p": p})


def _per_user_positions(likes: sp.csr_matrix, rng: np.random.Generator) -> np.ndarray:
    """For each stored like, its position in a random order of its user's likes (0-based)."""
    return per_user_positions(binarize(likes), rng)


def random_holdout(
    likes: sp.spmatrix,
    *,
    test_fraction: float = 0.2,
    validation_fraction: float = 0.1,
    min_train: int = 1,
    seed: int = 0,
) -> Split:
    """Per user, a random ``test_fraction`` of likes to test and ``validation_fraction`` to
    validation; at least ``min_train`` likes stay in training (users with fewer likes than
    ``min_train + 1`` keep them all in training and are not evaluated)."""
    if not 0 < test_fraction < 1 or not 0 <= validation_fraction < 1 - test_fraction:
        raise ValueError("need 0 < test_fraction and test_fraction + validation_fraction < 1")
    likes = binarize(likes)
    rng = np.random.default_rng(seed)
    pos = _per_user_positions(likes, rng)
    counts = np.diff(likes.indptr)
    spare = np.maximum(counts - min_train, 0)
    n_test = np.minimum(np.round(counts * test_fraction).astype(np.int64), spare)
    n_test = np.where((n_test == 0) & (spare > 0), 1, n_test)
    n_val = np.minimum(
        np.round(counts * validation_fraction).astype(np.int64), spare - n_test
    ).clip(min=0)
    per_like_test = np.repeat(n_test, counts)
    per_like_val = np.repeat(n_val, counts)
    is_test = pos < per_like_test
    is_val = ~is_test & (pos < per_like_test + per_like_val)
    train = _from_mask(likes, ~is_test & ~is_val)
    test = _from_mask(likes, is_test)
    val = _from_mask(likes, is_val)
    return Split(
        "random holdout",
        train,
        test,
        val,
        info={"protocol": "holdout", "test_fraction": test_fraction, "seed": seed},
    )


def cold_start_split(
    likes: sp.spmatrix, *, item_fraction: float = 0.2, seed: int = 0, newest: bool = False
) -> Split:
    """A random ``item_fraction`` of the papers leave training entirely; their likes are the test.

    Every test paper therefore has no training like at all (only content can find it). Users left
    with no training like are not evaluated (their test rows are emptied): recommending to a user
    with nothing to go on is a different problem. ``newest`` takes the highest rows instead of
    random ones: where rows follow the date a paper was added, the papers that appeared after
    the model was trained.
    """
    likes = binarize(likes)
    rng = np.random.default_rng(seed)
    n_items = likes.shape[1]
    n_cold = int(round(item_fraction * n_items))
    cold = np.zeros(n_items, dtype=bool)
    if newest:
        cold[n_items - n_cold :] = True
    else:
        cold[rng.choice(n_items, size=n_cold, replace=False)] = True
    is_cold = cold[likes.indices]
    train = _from_mask(likes, ~is_cold)
    test = _from_mask(likes, is_cold)
    no_train = np.diff(train.indptr) == 0
    if no_train.any():
        test = binarize(sp.diags((~no_train).astype(np.float32)) @ test)
    return Split(
        "cold start",
        train,
        test,
        info={
            "protocol": "cold-start",
            "item_fraction": item_fraction,
            "seed": seed,
            "newest": newest,
        },
    )


def validation_from_train(
    train: sp.spmatrix,
    *,
    fraction: float = 0.3,
    min_keep: int = 1,
    ordered: bool = False,
    seed: int = 0,
) -> Split:
    """A tuning split carved out of training likes only: per user with more than ``min_keep``
    training likes, ``fraction`` of them (at least one) become validation.

    ``ordered`` holds out each user's highest rows (newest papers where rows follow the date
    added) instead of random ones, to mimic an "older in, newer out" split. The returned split's
    ``test`` is the validation part; it never contains anything outside ``train``.
    """
    train = binarize(train)
    counts = np.diff(train.indptr)
    spare = np.maximum(counts - min_keep, 0)
    n_out = np.minimum(np.maximum(np.round(counts * fraction).astype(np.int64), 1), spare)
    if ordered:
        # CSR indices are sorted: position within the row, counted from the end, is the rank
        # from the newest paper.
        rows = np.repeat(np.arange(train.shape[0]), counts)
        pos = train.indptr[rows + 1] - 1 - np.arange(train.nnz)
    else:
        pos = _per_user_positions(train, np.random.default_rng(seed))
    out = pos < np.repeat(n_out, counts)
    log.info(
        "validation from train: %d of %d likes held out, %d users evaluated",
        int(out.sum()),
        train.nnz,
        int((n_out > 0).sum()),
    )
    return Split(
        "validation",
        _from_mask(train, ~out),
        _from_mask(train, out),
        info={"protocol": "validation", "fraction": fraction, "ordered": ordered, "seed": seed},
    )
