"""The experiment runner on a dataset with a known answer."""

from __future__ import annotations

from recommender.evaluation import metrics as mt
from recommender.evaluation.experiment import run_experiment, significance_vs_best
from recommender.evaluation.splits import Split
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
