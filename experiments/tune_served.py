"""Tune the one configuration the service serves, jointly on every kind of user it meets.

    python -m experiments.tune_served [--users 1000] [--passes 2] [--resume] [--features SET]

The service trains one configuration for any catalog, so it is chosen on several validation
splits at once, all carved from the two published P=10 *training* files (never a test file):

* ``citeulike-a P=10``: each user's 3 newest of 10 papers held out (the published split is
  "older in, newer out"); ``citeulike-t P=10``: 3 random ones;
* ``cold``: of each file, 20% of the papers leave training with all their likes, which are the
  validation: papers nobody had liked when the model was trained, only content finds them.

The objective is the mean over the splits of the mean of recall@50 ... @300. Users with no
co-liked paper at all (the published P=1 settings, where every user has one training like) are
served by the content profile through the hybrid's ``evidence_ramp``, which is on and not tuned
here: nothing of the P=1 settings is simulated, so their test files stay out of reach (their
test likes are inside the P=10 training files this reads). The popularity weight stays at the
service's floor (a newcomer without likes gets popular papers). Content features are built from
the catalog's text as the service's featurizer builds them.

The choice is written to recommender/tuned.json's ``"served"`` section, which the service
starts from (:func:`recommender.tuned.serving_defaults`); ``experiments.served`` evaluates it on
the test files. ``--features SET`` makes the choice for another feature set the service trains
(text alone, for a catalog without citation links; sentence embeddings, on citeulike-a's splits
only, as citeulike-t has no text to embed), starting from the default set's choice;
``experiments.served_features`` compares the choices of every set.
"""

from __future__ import annotations

import argparse
import copy
import inspect
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from experiments.common import (
    EMBED_CACHE,
    METRIC,
    add_data_dir_argument,
    data_dir,
    mean_recall,
    write_json,
)
from experiments.tune import coordinate_search, split_feature_weights
from recommender.datasets.citeulike import DATASETS, RECALL_CUTOFFS
from recommender.evaluation.datasets import ExperimentData, load_experiment_data
from recommender.evaluation.experiment import evaluate_topk, recommend_users, select_users
from recommender.evaluation.splits import (
    Split,
    cold_start_split,
    published_split,
    validation_from_train,
)
from recommender.features import FEATURE_SETS, FEATURE_WEIGHTS, FeatureSet
from recommender.models.hybrid import Hybrid
from recommender.training import DEFAULT_FEATURES, DEFAULT_MODEL
from recommender.tuned import SERVED, TUNED_PATH, load_settings, serving_defaults, settings_key

log = logging.getLogger("experiments.tune_served")

#: Held where the service needs them, not searched (see the module text).
FIXED: dict[str, Any] = {"pop_weight": 0.05, "evidence_ramp": True, "few_profile_weight": 1.0}
#: Held as well with ``--within-budget``: the two parts that score every paper per request
#: (the profile's product over all papers' vectors, the folded-in factors' product with every
#: paper's factors) are off for users whose likes have co-likes; the ramp still gives the profile
#: to the share of a user's likes without them. ``python -m experiments.served_cost`` measures
#: what each part costs and buys.
BUDGET: dict[str, Any] = {"profile_weight": 0.0, "als_weight": 0.0}
#: What is searched. Neighbour counts and factors stop where a request's cost would grow past
#: the service's budget (bench/RESULTS.md).
GRID: dict[str, list[Any]] = {
    "citation_weight": [1.0, 2.0, 4.0],
    "embedding_weight": [0.5, 1.0, 2.0, 4.0],
    "content_weight": [0.5, 1.0, 2.0, 4.0],
    "cf_weight": [0.5, 1.0, 2.0, 4.0, 8.0],
    "profile_weight": [0.0, 1.0, 2.0, 4.0, 8.0],
    "als_weight": [0.0, 0.25, 0.5, 1.0, 2.0],
    "cold_impute": [0.0, 0.25, 0.5, 1.0, 2.0],
    "pop_boost": [0.0, 1.0, 2.0],
    "sharpen": [0.5, 1.0, 2.0],
    "content_neighbors": [50, 100, 300],
    "cf_neighbors": [100, 300],
    "shrink": [0.0, 10.0, 50.0],
    "als_factors": [32, 64],
    "als_regularization": [0.05, 0.2, 1.0],
    "als_alpha": [10.0, 40.0, 100.0],
}
#: Hyperparameters the fit depends on; the others are read when scoring, so a change of them
#: re-scores a fitted model instead of fitting a new one.
STRUCTURAL = (
    "citation_weight",
    "embedding_weight",
    "content_neighbors",
    "cf_neighbors",
    "shrink",
    "sharpen",
    "als_factors",
    "als_regularization",
    "als_alpha",
)


