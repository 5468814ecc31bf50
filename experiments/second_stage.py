"""Does the hybrid's learned second stage earn its place? Measured on validation only.

    python -m experiments.second_stage [--users 1000] [--candidates 500] [--out out/second_stage]

On each validation split of ``experiments.tune_served`` (carved from the two published P=10
*training* files: 3 of 10 likes held out, and 20% of the papers cold; no test file is read), the
served first stage (the served choice, ``recommender/tuned.json``) and the same choice with its
second stage on are fitted on the split's training part, and their recall@50 ... @300 are
compared on the same validation users, with bootstrap intervals and the paired difference. The
second stage fits its ranker on a further split of that training part (its own, see
:mod:`recommender.models.second_stage`), so the validation likes it is scored on are never its
labels. The table is printed and written to OUT (results.json, results.md).
"""

from __future__ import annotations

import argparse
import logging
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from experiments.common import add_data_dir_argument, data_dir, write_json, write_text
from experiments.tune_served import validation_sets
from recommender.datasets.citeulike import RECALL_CUTOFFS
from recommender.evaluation.experiment import evaluate_topk, recommend_users, select_users
from recommender.evaluation.stats import bootstrap_ci
from recommender.models.hybrid import Hybrid
from recommender.training import DEFAULT_FEATURES, DEFAULT_MODEL
from recommender.tuned import serving_defaults

log = logging.getLogger("experiments.second_stage")

CUTOFFS = (50, 100, 300)


def measure(
    name: str, split: Any, data: Any, params: dict[str, Any], weights: dict[str, float], args: Any
) -> dict[str, Any]:
    """Both stages on one validation split: per cutoff, each one's recall with its interval and
    the paired difference's interval."""
    features = data.weighted(weights)
    users = select_users(split, args.users, args.seed)
    out: dict[str, Any] = {"split": name, "users": int(users.size)}
    per_user: dict[str, dict[str, np.ndarray]] = {}
    for label, extra in (
        ("first stage", {}),
        ("second stage", {"second_stage": args.candidates, "second_stage_users": args.fit_users}),
    ):
        t0 = time.perf_counter()
        model = Hybrid(**{**params, **extra}).fit(split.train, features)
        fit_s = time.perf_counter() - t0
        top, rec_s = recommend_users(model, split.train, users, max(RECALL_CUTOFFS), batch_size=64)
        _, per_user[label] = evaluate_topk(top, split.test[users], split.train)
        out[label] = {
            "fit_seconds": round(fit_s, 1),
            "ms_per_user": round(1000 * rec_s / max(users.size, 1), 2),
            **{
                f"recall@{m}": asdict(bootstrap_ci(per_user[label][f"recall@{m}"])) for m in CUTOFFS
            },
        }
    out["difference"] = {
        f"recall@{m}": asdict(
            bootstrap_ci(
                per_user["second stage"][f"recall@{m}"] - per_user["first stage"][f"recall@{m}"]
            )
        )
        for m in CUTOFFS
    }
    return out


def table(results: list[dict[str, Any]]) -> str:
    def ci(c: dict[str, Any]) -> str:
        return f"{c['mean']:.4f} [{c['low']:.4f}, {c['high']:.4f}]"

    lines = [
        "| validation split | users | stage | "
        + " | ".join(f"recall@{m}" for m in CUTOFFS)
        + " | fit s | ms/user |",
        "|---|---|---|" + "---|" * len(CUTOFFS) + "---|---|",
    ]
    for r in results:
        for label in ("first stage", "second stage"):
            row = r[label]
            cells = " | ".join(ci(row[f"recall@{m}"]) for m in CUTOFFS)
            lines.append(
                f"| {r['split']} | {r['users']} | {label} | {cells} | {row['fit_seconds']} "
                f"| {row['ms_per_user']} |"
            )
        diff = " | ".join(
            f"{r['difference'][f'recall@{m}']['mean']:+.4f} "
            f"[{r['difference'][f'recall@{m}']['low']:+.4f}, "
            f"{r['difference'][f'recall@{m}']['high']:+.4f}]"
            for m in CUTOFFS
        )
        lines.append(f"| {r['split']} | | second − first | {diff} | | |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m experiments.second_stage", description=__doc__.split("\n")[0]
    )
    add_data_dir_argument(ap)
    ap.add_argument("--users", type=int, default=1000, help="validation users per split")
    ap.add_argument("--candidates", type=int, default=500, help="papers the second stage orders")
    ap.add_argument("--fit-users", type=int, default=1500, help="users the ranker is fitted on")
    ap.add_argument("--only", default="", help="run only the splits whose name contains this")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("out/second_stage"))
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    folder = data_dir(ap, args.data_dir)
    params, weights = serving_defaults(DEFAULT_MODEL, DEFAULT_FEATURES.name)
    sets = [s for s in validation_sets(folder) if args.only in s[0]]
    results = []
    for name, split, data in tqdm(sets, desc="validation splits", unit="split"):
        results.append(measure(name, split, data, params, weights, args))
        print(table(results[-1:]), flush=True)
    text = table(results)
    write_json(args.out / "results.json", {"params": params, "results": results})
    write_text(args.out / "results.md", text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
