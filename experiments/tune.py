"""Tune hyperparameters on a validation split carved out of training data, never the test files.

    python -m experiments.tune --dataset citeulike-a --split 10 --models hybrid,als [--users 1500]

Writes the chosen settings to recommender/tuned.json under ``[dataset]["P=<split>"][model]``;
``experiments.compare`` uses them (a model's defaults where absent).

How validation is carved (see experiments/README.md, "Tuning"):

* P=10: each user's 10 training papers are split 7 kept / 3 held out. On citeulike-a P=10, whose
  published split is "older papers in, newer out", the 3 held out are the user's newest (highest
  rows); elsewhere they are random.
* P=1: a user's single training paper cannot be split, and the same dataset's P=10 training file
  holds P=1 test papers (it would leak). So the P=1 protocol is simulated on the *other* dataset's
  P=10 training file: keep 1 paper per user, validate on the other 9 (the lowest row kept on
  citeulike-t P=1, which is ordered; a random one on citeulike-a P=1). Only that dataset's training
  likes are read; nothing of the tuned dataset's own likes is used beyond its catalog text.

Search: coordinate ascent from the model's defaults, one hyperparameter at a time over a small grid,
two passes, maximising the mean of recall@50, @100, ..., @300 on the validation users: the goal is
the whole published curve, and a choice made on one cut-off can trade the rest of it away.
"""

from __future__ import annotations

import inspect
import json
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from experiments.common import (
    METRIC,
    ArgumentParser,
    add_data_dir_argument,
    data_dir,
    mean_recall,
    run_main,
    validation_setup,
    write_json,
)
from recommender.datasets.citeulike import DATASETS
from recommender.evaluation.datasets import FEATURE_SETS, FEATURE_WEIGHTS
from recommender.evaluation.experiment import evaluate_model, select_users
from recommender.models import MODELS, model_class
from recommender.tuned import (
    TUNED_PATH,
    load_settings,
    settings_key,
    tuned_choice,
)

log = logging.getLogger("experiments.tune")

#: Small grids per model; names a model's ``__init__`` does not take are ignored.
GRIDS: dict[str, dict[str, list[Any]]] = {
    "item_knn": {"neighbors": [50, 100, 300], "k": [50, 100, 300], "shrink": [0.0, 10.0, 50.0]},
    "linear": {"alpha": [0.1, 1.0, 10.0], "regularization": [0.1, 1.0, 10.0]},
    "als": {
        "factors": [32, 64, 128],
        "regularization": [0.01, 0.05, 0.2],
        "alpha": [1.0, 10.0, 40.0],
    },
    "bpr": {"factors": [32, 64], "learning_rate": [0.01, 0.05], "regularization": [0.001, 0.01]},
    "lightfm": {"no_components": [32, 64], "epochs": [20, 40]},
    "lightfm_hybrid": {"no_components": [32, 64], "epochs": [20, 40]},
    "hybrid": {
        "content_weight": [0.0, 0.5, 1.0, 2.0, 4.0],
        "cf_weight": [0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0],
        "pop_weight": [0.0, 0.05, 0.2, 0.5],
        "pop_boost": [0.0, 1.0, 2.0, 4.0, 8.0, 16.0],
        "cold_boost": [0.0, 0.5, 1.0, 2.0],
        "sharpen": [0.25, 0.5, 1.0, 2.0, 3.0],
        "cold_impute": [0.0, 0.25, 0.5, 1.0],
        "profile_weight": [0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0],
        "content_neighbors": [20, 50, 100, 300, 1000],
        "cf_neighbors": [50, 100, 300, 1000],
        "shrink": [0.0, 10.0, 50.0, 200.0],
        # the optional ALS factor part (off by default; its size only matters when it is on)
        "als_weight": [0.0, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0],
        "als_factors": [32, 64, 128, 256],
        "als_regularization": [0.01, 0.05, 0.2, 1.0, 5.0],
        "als_alpha": [1.0, 5.0, 10.0, 40.0, 100.0],
    },
}

#: Hyperparameters that only matter while another one is on (non-zero): not searched while it is
#: off, where every value would give the same model.
SWITCHED_BY: dict[str, str] = {
    "cold_boost": "pop_boost",
    "als_factors": "als_weight",
    "als_regularization": "als_weight",
    "als_alpha": "als_weight",
}

#: ``--serving``: hyperparameters held at these values when tuning what the service serves by
#: default, so that a request costs what it cost with the model's defaults (the service's
#: throughput is a target of its own, bench/RESULTS.md). On the 2-core machine of 2026-11-21
#: (``python -m bench --only service``, 2 workers, closed loop): the model's defaults 1,044
#: recommendations/s at most; the offline choice for citeulike-a P=10 (profile and ALS parts
#: on: a user's profile against every paper's vector, a fold-in solve) 664/s; with those two off
#: but 300 neighbours per paper instead of 100, 834/s.
SERVING_FIXED: dict[str, dict[str, Any]] = {
    "hybrid": {
        "profile_weight": 0.0,
        "als_weight": 0.0,
        "content_neighbors": 100,
        "cf_neighbors": 100,
    }
}

