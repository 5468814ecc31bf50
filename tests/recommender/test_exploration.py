"""Slate policies on hand-made cases whose answers are worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from recommender.exploration import PaperSpace, Policy, posterior, slate


def _space(coords: list[list[float]]) -> PaperSpace:
    z = np.asarray(coords, dtype=np.float32)
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    return PaperSpace(np.eye(z.shape[1], dtype=np.float32), z)


# Papers 0 and 1 are the same topic (x), 2 is topic y, 3 topic z; relevance 1.0, 0.9, 0.6, 0.0.
SCORES = np.array([1.0, 0.9, 0.6, 0.0], dtype=np.float32)
SPACE = _space([[1, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]])


def test_greedy_is_the_rankers_top_k() -> None:
    s = slate(SCORES, 2, Policy.greedy())
    assert s.rows.tolist() == [0, 1]
    assert not s.explored.any()


def test_mmr_slate_on_a_hand_made_case() -> None:
    # Slot 1: paper 0 (relevance 1). Slot 2 at lam=0.5: paper 1 is 0.5*0.9 - 0.5*1 = -0.05,
    # paper 2 is 0.5*0.6 - 0 = 0.3, paper 3 is 0 -> paper 2. Slot 3: paper 1 -0.05, paper 3 0.
    s = slate(SCORES, 3, Policy.mmr(0.5), space=SPACE)
    assert s.rows.tolist() == [0, 2, 3]
    assert s.explored.tolist() == [False, False, True]
    # Nearly all relevance (lam=0.95): paper 1's 0.855 - 0.05 beats paper 2's 0.57.
    assert slate(SCORES, 3, Policy.mmr(0.95), space=SPACE).rows.tolist() == [0, 1, 2]


def test_mmr_respects_exclusions_and_candidates() -> None:
    s = slate(SCORES, 2, Policy.mmr(0.5), space=SPACE, exclude=np.array([0]))
    assert s.rows.tolist() == [1, 2]
    s = slate(SCORES, 4, Policy.mmr(0.5), space=SPACE, candidates=np.array([1, 3]))
    assert sorted(s.rows.tolist()) == [1, 3]


def test_thompson_draws_narrow_as_evidence_grows() -> None:
    rng = np.random.default_rng(0)
    # Papers 0..49 all point along the first axis; 50..56 along the other seven.
    coords = np.vstack([np.tile(np.eye(8)[0], (50, 1)), np.eye(8)[1:]]).astype(np.float32)
    space = PaperSpace(np.eye(8, dtype=np.float32), coords)
    liked = 0
    spreads, variances = [], []
    for n_likes in (0, 1, 5, 50):
        post = posterior(space, np.arange(n_likes), scale=1.0)
        w = post.draw(rng, 4000)
        spreads.append(float(np.std(space.coords[liked] @ w)))
        variances.append(float(post.variance(space.coords[liked])[0]))
    # Exactly 1 / (1 + n) in the liked direction; the draws follow it.
    assert variances == pytest.approx([1.0, 1 / 2, 1 / 6, 1 / 51])
    assert spreads == sorted(spreads, reverse=True)
    assert spreads[-1] == pytest.approx(np.sqrt(1 / 51), rel=0.1)
    # A direction nobody liked keeps its prior width.
    post = posterior(space, np.arange(50), scale=1.0)
    assert float(post.variance(space.coords[52])[0]) == pytest.approx(1.0)


def test_dislikes_narrow_the_posterior_too() -> None:
    coords = np.vstack([np.eye(4), np.tile(np.eye(4)[2], (2, 1))]).astype(np.float32)
    space = PaperSpace(np.eye(4, dtype=np.float32), coords)
    # Papers 2, 4 and 5 share a direction: three dislikes there, none elsewhere.
    post = posterior(space, np.empty(0, np.int64), np.array([2, 4, 5]), scale=1.0)
    assert float(post.variance(space.coords[2])[0]) == pytest.approx(1 / 4)
    assert float(post.variance(space.coords[0])[0]) == pytest.approx(1.0)


def test_thompson_slate_has_no_duplicates_and_explores() -> None:
    rng = np.random.default_rng(1)
    n = 500
    scores = np.linspace(1.0, 0.0, n).astype(np.float32)
    space = PaperSpace.fit(np.random.default_rng(2).random((n, 40)).astype(np.float32), 8)
    explored = 0
    for _ in range(20):
        s = slate(scores, 10, Policy.thompson(2.0), space=space, rng=rng)
        assert s.rows.size == 10
        assert len(set(s.rows.tolist())) == 10
        explored += int(s.explored.sum())
    assert explored > 0
    # No prior width: the ranker's own top k.
    s = slate(scores, 10, Policy.thompson(0.0), space=space, rng=rng)
    assert s.rows.tolist() == list(range(10))


def test_thompson_is_reproducible_with_a_seed() -> None:
    scores = np.linspace(1.0, 0.0, 200).astype(np.float32)
    a = slate(scores, 10, Policy.thompson(1.0), rng=np.random.default_rng(5))
    b = slate(scores, 10, Policy.thompson(1.0), rng=np.random.default_rng(5))
    assert a.rows.tolist() == b.rows.tolist()
    assert len(set(a.rows.tolist())) == 10


def test_thompson_fills_fewer_when_fewer_may_be_shown() -> None:
    s = slate(SCORES, 10, Policy.thompson(1.0), space=SPACE, rng=np.random.default_rng(0))
    assert sorted(s.rows.tolist()) == [0, 1, 2, 3]


def test_epsilon_greedy_mixes_random_papers_in() -> None:
    scores = np.linspace(1.0, 0.0, 1000).astype(np.float32)
    rng = np.random.default_rng(3)
    all_random = slate(scores, 10, Policy.epsilon_greedy(1.0), rng=rng, exclude=np.arange(5))
    assert len(set(all_random.rows.tolist())) == 10
    assert not set(all_random.rows.tolist()) & set(range(5))
    assert all_random.explored.sum() >= 8  # 10 uniform draws of 995 papers: top 10 is rare
    assert slate(scores, 10, Policy.epsilon_greedy(0.0)).rows.tolist() == list(range(10))


def test_paper_space_projects_new_papers_on_the_same_basis() -> None:
    X = np.random.default_rng(4).random((50, 12)).astype(np.float32)
    space = PaperSpace.fit(X[:40], 5)
    grown = space.extend(X[40:])
    assert len(grown) == 50 and grown.dims == 5
    np.testing.assert_allclose(grown.coords[:40], space.coords)
    np.testing.assert_allclose(np.linalg.norm(grown.coords, axis=1), 1.0, rtol=1e-5)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="lam"):
        Policy.mmr(1.5)
    with pytest.raises(ValueError, match="epsilon"):
        Policy.epsilon_greedy(-0.1)
