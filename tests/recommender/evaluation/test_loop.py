"""The replay's bookkeeping on a three-user toy whose hits are worked out by hand."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recommender.evaluation.loop import SimUser, simulate
from recommender.exploration import Policy
from recommender.models.popularity import Popularity

N = 12


def _popularity() -> Popularity:
    # Paper i has N - i likes: the ranking is 0, 1, 2, ... whatever the user likes.
    rows, cols = [], []
    for i in range(N):
        for u in range(N - i):
            rows.append(u)
            cols.append(i)
    likes = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(N, N))
    return Popularity().fit(likes)


USERS = [
    # Slates [0, 1], [2, 3], [4, 5]: hits in rounds 1 and 3.
    SimUser(0, np.array([], dtype=np.int64), np.array([0, 5])),
    # Starts with 0 liked (never shown): slates [1, 2], [3, 4], [5, 6]: 2, 2, 0 hits.
    SimUser(1, np.array([0]), np.array([1, 2, 3, 4])),
    # Wants only the least popular paper: never reached in three rounds of two.
    SimUser(2, np.array([], dtype=np.int64), np.array([11])),
]


def test_hits_found_and_coverage_of_the_toy() -> None:
    res = simulate(_popularity(), USERS, Policy.greedy(), rounds=3, k=2)
    assert res.hits.tolist() == [[1, 0, 1], [2, 2, 0], [0, 0, 0]]
    assert res.cumulative_hits[:, -1].sum() == 6
    np.testing.assert_allclose(res.found, [[0.5, 0.5, 1.0], [0.5, 1.0, 1.0], [0, 0, 0]])
    np.testing.assert_allclose(res.coverage, [3 / N, 5 / N, 7 / N])
    assert res.shown[1].tolist() == [1, 2, 3, 4, 5, 6]
    assert res.likes[1].tolist() == [0, 1, 2, 3, 4]


def test_no_paper_is_shown_twice_and_clusters_are_counted() -> None:
    clusters = np.arange(N) // 3  # papers 0-2 in cluster 0, 3-5 in 1, ...
    res = simulate(_popularity(), USERS, Policy.greedy(), rounds=3, k=2, clusters=clusters)
    for shown in res.shown:
        assert len(set(shown.tolist())) == shown.size
    # User 0 sees 0,1 | 2,3 | 4,5: clusters {0}, {0,1}, {0,1}.
    assert res.clusters[0].tolist() == [1, 2, 2]


def test_dislikes_with_probability_one_are_every_miss() -> None:
    res = simulate(_popularity(), USERS, Policy.greedy(), rounds=3, k=2, dislike_prob=1.0)
    assert res.dislikes[0].tolist() == [1, 2, 3, 4]
    assert res.dislikes[2].tolist() == [0, 1, 2, 3, 4, 5]


def test_refit_is_called_every_retrain_rounds_with_the_current_likes() -> None:
    calls: list[list[list[int]]] = []

    def refit(likes, dislikes):  # type: ignore[no-untyped-def]
        calls.append([x.tolist() for x in likes])
        return _popularity()

    simulate(_popularity(), USERS, Policy.greedy(), rounds=3, k=2, refit=refit, retrain_every=2)
    assert calls == [[[0], [0, 1, 2, 3, 4], []]]


def test_same_seed_same_replay() -> None:
    a = simulate(_popularity(), USERS, Policy.epsilon_greedy(0.5), rounds=3, k=2, seed=7)
    b = simulate(_popularity(), USERS, Policy.epsilon_greedy(0.5), rounds=3, k=2, seed=7)
    assert [x.tolist() for x in a.shown] == [x.tolist() for x in b.shown]
