"""Rules on top of a ranking: each excludes or promotes exactly the papers it names, says why,
and leaves the order of the rest to the model; author names match across spellings."""

from __future__ import annotations

import numpy as np
import pytest

from recommender.catalog import Catalog, Paper
from recommender.identifiers import author_key
from recommender.ranking import only_candidates, top_k
from recommender.rules import RuleIndex, Rules, rank_with_rules
from recommender.serving import Engine
from recommender.synthetic import block_dataset
from recommender.training import train

# Ten papers whose model score is 10 - row: the ranking without rules is rows 0..9.
PAPERS = [
    Paper("p0", "Graph networks", "", ("Hinton, Geoffrey E.",), 2020, ("cs.LG",)),
    Paper("p1", "Quantum error mitigation", "", ("A. Author",), 2021, ("quant-ph",)),
    Paper("p2", "Attention for proteins", "Deep folding.", ("B. Writer",), 2015, ("q-bio.BM",)),
    Paper("p3", "Sparse attention", "Long documents.", ("C. Lee",), 2022, ("cs.CL",)),
    Paper("p4", "Climate models", "", ("D. Roe",), None, ("physics.ao-ph",)),
    Paper("p5", "Surface codes", "", ("E. Poe",), 2023, ("quant-ph",)),
    Paper("p6", "Vision transformers", "", ("G. E. Hinton",), 2019, ("cs.CV",)),
    Paper("p7", "Ranking papers", "", ("F. Moe",), 2024, ("cs.IR",)),
    Paper("p8", "Molecule graphs", "Graph neural networks.", ("H. Doe",), 2018, ("cs.LG",)),
    Paper("p9", "Old news", "", ("Geoffrey Hinton",), 1999, ("cs.LG",)),
]
SCORES = np.arange(10, 0, -1, dtype=np.float64)


