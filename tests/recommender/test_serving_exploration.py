"""The Engine with slate policies: hidden and avoided papers, explored labels, new papers."""

from __future__ import annotations

import numpy as np
import pytest

from recommender.catalog import Catalog, Paper
from recommender.exploration import Policy
from recommender.serving import Engine, RankingCache
from recommender.synthetic import block_dataset
from recommender.training import train


@pytest.fixture(scope="module")
def setup():
    data = block_dataset(seed=1)
    catalog = Catalog(Paper(f"p{i}", f"Paper {i}", t) for i, t in enumerate(data.texts))
    likes = {f"u{u}": [f"p{i}" for i in data.likes[u].indices] for u in range(data.n_users)}
    bundle = train(catalog, likes, featurizer_params={"min_df": 1})
    liked = [f"p{i}" for i in data.items_of_block(2)][:4]
    return catalog, bundle, liked


def ids(items):
    return [s.paper_id for s in items]


def test_no_policy_is_todays_ranking(setup):
    catalog, bundle, liked = setup
    engine = Engine(bundle, catalog)
    plain = engine.recommend(liked, k=8)
    assert ids(engine.recommend(liked, k=8, policy=Policy.greedy())) == ids(plain)
    assert not any(s.explored for s in plain)


def test_hidden_papers_never_show_and_avoided_ones_only_to_fill(setup):
    catalog, bundle, liked = setup
    engine = Engine(bundle, catalog)
    first = ids(engine.recommend(liked, k=5))
    assert not set(ids(engine.recommend(liked, k=5, hide=first[:2]))) & set(first[:2])
    second = ids(engine.recommend(liked, k=5, avoid=first))
    assert not set(second) & set(first)
    # Nothing else left: the avoided papers fill the list rather than leave it short.
    everything = [p for p in engine.paper_ids if p not in first and p not in liked]
    last = ids(engine.recommend(liked, k=5, hide=everything, avoid=first))
    assert sorted(last) == sorted(first)


@pytest.mark.parametrize("seed", range(8))
def test_greedy_lists_filtered_by_id_equal_those_with_the_rows_excluded(setup, seed):
    """The greedy path filters hidden and avoided papers by id after ranking; the slate path
    excludes their rows first. Random hidden, avoided and excluded sets (up to all papers,
    unknown ids among them), with and without a date filter: the same rows and scores, from a
    ranking scored for the request or kept from an earlier one (the ranking cache, which keeps
    twice the rows; a new one per candidate set, since in a request those follow ``since``)."""
    catalog, bundle, liked = setup
    engine = Engine(bundle, catalog, ranking_cache=8 if seed % 2 else 0)
    s = engine._snap
    papers = list(engine.paper_ids)
    rng = np.random.default_rng(seed)

    def some(limit: int) -> list[str]:
        return [papers[i] for i in rng.choice(len(papers), rng.integers(0, limit), replace=False)]

    L = s.ids.rows(liked)
    D = s.ids.rows(some(4))
    for k in (1, 5, 20, len(papers)):
        hide = some(len(papers)) + ["unknown-paper"]
        avoid = some(30)
        X = s.ids.rows(some(10))
        for cand in (None, np.sort(rng.choice(len(papers), len(papers) // 2, replace=False))):
            hidden_ids, avoided_ids = set(hide), set(avoid)
            n = k + len(hidden_ids) + len(avoided_ids)
            if seed % 2:  # scored into a new cache, then read back from it
                engine.ranking_cache = RankingCache(8)
                engine._ranking(s, L, D, X, n, None, cand)
            ranked = engine._ranking(s, L, D, X, n, None, cand)
            rows, scores = Engine._greedy_without(s, ranked, k, hidden_ids, avoided_ids)
            hidden = np.concatenate([s.ids.rows(hide, skip_unknown=True), X])
            want = engine._slate(s, L, D, k, cand, Policy.greedy(), hidden, s.ids.rows(avoid), None)
            np.testing.assert_array_equal(rows, want[0])
            np.testing.assert_array_equal(scores, want[1])


def test_thompson_labels_what_it_explores_and_repeats_nothing(setup):
    catalog, bundle, liked = setup
    engine = Engine(bundle, catalog)
    greedy = set(ids(engine.recommend(liked, k=8)))
    rng = np.random.default_rng(0)
    explored = 0
    for _ in range(10):
        items = engine.recommend(liked, k=8, policy=Policy.thompson(1.0), rng=rng)
        assert len(set(ids(items))) == 8 and not set(ids(items)) & set(liked)
        assert all(s.explored == (s.paper_id not in greedy) for s in items)
        explored += sum(s.explored for s in items)
    assert explored > 0


def test_new_papers_join_the_paper_space(setup):
    catalog, bundle, liked = setup
    engine = Engine(bundle, catalog)
    engine.warm()
    engine.add_papers([Paper("fresh", "A new result", "topic2word1 topic2word2 topic2word3")])
    # MMR reads every pool paper's coordinates (the pool here is the whole catalog, fresh
    # included): a space that missed the new row could not rank it.
    everyone = len(engine) - len(liked)
    items = engine.recommend(liked, k=everyone, policy=Policy.mmr(0.5))
    assert len(set(ids(items))) == everyone and "fresh" in ids(items)
