"""Where papers that appeared after the last training land: the served hybrid on new papers.

    python -m experiments.new_papers [--dataset citeulike-a] [--newest 0.1] [--features text+citations]

The newest ``--newest`` share of the papers (the highest rows: rows follow the date a paper was
added) leave the training likes entirely (``cold_start_split(newest=True)``). The model is fitted
on the older papers and then given the new ones through ``add_items``, as the service places a
paper added after its last retrain. For users with likes on both sides it reports, per variant:

* the recall@10 and @50 of their new-paper likes in the full list (every paper ranked),
* the share of new papers in everyone's full top 10,
* the recall@10 and @50 of the same likes in a list of new papers only (what ``since`` on the
  service's recommendations gives).

Variants: the service's hyperparameters (recommender/tuned.json's serving choice for the feature
set), the same with each ``--cold-impute`` value (0.5 and 1 by default), and the content model.
A second table gives the price of each on what tuning maximises: the mean of recall@50..300 on
``experiments.tune``'s validation split of the same training file, and the share of the top-10
places that go to papers without a training like. Only the published P=10 *training* file is
read (never a test file); nothing here is tuned.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from experiments.common import (
    EMBED_CACHE,
    ArgumentParser,
    add_data_dir_argument,
    data_dir,
    mean_recall,
    run_main,
    validation_setup,
)
from recommender.datasets.citeulike import DATASETS, RECALL_CUTOFFS
from recommender.evaluation import metrics as mt
from recommender.evaluation.datasets import FEATURE_SETS, load_experiment_data, stack_blocks
from recommender.evaluation.experiment import evaluate_topk, recommend_users, select_users
from recommender.evaluation.splits import Split, cold_start_split, published_split
from recommender.models import create_model
from recommender.tuned import serving_defaults

log = logging.getLogger("experiments.new_papers")


def measure(
    model: Any, train: sp.csr_matrix, test: sp.csr_matrix, users: np.ndarray, first_new: int
) -> dict[str, float]:
    """The figures of the module text for a model fitted on the old papers and given the new."""
    likes, truth = train[users], test[users]
    n_test = mt.relevant_counts(truth)
    full, _ = model.recommend_batch(likes, 50, exclude=likes)
    h = mt.hits(full, truth)
    top10 = full[:, :10]
    is_old = np.arange(likes.shape[1]) < first_new
    old = sp.csr_matrix(np.broadcast_to(is_old, likes.shape), dtype=np.float32)
    only_new, _ = model.recommend_batch(likes, 50, exclude=old)
    hn = mt.hits(only_new, truth)
    return {
        "full recall@10": mt.mean_over_users(mt.recall_at(h, n_test, 10)),
        "full recall@50": mt.mean_over_users(mt.recall_at(h, n_test, 50)),
        "new share of top 10": float((top10[top10 >= 0] >= first_new).mean()),
        "new-only recall@10": mt.mean_over_users(mt.recall_at(hn, n_test, 10)),
        "new-only recall@50": mt.mean_over_users(mt.recall_at(hn, n_test, 50)),
    }


def variants(
    features: str, cold_impute: Sequence[float] = (0.5, 1.0)
) -> dict[str, tuple[str, Mapping[str, Any], Mapping[str, float]]]:
    """``{label: (model, hyperparameters, feature weights)}`` of the rows of the tables: the
    served hybrid, the same with each ``cold_impute``, and the content model."""
    params, weights = serving_defaults("hybrid", features)
    rows: dict[str, tuple[str, Mapping[str, Any], Mapping[str, float]]] = {
        "hybrid, served settings": ("hybrid", params, weights)
    }
    for ci in cold_impute:
        rows[f"hybrid, served, cold_impute {ci:g}"] = (
            "hybrid",
            {**params, "cold_impute": ci},
            weights,
        )
    rows["content (defaults)"] = ("content", {}, weights)
    return rows


def validation_price(model: Any, split: Split, users: np.ndarray) -> dict[str, float]:
    """What the tuning objective says of ``model`` (fitted on ``split.train``): the mean of
    recall@50..300 on the validation users, and the share of their top-10 places that go to
    papers without a training like."""
    top, _ = recommend_users(model, split.train, users, max(RECALL_CUTOFFS))
    means, _ = evaluate_topk(top, split.test[users], split.train)
    cold = np.asarray(split.train.sum(axis=0)).ravel() == 0
    top10 = top[:, :10]
    return {
        "mean recall@50-300": mean_recall(means),
        "share of top 10 without a training like": float(cold[top10[top10 >= 0]].mean()),
    }


def main(argv: list[str] | None = None) -> int:
    ap = ArgumentParser(
        description="How the served hybrid ranks papers that appeared after its training."
    )
    ap.add_argument("--dataset", choices=DATASETS, default="citeulike-a")
    ap.add_argument(
        "--newest", type=float, default=0.1, help="share of papers, newest first (default 0.1)"
    )
    ap.add_argument(
        "--features",
        choices=FEATURE_SETS,
        default="text+citations",
        help="content features (default text+citations, the service's)",
    )
    ap.add_argument(
        "--cold-impute",
        default="0.5,1",
        help="comma list: the served hybrid is also run with each of these cold_impute values",
    )
    ap.add_argument(
        "--validation-users",
        type=int,
        default=1500,
        help="users of the second table (tune's validation split; 0 skips it)",
    )
    add_data_dir_argument(ap)
    args = ap.parse_args(argv)
    if not 0 < args.newest < 1:
        ap.error(f"--newest must lie between 0 and 1, got {args.newest}")
    try:
        cold_impute = [float(v) for v in args.cold_impute.split(",") if v.strip()]
    except ValueError:
        ap.error(f"--cold-impute must be a comma list of numbers, got {args.cold_impute!r}")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    folder = data_dir(ap, args.data_dir)
    data = load_experiment_data(args.dataset, folder, args.features, embed_cache=EMBED_CACHE)
    likes = published_split(args.dataset, 10, folder).train
    split = cold_start_split(likes, item_fraction=args.newest, newest=True)
    n_items = likes.shape[1]
    first_new = n_items - int(round(args.newest * n_items))
    users = split.test_users()
    print(
        f"{args.dataset} P=10 training file, features {args.features}: the newest "
        f"{n_items - first_new:,} of {n_items:,} papers leave training ({split.test.nnz:,} likes);"
        f" {users.size:,} users with likes on both sides"
    )
    cols = [
        "full recall@10",
        "full recall@50",
        "new share of top 10",
        "new-only recall@10",
        "new-only recall@50",
    ]
    print("| variant | " + " | ".join(cols) + " | seconds |")
    print("|---|" + "---|" * (len(cols) + 1))
    rows = variants(args.features, cold_impute)
    for label, (name, params, weights) in rows.items():
        t0 = time.perf_counter()
        feats = stack_blocks(data.blocks, weights)
        model = create_model(name, **params)
        model.fit(split.train[:, :first_new], feats[:first_new])
        model.add_items(feats[first_new:])
        row = measure(model, split.train, split.test, users, first_new)
        seconds = time.perf_counter() - t0
        print(f"| {label} | " + " | ".join(f"{row[c]:.4f}" for c in cols) + f" | {seconds:.1f} |")
    if args.validation_users:
        # The price on what tuning maximises: tune's own validation split of the same file.
        val, _, desc = validation_setup(args.dataset, 10, folder, args.features)
        vusers = select_users(val, args.validation_users, seed=0)
        print(f"\nValidation ({desc}; {vusers.size:,} users):")
        vcols = ["mean recall@50-300", "share of top 10 without a training like"]
        print("| variant | " + " | ".join(vcols) + " |")
        print("|---|" + "---|" * len(vcols))
        for label, (name, params, weights) in rows.items():
            model = create_model(name, **params).fit(val.train, stack_blocks(data.blocks, weights))
            vrow = validation_price(model, val, vusers)
            print(f"| {label} | " + " | ".join(f"{vrow[c]:.4f}" for c in vcols) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_main(main))
