"""The engine's ranking cache: a kept ranking answers exactly as scoring again would, and a
like, a dislike or any change of the papers scores afresh."""

from __future__ import annotations

import dataclasses
import random
from datetime import date

import pytest

from recommender.catalog import Catalog, Paper
from recommender.serving import Engine, Suggestion
from recommender.synthetic import block_dataset
from recommender.training import train

DAY0 = date(2026, 1, 1).toordinal()


@pytest.fixture(scope="module")
def setup():
    data = block_dataset(seed=3)
    # Most papers dated (paper i on day i of 2026), every seventh not, so `since` leaves some out.
    catalog = Catalog(
        Paper(
            f"p{i}",
            f"Paper {i}",
            t,
            published=None if i % 7 == 0 else date.fromordinal(DAY0 + i).isoformat(),
        )
        for i, t in enumerate(data.texts)
    )
    likes = {f"u{u}": [f"p{i}" for i in data.likes[u].indices] for u in range(data.n_users)}
    bundle = train(catalog, likes, {}, featurizer_params={"min_df": 1})
    return data, catalog, likes, bundle


def answer(items: list[Suggestion]) -> list[tuple[str, float, list[str]]]:
    return [(s.paper_id, s.score, s.because) for s in items]


def test_kept_rankings_answer_as_scoring_does(setup):
    """Random requests of a few users (so rankings are kept, found and dropped): the cached
    engine answers exactly as one without the cache, hidden and avoided papers, ``since`` and
    exclusions included, also when a request needs more rows than the kept ranking holds."""
    data, catalog, likes, bundle = setup
    cached = Engine(bundle, catalog, ranking_cache=4)
    plain = Engine(bundle, catalog)
    assert plain.ranking_cache is None
    ids = [f"p{i}" for i in range(data.n_items)]
    rng = random.Random(0)
    users = [(likes[f"u{u}"][:8], likes[f"u{u}"][8:9]) for u in range(7)]
    for _ in range(300):
        liked, disliked = rng.choice(users)
        k = rng.choice([1, 5, 10, 30])
        # Up to a third of the catalog hidden: far more than the rows a first request keeps.
        hide = rng.sample(ids, rng.choice([0, 0, 3, 20, data.n_items // 3]))
        avoid = rng.sample(ids, rng.choice([0, 5, 10]))
        since = rng.choice([None, None, date.fromordinal(DAY0 + 30)])
        exclude = rng.choice([(), ("p1", "p2")])
        request = dict(k=k, hide=hide, avoid=avoid, since=since, exclude=exclude)
        assert answer(cached.recommend(liked, disliked, **request)) == answer(
            plain.recommend(liked, disliked, **request)
        ), request
    cache = cached.ranking_cache
    assert cache is not None and len(cache) <= 4
    assert cache.hits > 30 and cache.misses > 30


def test_a_like_a_dislike_and_a_change_of_papers_score_afresh(setup):
    data, catalog, likes, bundle = setup
    engine = Engine(bundle, catalog, ranking_cache=16)
    plain = Engine(bundle, catalog)  # the same changes, scored every time
    liked = likes["u0"][:5]
    first = [s.paper_id for s in engine.recommend(liked, k=10)]
    assert [s.paper_id for s in engine.recommend(liked, k=10)] == first
    assert engine.ranking_cache is not None and engine.ranking_cache.hits == 1
    # A like of the top suggestion: it leaves the list at once.
    after_like = [s.paper_id for s in engine.recommend([*liked, first[0]], k=10)]
    assert first[0] not in after_like
    after_dislike = [s.paper_id for s in engine.recommend(liked, [first[1]], k=10)]
    assert first[1] not in after_dislike
    # A paper added that matches the user's topic shows in the same user's next list.
    words = " ".join(catalog.get(liked[0]).abstract.split()[:12])
    for e in (engine, plain):
        e.add_papers([Paper("fresh", "New", words, published="2026-06-01")])
    assert "fresh" in [s.paper_id for s in engine.recommend(liked, k=10)]
    assert answer(engine.recommend(liked, k=10)) == answer(plain.recommend(liked, k=10))
    # A removed one is gone from it.
    for e in (engine, plain):
        e.remove_papers(["fresh"])
    again = engine.recommend(liked, k=10)
    assert "fresh" not in [s.paper_id for s in again]
    assert answer(again) == answer(plain.recommend(liked, k=10))


def test_lists_with_rules_or_an_exploring_policy_are_scored_every_time(setup):
    from recommender.exploration import Policy
    from recommender.rules import Rules

    _, catalog, likes, bundle = setup
    engine = Engine(bundle, catalog, ranking_cache=16)
    liked = likes["u1"][:5]
    engine.recommend(liked, k=5, policy=Policy.mmr(0.7))
    engine.recommend(liked, k=5, rules=Rules(min_year=2026))
    cache = engine.ranking_cache
    assert cache is not None and len(cache) == 0 and cache.hits == cache.misses == 0


def test_the_cache_is_off_unless_asked_for(setup):
    _, catalog, _, bundle = setup
    assert Engine(bundle, catalog).ranking_cache is None
    assert Engine(bundle, catalog, ranking_cache=0).ranking_cache is None


def test_an_undated_paper_dated_later_enters_a_since_list(setup):
    data, catalog, likes, bundle = setup
    engine = Engine(bundle, catalog, ranking_cache=16)
    liked = likes["u2"][:5]
    since = date.fromordinal(DAY0 + 1)
    undated = [f"p{i}" for i in range(0, data.n_items, 7)]
    full = [s.paper_id for s in engine.recommend(liked, k=data.n_items)]
    first = [s.paper_id for s in engine.recommend(liked, k=data.n_items, since=since)]
    assert not set(first) & set(undated)
    best_undated = next(p for p in full if p in undated)
    engine.add_papers([dataclasses.replace(catalog.get(best_undated), published="2026-12-01")])
    assert best_undated in [s.paper_id for s in engine.recommend(liked, k=len(full), since=since)]


def test_among_lists_only_those_papers_in_the_full_rankings_order(setup):
    """``among`` (a digest's new papers) keeps the full ranking's order over those papers only,
    with ``since``, exclusions and removed papers applied, and never answers from or into the
    ranking cache (whose key it is not part of)."""
    data, catalog, likes, bundle = setup
    engine = Engine(bundle, catalog, ranking_cache=16)
    liked = likes["u3"][:5]
    full = [s.paper_id for s in engine.recommend(liked, k=data.n_items)]
    among = full[::3][:40] + ["not-a-paper"]
    got = [s.paper_id for s in engine.recommend(liked, k=10, among=among)]
    assert got == [p for p in full if p in among][:10]
    since = date.fromordinal(DAY0 + 50)
    dated = [s.paper_id for s in engine.recommend(liked, k=data.n_items, since=since)]
    got = [s.paper_id for s in engine.recommend(liked, k=10, since=since, among=among)]
    assert got == [p for p in dated if p in among][:10]
    gone, excluded = got[0], got[1]
    engine.remove_papers([gone])
    got = [s.paper_id for s in engine.recommend(liked, k=10, among=among, exclude=[excluded])]
    assert gone not in got and excluded not in got and got
    assert engine.recommend(liked, k=10, among=[]) == []
    cache = engine.ranking_cache
    assert cache is not None
    before = (len(cache), cache.hits, cache.misses)
    engine.recommend(liked, k=10, among=among)
    assert (len(cache), cache.hits, cache.misses) == before
