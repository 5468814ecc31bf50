"""Against the per-request approach of arxiv-sanity, side by side in one run.

arxiv-sanity trains a linear SVM over the whole catalog for every request; our ``linear`` model
is exactly that. The hybrid folds a like in at request time (two sparse vector-matrix products).
Both are fitted on the citeulike-a P=10 training split; for the same sample of users we time a
new like to the updated top-300 (the like is one of the user's test papers; in steady state, and
interleaved with the other models so that each starts with cold caches), then measure both
models' recall@300 with :mod:`experiments.compare` on one random subset of users, sized so the
SVM's share of the run fits the time budget (every user when it can). The content profile
(also folded in at request time) is measured beside them for reference.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import PYTHON, ROOT, bench_env, log, percentiles


def run(*, quick: bool = False, budget_s: float | None = None) -> dict[str, Any]:
    from recommender.datasets import default_data_dir
    from recommender.evaluation.datasets import load_experiment_data
    from recommender.evaluation.experiment import select_users
    from recommender.evaluation.splits import published_split
    from recommender.models import create_model

    budget = budget_s if budget_s is not None else (60.0 if quick else 480.0)
    data = load_experiment_data("citeulike-a")
    split = published_split("citeulike-a", 10, default_data_dir())
    figures: dict[str, Any] = {"dataset": "citeulike-a", "split": "P=10 (published)", "k": 300}
    models = {}
    for name in ("hybrid", "linear", "content"):  # content: for reference, also instant
        t0 = time.perf_counter()
        models[name] = create_model(name).fit(split.train, data.features)
        figures[f"{name}_fit_seconds"] = round(time.perf_counter() - t0, 2)

    rng = np.random.default_rng(0)
    users = rng.choice(split.test_users(), size=10 if quick else 30, replace=False)
    requests = [
        np.append(split.train[u].indices, int(split.test[u].indices[0]))  # the new like
        for u in users
    ]
    # Steady state, as a serving process runs: each model answers the sample users one after
    # another (after one untimed call). Then interleaved, each model right after the others'
    # turn for the same user: the hybrid then starts with caches the SVM's fit has just emptied.
    steady: dict[str, list[float]] = {name: [] for name in models}
    for name, m in models.items():
        m.recommend(requests[0], k=300)
        for liked in requests:
            t0 = time.perf_counter()
            m.recommend(liked, k=300)
            steady[name].append(time.perf_counter() - t0)
    interleaved: dict[str, list[float]] = {name: [] for name in models}
    for liked in requests:
        for name, m in models.items():
            t0 = time.perf_counter()
            m.recommend(liked, k=300)
            interleaved[name].append(time.perf_counter() - t0)
    for key, times in (("", steady), ("_after_svm", interleaved)):
        figures[f"like_to_new_suggestions{key}"] = {n: percentiles(t) for n, t in times.items()}
        h, s = (np.median(times[n]) for n in ("hybrid", "linear"))
        figures[f"speedup_median{key}"] = round(float(s / h), 1)
    log(f"svm: like -> top-300: {figures['like_to_new_suggestions']}")

    n_all = int(select_users(split).size)
    per_user = float(np.mean(steady["linear"]))
    n_eval = min(n_all, max(50, int(budget / per_user)))
    figures["recall_users"] = {"evaluated": n_eval, "with_test_papers": n_all, "seed": 0}
    log(f"svm: recall@300 on {n_eval} of {n_all} users (about {n_eval * per_user:.0f}s of SVMs)")
    with tempfile.TemporaryDirectory() as out:
        cmd = [
            PYTHON,
            "-m",
            "experiments.compare",
            "--dataset",
            "citeulike-a",
            "--split",
            "10",
            "--models",
            "hybrid,linear,content",
            "--out",
            out,
            "--no-progress",
            "--n-boot",
            "200",
        ]
        if n_eval < n_all:
            cmd += ["--users", str(n_eval)]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, env=bench_env(), cwd=ROOT, capture_output=True, text=True)
        if proc.returncode:
            raise RuntimeError(f"experiments.compare failed: {proc.stderr[-2000:]}")
        figures["compare_seconds"] = round(time.perf_counter() - t0, 1)
        figures["compare_command"] = " ".join(["python", *cmd[1:]]).replace(out, "OUT")
        results = json.loads((Path(out) / "results.json").read_text())
    figures["recall"] = {
        name: {
            **{c: round(r[c], 4) for c in ("recall@50", "recall@100", "recall@300")},
            "recall@300_ci95": r.get("ci95", {}).get("recall@300"),
            "users": r.get("n_users"),
            "score_seconds": r.get("score_seconds"),
        }
        for name, r in results["models"].items()
    }
    return figures
