"""The experiment runner on a dataset with a known answer, and `experiments.compare` end to end on a
small subset of real CiteULike users."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from experiments import compare
from recommender.datasets import default_data_dir
from recommender.datasets.citeulike import RECALL_CUTOFFS as M_VALUES
from recommender.evaluation import metrics as mt
from recommender.evaluation.experiment import run_experiment, significance_vs_best
from recommender.evaluation.splits import Split, published_split
from recommender.features import TfidfFeaturizer
from recommender.ranking import rows_to_csr
from recommender.synthetic import block_dataset


def test_runner_on_known_answer() -> None:
    data = block_dataset(seed=0)
    test = rows_to_csr([[i] for i in data.heldout], data.n_items)
    split = Split("blocks", data.likes, test)
    features = TfidfFeaturizer(min_df=1).fit_counts(data.counts, data.vocabulary)
    feats = features.transform_counts(data.counts)
    results = run_experiment(split, feats, {"popularity": {}, "content": {}}, n_boot=200)
    by = {r.name: r for r in results}
    content, pop = by["content"], by["popularity"]
    # Training papers are never recommended; lists hold the other 80 - 7 papers, then -1.
    for r in results:
        assert r.topk.shape == (data.n_users, 300)
        assert ((r.topk >= 0).sum(axis=1) == data.n_items - 7).all()
        assert (
            not rows_to_csr([row[row >= 0] for row in r.topk], data.n_items)
            .multiply(data.likes)
            .nnz
        )
    # A user's held-out paper is one of the 13 unseen papers of their topic: content ranks those
    # first (recall@13 = 1), popularity does not.
    h = mt.hits(content.topk, test)
    assert mt.mean_over_users(mt.recall_at(h, mt.relevant_counts(test), 13)) == 1.0
    assert content.metrics["ndcg@10"] > pop.metrics["ndcg@10"] + 0.2
    sig = significance_vs_best(results, "ndcg@10", n_boot=200)
    assert sig["content"]["against"] == "popularity" and sig["content"]["significant"]
    assert sig["popularity"]["diff"] < 0
    ci = content.extra["ci95"]["ndcg@10"]
    assert ci[0] <= content.metrics["ndcg@10"] <= ci[1]
    # Every user here has 7 training likes.
    assert content.extra["by_train_likes"]["recall@100"] == [
        {"train_likes": "6-10", "n_users": 60, "mean": 1.0}
    ]


DATA = default_data_dir()
needs_data = pytest.mark.skipif(
    not (DATA / "citeulike-a" / "splits-cvae").is_dir(), reason="CiteULike data not available"
)
KEYS = [f"recall@{m}" for m in M_VALUES] + [
    "ndcg@10",
    "precision@10",
    "map@10",
    "mrr",
    "coverage@10",
    "novelty@10",
    "fit_seconds",
    "score_seconds",
    "ci95",
    "vs_best_other",
    "by_train_likes",
]


@needs_data
def test_compare_end_to_end(tmp_path: Path) -> None:
    out, dump = tmp_path / "out", tmp_path / "topk"
    argv = ["--dataset", "citeulike-a", "--split", "10", "--models", "popularity,content,hybrid"]
    argv += ["--users", "200", "--out", str(out), "--dump-topk", str(dump)]
    argv += ["--no-progress", "--n-boot", "200", "--data-dir", str(DATA)]
    assert compare.main(argv) == 0

    res = json.loads((out / "results.json").read_text())
    assert (res["dataset"], res["split"], res["n_users_evaluated"]) == ("citeulike-a", 10, 200)
    assert set(res["models"]) == {"popularity", "content", "hybrid"}
    for m in res["models"].values():
        assert set(KEYS) <= set(m)
        curve = [m[f"recall@{c}"] for c in M_VALUES]
        assert all(0 <= x <= 1 for x in curve) and curve == sorted(curve)
        for k in ("ndcg@10", "precision@10", "map@10", "mrr", "coverage@10"):
            assert 0 <= m[k] <= 1
        assert m["novelty@10"] > 0
    # Popularity's top 10 come from the 20 most liked papers (a user has 10 training papers to
    # skip), so it covers at most 20 papers; content covers far more.
    pop_cov = res["models"]["popularity"]["coverage@10"]
    assert 10 / 16980 <= pop_cov <= 20 / 16980 < res["models"]["content"]["coverage@10"]
    md = (out / "results.md").read_text()
    assert "| content | this run |" in md and "| CVAE | published |" in md
    assert (out / "recall.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    split = published_split("citeulike-a", 10, DATA)
    no_test = np.diff(split.test.indptr) == 0
    assert no_test.sum() == 412
    for name in ("popularity", "content", "hybrid"):
        top = np.load(dump / f"{name}.npy")
        assert top.dtype == np.int32 and top.shape == (5551, 300)
        evaluated = (top >= 0).any(axis=1)
        assert evaluated.sum() == 200
        assert (top[no_test] == -1).all()
        assert not (evaluated & no_test).any()
        rows = np.flatnonzero(evaluated)
        listed = rows_to_csr([top[u] for u in rows], 16980)
        assert listed.multiply(split.train[rows]).nnz == 0  # training papers excluded
        assert ((listed.getnnz(axis=1)) == 300).all()  # 300 distinct papers each
        # The dump and the reported recall@300 agree.
        h = mt.hits(top[rows], split.test[rows])
        r300 = mt.mean_over_users(mt.recall_at(h, mt.relevant_counts(split.test[rows]), 300))
        assert r300 == pytest.approx(res["models"][name]["recall@300"])


def test_coordinate_search_finds_the_known_optimum(tmp_path: Path) -> None:
    from experiments.common import write_json as write_json_atomic
    from experiments.tune import coordinate_search
    from recommender.tuned import tuned_params

    calls: list[dict] = []

    def score(params: dict) -> float:
        calls.append(params)
        return -abs(params.get("dislike_weight", 1.0) - 2.0)

    best, value, n = coordinate_search("popularity", {"dislike_weight": [0.0, 1.0, 2.0]}, score)
    assert best == {"dislike_weight": 2.0} and value == 0.0
    # The default (1.0) is fitted once, not twice: {}, 0.0 and 2.0.
    assert n == 3 and len(calls) == 3
    path = tmp_path / "settings.json"
    write_json_atomic(path, {"citeulike-a": {"P=1": {"popularity": {"params": best}}}})
    assert path.stat().st_mode & 0o777 == 0o644  # readable by the service's user too
    assert tuned_params("citeulike-a", 1, "popularity", path) == {"dislike_weight": 2.0}
    assert tuned_params("citeulike-a", 10, "popularity", path) == {}


def test_data_dir_is_the_argument_then_the_setting_then_the_checkout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import argparse

    import recommender.datasets
    from experiments.common import data_dir

    ap = argparse.ArgumentParser(prog="compare")
    monkeypatch.delenv("PAPERREC_DATASETS_DIR", raising=False)
    assert data_dir(ap, None) == DATA
    monkeypatch.setenv("PAPERREC_DATASETS_DIR", str(tmp_path / "setting"))
    assert data_dir(ap, None) == tmp_path / "setting"
    assert data_dir(ap, tmp_path / "argument") == tmp_path / "argument"
    monkeypatch.delenv("PAPERREC_DATASETS_DIR")
    monkeypatch.setattr(recommender.datasets, "_PACKAGE", tmp_path / "site" / "recommender")
    with pytest.raises(SystemExit) as e:
        data_dir(ap, None)
    assert e.value.code == 2 and "PAPERREC_DATASETS_DIR" in capsys.readouterr().err


@needs_data
def test_compare_with_citation_features_labels_its_results(tmp_path: Path) -> None:
    """The text+citations feature set runs through the same comparison and says so."""
    out = tmp_path / "out"
    argv = ["--dataset", "citeulike-t", "--split", "1", "--models", "content"]
    argv += ["--users", "150", "--out", str(out), "--features", "text+citations"]
    argv += ["--no-progress", "--n-boot", "0", "--data-dir", str(DATA)]
    assert compare.main(argv) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["features"] == "text+citations"
    assert 0 < res["models"]["content"]["recall@300"] <= 1
    assert "content features: text+citations" in (out / "results.md").read_text()


def test_unknown_feature_set_is_refused() -> None:
    from recommender.evaluation.datasets import content_features

    with pytest.raises(ValueError, match="unknown feature set 'tags'"):
        content_features(object(), "tags")


def test_embeddings_need_text_not_word_counts() -> None:
    """citeulike-t publishes word counts only: asking to embed its text is refused clearly."""
    import scipy.sparse as sp

    from recommender.catalog import Catalog, Paper
    from recommender.datasets.citeulike import CiteULike
    from recommender.evaluation.datasets import content_features

    ds = CiteULike(
        name="tiny-t",
        catalog=Catalog([Paper("0", "a"), Paper("1", "b")]),
        likes=sp.csr_matrix((1, 2)),
        tags=[[], []],
        counts=sp.csr_matrix(np.eye(2, dtype=np.float32)),
        vocabulary=["w0", "w1"],
    )
    with pytest.raises(ValueError, match="word counts, not text"):
        content_features(ds, "text+embed")


def test_feature_weights_restack_the_blocks_as_the_service_does() -> None:
    """Tuned block weights give the matrix PaperFeaturizer builds with the same weights: the
    experiments and the service stack features one way."""
    import scipy.sparse as sp

    from recommender.catalog import Catalog, Paper
    from recommender.datasets.citeulike import CiteULike
    from recommender.evaluation.datasets import content_features, feature_blocks, stack_blocks
    from recommender.features import PaperFeaturizer

    papers = [
        Paper("0", "graph neural networks", references=("1",)),
        Paper("1", "graph kernels for molecules"),
        Paper("2", "neural machine translation", references=("0", "1")),
    ]
    ds = CiteULike(
        name="tiny-a",
        catalog=Catalog(papers),
        likes=sp.csr_matrix((1, 3)),
        tags=[[], [], []],
    )
    blocks = feature_blocks(ds, "text+citations")
    assert list(blocks) == ["text", "citations"]
    ours = content_features(ds, "text+citations", {"citation_weight": 3.0})
    served = PaperFeaturizer.for_set("text+citations", citation_weight=3.0).fit_transform(papers)
    np.testing.assert_allclose(sp.csr_matrix(ours).toarray(), sp.csr_matrix(served).toarray())
    # The weight moves the stack: cosine of papers 0 and 1 (they share one citation link and
    # one word) changes with the citation block's share.
    heavy = sp.csr_matrix(stack_blocks(blocks, {"citation_weight": 8.0})).toarray()
    light = sp.csr_matrix(stack_blocks(blocks, {"citation_weight": 0.5})).toarray()
    assert heavy[0] @ heavy[1] != pytest.approx(light[0] @ light[1])
    with pytest.raises(ValueError, match="unknown feature weight"):
        stack_blocks(blocks, {"tag_weight": 1.0})


def test_tuning_searches_feature_weights_beside_the_model() -> None:
    from experiments.tune import coordinate_search, feature_grid, split_feature_weights

    assert feature_grid("hybrid", "text") == {}
    assert set(feature_grid("hybrid", "text+embed+citations")) == {
        "citation_weight",
        "embedding_weight",
    }
    assert feature_grid("popularity", "text+citations") == {}  # no content: nothing to weigh
    assert split_feature_weights({"cf_weight": 2.0, "citation_weight": 4}) == (
        {"cf_weight": 2.0},
        {"citation_weight": 4.0},
    )

    def score(params: dict) -> float:
        return -abs(params.get("citation_weight", 1.0) - 4.0) - abs(params.get("sharpen", 2) - 1)

    grid = {"citation_weight": [0.5, 1.0, 4.0], "sharpen": [1.0, 2.0]}
    best, value, _ = coordinate_search("hybrid", grid, score)
    # A weight of 1 is the default and is left out like a model's defaults.
    assert best == {"citation_weight": 4.0, "sharpen": 1.0} and value == 0.0


def test_a_serving_choice_is_kept_beside_the_entry(tmp_path: Path) -> None:
    """`tune --serving` adds the service's choice to a model's entry; re-tuning the entry keeps
    it, and the other way round."""
    from experiments.tune import save_entry
    from recommender.tuned import serving_defaults, tuned_params

    path = tmp_path / "tuned.json"
    key = "hybrid@text+citations"
    save_entry(path, "citeulike-a", 10, key, {"params": {"cf_weight": 4.0}}, serving=False)
    serving = {"params": {"cf_weight": 2.0}, "feature_weights": {"citation_weight": 2.0}}
    save_entry(path, "citeulike-a", 10, key, serving, serving=True)
    assert tuned_params("citeulike-a", 10, key, path) == {"cf_weight": 4.0}  # compare's choice
    assert serving_defaults("hybrid", "text+citations", path) == (
        {"cf_weight": 2.0},
        {"citation_weight": 2.0},
    )
    save_entry(path, "citeulike-a", 10, key, {"params": {"cf_weight": 8.0}}, serving=False)
    assert tuned_params("citeulike-a", 10, key, path) == {"cf_weight": 8.0}
    assert serving_defaults("hybrid", "text+citations", path)[0] == {"cf_weight": 2.0}


def test_sub_parameters_of_a_part_that_is_off_are_not_saved() -> None:
    from experiments.tune import drop_switched_off

    assert drop_switched_off("hybrid", {"cf_weight": 2.0, "als_alpha": 40.0}) == {"cf_weight": 2.0}
    on = {"als_weight": 0.1, "als_alpha": 40.0}
    assert drop_switched_off("hybrid", on) == on


def test_embeddings_without_the_extra_are_an_unavailable_feature_set(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Without the [embed] extra (and vectors not cached), the embedding feature set is reported
    unavailable, which `compare --all` skips with its message instead of stopping."""
    import scipy.sparse as sp

    from recommender import embeddings
    from recommender.catalog import Catalog, Paper
    from recommender.datasets.citeulike import CiteULike
    from recommender.evaluation import datasets

    def missing(device: object) -> object:
        raise ImportError(embeddings._INSTALL_HINT)

    monkeypatch.setattr(embeddings, "_load_model", missing)
    monkeypatch.setattr(datasets, "EMBED_CACHE", tmp_path / "empty-cache")
    ds = CiteULike(
        name="tiny-a",
        catalog=Catalog([Paper("0", "graph networks"), Paper("1", "protein folding")]),
        likes=sp.csr_matrix((1, 2)),
        tags=[[], []],
    )
    with pytest.raises(datasets.FeatureSetUnavailable, match=r"pip install 'paperrec\[embed\]'"):
        datasets.feature_blocks(ds, "text+embed+citations")


