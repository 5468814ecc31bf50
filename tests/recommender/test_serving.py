"""The Engine: serving a bundle by paper id (exclusions, explanations, new papers, since, saved
bundles and old featurizers)."""

from __future__ import annotations

import pytest

from recommender.artifacts import load_bundle, save_bundle
from recommender.catalog import Catalog, Paper
from recommender.serving import Engine
from recommender.synthetic import block_dataset
from recommender.training import train


@pytest.fixture(scope="module")
def setup():
    data = block_dataset(seed=1)
    catalog = Catalog(Paper(f"p{i}", f"Paper {i}", t) for i, t in enumerate(data.texts))
    likes = {f"u{u}": [f"p{i}" for i in data.likes[u].indices] for u in range(data.n_users)}
    bundle = train(catalog, likes, {"u0": ["p79"]}, featurizer_params={"min_df": 1})
    return data, catalog, likes, bundle


def topic(data, b):
    return [f"p{i}" for i in data.items_of_block(b)]


def test_recommend_by_id_excludes_feedback_and_explains(setup):
    data, catalog, _, bundle = setup
    engine = Engine(bundle, catalog)
    liked = topic(data, 2)[:4]
    disliked = topic(data, 2)[4:5]
    items = engine.recommend(liked, disliked, k=8)
    ids = [s.paper_id for s in items]
    assert len(ids) == 8 and not set(ids) & set(liked + disliked)
    assert sum(i in topic(data, 2) for i in ids) >= 7
    assert all(s.because and set(s.because) <= set(liked) for s in items)
    # unknown ids are ignored rather than failing a request
    assert [s.paper_id for s in engine.recommend([*liked, "nope"], disliked, k=8)] == ids


def test_cold_user_gets_the_popular_papers(setup):
    data, catalog, _, bundle = setup
    engine = Engine(bundle, catalog)
    items = engine.recommend([], k=3)
    counts = data.likes.sum(axis=0).A1
    assert counts[int(items[0].paper_id[1:])] == counts.max()


def test_added_paper_is_recommended_at_once_and_survives_save(setup, tmp_path):
    data, catalog, _, bundle = setup
    engine = Engine(bundle, catalog)
    v = engine.version
    new = Paper("fresh", "A new result", " ".join(f"topic3word{w}" for w in range(8)))
    assert engine.add_papers([new]) == (1, 0)
    assert "fresh" in engine and engine.paper("fresh") == new and len(engine) == data.n_items + 1
    ids = [s.paper_id for s in engine.recommend(topic(data, 3)[:6], k=5)]
    assert "fresh" in ids
    assert engine.version == v
    # updating a known paper changes its record, not the number of papers
    assert engine.add_papers([Paper("p0", "Renamed")]) == (0, 1)
    assert engine.paper("p0").title == "Renamed" and len(engine) == data.n_items + 1
    # search and similar find it by its words
    assert engine.search("topic3word1 topic3word2", k=3)
    assert all(s.paper_id in topic(data, 3) + ["fresh"] for s in engine.similar("fresh", k=4))


def test_engine_refuses_a_catalog_missing_model_papers(setup):
    _, catalog, _, bundle = setup
    with pytest.raises(ValueError, match="catalog lacks"):
        Engine(bundle, list(catalog)[:-1])


def test_saved_bundle_serves_the_same(setup, tmp_path):
    data, catalog, _, bundle = setup
    path = save_bundle(tmp_path / "model.npz", bundle)
    a = Engine(bundle, catalog).recommend(topic(data, 1)[:3], k=5)
    b = Engine(load_bundle(path), catalog).recommend(topic(data, 1)[:3], k=5)
    assert [s.paper_id for s in a] == [s.paper_id for s in b]


def test_served_features_follow_the_feature_set_and_place_new_papers_by_citations(tmp_path):
    from recommender.features import PaperFeaturizer

    data = block_dataset(seed=1)
    # Each paper cites the next one of its own topic.
    blocks = [list(data.items_of_block(b)) for b in range(int(data.item_block.max()) + 1)]
    refs = {i: (f"p{b[(j + 1) % len(b)]}",) for b in blocks for j, i in enumerate(b)}
    catalog = Catalog(
        Paper(f"p{i}", f"Paper {i}", t, references=refs[i]) for i, t in enumerate(data.texts)
    )
    likes = {f"u{u}": [f"p{i}" for i in data.likes[u].indices] for u in range(data.n_users)}
    bundle = train(catalog, likes, features="text+citations", featurizer_params={"min_df": 1})
    assert bundle.metadata["features"] == "text+citations"
    engine = Engine(load_bundle(save_bundle(tmp_path / "m.npz", bundle)), catalog)
    # A new paper with no words of any topic, citing three papers of topic 2.
    cites = tuple(topic(data, 2)[:3])
    engine.add_papers([Paper("new", "A survey", references=cites)])
    similar = [s.paper_id for s in engine.similar("new", k=3)]
    assert set(similar) <= set(topic(data, 2)), similar
    # Search reads the text only.
    hits = engine.search(data.texts[0].split()[0], k=3)
    assert hits and all(h.paper_id != "new" for h in hits)
    assert isinstance(bundle.featurizer, PaperFeaturizer)


def test_bundles_with_a_bare_tfidf_featurizer_still_serve(tmp_path, setup):
    from recommender.artifacts import Bundle
    from recommender.features import PaperFeaturizer

    data, catalog, likes, bundle = setup
    assert isinstance(bundle.featurizer, PaperFeaturizer)
    old = Bundle(bundle.model, bundle.paper_ids, bundle.featurizer.text_, bundle.metadata)
    engine = Engine(load_bundle(save_bundle(tmp_path / "old.npz", old)), catalog)
    assert engine.recommend(topic(data, 1)[:3], k=5)
    assert engine.search(data.texts[0].split()[0], k=3)
    engine.add_papers([Paper("late", "Late paper", data.texts[0])])
    assert "late" in engine


def test_since_keeps_papers_published_from_that_day_in_the_full_order(setup):
    import dataclasses
    from datetime import date

    data, catalog, _, bundle = setup
    # Every paper dated: paper i appeared on day i of 2026 (p0 on 1 January).
    day0 = date(2026, 1, 1).toordinal()
    dated = Catalog(
        dataclasses.replace(p, published=date.fromordinal(day0 + i).isoformat())
        for i, p in enumerate(catalog)
    )
    liked = topic(data, 2)[:4]
    engine = Engine(bundle, dated)
    full = [s.paper_id for s in engine.recommend(liked, k=len(dated))]
    since = date.fromordinal(day0 + 40)
    got = [s.paper_id for s in engine.recommend(liked, k=10, since=since)]
    assert got == [p for p in full if int(p[1:]) >= 40][:10]
    # An undated paper is never in a filtered list; dating it later lets it in.
    engine.add_papers([Paper("fresh", "New", " ".join(f"topic2word{w}" for w in range(8)))])
    assert "fresh" not in [s.paper_id for s in engine.recommend(liked, k=200, since=since)]
    engine.add_papers([Paper("fresh", "New", "topic2word1", published="2027-01-01")])
    assert [s.paper_id for s in engine.recommend(liked, k=5, since=date(2027, 1, 1))] == ["fresh"]
