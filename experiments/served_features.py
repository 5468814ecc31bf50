"""The served choice for every feature set the service trains, on validation only.

    python -m experiments.served_features [--users 1000] [--weights 0.25,0.5,1,2] [--only SET]

``experiments.tune_served`` chooses the served hybrid for the service's default features, text
and citation links (``recommender/tuned.json``, ``"served"``). A catalog gets other features when
its papers carry no citation links (a library imported from BibTeX, Zotero or arXiv ids: text
alone) or when the operator turns sentence embeddings on (``PAPERREC_FEATURES=text+embed...``,
the ``[embed]`` extra). A set without a served entry falls back to the older choice made on one
split for one kind of user (:func:`recommender.tuned.serving_defaults`).

For each feature set, the default too, this scores with tune_served's objective (per split the
mean of recall@50 ... @300):
* the older per-setting choice, the fallback;
* the default set's served choice carried over (the same hyperparameters; for embeddings at
  each of ``--weights``);
* the set's own served choice where tuned.json has one
  (``python -m experiments.tune_served --features SET``).

The splits are tune_served's (:func:`experiments.tune_served.dataset_splits`), carved from the
published P=10 *training* files: 3 of 10 held out; 2 of 10 kept, 8 held out (a researcher who
arrives with a handful of papers); 20% of papers cold. Embeddings use citeulike-a alone: citeulike-t is published as word counts, with no text to embed. Its vectors are cached in
out/embeddings-cache; the first run encodes 16,980 texts, minutes on 2 cores. No test file is
read. The tables are printed and written to OUT (results.json, results.md).
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path
from typing import Any

from experiments.common import (
    EMBED_CACHE,
    add_data_dir_argument,
    data_dir,
    write_json,
    write_text,
)
from experiments.tune_served import FIXED, JointScore, dataset_splits
from recommender.datasets.citeulike import DATASETS
from recommender.evaluation.datasets import load_experiment_data
from recommender.training import DEFAULT_FEATURES, DEFAULT_MODEL
from recommender.tuned import (
    SERVED,
    TUNED_PATH,
    load_settings,
    serving_defaults,
    setting_defaults,
    settings_key,
)

log = logging.getLogger("experiments.served_features")

#: The feature sets the service trains, and the datasets that have them.
SETS: dict[str, tuple[str, ...]] = {
    DEFAULT_FEATURES.name: DATASETS,
    "text": DATASETS,
    "text+embed": ("citeulike-a",),
    "text+embed+citations": ("citeulike-a",),
}


def table(rows: list[dict[str, Any]]) -> str:
    splits = list(rows[0]["per_split"])
    lines = [
        "| features | choice | " + " | ".join(splits) + " | objective |",
        "|" + "---|" * (len(splits) + 3),
    ]
    for r in rows:
        cells = " | ".join(f"{r['per_split'][s]:.4f}" for s in splits)
        lines.append(f"| {r['features']} | {r['choice']} | {cells} | {r['objective']:.4f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m experiments.served_features", description=__doc__.split("\n")[0]
    )
    add_data_dir_argument(ap)
    ap.add_argument("--users", type=int, default=1000, help="validation users per split")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--weights", default="0.25,0.5,1,2", help="embedding weights to try")
    ap.add_argument("--settings", type=Path, default=TUNED_PATH)
    ap.add_argument(
        "--only", choices=list(SETS), action="append", help="only this feature set (repeat)"
    )
    ap.add_argument(
        "--datasets",
        default=",".join(DATASETS),
        help="comma-separated datasets to validate on (of those that have the features)",
    )
    ap.add_argument("--out", type=Path, default=Path("out/served_features"))
    args = ap.parse_args(argv)
    try:
        tried = [float(w) for w in args.weights.split(",")]
    except ValueError:
        ap.error(f"--weights: comma-separated numbers, got {args.weights!r}")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    folder = data_dir(ap, args.data_dir)
    served, served_weights = serving_defaults(DEFAULT_MODEL, DEFAULT_FEATURES.name, args.settings)
    t0 = time.perf_counter()
    rows: list[dict[str, Any]] = []
    wanted = [d for d in args.datasets.split(",") if d]
    if unknown := [d for d in wanted if d not in DATASETS]:
        ap.error(f"--datasets: unknown {', '.join(unknown)} (known: {', '.join(DATASETS)})")
    for features in args.only or list(SETS):
        datasets = [d for d in SETS[features] if d in wanted]
        if not datasets:
            print(f"{features}: none of --datasets has these features; skipped")
            continue
        sets = []
        for dataset in datasets:
            data = load_experiment_data(
                dataset, folder, features, text_from_catalog=True, embed_cache=EMBED_CACHE
            )
            sets += [(name, split, data) for name, split in dataset_splits(folder, dataset)]
        weights = {
            k: v
            for k, v in served_weights.items()
            if k == "citation_weight" and "citations" in features
        }
        old_params, old_weights = setting_defaults(DEFAULT_MODEL, features, args.settings)
        candidates: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
            ("older per-setting choice", {**old_params, **old_weights}, {})
        ]
        if "embed" in features:
            candidates += [
                (
                    f"served, embedding weight {w:g}",
                    {**served, **weights, "embedding_weight": w},
                    FIXED,
                )
                for w in tried
            ]
        elif features != DEFAULT_FEATURES.name:
            candidates.append(("served, carried over", {**served, **weights}, FIXED))
        key = settings_key(DEFAULT_MODEL, features)
        if isinstance(load_settings(args.settings).get(SERVED, {}).get(key), dict):
            own, own_weights = serving_defaults(DEFAULT_MODEL, features, args.settings)
            candidates.append((f"served ({key} in tuned.json)", {**own, **own_weights}, FIXED))
        for name, setting, fixed in candidates:
            # One objective per candidate: a JointScore keeps fitted models by the fit's own
            # settings, and the embedding weight is not among them.
            score = JointScore(sets, args.users, args.seed, fixed)
            objective = score(setting)
            per_split = dict(score.last)
            row = {
                "features": features,
                "choice": name,
                "setting": setting,
                "per_split": per_split,
                "objective": objective,
            }
            rows.append(row)
            print(table([row]), flush=True)
    text = "\n".join(
        table(group) for f in SETS if (group := [r for r in rows if r["features"] == f])
    )
    print(text)
    print(f"{time.perf_counter() - t0:.0f}s")
    write_json(args.out / "results.json", {"rows": rows})
    write_text(args.out / "results.md", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
