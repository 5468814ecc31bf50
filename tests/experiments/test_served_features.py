"""`experiments.served_features`: each feature set's choices scored on the same validation; and
the shipped settings give every feature set the service trains a served choice."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from experiments import served_features
from recommender.datasets import default_data_dir
from recommender.features import FEATURE_SETS
from recommender.training import DEFAULT_MODEL
from recommender.tuned import SERVED, TUNED_PATH, serving_defaults

DATA = default_data_dir()


@pytest.mark.skipif(
    not (DATA / "citeulike-a" / "splits-cvae").is_dir(), reason="CiteULike data not available"
)
def test_each_choice_is_scored_on_the_same_validation(tmp_path: Path) -> None:
    settings = tmp_path / "tuned.json"
    shutil.copy(TUNED_PATH, settings)
    tuned = json.loads(settings.read_text())
    served, _ = serving_defaults(DEFAULT_MODEL, "text+citations", settings)
    own = {**served, "content_weight": 0.5, "cf_weight": 1.0}
    tuned[SERVED]["hybrid"] = {"params": own, "feature_weights": {}}
    settings.write_text(json.dumps(tuned))
    argv = ["--only", "text", "--datasets", "citeulike-a", "--users", "40"]
    out = tmp_path / "out"
    assert served_features.main([*argv, "--settings", str(settings), "--out", str(out)]) == 0
    rows = json.loads((out / "results.json").read_text())["rows"]
    assert [r["choice"] for r in rows] == [
        "older per-setting choice",
        "served, carried over",
        "served (hybrid in tuned.json)",
    ]
    old = tuned["citeulike-a"]["P=10"]["hybrid"]
    assert rows[0]["setting"] == old.get("serving", old)["params"]
    assert rows[1]["setting"] == served and rows[2]["setting"] == own  # no citation weight
    for r in rows:
        assert len(r["per_split"]) == 4 and all(0 < v < 1 for v in r["per_split"].values())
        assert r["objective"] == pytest.approx(sum(r["per_split"].values()) / 4)
    assert rows[1]["per_split"] != rows[2]["per_split"]
    assert "| text | served, carried over |" in (out / "results.md").read_text()


@pytest.mark.skipif(
    not (DATA / "citeulike-t" / "splits-cvae").is_dir(), reason="CiteULike data not available"
)
def test_tune_served_validates_another_feature_set_on_its_own_features() -> None:
    from experiments.tune_served import validation_sets

    sets = validation_sets(DATA, "text")
    assert [name for name, _, _ in sets] == [
        f"{d} P=10, {kind}"
        for d in ("citeulike-a", "citeulike-t")
        for kind in ("3 of 10 held out", "2 of 10 kept", "1 of 10 kept", "20% of papers cold")
    ]
    assert {data.feature_set for _, _, data in sets} == {"text"}
    assert all(set(data.blocks) == {"text"} for _, _, data in sets)


@pytest.mark.parametrize("features", FEATURE_SETS)
def test_every_feature_set_the_service_trains_has_a_served_choice(features: str) -> None:
    """Not an older per-setting choice: a newcomer gets popular papers (the popularity floor) and
    a user with few likes the content profile (the evidence ramp), whatever the catalog has."""
    entry = json.loads(TUNED_PATH.read_text())[SERVED].get(
        "hybrid" if features == "text" else f"hybrid@{features}"
    )
    assert entry is not None, f"no served choice for {features}"
    params, _ = serving_defaults(DEFAULT_MODEL, features)
    assert params["pop_weight"] >= 0.05 and params["evidence_ramp"] is True
