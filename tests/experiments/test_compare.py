"""`experiments.compare` end to end on a small subset of real CiteULike users."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from experiments import compare
from recommender.datasets import default_data_dir
from recommender.datasets.citeulike import RECALL_CUTOFFS as M_VALUES
from recommender.evaluation import metrics as mt
from recommender.evaluation.splits import published_split
from recommender.ranking import rows_to_csr

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