def recommend(n: int, candidates: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    return top_k(only_candidates(SCORES.copy(), candidates), n)


@pytest.fixture(scope="module")
def index() -> RuleIndex:
    return RuleIndex.build(PAPERS)


def ranked(index: RuleIndex, rules: Rules, k: int = 10, candidates=None) -> list[int]:
    return [r.row for r in rank_with_rules(recommend, index, rules, k, candidates)]


def test_no_rules_is_the_ranking(index: RuleIndex) -> None:
    assert ranked(index, Rules()) == list(range(10))


def test_each_exclusion_leaves_out_exactly_what_it_names(index: RuleIndex) -> None:
    assert ranked(index, Rules(mute_words=("attention",))) == [0, 1, 4, 5, 6, 7, 8, 9]
    # Whole words, case and punctuation aside; a phrase; the abstract counts.
    assert ranked(index, Rules(mute_words=("GRAPH NEURAL",))) == [0, 1, 2, 3, 4, 5, 6, 7, 9]
    assert ranked(index, Rules(mute_words=("atten",))) == list(range(10))
    assert ranked(index, Rules(exclude_categories=("quant-ph",))) == [0, 2, 3, 4, 6, 7, 8, 9]
    # An archive names the categories below it.
    assert ranked(index, Rules(include_categories=("cs",))) == [0, 3, 6, 7, 8, 9]
    assert ranked(index, Rules(include_categories=("CS.lg",))) == [0, 8, 9]
    # No year: left out under a minimum year.
    assert ranked(index, Rules(min_year=2021)) == [1, 3, 5, 7]
    both = Rules(include_categories=("cs",), exclude_categories=("cs.lg",), min_year=2020)
    assert ranked(index, both) == [3, 7]


def test_followed_authors_rise_first_and_say_why(index: RuleIndex) -> None:
    rules = Rules(follow_authors=("Hinton, G.",))
    out = rank_with_rules(recommend, index, rules, 10)
    # Hinton's three papers first, in the model's order, then the rest in the model's order.
    assert [r.row for r in out] == [0, 6, 9, 1, 2, 3, 4, 5, 7, 8]
    assert [r.reason for r in out[:3]] == ["followed author Hinton, G."] * 3
    assert all(r.reason is None for r in out[3:])
    # Scores are the model's: the rules never change them.
    assert [r.score for r in out] == [float(SCORES[r.row]) for r in out]
    # With other rules: a followed author's paper a rule leaves out stays out.
    assert ranked(index, Rules(follow_authors=("Geoffrey Hinton",), min_year=2000), k=3) == [
        0,
        6,
        1,
    ]
    # Within candidates only (a `since` list).
    assert ranked(index, rules, candidates=np.array([1, 6, 7])) == [6, 1, 7]


def test_muted_words_refill_the_list_to_k(index: RuleIndex) -> None:
    # The top three would hold a muted paper; the list still has three.
    assert ranked(index, Rules(mute_words=("quantum", "proteins")), k=3) == [0, 3, 4]


def test_rules_combine_user_then_collection() -> None:
    user = Rules(
        follow_authors=("A",), mute_words=("x",), include_categories=("cs",), min_year=2000
    )
    coll = Rules(mute_words=("y",), include_categories=("quant-ph",), min_year=1990)
    both = user.then(coll)
    assert both.follow_authors == ("A",)
    assert both.mute_words == ("x", "y")
    assert both.include_categories == ("quant-ph",)
    assert both.min_year == 2000
    assert user.then(Rules()).include_categories == ("cs",)
    # Each set of rules is bounded when read; the two together may hold twice as many.
    many = {"mute_words": [f"w{i}" for i in range(200)]}
    more = {"mute_words": [f"v{i}" for i in range(200)]}
    assert len(Rules.from_dict(many).then(Rules.from_dict(more)).mute_words) == 400
    with pytest.raises(ValueError, match="mute_words: at most 200 entries, not 201"):
        Rules.from_dict({"mute_words": [f"w{i}" for i in range(201)]})


def test_bad_rules_say_what_is_wrong() -> None:
    with pytest.raises(ValueError, match="unknown rule 'mute'"):
        Rules.from_dict({"mute": ["x"]})
    with pytest.raises(ValueError, match="min_year"):
        Rules.from_dict({"min_year": "2020"})
    with pytest.raises(ValueError, match="follow_authors: entries are 1-200 characters"):
        Rules(follow_authors=("  ",))
    # An entry without letters or digits matches nothing (and removes nothing).
    assert Rules(mute_words=("...",)).mute_words == ("...",)
    with pytest.raises(ValueError, match="mute_words: a list of strings"):
        Rules.from_dict({"mute_words": "graph"})
    assert Rules.from_dict(Rules(mute_words=("a",), min_year=3).to_dict()) == Rules(
        mute_words=("a",), min_year=3
    )


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Hinton, Geoffrey E.", "G. E. Hinton"),
        ("Geoffrey Hinton", "hinton, g"),
        ("van der Waals, Johannes", "J. van der Waals"),
        ("Gödel, Kurt", "Kurt Godel"),
        ("King, Martin Luther, Jr.", "Martin L. King Jr."),
    ],
)
def test_author_keys_match_spellings(a: str, b: str) -> None:
    assert author_key(a) == author_key(b) != ""


def test_author_keys_tell_authors_apart() -> None:
    assert author_key("Geoffrey Hinton") != author_key("Alan Hinton")
    assert author_key("John Smith") != author_key("John Smyth")


def test_engine_applies_rules_on_its_ranking() -> None:
    data = block_dataset(seed=1)
    papers = [
        Paper(f"p{i}", f"Paper {i}", t, ("Ada Lovelace",) if i == 70 else ())
        for i, t in enumerate(data.texts)
    ]
    catalog = Catalog(papers)
    likes = {f"u{u}": [f"p{i}" for i in data.likes[u].indices] for u in range(data.n_users)}
    engine = Engine(train(catalog, likes, {}, featurizer_params={"min_df": 1}), catalog)
    liked = [f"p{i}" for i in data.items_of_block(0)[:4]]
    plain = engine.recommend(liked, k=5)
    assert "p70" not in [s.paper_id for s in plain]
    followed = engine.recommend(liked, k=5, rules=Rules(follow_authors=("Lovelace, A.",)))
    assert followed[0].paper_id == "p70"
    assert followed[0].reason == "followed author Lovelace, A."
    # The rest keeps the model's order.
    assert [s.paper_id for s in followed[1:]] == [s.paper_id for s in plain[:4]]
    # exclude: more papers left out, the ranking otherwise the same.
    gone = plain[0].paper_id
    rest = engine.recommend(liked, k=4, exclude=[gone])
    assert [s.paper_id for s in rest] == [s.paper_id for s in plain[1:5]]
