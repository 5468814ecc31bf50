"""Split properties: parts are disjoint and cover the likes, validation comes from training only,
cold-start test papers have no training like."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recommender.datasets import default_data_dir
from recommender.evaluation.splits import (
    binarize,
    cold_start_split,
    published_split,
    random_holdout,
    validation_from_train,
)


@pytest.fixture(scope="module")
def likes() -> sp.csr_matrix:
    rng = np.random.default_rng(1)
    m = sp.random(200, 120, density=0.08, format="csr", random_state=rng)
    m = binarize(m)
    # A few users with one like or none, and one with every paper.
    m = sp.lil_matrix(m)
    m[0, :] = 0
    m[1, :] = 0
    m[1, 5] = 1
    m[2, :] = 1
    return binarize(m)


def _pairs(m: sp.csr_matrix) -> set[tuple[int, int]]:
    c = m.tocoo()
    return set(zip(c.row.tolist(), c.col.tolist(), strict=True))


def test_random_holdout_partitions_each_users_likes(likes: sp.csr_matrix) -> None:
    s = random_holdout(likes, test_fraction=0.2, validation_fraction=0.1, seed=3)
    assert s.validation is not None
    tr, te, va = _pairs(s.train), _pairs(s.test), _pairs(s.validation)
    assert not tr & te and not tr & va and not te & va
    assert tr | te | va == _pairs(likes)
    n_like = np.diff(likes.indptr)
    n_train = np.diff(s.train.indptr)
    # Every user keeps at least one training like; a user with a single like is not tested.
    assert (n_train >= np.minimum(n_like, 1)).all()
    assert s.test[1].nnz == 0 and s.train[1].nnz == 1
    # The user with all 120 papers: 24 to test, 12 to validation.
    assert (s.test[2].nnz, s.validation[2].nnz) == (24, 12)
    # Different seeds draw different papers.
    assert _pairs(random_holdout(likes, seed=4).test) != te


def test_cold_start_test_papers_have_no_training_like(likes: sp.csr_matrix) -> None:
    s = cold_start_split(likes, item_fraction=0.25, seed=0)
    test_items = np.unique(s.test.indices)
    assert test_items.size > 0
    train_pop = np.asarray(s.train.sum(axis=0)).ravel()
    assert (train_pop[test_items] == 0).all()
    assert not _pairs(s.train) & _pairs(s.test)
    assert _pairs(s.train) | _pairs(s.test) <= _pairs(likes)
    # Every evaluated user has something to go on.
    assert (np.diff(s.train.indptr)[s.test_users()] > 0).all()


def test_cold_start_newest_takes_the_highest_rows(likes: sp.csr_matrix) -> None:
    s = cold_start_split(likes, item_fraction=0.25, newest=True)
    n_items = likes.shape[1]
    first_new = n_items - round(0.25 * n_items)
    assert s.test.nnz > 0 and s.test.indices.min() >= first_new
    assert s.train.nnz == 0 or s.train.indices.max() < first_new
    # Every like of a new paper by a user with older likes is in the test part.
    has_train = np.diff(s.train.indptr) > 0
    new_likes = likes[:, first_new:]
    assert s.test.nnz == new_likes[has_train].nnz


def test_validation_comes_from_training_only(likes: sp.csr_matrix) -> None:
    v = validation_from_train(likes, fraction=0.3, min_keep=1, seed=0)
    kept, held = _pairs(v.train), _pairs(v.test)
    assert not kept & held
    assert kept | held == _pairs(likes)
    n_like = np.diff(likes.indptr)
    assert (
        np.diff(v.train.indptr)
        == np.where(n_like > 0, np.maximum(n_like - np.diff(v.test.indptr), 1), 0)
    ).all()
    assert v.test[1].nnz == 0  # one like: kept for training


def test_ordered_validation_holds_out_the_newest(likes: sp.csr_matrix) -> None:
    v = validation_from_train(likes, fraction=0.3, ordered=True)
    for u in np.flatnonzero(np.diff(v.test.indptr) > 0):
        assert v.train[u].indices.max() < v.test[u].indices.min()


def test_p1_simulation_keeps_one_paper() -> None:
    ten = binarize(sp.csr_matrix(np.kron(np.eye(3), np.ones((1, 10)))))
    v = validation_from_train(ten, fraction=0.9, min_keep=1, ordered=True)
    np.testing.assert_array_equal(np.diff(v.train.indptr), [1, 1, 1])
    np.testing.assert_array_equal(v.train.indices, [0, 10, 20])  # lowest row kept
    np.testing.assert_array_equal(np.diff(v.test.indptr), [9, 9, 9])


@pytest.mark.skipif(
    not (default_data_dir() / "citeulike-a").is_dir(), reason="CiteULike data not available"
)
def test_published_p1_split() -> None:
    s = published_split("citeulike-a", 1, default_data_dir())
    assert s.train.shape == s.test.shape == (5551, 16980)
    assert (np.diff(s.train.indptr) == 1).all()
    assert s.train.multiply(s.test).nnz == 0
