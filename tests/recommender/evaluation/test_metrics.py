"""Ranking metrics against values worked out by hand.

Six papers, three users, lists of length 4 (best first, -1 = padding):

    user 0: test {1, 3, 5}, list [1, 2, 3, 4]  -> hits [1, 0, 1, 0]
    user 1: test {0},       list [2, 4, 0, -1] -> hits [0, 0, 1, 0]  (-1 is never paper 0)
    user 2: no test paper,  list [0, 1, 2, 3]  -> skipped (NaN)
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from recommender.evaluation import metrics as mt
from recommender.ranking import rows_to_csr

TOPK = np.array([[1, 2, 3, 4], [2, 4, 0, -1], [0, 1, 2, 3]])
TEST = rows_to_csr([[1, 3, 5], [0], []], 6)


@pytest.fixture()
def h() -> np.ndarray:
    return mt.hits(TOPK, TEST)


def test_hits_and_counts(h: np.ndarray) -> None:
    expected = np.array([[1, 0, 1, 0], [0, 0, 1, 0], [0, 0, 0, 0]], dtype=bool)
    np.testing.assert_array_equal(h, expected)
    np.testing.assert_array_equal(mt.relevant_counts(TEST), [3, 1, 0])


def test_recall(h: np.ndarray) -> None:
    n = mt.relevant_counts(TEST)
    # user 0: 1 of 3 test papers in the top 2; user 1: none of 1.
    r2 = mt.recall_at(h, n, 2)
    np.testing.assert_allclose(r2[:2], [1 / 3, 0.0])
    assert math.isnan(r2[2])
    # top 4: user 0 finds 2 of 3, user 1 its only one -> mean over the two users (2/3 + 1) / 2.
    assert mt.mean_over_users(mt.recall_at(h, n, 4)) == pytest.approx(5 / 6)


def test_precision(h: np.ndarray) -> None:
    n = mt.relevant_counts(TEST)
    # precision@4: 2/4 and 1/4 (the -1 slot counts as a miss).
    np.testing.assert_allclose(mt.precision_at(h, n, 4)[:2], [0.5, 0.25])


def test_ndcg(h: np.ndarray) -> None:
    n = mt.relevant_counts(TEST)
    # user 0: DCG = 1/log2(2) + 1/log2(4) = 1.5; ideal has min(4, 3) = 3 hits:
    # 1 + 1/log2(3) + 1/log2(4) = 2.1309298 -> 0.7039180.
    # user 1: DCG = 1/log2(4) = 0.5, ideal 1 -> 0.5.
    np.testing.assert_allclose(mt.ndcg_at(h, n, 4)[:2], [1.5 / (1.5 + 1 / math.log2(3)), 0.5])
    assert mt.ndcg_at(h, n, 4)[0] == pytest.approx(0.7039180, abs=1e-6)


def test_map(h: np.ndarray) -> None:
    n = mt.relevant_counts(TEST)
    # user 0: hits at ranks 1 and 3 -> (1/1 + 2/3) / min(4, 3) = 0.5555...
    # user 1: hit at rank 3 -> (1/3) / min(4, 1) = 0.3333...
    np.testing.assert_allclose(mt.average_precision_at(h, n, 4)[:2], [5 / 9, 1 / 3])
    # at k = 2, user 0 is normalised by min(2, 3) = 2: (1/1) / 2.
    assert mt.average_precision_at(h, n, 2)[0] == pytest.approx(0.5)


def test_mrr(h: np.ndarray) -> None:
    n = mt.relevant_counts(TEST)
    # first hits at ranks 1 and 3 -> (1 + 1/3) / 2
    assert mt.mean_over_users(mt.reciprocal_rank(h, n)) == pytest.approx(2 / 3)
    no_hit = mt.hits(np.array([[2, 4]]), rows_to_csr([[0]], 6))
    assert mt.reciprocal_rank(no_hit, np.array([1]))[0] == 0.0


def test_coverage() -> None:
    # top 2 of each list: {1, 2} | {2, 4} | {0, 1} = {0, 1, 2, 4} -> 4 of 6 papers.
    assert mt.catalog_coverage(TOPK, 6, 2) == pytest.approx(4 / 6)
    # padding is not a paper: [2, 4, 0, -1] alone covers 3 of 6.
    assert mt.catalog_coverage(TOPK[1:2], 6, 4) == pytest.approx(0.5)


def test_novelty() -> None:
    # Training likes of 3 users: paper 0 liked twice, paper 2 once, the rest never.
    train = rows_to_csr([[0], [0, 2], []], 6)
    # p = (likes + 1) / (3 + 1): paper 0 -> 3/4 (0.4150375 bits), 2 -> 1/2 (1 bit), 1 -> 1/4 (2 bits).
    # top 1 of each list: papers 1, 2, 0 -> (2 + 1 + 0.4150375) / 3.
    assert mt.novelty(TOPK, train, 1) == pytest.approx((2 + 1 - math.log2(0.75)) / 3)


def test_perfect_and_empty_lists() -> None:
    test = rows_to_csr([[3, 4]], 6)
    perfect = mt.hits(np.array([[4, 3, 0]]), test)
    n = mt.relevant_counts(test)
    assert mt.recall_at(perfect, n, 2)[0] == 1.0
    assert mt.ndcg_at(perfect, n, 3)[0] == pytest.approx(1.0)
    assert mt.average_precision_at(perfect, n, 3)[0] == pytest.approx(1.0)
    empty = mt.hits(np.full((1, 3), -1), test)
    assert not empty.any()
    assert mt.hits(np.zeros((1, 2), dtype=int), sp.csr_matrix((1, 6))).sum() == 0


def test_shape_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError):
        mt.hits(TOPK[:2], TEST)