def validation_sets(
    folder: Path, features: FeatureSet | str = DEFAULT_FEATURES
) -> list[tuple[str, Split, ExperimentData]]:
    """``(name, split, data)`` of every validation split (see the module text), with the content
    ``features`` (sentence embeddings: citeulike-a alone, citeulike-t has no text to embed)."""
    out = []
    fs = FeatureSet.parse(features)
    for dataset in DATASETS:
        if fs.embed and dataset == "citeulike-t":
            continue
        data = load_experiment_data(
            dataset, folder, fs, text_from_catalog=True, embed_cache=EMBED_CACHE
        )
        train = published_split(dataset, 10, folder).train
        held = validation_from_train(
            train, fraction=0.3, min_keep=1, ordered=dataset == "citeulike-a"
        )
        out.append((f"{dataset} P=10, 3 of 10 held out", held, data))
        out.append((f"{dataset} P=10, 20% of papers cold", cold_start_split(train, seed=0), data))
    return out


#: The hybrid's own defaults: what a setting that leaves a hyperparameter out means.
DEFAULTS = {
    k: p.default
    for k, p in inspect.signature(Hybrid.__init__).parameters.items()
    if p.default is not inspect.Parameter.empty
}


class JointScore:
    """The objective: fits a hybrid per structural setting and validation split (kept), then
    scores it with the weights asked for on each split's users."""

    def __init__(
        self,
        sets: list[tuple[str, Split, ExperimentData]],
        users: int,
        seed: int,
        fixed: dict[str, Any] | None = None,
    ):
        self.sets = sets
        self.fixed = FIXED if fixed is None else fixed
        self.users = [select_users(split, users, seed) for _, split, _ in sets]
        self._fitted: dict[tuple[Any, ...], list[Hybrid]] = {}
        self.last: dict[str, float] = {}

    def _models(self, params: dict[str, Any], weights: dict[str, float]) -> list[Hybrid]:
        full = {**self.fixed, **params, **weights}
        key = tuple(full.get(k) for k in STRUCTURAL)
        if key not in self._fitted:
            if len(self._fitted) >= 2:  # bound memory: a fitted set is a few hundred MB
                self._fitted.pop(next(iter(self._fitted)))
            # The ALS part is fitted whatever its weight, so that its weight is a scoring choice.
            # (Not when the budget holds it off.)
            fit_params = {**params, "als_weight": self.fixed.get("als_weight", 1.0)}
            models = []
            for _, split, data in self.sets:
                m = Hybrid(**{**self.fixed, **fit_params})
                models.append(m.fit(split.train, data.weighted(weights)))
            self._fitted[key] = models
        # Every scoring-time hyperparameter set explicitly: one left out means its default, not
        # whatever the cached model was fitted with.
        scoring = {k: DEFAULTS[k] for k in GRID if k in DEFAULTS and k not in STRUCTURAL}
        scoring.update({k: v for k, v in params.items() if k not in STRUCTURAL}, **self.fixed)
        models = [copy.copy(m) for m in self._fitted[key]]
        for m in models:
            for name, value in scoring.items():
                setattr(m, name, value)
        return models

    def __call__(self, setting: dict[str, Any]) -> float:
        params, weights = split_feature_weights(setting)
        values = {}
        for model, (name, split, _), users in zip(
            self._models(params, weights), self.sets, self.users, strict=True
        ):
            top, _ = recommend_users(model, split.train, users, max(RECALL_CUTOFFS))
            means, _ = evaluate_topk(top, split.test[users], split.train)
            values[name] = mean_recall(means)
        self.last = values
        return float(np.mean(list(values.values())))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m experiments.tune_served", description=__doc__.split("\n")[0]
    )
    add_data_dir_argument(ap)
    ap.add_argument("--users", type=int, default=1000, help="validation users per split")
    ap.add_argument("--passes", type=int, default=2, help="coordinate-ascent passes")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--settings", type=Path, default=TUNED_PATH)
    ap.add_argument(
        "--resume", action="store_true", help="start from the served choice already saved"
    )
    ap.add_argument(
        "--within-budget",
        action="store_true",
        help="hold the profile and ALS parts off (the request budget; see BUDGET)",
    )
    ap.add_argument(
        "--features",
        choices=FEATURE_SETS,
        default=DEFAULT_FEATURES.name,
        help="the content features to choose for (default: the service's); another set starts "
        "from the default's choice unless --resume",
    )
    args = ap.parse_args(argv)
    fixed = {**FIXED, **BUDGET} if args.within_budget else FIXED
    blocks = args.features.split("+")
    grid = {
        k: v
        for k, v in GRID.items()
        if k not in fixed and (k not in FEATURE_WEIGHTS or FEATURE_WEIGHTS[k] in blocks)
    }
    if not fixed.get("als_weight", 1.0):
        grid = {k: v for k, v in grid.items() if not k.startswith("als_")}
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    folder = data_dir(ap, args.data_dir)
    key = settings_key(DEFAULT_MODEL, args.features)
    own = isinstance(load_settings(args.settings).get(SERVED, {}).get(key), dict)
    start_from = args.features if args.resume and own else DEFAULT_FEATURES.name
    params, weights = serving_defaults(DEFAULT_MODEL, start_from, args.settings)
    start: dict[str, Any] = {**params, **weights}
    if start_from != args.features:
        print(f"starting from the served choice for {start_from}")
    elif not args.resume and not args.within_budget:  # the parts the old serving choice held off
        start.update(profile_weight=4.0, als_weight=1.0, als_alpha=100.0, als_regularization=0.2)
    start = {
        k: v
        for k, v in start.items()
        if k not in fixed and (k not in FEATURE_WEIGHTS or FEATURE_WEIGHTS[k] in blocks)
    }
    sets = validation_sets(folder, args.features)
    score = JointScore(sets, args.users, args.seed, fixed)
    print(f"validation: {', '.join(n for n, _, _ in sets)}; {args.users} users each")
    t0 = time.perf_counter()
    best, best_score, n_eval = coordinate_search(DEFAULT_MODEL, grid, score, args.passes, start)
    score(best)
    print(f"chose {best} ({METRIC}, mean over splits, {best_score:.4f}; {n_eval} settings,")
    print(
        f"  {time.perf_counter() - t0:.0f}s): "
        + ", ".join(f"{k} {v:.4f}" for k, v in score.last.items())
    )
    params, weights = split_feature_weights(best)
    if not params.get("als_weight"):
        for name in ("als_factors", "als_regularization", "als_alpha"):
            params.pop(name, None)
    settings = load_settings(args.settings)
    settings.setdefault(SERVED, {})[key] = {
        "params": {**params, **fixed},
        "feature_weights": {k: v for k, v in weights.items() if k in FEATURE_WEIGHTS},
        "validation": {
            "metric": f"{METRIC}, mean over the splits",
            "value": round(best_score, 6),
            "per_split": {k: round(v, 6) for k, v in score.last.items()},
            "users": args.users,
            "strategy": "jointly on " + "; ".join(n for n, _, _ in sets),
            "fixed": fixed,
            "settings_tried": n_eval,
            "passes": args.passes,
            "started_from": f"the served choice for {start_from}",
        },
    }
    write_json(args.settings, settings)
    print(f"saved the served choice to {args.settings}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
