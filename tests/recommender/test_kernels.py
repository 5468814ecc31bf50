"""The compiled row sums against scipy's own products on random sparse matrices."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recommender.kernels import add_rows, add_weighted_rows, row_hits, sum_rows_with_support


def matrix(seed: int, shape: tuple[int, int] = (80, 60)) -> sp.csr_matrix:
    S = sp.random(*shape, density=0.1, format="csr", random_state=seed, dtype=np.float32)
    S.data -= 0.5  # negative values too
    return S


@pytest.mark.parametrize("seed", range(5))
def test_add_rows_is_the_sum_of_the_rows_repeats_included(seed: int) -> None:
    S = matrix(seed)
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, S.shape[0], size=25)  # with repeats, unsorted
    out = np.ones(S.shape[1])
    add_rows(S, rows, out)
    want = 1.0 + S[rows].toarray().astype(np.float64).sum(axis=0)
    np.testing.assert_allclose(out, want, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(add_rows(S, np.empty(0, np.int64), np.zeros(60)), 0.0)


@pytest.mark.parametrize("seed", range(5))
def test_sum_rows_with_support_gives_the_columns_any_row_stores(seed: int) -> None:
    S = matrix(seed)
    assert S.indptr[4] > S.indptr[3]
    S.data[S.indptr[3]] = 0.0  # a stored zero is still stored: the support may hold it
    rows = np.array([3, 10, 11, 40])
    total, support = sum_rows_with_support(S, rows)
    np.testing.assert_allclose(total, np.asarray(S[rows].sum(axis=0)).ravel(), rtol=1e-6)
    np.testing.assert_array_equal(support, np.unique(S[rows].indices))
    assert np.all(total[np.setdiff1d(np.arange(S.shape[1]), support)] == 0)


@pytest.mark.parametrize("seed", range(5))
def test_add_weighted_rows_is_the_product_with_the_weights(seed: int) -> None:
    S = matrix(seed)
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(S.shape[0], 20, replace=False))
    w = rng.normal(size=rows.size).astype(np.float32)
    out = add_weighted_rows(S, rows, w, np.zeros(S.shape[1]))
    np.testing.assert_allclose(out, w @ S[rows].toarray(), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="weights"):
        add_weighted_rows(S, rows, w[:3], np.zeros(S.shape[1]))


def test_row_hits_reads_the_entries_of_the_asked_columns_only() -> None:
    S = matrix(1)
    items = np.array([5, 0, 5, 79])  # a repeated item has its own row
    columns = np.array([2, 9, 30, 59])
    out = row_hits(S, items, columns, 2.0, np.zeros((4, 4)))
    np.testing.assert_allclose(out, 2.0 * S[items][:, columns].toarray(), rtol=1e-6)


def test_rows_out_of_range_and_wrong_outputs_are_refused() -> None:
    S = matrix(2)
    with pytest.raises(IndexError, match=r"\[0, 80\): 80"):
        add_rows(S, np.array([1, 80]), np.zeros(60))
    with pytest.raises(IndexError, match="-1"):
        sum_rows_with_support(S, np.array([-1]))
    with pytest.raises(ValueError, match="float64"):
        add_rows(S, np.array([1]), np.zeros(60, np.float32))
    with pytest.raises(ValueError, match="shape"):
        row_hits(S, np.array([1]), np.array([1, 2]), 1.0, np.zeros((2, 2)))
