"""`experiments.tune_served`'s validation: carved from the P=10 training files, with cold papers
that are not the cold-start protocol's test papers, and a choice "without" a dataset that reads
none of that dataset's likes; the section it is saved in and read back from."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from experiments.tune_served import dataset_splits, validation_sets
from recommender.datasets import default_data_dir
from recommender.evaluation.splits import binarize, cold_start_split
from recommender.io import read_user_items
from recommender.tuned import SERVED_WITHOUT, served_without

DATA = default_data_dir()
needs_data = pytest.mark.skipif(
    not (DATA / "citeulike-t" / "splits-cvae").is_dir(), reason="CiteULike data not available"
)


@needs_data
def test_the_cold_validation_papers_are_not_the_cold_start_protocols() -> None:
    """Seed 0 drew the very papers the cold-start protocol tests: every validation target was a
    test like. With its own seed the share is what chance gives (a fifth of the papers)."""
    likes = binarize(read_user_items(DATA / "citeulike-t" / "users.dat"))
    cold = dict(dataset_splits(DATA, "citeulike-t"))["citeulike-t P=10, 20% of papers cold"]
    validation = set(np.unique(cold.test.indices).tolist())
    tested = set(np.unique(cold_start_split(likes, seed=0).test.indices).tolist())
    shared = len(validation & tested) / len(validation)
    assert 0.1 < shared < 0.3, shared


@needs_data
def test_a_choice_without_a_dataset_reads_none_of_its_likes() -> None:
    sets = validation_sets(DATA, "text+citations", without="citeulike-a")
    assert [name for name, _, _ in sets] == [
        f"citeulike-t P=10, {kind}"
        for kind in ("3 of 10 held out", "2 of 10 kept", "1 of 10 kept", "20% of papers cold")
    ]
    assert {data.name for _, _, data in sets} == {"citeulike-t"}
    with pytest.raises(SystemExit, match="no validation split"):
        validation_sets(DATA, "text+embed", without="citeulike-a")  # t has no text to embed


def test_the_choice_without_a_dataset_is_read_from_its_own_section(tmp_path: Path) -> None:
    path = tmp_path / "tuned.json"
    entry = {"params": {"cf_weight": 2.0}, "feature_weights": {"citation_weight": 4}}
    path.write_text(json.dumps({SERVED_WITHOUT: {"citeulike-a": {"hybrid@text+citations": entry}}}))
    assert served_without("hybrid", "text+citations", "citeulike-a", path) == (
        {"cf_weight": 2.0},
        {"citation_weight": 4.0},
    )
    with pytest.raises(KeyError, match="--without citeulike-t"):
        served_without("hybrid", "text+citations", "citeulike-t", path)
