"""Training a bundle from feedback by paper id, and the training plan: which settings train a
catalog, and how a saved bundle differs from them."""

from __future__ import annotations

import pytest

from recommender.catalog import Catalog, Paper
from recommender.synthetic import block_dataset
from recommender.training import train


@pytest.fixture(scope="module")
def setup():
    data = block_dataset(seed=1)
    catalog = Catalog(Paper(f"p{i}", f"Paper {i}", t) for i, t in enumerate(data.texts))
    likes = {f"u{u}": [f"p{i}" for i in data.likes[u].indices] for u in range(data.n_users)}
    bundle = train(catalog, likes, {"u0": ["p79"]}, featurizer_params={"min_df": 1})
    return data, catalog, likes, bundle


def test_train_records_what_it_learned_from(setup):
    data, catalog, likes, bundle = setup
    assert bundle.model.name == "hybrid"
    assert bundle.metadata["n_likes"] == data.likes.nnz
    assert bundle.metadata["n_dislikes"] == 1
    assert bundle.metadata["n_users"] == data.n_users
    assert bundle.paper_ids == catalog.paper_ids


def test_unknown_papers_in_feedback_are_skipped_and_counted(setup):
    _, catalog, _, _ = setup
    b = train(catalog, {"u": ["p1", "gone"]}, featurizer_params={"min_df": 1})
    assert b.metadata["n_likes"] == 1 and b.metadata["skipped_unknown_papers"] == 1


def test_tuned_defaults_come_from_the_serving_setting(tmp_path):
    """The service trains with what validation chose on citeulike-a P=10 for its model and
    feature set; PAPERREC_MODEL_PARAMS overrides single values; turned off, the model's own."""
    import json

    from pydantic import ValidationError

    from recommender.tuned import TUNED_PATH, serving_defaults, tuned_params
    from service.model import training_hyperparameters
    from service.settings import Settings

    path = tmp_path / "tuned.json"
    entry = {
        "params": {"cf_weight": 4.0, "sharpen": 0.5},
        "feature_weights": {"citation_weight": 2},
    }
    other = {"params": {"cf_weight": 99.0}}
    path.write_text(
        json.dumps(
            {
                "citeulike-a": {"P=10": {"hybrid@text+citations": entry}, "P=1": {"hybrid": other}},
                "citeulike-t": {"P=10": {"hybrid@text+citations": other}},
            }
        )
    )
    assert serving_defaults("hybrid", "text+citations", path) == (
        {"cf_weight": 4.0, "sharpen": 0.5},
        {"citation_weight": 2.0},
    )
    assert serving_defaults("hybrid", "text", path) == ({}, {})  # nothing tuned: own defaults
    # A choice tuned within the service's budget (tune --serving) is what the service takes.
    entry["serving"] = {"params": {"cf_weight": 2.0}, "feature_weights": {"citation_weight": 4}}
    tuned = json.loads(path.read_text())
    tuned["citeulike-a"]["P=10"]["hybrid@text+citations"] = entry
    path.write_text(json.dumps(tuned))
    assert serving_defaults("hybrid", "text+citations", path) == (
        {"cf_weight": 2.0},
        {"citation_weight": 4.0},
    )
    del entry["serving"]
    path.write_text(json.dumps({"citeulike-a": {"P=10": {"hybrid@text+citations": entry}}}))
    assert serving_defaults("als", "text+citations", path) == ({}, {})

    settings = Settings(_env_file=None, features="text+citations", model_params={"sharpen": 1.0})
    assert training_hyperparameters(settings, path) == (
        {"cf_weight": 4.0, "sharpen": 1.0},
        {"citation_weight": 2.0},
    )
    # A catalog without references is served on text: the text choice applies (none here).
    assert training_hyperparameters(settings, path, has_references=False) == ({"sharpen": 1.0}, {})
    off = Settings(_env_file=None, features="text+citations", tuned_defaults=False)
    assert training_hyperparameters(off, path) == ({}, {})
    # PAPERREC_TUNED_FILE: the operator's own file of choices instead of the shipped one.
    own = Settings(_env_file=None, features="text+citations", tuned_file=path)
    assert training_hyperparameters(own) == (
        {"cf_weight": 4.0, "sharpen": 0.5},
        {"citation_weight": 2.0},
    )
    assert training_hyperparameters(own) != training_hyperparameters(
        Settings(_env_file=None, features="text+citations")
    )
    for bad, why in ((tmp_path / "none.json", "no such file"), (tmp_path / "x.json", "not a file")):
        if bad.name == "x.json":
            bad.write_text("{not json")
        with pytest.raises(ValidationError, match=why):
            Settings(_env_file=None, tuned_file=bad)
    # The file in the repository holds a choice for the service's default model and features.
    default = Settings(_env_file=None)
    assert tuned_params("citeulike-a", 10, f"hybrid@{default.features}", TUNED_PATH)
    assert training_hyperparameters(default)[0]