def test_serving_search_keeps_the_request_cost_and_a_popularity_floor() -> None:
    from experiments.tune import GRIDS, serving_search_space

    start = {"profile_weight": 2.0, "als_weight": 1.0, "pop_weight": 0.0, "cf_weight": 4.0}
    grid, begin = serving_search_space("hybrid", GRIDS["hybrid"], start)
    assert "profile_weight" not in grid and "content_neighbors" not in grid
    assert begin["profile_weight"] == 0.0 and begin["als_weight"] == 0.0
    assert begin["content_neighbors"] == 100 and begin["cf_weight"] == 4.0
    assert begin["pop_weight"] == 0.05 and min(grid["pop_weight"]) == 0.05


def test_the_service_defaults_rank_popular_papers_for_a_newcomer() -> None:
    """Whatever tuned.json holds for the service, a user without likes gets popularity, not an
    arbitrary list (validation users all have likes and cannot check it)."""
    import inspect

    from recommender.models.hybrid import Hybrid
    from recommender.tuned import serving_defaults

    default = inspect.signature(Hybrid.__init__).parameters["pop_weight"].default
    for features in ("text", "text+citations"):
        params, _ = serving_defaults("hybrid", features)
        assert params.get("pop_weight", default) > 0, features


@needs_data
def test_new_papers_report_compares_the_full_list_with_a_new_only_list(capsys) -> None:
    from experiments import new_papers

    argv = ["--newest", "0.1", "--validation-users", "200", "--data-dir", str(DATA)]
    assert new_papers.main(argv) == 0
    out, validation = capsys.readouterr().out.split("Validation (")

    def table(text: str) -> dict[str, list[float]]:
        return {
            cells[0]: [float(c) for c in cells[1:]]
            for line in text.splitlines()
            if line.startswith("| hybrid") or line.startswith("| content")
            for cells in [[c.strip() for c in line.strip("|").split("|")]]
        }

    rows, price = table(out), table(validation)
    assert list(rows) == list(price) == list(new_papers.variants("text+citations"))
    for values in rows.values():
        assert all(0 <= v <= 1 for v in values[:5])
    assert all(len(v) == 2 and all(0 <= x <= 1 for x in v) for v in price.values())
    full10, _, _, new_only10, _ = rows["hybrid, served settings"][:5]
    # What the service's `since` is for: new papers found far more often in a new-only list.
    assert new_only10 > 2 * full10