#: ``--serving``: lowest values allowed. Validation users all have likes, so it cannot see that a
#: popularity weight of 0 leaves a user without likes (a newcomer) with an arbitrary list.
SERVING_MIN: dict[str, dict[str, float]] = {"hybrid": {"pop_weight": 0.05}}

#: Weights of the feature blocks beyond the text (whose weight is 1), searched beside a model's
#: hyperparameters when the feature set has the block and the model uses content. They are saved
#: under ``"feature_weights"``, apart from the model's ``"params"``.
FEATURE_GRID: dict[str, list[float]] = {
    "citation_weight": [0.5, 1.0, 2.0, 4.0, 8.0],
    "embedding_weight": [0.5, 1.0, 2.0, 4.0],
}


# ------------------------------------------------------------------ settings file
def serving_search_space(
    model: str, grid: Mapping[str, list[Any]], start: Mapping[str, Any]
) -> tuple[dict[str, list[Any]], dict[str, Any]]:
    """``(grid, start)`` of a ``--serving`` search: :data:`SERVING_FIXED` values held (out of
    the grid), :data:`SERVING_MIN` floors applied to the grid and the start."""
    fixed = SERVING_FIXED.get(model, {})
    floors = SERVING_MIN.get(model, {})
    out = {k: [v for v in vs if v >= floors.get(k, v)] for k, vs in grid.items() if k not in fixed}
    begin = {**start, **fixed}
    for k, low in floors.items():
        if k in begin and begin[k] < low:
            begin[k] = low
    return out, begin


