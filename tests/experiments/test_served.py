"""`experiments.served` end to end on a small subset: the served configuration is the one the
service's training plan gives, evaluated beside its parts with intervals and activity buckets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from experiments import served
from recommender.datasets import default_data_dir
from recommender.training import DEFAULT_FEATURES, DEFAULT_MODEL, training_plan
from recommender.tuned import served_without

DATA = default_data_dir()
needs_data = pytest.mark.skipif(
    not (DATA / "citeulike-t" / "splits-cvae").is_dir(), reason="CiteULike data not available"
)


@needs_data
def test_served_evaluates_the_service_plan_beside_its_parts(tmp_path: Path) -> None:
    out = tmp_path / "served"
    argv = ["--out", str(out), "--users", "60", "--only", "citeulike-t-holdout", "--n-boot", "50"]
    assert served.main([*argv, "--no-progress"]) == 0
    result = json.loads((out / "served.json").read_text())
    plan = training_plan(DEFAULT_MODEL, DEFAULT_FEATURES, catalog_has_references=True)
    assert result["plan"]["params"] == plan.params
    assert result["plan"]["feature_weights"] == plan.feature_weights
    (row,) = result["settings"]
    assert row["setting"] == "citeulike-t holdout" and row["n_users"] == 60
    # The holdout test likes lie in the served choice's validation: read with the choice made
    # without citeulike-t's likes.
    without, without_weights = served_without(DEFAULT_MODEL, DEFAULT_FEATURES.name, "citeulike-t")
    assert row["plan"]["params"] == without and row["plan"]["feature_weights"] == without_weights
    assert row["plan"]["params"] != plan.params
    assert row["choice"].startswith("served without citeulike-t")
    assert set(row["models"]) == {"served", *served.PARTS}
    for m in row["models"].values():
        mean, low, high = m["recall@50"]
        assert 0 <= low <= mean <= high <= 1
        assert sum(b[3] for b in m["recall@100 by training likes"].values()) == 60
    # The per-setting files are compare's, with the served model named "served".
    models = json.loads((out / "citeulike-t-holdout" / "results.json").read_text())["models"]
    assert models["served"]["params"] == without
    assert "| citeulike-t holdout † | 60 |" in (out / "served.md").read_text()
