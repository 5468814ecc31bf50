"""Tune the one configuration the service serves, jointly on every kind of user it meets.

    python -m experiments.tune_served [--users 1000] [--passes 2] [--resume] [--features SET]
                                      [--without DATASET] [--only NAME,...]

The service trains one configuration for any catalog, so it is chosen on several validation
splits at once, all carved from the two published P=10 *training* files (never a test file):

* ``citeulike-a P=10``: each user's 3 newest of 10 papers held out (the published split is
  "older in, newer out"); ``citeulike-t P=10``: 3 random ones;
* ``2 of 10 kept``: each user keeps 2 of the 10 papers (the oldest on citeulike-a), the other 8
  are the validation: the researcher who arrives with a handful of papers; ``1 of 10 kept``:
  one paper each, so that almost no kept paper has a co-like: the user the evidence ramp hands
  to the content profile, whose weight there (``few_profile_weight``, against the popularity
  floor) is searched;
* ``cold``: of each file, 20% of the papers leave training with all their likes, which are the
  validation: papers nobody had liked when the model was trained, only content finds them. The
  papers are drawn with seed :data:`COLD_SEED`, not the protocols' seed 0 (seed 0 draws the very
  papers the cold-start protocol tests).

The objective is the mean over the splits of the mean of recall@50 ... @300. The popularity
weight stays at the service's floor (a newcomer without likes gets popular papers) and the
evidence ramp is on. Content features are built from the catalog's text as the service's
featurizer builds them.

**What this may be read against.** The P=10 training files hold most of the *other* protocols'
test likes: of the validation targets, 88-95% are likes of the P=1 test files, about 20% of the
holdout protocol's and of the cold-start protocol's (all of them, had the cold papers been drawn
with seed 0). So the choice made on both files is read on the P=10 test files alone. For the
other protocols of a dataset, ``--without DATASET`` makes the same choice on the other dataset's
training file alone, starting from the hybrid's own defaults rather than from the served choice
(the price of never touching the read dataset's test likes: the choice transfers across datasets,
as ``experiments.tune`` does for P=1), saved in the ``"served without"`` section;
``experiments.served`` and ``experiments.through_service`` read it there.

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
from recommender.tuned import (
    SERVED,
    SERVED_WITHOUT,
    TUNED_PATH,
    load_settings,
    served_without,
    served_without_entry,
    serving_defaults,
    settings_key,
)

log = logging.getLogger("experiments.tune_served")

#: Held where the service needs them, not searched (see the module text).
FIXED: dict[str, Any] = {"pop_weight": 0.05, "evidence_ramp": True}
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
    # What a paper nobody has liked counts as under the boost, in typical liked papers.
    "cold_boost": [0.5, 1.0, 2.0, 4.0],
    "sharpen": [0.5, 1.0, 2.0],
    # The profile's weight for likes nobody else has (the ramp's rest): against the popularity
    # floor, what a user whose papers have no co-likes is ranked by.
    "few_profile_weight": [0.25, 0.5, 1.0, 2.0],
    # How much of each paper's closeness to the catalog's mean direction the profile takes back.
    "profile_center": [0.0, 0.1, 0.25, 0.5],
    # The profile's extra weight for papers nobody has liked (what the collaborative parts
    # cannot say of them).
    "cold_profile_weight": [0.0, 1.0, 2.0, 4.0, 8.0],
    # What a paper nobody has liked counts as in the popularity floor, in typical liked papers
    # (the floor is most of what ranks a user whose likes have no co-likes, beside the profile).
    "cold_prior": [0.0, 0.5, 1.0],
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


#: The seed of the validation's cold papers: not the protocols' 0, whose cold papers are the
#: cold-start protocol's test papers.
COLD_SEED = 1


def dataset_splits(folder: Path, dataset: str) -> list[tuple[str, Split]]:
    """``(name, split)`` of the validation splits carved from ``dataset``'s P=10 training file
    (see the module text)."""
    train = published_split(dataset, 10, folder).train
    ordered = dataset == "citeulike-a"  # that published split is "older in, newer out"
    return [
        (
            f"{dataset} P=10, 3 of 10 held out",
            validation_from_train(train, fraction=0.3, min_keep=1, ordered=ordered),
        ),
        (
            f"{dataset} P=10, 2 of 10 kept",
            validation_from_train(train, fraction=0.8, min_keep=1, ordered=ordered),
        ),
        (
            f"{dataset} P=10, 1 of 10 kept",
            validation_from_train(train, fraction=0.9, min_keep=1, ordered=ordered),
        ),
        (f"{dataset} P=10, 20% of papers cold", cold_start_split(train, seed=COLD_SEED)),
    ]


def validation_sets(
    folder: Path,
    features: FeatureSet | str = DEFAULT_FEATURES,
    without: str | None = None,
) -> list[tuple[str, Split, ExperimentData]]:
    """``(name, split, data)`` of every validation split (see the module text), with the content
    ``features`` (sentence embeddings: citeulike-a alone, citeulike-t has no text to embed);
    ``without``: none of that dataset's likes."""
    out = []
    fs = FeatureSet.parse(features)
    for dataset in DATASETS:
        if (fs.embed and dataset == "citeulike-t") or dataset == without:
            continue
        data = load_experiment_data(
            dataset, folder, fs, text_from_catalog=True, embed_cache=EMBED_CACHE
        )
        out += [(name, split, data) for name, split in dataset_splits(folder, dataset)]
    if not out:
        raise SystemExit(f"no validation split left for {fs.name} without {without}")
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
    ap.add_argument(
        "--only",
        help="comma list of hyperparameters to search, the rest held at the starting choice "
        "(e.g. one that joined the grid: --resume --only few_profile_weight)",
    )
    ap.add_argument(
        "--without",
        choices=DATASETS,
        help="choose on the other dataset's training file alone, for reading this one's "
        "P=1, cold-start and holdout test likes (saved in the 'served without' section)",
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
    if args.only:
        wanted = args.only.split(",")
        if unknown := [k for k in wanted if k not in grid]:
            ap.error(
                f"--only: not searched here: {', '.join(unknown)} (searched: {', '.join(grid)})"
            )
        grid = {k: grid[k] for k in wanted}
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    folder = data_dir(ap, args.data_dir)
    key = settings_key(DEFAULT_MODEL, args.features)
    own = (
        served_without_entry(key, args.without, args.settings) is not None
        if args.without
        else isinstance(load_settings(args.settings).get(SERVED, {}).get(key), dict)
    )
    start: dict[str, Any]
    if args.without:
        # Not from the served choice: it was made on the left-out dataset's likes too.
        if args.resume and own:
            params, weights = served_without(
                DEFAULT_MODEL, args.features, args.without, args.settings
            )
            start, started_from = {**params, **weights}, "its own earlier choice"
        else:
            start, started_from = {}, "the hybrid's own defaults"
    else:
        start_from = args.features if args.resume and own else DEFAULT_FEATURES.name
        params, weights = serving_defaults(DEFAULT_MODEL, start_from, args.settings)
        start, started_from = {**params, **weights}, f"the served choice for {start_from}"
        if start_from == args.features and not args.resume and not args.within_budget:
            # the parts the old serving choice held off
            start.update(
                profile_weight=4.0, als_weight=1.0, als_alpha=100.0, als_regularization=0.2
            )
    print(f"starting from {started_from}")
    start = {
        k: v
        for k, v in start.items()
        if k not in fixed and (k not in FEATURE_WEIGHTS or FEATURE_WEIGHTS[k] in blocks)
    }
    sets = validation_sets(folder, args.features, args.without)
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
    target = (
        settings.setdefault(SERVED_WITHOUT, {}).setdefault(args.without, {})
        if args.without
        else settings.setdefault(SERVED, {})
    )
    target[key] = {
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
            "searched": list(grid),
            "started_from": started_from,
            "read_against": (
                f"{args.without}'s P=1, cold-start and holdout test files"
                if args.without
                else "the P=10 test files"
            ),
        },
    }
    write_json(args.settings, settings)
    where = f"{SERVED_WITHOUT!r} / {args.without}" if args.without else repr(SERVED)
    print(f"saved the served choice to {args.settings}, section {where}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
