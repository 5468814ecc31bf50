"""Replay the live loop offline: simulated researchers through rounds of slates and likes.

    python -m experiments.replay --dataset citeulike-a            # 20 rounds, starts 0, 1, 5
    python -m experiments.replay --dataset citeulike-t --users 100 --rounds 5 --out DIR  # quick

Users with at least ``max(starts) + 1`` papers are drawn at random (``--users``, 400 by
default, about 10 minutes on two quiet cores; the whole of either dataset takes hours; ``--users 0``
takes everyone).
Each starts from ``s`` of their papers (drawn at random) with the rest held out as what they
would like. The model is what ``paperrec serve`` trains (the training plan of the service's
defaults, recommender/tuned.json), fitted once on every other user; the simulated users are
folded in at request time, as the service serves a new user, and their likes of each round are
folded in the same way (no refit; ``--retrain-every R`` refits with them every R rounds).

The users are split in two by a hash of their row: the policies' settings (MMR's lambda,
epsilon, Thompson sampling's prior scale) are chosen on the first half (the most cumulative hits
at the last round, averaged over the starts), and every figure reported is measured on the other
half, with bootstrap intervals over its users. Known limit: a held-out library is a lower bound
on what a person would like (a paper they never saved counts as a miss), which penalises a policy
that shows papers the ranker is unsure of more than it penalises greedy ranking.
"""

from __future__ import annotations

import hashlib
import logging
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.cluster import MiniBatchKMeans

from experiments.common import (
    ArgumentParser,
    add_data_dir_argument,
    data_dir,
    run_main,
    write_json,
    write_text,
)
from experiments.replay_report import markdown, plot
from recommender.datasets.citeulike import DATASETS
from recommender.evaluation.datasets import load_experiment_data
from recommender.evaluation.loop import LoopResult, SimUser, simulate
from recommender.evaluation.stats import bootstrap_ci, paired_test
from recommender.exploration import PaperSpace, Policy
from recommender.models import create_model
from recommender.models.base import Recommender
from recommender.training import DEFAULT_FEATURES, DEFAULT_MODEL, training_plan
from recommender.tuned import TUNED_PATH

log = logging.getLogger(__name__)

#: The settings tried on the tuning half, per kind of policy.
GRID: dict[str, list[Policy]] = {
    "greedy": [Policy.greedy()],
    "mmr": [Policy.mmr(lam) for lam in (0.9, 0.7)],
    "epsilon": [Policy.epsilon_greedy(0.1)],
    "thompson": [Policy.thompson(s) for s in (0.1, 0.25, 0.5)],
}
METRICS = ("cumulative hits", "hits", "found", "clusters")


def tuning_half(row: int, dataset: str) -> bool:
    """Whether user ``row`` is in the half the settings are chosen on (a hash, not the draw)."""
    return hashlib.blake2b(f"{dataset}:{row}".encode(), digest_size=2).digest()[0] % 2 == 0


def draw_users(likes: sp.csr_matrix, n: int, min_likes: int, seed: int) -> np.ndarray:
    """``n`` random users (all when ``n`` is 0) of at least ``min_likes`` likes, sorted."""
    eligible = np.flatnonzero(np.diff(likes.indptr) >= min_likes)
    if n and n < eligible.size:
        eligible = np.sort(np.random.default_rng(seed).choice(eligible, n, replace=False))
    return eligible


def sim_users(likes: sp.csr_matrix, rows: np.ndarray, start: int, seed: int) -> list[SimUser]:
    """Each user of ``rows`` with ``start`` of their papers to start from, the rest held out."""
    out = []
    for r in rows.tolist():
        lib = likes.indices[likes.indptr[r] : likes.indptr[r + 1]].astype(np.int64)
        perm = np.random.default_rng([seed, r, start]).permutation(lib)
        out.append(SimUser(int(r), np.sort(perm[:start]), np.sort(perm[start:])))
    return out