def drop_switched_off(model: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` without the sub-parameters of a part that is off (they change nothing)."""
    sig = inspect.signature(model_class(model).__init__).parameters
    merged = {k: p.default for k, p in sig.items() if p.default is not inspect.Parameter.empty}
    merged.update(params)
    return {k: v for k, v in params.items() if k not in SWITCHED_BY or merged.get(SWITCHED_BY[k])}


def save_entry(
    path: Path, dataset: str, split: int, key: str, entry: dict[str, Any], *, serving: bool
) -> None:
    """Store one tuning choice: the entry of ``key`` (keeping its ``serving`` choice), or with
    ``serving`` that choice alone (keeping the entry)."""
    # Re-read just before writing: another tuning run may have saved other keys meanwhile.
    settings = load_settings(path)
    here = settings.setdefault(dataset, {}).setdefault(f"P={split}", {})
    if serving:
        here.setdefault(key, {"params": {}})["serving"] = entry
    else:
        kept = here.get(key, {}).get("serving")
        here[key] = entry if kept is None else {**entry, "serving": kept}
    write_json(path, settings)


def split_feature_weights(params: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, float]]:
    """``(model hyperparameters, feature-block weights)`` of one searched setting."""
    model = {k: v for k, v in params.items() if k not in FEATURE_WEIGHTS}
    weights = {k: float(v) for k, v in params.items() if k in FEATURE_WEIGHTS}
    return model, weights


def feature_grid(model: str, features: str) -> dict[str, list[float]]:
    """The feature-block weights worth searching for ``model`` with the ``features`` set."""
    if not model_class(model).uses_content:
        return {}
    return {k: v for k, v in FEATURE_GRID.items() if FEATURE_WEIGHTS[k] in features.split("+")}


# ------------------------------------------------------------------ search
def grid_for(model: str) -> dict[str, list[Any]]:
    """The grid of ``model`` restricted to hyperparameters its ``__init__`` accepts."""
    accepted = set(inspect.signature(model_class(model).__init__).parameters) - {"self"}
    return {k: v for k, v in GRIDS.get(model, {}).items() if k in accepted}


def coordinate_search(
    model: str,
    grid: Mapping[str, list[Any]],
    score: Any,
    passes: int = 2,
    start: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any], float, int]:
    """Coordinate ascent over ``grid`` from ``start`` (default: the model's defaults):
    ``(best params, best score, evaluations)``.

    ``score(params) -> float`` is called once per distinct setting."""
    cache: dict[str, float] = {}
    sig = inspect.signature(model_class(model).__init__).parameters
    defaults = {k: p.default for k, p in sig.items() if p.default is not inspect.Parameter.empty}
    defaults.update(dict.fromkeys(FEATURE_WEIGHTS, 1.0))  # feature blocks weigh 1 unless tuned

    def cached(params: dict[str, Any]) -> float:
        # A value equal to the default is the default: do not fit the same model twice.
        params = {k: v for k, v in params.items() if defaults.get(k, object()) != v}
        key = json.dumps(params, sort_keys=True)
        if key not in cache:
            cache[key] = score(params)
            print(f"  {model} {params}: {METRIC} {cache[key]:.4f}", flush=True)
        return cache[key]

    best = {k: v for k, v in dict(start or {}).items() if defaults.get(k, object()) != v}
    best_score = cached(best)
    for _ in range(passes):
        improved = False
        for name, values in grid.items():
            switch = SWITCHED_BY.get(name)
            if switch and not {**defaults, **best}.get(switch):
                continue
            for v in values:
                cand = {k: x for k, x in {**best, name: v}.items() if defaults.get(k) != x}
                s = cached(cand)
                if s > best_score + 1e-9:
                    best, best_score, improved = cand, s, True
        if not improved:
            break
    return best, best_score, len(cache)


def carry_settings(
    dataset: str, split: int, models: list[str], source: str, target: str, path: Path
) -> None:
    """Copy each model's settings for feature set ``source`` to ``target`` on one setting, marked
    as carried over (nothing is evaluated, nothing is read but the settings file)."""
    settings = load_settings(path)
    here = settings.get(dataset, {}).get(f"P={split}", {})
    for model in models:
        src = here.get(settings_key(model, source))
        if src is None:
            raise SystemExit(f"no settings for {model} with {source} on {dataset} P={split}")
        here[settings_key(model, target)] = {
            "params": dict(src["params"]),
            **({"feature_weights": dict(w)} if (w := src.get("feature_weights")) else {}),
            "validation": {
                **src["validation"],
                "carried_from": settings_key(model, source),
                "note": f"chosen on validation with {source}; not validated with {target}",
            },
        }
        print(f"{model}: {target} carries the settings chosen with {source}: {src['params']}")
    settings.setdefault(dataset, {})[f"P={split}"] = here
    write_json(path, settings)


def main(argv: list[str] | None = None) -> int:
    ap = ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", required=True, choices=DATASETS)
    ap.add_argument("--split", required=True, type=int, choices=(1, 10))
    ap.add_argument("--models", required=True, help="comma list, or 'all'")
    add_data_dir_argument(ap)
    ap.add_argument("--users", type=int, default=1500, help="validation users (random subset)")
    # The tuned settings live with the library: the service starts from them too.
    ap.add_argument("--settings", type=Path, default=TUNED_PATH)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--passes", type=int, default=2, help="coordinate-ascent passes")
    ap.add_argument(
        "--features",
        default="text",
        choices=FEATURE_SETS,
        help="content features: text (as the published rows), text+citations, text+embed,"
        " text+embed+citations (embed: the [embed] extra, citeulike-a only)",
    )
    ap.add_argument(
        "--resume",
        action="store_true",
        help="start the search from the settings already saved for the model (else its defaults)",
    )
    ap.add_argument(
        "--only",
        help="comma list: search only these hyperparameters (the others stay where they start)",
    )
    ap.add_argument(
        "--copy-from",
        metavar="FEATURES",
        choices=FEATURE_SETS,
        help="no search: carry the settings chosen for the model with these features over to"
        " --features, recorded as carried (for a feature set this setting's validation cannot"
        " provide: embeddings at P=1, whose validation is simulated on citeulike-t)",
    )
    ap.add_argument(
        "--serving",
        action="store_true",
        help="tune the variant the service serves by default, at the per-request cost of the"
        " model's defaults (hybrid: profile and ALS parts off, 100 neighbours per paper); saved"
        " as the entry's 'serving' choice",
    )
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    models = list(MODELS) if args.models == "all" else args.models.split(",")
    if args.copy_from:
        carry_settings(
            args.dataset, args.split, models, args.copy_from, args.features, args.settings
        )
        return 0

    folder = data_dir(ap, args.data_dir)
    val, data, desc = validation_setup(args.dataset, args.split, folder, args.features)
    users = select_users(val, args.users, seed=args.seed)
    print(f"validation: {desc}; {users.size} users; features {args.features}")
    for model in models:
        try:
            grid = {**feature_grid(model, args.features), **grid_for(model)}
            if args.only:
                grid = {k: v for k, v in grid.items() if k in args.only.split(",")}
        except (ImportError, AttributeError) as exc:
            print(f"{model}: not importable yet ({exc}); skipped")
            continue
        t0 = time.perf_counter()

        def score(params: dict[str, Any], model: str = model) -> float:
            params, weights = split_feature_weights(params)
            feats = data.weighted(weights)
            r = evaluate_model(model, val, feats, users, params=params, n_boot=0)
            return mean_recall(r.metrics)

        key = settings_key(model, args.features)
        start: dict[str, Any] = {}
        if args.resume:
            params, weights = tuned_choice(args.dataset, args.split, key, args.settings)
            start = {**params, **weights}
        if args.serving:
            grid, start = serving_search_space(model, grid, start)
        best, best_score, n_eval = coordinate_search(model, grid, score, args.passes, start)
        print(
            f"{model}: chose {best or 'defaults'} ({METRIC} {best_score:.4f} on validation,"
            f" {n_eval} settings, {time.perf_counter() - t0:.0f}s)"
        )
        params, weights = split_feature_weights(drop_switched_off(model, best))
        entry: dict[str, Any] = {"params": params}
        if weights:
            entry["feature_weights"] = weights
        entry["validation"] = {
            "metric": METRIC,
            "value": round(best_score, 6),
            "users": int(users.size),
            "strategy": desc,
            "features": args.features,
            "settings_tried": n_eval,
        }
        if args.serving:
            entry["validation"]["fixed"] = SERVING_FIXED.get(model, {})
        save_entry(args.settings, args.dataset, args.split, key, entry, serving=args.serving)
    return 0


if __name__ == "__main__":
    raise SystemExit(run_main(main))