def test_train_applies_feature_weights_and_refuses_unknown_ones(setup):
    data, catalog, likes, _ = setup
    bundle = train(
        catalog,
        likes,
        features="text+citations",
        feature_weights={"citation_weight": 3.0},
        featurizer_params={"min_df": 1},
    )
    assert bundle.featurizer.citation_weight == 3.0
    with pytest.raises(ValueError, match="unknown feature weight"):
        train(catalog, likes, feature_weights={"tag_weight": 1.0})


def test_the_library_plans_training_and_says_how_a_bundle_differs(tmp_path):
    """training_plan: the tuned choice of the features a catalog really gets, overrides over it;
    bundle_differences: the same sentences the service has always logged."""
    import json

    from recommender.features import FeatureSet
    from recommender.training import bundle_differences, training_plan

    path = tmp_path / "tuned.json"
    tuned = {
        "hybrid@text+citations": {
            "params": {"cf_weight": 3.0},
            "feature_weights": {"citation_weight": 2},
        },
        "hybrid": {"params": {"cf_weight": 5.0}},
    }
    path.write_text(json.dumps({"citeulike-a": {"P=10": tuned}}))
    plan = training_plan("hybrid", "text+citations", catalog_has_references=True, tuned_path=path)
    assert (plan.params, plan.feature_weights) == ({"cf_weight": 3.0}, {"citation_weight": 2.0})
    assert plan.features == plan.catalog_features == FeatureSet(citations=True)
    bare = training_plan(
        "hybrid",
        FeatureSet(citations=True),
        catalog_has_references=False,
        overrides={"sharpen": 0.5},
        tuned_path=path,
    )
    assert (bare.params, bare.feature_weights) == ({"cf_weight": 5.0, "sharpen": 0.5}, {})
    assert str(bare.features) == "text+citations" and str(bare.catalog_features) == "text"
    off = training_plan("hybrid", "text", catalog_has_references=True, tuned=False, tuned_path=path)
    assert (off.params, off.feature_weights) == ({}, {})

    data = block_dataset(seed=1)
    catalog = Catalog(Paper(f"p{i}", f"Paper {i}", t) for i, t in enumerate(data.texts))
    likes = {f"u{u}": [f"p{i}" for i in data.likes[u].indices] for u in range(data.n_users)}
    # Citations asked for, none in the catalog: trained on text with the text choice, and fits.
    bundle = bare.train(catalog, likes, featurizer_params={"min_df": 1})
    assert bundle.metadata["features"] == "text" and bundle.model.cf_weight == 5.0
    fits = {"overrides": {"sharpen": 0.5}, "tuned_path": path}
    assert bundle_differences(bundle, "hybrid", "text+citations", **fits) == []
    assert bundle_differences(bundle, "hybrid", "text", **fits) == []
    assert bundle_differences(bundle, "content", "text", **fits) == [
        "holds model 'hybrid', the settings ask for 'content'"
    ]
    assert bundle_differences(bundle, "hybrid", "text+embed", **fits) == [
        "trained on 'text' features, the settings ask for 'text+embed'"
    ]
    assert bundle_differences(bundle, "hybrid", "text", tuned_path=path) == [
        "trained with other hyperparameters than the settings give (sharpen)"
    ]