def without_users(likes: sp.csr_matrix, rows: np.ndarray) -> sp.csr_matrix:
    """``likes`` with the rows of ``rows`` emptied (the simulated users are not fitted on)."""
    keep = np.ones(likes.shape[0], dtype=np.float32)
    keep[rows] = 0
    out = sp.csr_matrix(sp.diags(keep) @ likes)
    out.eliminate_zeros()
    return out


def summarise(res: LoopResult, n_boot: int, seed: int) -> dict[str, Any]:
    """Per metric, per round: ``[mean, low, high]`` over users; coverage per round."""
    per = {
        "cumulative hits": res.cumulative_hits,
        "hits": res.hits,
        "found": res.found,
        "clusters": res.clusters,
    }
    out: dict[str, Any] = {}
    for name, m in per.items():
        rows = []
        for r in range(m.shape[1]):
            c = bootstrap_ci(m[:, r].astype(np.float64), n_boot=n_boot, seed=seed)
            rows.append([round(c.mean, 4), round(c.low, 4), round(c.high, 4)])
        out[name] = rows
    out["coverage"] = [round(float(c), 5) for c in res.coverage]
    return out


def versus_greedy(res: LoopResult, greedy: LoopResult, n_boot: int, seed: int) -> list[list[float]]:
    """Per round: the mean per-user difference of cumulative hits to greedy, its interval and
    the paired bootstrap p-value."""
    a, b = res.cumulative_hits, greedy.cumulative_hits
    out = []
    for r in range(a.shape[1]):
        t = paired_test(a[:, r].astype(float), b[:, r].astype(float), n_boot=n_boot, seed=seed)
        out.append([round(t.diff, 4), round(t.low, 4), round(t.high, 4), round(t.p_bootstrap, 4)])
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ap = ArgumentParser(prog="python -m experiments.replay", description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", choices=DATASETS, default="citeulike-a")
    ap.add_argument("--out", type=Path, help="output folder (default out/replay/DATASET)")
    add_data_dir_argument(ap)
    ap.add_argument("--users", type=int, default=400, help="users drawn (0: all; default 400)")
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--k", type=int, default=10, help="slate size")
    ap.add_argument("--starts", default="0,1,5", help="starting likes, comma list")
    ap.add_argument("--dislike-prob", type=float, default=0.0, help="a miss is disliked with this")
    ap.add_argument("--retrain-every", type=int, default=0, help="refit every R rounds (0: never)")
    ap.add_argument("--clusters", type=int, default=50, help="k-means clusters of the content")
    ap.add_argument("--dims", type=int, default=32, help="dimensions of the paper space")
    ap.add_argument("--settings", type=Path, default=TUNED_PATH)
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    try:
        starts = sorted({int(s) for s in args.starts.split(",")})
    except ValueError:
        ap.error(f"--starts must be a comma list of numbers, got {args.starts!r}")
    if min(starts) < 0 or args.rounds < 1 or args.k < 1 or args.users < 0:
        ap.error("--starts must be >= 0, --rounds and --k >= 1, --users >= 0")
    if not 0.0 <= args.dislike_prob <= 1.0:
        ap.error(f"--dislike-prob must be in [0, 1], got {args.dislike_prob}")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    out: Path = args.out or Path("out") / "replay" / args.dataset
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()

    plan = training_plan(
        DEFAULT_MODEL, DEFAULT_FEATURES, catalog_has_references=True, tuned_path=args.settings
    )
    data = load_experiment_data(
        args.dataset,
        data_dir(ap, args.data_dir),
        plan.catalog_features.name,
        text_from_catalog=True,
    )
    X = data.weighted(plan.feature_weights)
    users = draw_users(data.likes, args.users, max(starts) + 1, args.seed)
    tune = np.array([tuning_half(int(r), args.dataset) for r in users], dtype=bool)
    if tune.all() or not tune.any():
        raise SystemExit(f"{users.size} users cannot be split in a tuning and a reported half")
    train = without_users(data.likes, users)

    def fit(extra: sp.csr_matrix | None = None) -> Recommender:
        m = create_model(plan.model, **plan.params)
        return m.fit(train if extra is None else train + extra, X)

    t0 = time.perf_counter()
    model = fit()
    fit_s = time.perf_counter() - t0
    space = PaperSpace.fit(model.item_vectors(), args.dims, seed=args.seed)
    clusters = MiniBatchKMeans(args.clusters, random_state=args.seed, n_init=3).fit_predict(
        space.coords
    )
    print(
        f"{args.dataset}: {users.size} users ({int(tune.sum())} to choose settings on,"
        f" {int((~tune).sum())} reported), {data.n_items} papers; served {plan.model}"
        f" {plan.params} on {plan.catalog_features.name}; fit {fit_s:.1f}s",
        flush=True,
    )

    def run(policy: Policy, half: np.ndarray, start: int) -> LoopResult:
        sims = sim_users(data.likes, users[half], start, args.seed)
        refit = None
        if args.retrain_every:
            rows = users[half]

            def refit(likes: Any, dislikes: Any) -> Recommender:
                extra = sp.csr_matrix(
                    (
                        np.ones(sum(x.size for x in likes), np.float32),
                        (np.repeat(rows, [x.size for x in likes]), np.concatenate(likes)),
                    ),
                    shape=data.likes.shape,
                )
                return fit(extra)

        return simulate(
            model,
            sims,
            policy,
            rounds=args.rounds,
            k=args.k,
            space=space,
            clusters=clusters,
            dislike_prob=args.dislike_prob,
            refit=refit,
            retrain_every=args.retrain_every,
            seed=args.seed,
            progress=not args.no_progress,
        )

    # -------------------------------------------------- settings, on the tuning half only
    tuning: dict[str, dict[str, float]] = {}
    chosen: dict[str, Policy] = {}
    for kind, policies in GRID.items():
        tuning[kind] = {}
        for p in policies:
            if len(policies) == 1:
                tuning[kind][p.label] = float("nan")
                continue
            finals = [run(p, tune, s).cumulative_hits[:, -1].mean() for s in starts]
            tuning[kind][p.label] = round(float(np.mean(finals)), 4)
            print(f"  tuning {p.label}: {tuning[kind][p.label]:.3f} hits", flush=True)
        chosen[kind] = max(policies, key=lambda p: np.nan_to_num(tuning[kind][p.label], nan=0))

    # -------------------------------------------------- figures, on the other half
    report = ~tune
    by_start: dict[str, Any] = {}
    for s in starts:
        results = {kind: run(p, report, s) for kind, p in chosen.items()}
        greedy = results["greedy"]
        by_start[str(s)] = {
            p.label: {
                **summarise(results[kind], args.n_boot, args.seed),
                "vs greedy": versus_greedy(results[kind], greedy, args.n_boot, args.seed),
            }
            for kind, p in chosen.items()
        }
    wall = time.perf_counter() - t_start
    command = "python -m experiments.replay " + " ".join(argv)
    result = {
        "command": command,
        "dataset": args.dataset,
        "date": time.strftime("%Y-%m-%d"),
        "wall_seconds": round(wall, 1),
        "users_drawn": int(users.size),
        "users_tuning": int(tune.sum()),
        "users_reported": int(report.sum()),
        "rounds": args.rounds,
        "k": args.k,
        "starts": starts,
        "dislike_prob": args.dislike_prob,
        "retrain_every": args.retrain_every,
        "served": {
            "model": plan.model,
            "params": plan.params,
            "features": plan.catalog_features.name,
        },
        "tuning": tuning,
        "chosen": {kind: p.label for kind, p in chosen.items()},
        "by_start": by_start,
    }
    write_json(out / "replay.json", result)
    text = markdown(result)
    write_text(out / "replay.md", text)
    plot(out, result)
    print(text)
    print(f"wrote {out / 'replay.json'}, replay.md, replay.png, replay_vs_greedy.png ({wall:.0f}s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_main(main))
