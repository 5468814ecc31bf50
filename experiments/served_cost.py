"""What each part of the served hybrid buys on validation, and what it costs per request.

    python -m experiments.served_cost [--users 1000] [--out out/served_cost]

The served choice (``recommender/tuned.json``, ``"served"``) and variants of it with parts
switched off or fewer neighbours are scored with ``experiments.tune_served``'s objective on its
validation splits (carved from the two published P=10 *training* files; no test file is read):
per split the mean of recall@50 ... @300, and their mean. Beside each, the one-user path the
service runs (``recommend(k=10)`` and ``explain`` of the ten, as a request with explanations
asks) timed in this process on 300 users of the first split, best of three passes: the model's
share of a request's cost, on this machine. The table is printed and written to OUT
(results.json, results.md).
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from experiments.common import add_data_dir_argument, data_dir, write_json, write_text
from experiments.tune import split_feature_weights
from experiments.tune_served import FIXED, JointScore, validation_sets
from recommender.models.hybrid import Hybrid
from recommender.training import DEFAULT_FEATURES, DEFAULT_MODEL
from recommender.tuned import serving_defaults

log = logging.getLogger("experiments.served_cost")

#: Variants of the served choice: what changes from it.
VARIANTS: dict[str, dict[str, Any]] = {
    "served": {},
    "profile off": {"profile_weight": 0.0},
    "profile off, 32 factors": {"profile_weight": 0.0, "als_factors": 32},
    "ALS off": {"als_weight": 0.0},
    "profile and ALS off": {"profile_weight": 0.0, "als_weight": 0.0},
    "profile and ALS off, 100 neighbours": {
        "profile_weight": 0.0,
        "als_weight": 0.0,
        "content_neighbors": 100,
        "cf_neighbors": 100,
    },
}


def request_cost(model: Hybrid, train: Any, users: np.ndarray, passes: int = 3) -> float:
    """Microseconds per user of the service's one-user path: top 10, then their reasons."""
    likes = [train.indices[train.indptr[u] : train.indptr[u + 1]] for u in users]
    empty = np.empty(0, dtype=np.int64)
    best = float("inf")
    for _ in range(passes):
        t0 = time.perf_counter()
        for liked in likes:
            rows, _ = model.recommend(liked, empty, 10)
            model.explain(liked, rows, 3)
        best = min(best, time.perf_counter() - t0)
    return 1e6 * best / max(len(likes), 1)


def table(rows: list[dict[str, Any]], splits: list[str]) -> str:
    lines = [
        "| variant | " + " | ".join(splits) + " | mean | µs per request (model) |",
        "|---|" + "---|" * len(splits) + "---|---|",
    ]
    for r in rows:
        cells = " | ".join(f"{r['per_split'][s]:.4f}" for s in splits)
        lines.append(f"| {r['variant']} | {cells} | {r['mean']:.4f} | {r['us_per_request']:.0f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m experiments.served_cost", description=__doc__.split("\n")[0]
    )
    add_data_dir_argument(ap)
    ap.add_argument("--users", type=int, default=1000, help="validation users per split")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("out/served_cost"))
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    folder = data_dir(ap, args.data_dir)
    params, weights = serving_defaults(DEFAULT_MODEL, DEFAULT_FEATURES.name)
    sets = validation_sets(folder)
    score = JointScore(sets, args.users, args.seed)
    timed = np.random.default_rng(args.seed).choice(score.users[0], size=300, replace=False)
    rows = []
    for name, change in VARIANTS.items():
        setting = {**params, **weights, **change}
        mean = score(setting)
        p, w = split_feature_weights(setting)
        model = score._models(p, w)[0]
        row: dict[str, Any] = {
            "variant": name,
            "change": change,
            "per_split": dict(score.last),
            "mean": mean,
            "us_per_request": request_cost(model, sets[0][1].train, timed),
        }
        rows.append(row)
        print(table([row], list(score.last)), flush=True)
    splits = [name for name, _, _ in sets]
    text = table(rows, splits)
    write_json(
        args.out / "results.json", {"served": {**params, **weights}, "fixed": FIXED, "rows": rows}
    )
    write_text(args.out / "results.md", text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
