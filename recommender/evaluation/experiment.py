"""The experiment runner: fit each model on a split's training likes, rank every paper for each
evaluated user in batches (training papers excluded), and compute metrics, intervals and tests.

Ranking goes through :meth:`Recommender.recommend_batch` (the one top-k of
:mod:`recommender.ranking`, with its fixed pseudo-random tie-break), never a second top-k.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
from tqdm import tqdm

from recommender.datasets.citeulike import RECALL_CUTOFFS
from recommender.evaluation import metrics as mt
from recommender.evaluation.splits import Split
from recommender.evaluation.stats import bootstrap_ci, paired_test
from recommender.matrices import Features
from recommender.models import create_model
from recommender.models.base import Recommender

__all__ = [
    "ACTIVITY_BINS",
    "ModelResult",
    "activity_breakdown",
    "evaluate_model",
    "evaluate_topk",
    "recommend_users",
    "run_experiment",
    "select_users",
    "significance_vs_best",
]

log = logging.getLogger(__name__)

#: Cut-off of the top-of-list metrics.
K_SMALL = 10
#: Buckets of users by number of training likes: ``(low, high)`` inclusive.
ACTIVITY_BINS: tuple[tuple[int, int | None], ...] = (
    (0, 0),
    (1, 1),
    (2, 5),
    (6, 10),
    (11, 20),
    (21, 50),
    (51, None),
)
#: Metrics that get a bootstrap interval.
CI_METRICS = ("recall@50", "recall@100", "recall@300", "ndcg@10")


@dataclass
class ModelResult:
    """What one model scored on one split."""

    name: str
    params: dict[str, Any]
    users: np.ndarray  # evaluated user rows
    topk: np.ndarray  # (len(users), K) int32 recommended rows, -1 padding
    metrics: dict[str, float]
    per_user: dict[str, np.ndarray]  # metric -> value per evaluated user
    fit_seconds: float
    score_seconds: float
    extra: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """JSON-ready metrics, timings, intervals and breakdowns."""
        out: dict[str, Any] = dict(self.metrics)
        out["fit_seconds"] = round(self.fit_seconds, 3)
        out["score_seconds"] = round(self.score_seconds, 3)
        out["n_users"] = int(self.users.size)
        out["params"] = self.params
        out.update(self.extra)
        return out


def select_users(split: Split, n: int | None = None, seed: int = 0) -> np.ndarray:
    """Rows of the users to evaluate: those with a test paper, or a random ``n`` of them."""
    users = split.test_users()
    if n is not None and n < users.size:
        users = np.sort(np.random.default_rng(seed).choice(users, size=n, replace=False))
    return users


def recommend_users(
    model: Recommender,
    train: sp.csr_matrix,
    users: np.ndarray,
    k: int,
    *,
    batch_size: int = 256,
    progress: bool = False,
    desc: str = "",
) -> tuple[np.ndarray, float]:
    """Top-``k`` rows for ``users`` given their training likes (which are excluded), in batches.

    Returns ``(topk, seconds)``: an int32 ``(len(users), k)`` array padded with -1 and the time spent.
    """
    out = np.full((users.size, k), -1, dtype=np.int32)
    seconds = 0.0
    starts = range(0, users.size, batch_size)
    for start in tqdm(starts, desc=desc or model.name, unit="batch", disable=not progress):
        rows = users[start : start + batch_size]
        likes = train[rows]
        t0 = time.perf_counter()
        rec, _ = model.recommend_batch(likes, k, exclude=likes)
        seconds += time.perf_counter() - t0
        out[start : start + rows.size] = rec
    return out, seconds


def evaluate_topk(
    topk: np.ndarray,
    test: sp.csr_matrix,
    train: sp.csr_matrix,
    *,
    cutoffs: Sequence[int] = RECALL_CUTOFFS,
    k_small: int = K_SMALL,
) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Metrics of recommendations ``topk`` against ``test`` (rows aligned: the evaluated users).

    ``train`` is the full training matrix (all users): it gives the popularity novelty is measured
    against. Returns ``(means, per_user)``.
    """
    h = mt.hits(topk, test)
    n_test = mt.relevant_counts(test)
    per_user: dict[str, np.ndarray] = {}
    for m in cutoffs:
        per_user[f"recall@{m}"] = mt.recall_at(h, n_test, m)
    per_user[f"ndcg@{k_small}"] = mt.ndcg_at(h, n_test, k_small)
    per_user[f"precision@{k_small}"] = mt.precision_at(h, n_test, k_small)
    per_user[f"map@{k_small}"] = mt.average_precision_at(h, n_test, k_small)
    per_user["mrr"] = mt.reciprocal_rank(h, n_test)
    means = {name: mt.mean_over_users(v) for name, v in per_user.items()}
    means[f"coverage@{k_small}"] = mt.catalog_coverage(topk, int(test.shape[1]), k_small)
    means[f"novelty@{k_small}"] = mt.novelty(topk, train, k_small)
    return means, per_user


def activity_breakdown(
    values: np.ndarray,
    train_counts: np.ndarray,
    bins: Sequence[tuple[int, int | None]] = ACTIVITY_BINS,
) -> list[dict[str, Any]]:
    """Mean of a per-user metric for users grouped by number of training likes (empty groups
    left out)."""
    out = []
    for low, high in bins:
        sel = (train_counts >= low) & (train_counts <= (high if high is not None else np.inf))
        sel &= ~np.isnan(values)
        if not sel.any():
            continue
        label = f"{low}+" if high is None else (str(low) if low == high else f"{low}-{high}")
        out.append(
            {"train_likes": label, "n_users": int(sel.sum()), "mean": float(values[sel].mean())}
        )
    return out


def evaluate_model(
    name: str,
    split: Split,
    features: Features | None,
    users: np.ndarray,
    *,
    params: Mapping[str, Any] | None = None,
    k: int = max(RECALL_CUTOFFS),
    batch_size: int = 256,
    progress: bool = False,
    n_boot: int = 1000,
    seed: int = 0,
    label: str | None = None,
) -> ModelResult:
    """Fit model ``name`` with ``params`` on ``split.train`` and evaluate it on ``split.test`` for
    ``users``; the result is called ``label`` (default: ``name``)."""
    params = dict(params or {})
    model = create_model(name, **params)
    t0 = time.perf_counter()
    model.fit(split.train, features, show_progress=progress)
    fit_seconds = time.perf_counter() - t0
    topk, score_seconds = recommend_users(
        model, split.train, users, k, batch_size=batch_size, progress=progress, desc=name
    )
    means, per_user = evaluate_topk(topk, split.test[users], split.train)
    train_counts = np.diff(split.train.indptr)[users]
    extra: dict[str, Any] = {
        "ci95": {
            m: [round(c.low, 6), round(c.high, 6)]
            for m in CI_METRICS
            if m in per_user
            for c in [bootstrap_ci(per_user[m], n_boot=n_boot, seed=seed)]
        }
        if n_boot > 0
        else {},
        "by_train_likes": {"recall@100": activity_breakdown(per_user["recall@100"], train_counts)},
    }
    label = label or name
    log.info(
        "%s: recall@50 %.4f recall@300 %.4f (fit %.1fs, score %.1fs, %d users)",
        label,
        means["recall@50"],
        means["recall@300"],
        fit_seconds,
        score_seconds,
        users.size,
    )
    return ModelResult(
        label, params, users, topk, means, per_user, fit_seconds, score_seconds, extra
    )


def significance_vs_best(
    results: Sequence[ModelResult], metric: str = "recall@100", *, n_boot: int = 1000, seed: int = 0
) -> dict[str, dict[str, Any]]:
    """For each model, a paired test of its per-user ``metric`` against the best *other* model
    (by mean ``metric``) on the same users."""
    out: dict[str, dict[str, Any]] = {}
    for r in results:
        others = [o for o in results if o.name != r.name]
        if not others:
            continue
        best = max(others, key=lambda o: o.metrics[metric])
        if not np.array_equal(best.users, r.users):
            raise ValueError("paired tests need the same evaluated users for every model")
        t = paired_test(r.per_user[metric], best.per_user[metric], n_boot=n_boot, seed=seed)
        out[r.name] = {
            "metric": metric,
            "against": best.name,
            "diff": t.diff,
            "ci95": [t.low, t.high],
            "p_bootstrap": t.p_bootstrap,
            "p_wilcoxon": t.p_wilcoxon,
            "significant": t.significant(),
        }
    return out


def run_experiment(
    split: Split,
    features: Features | None,
    models: Mapping[str, Mapping[str, Any]],
    users: np.ndarray | None = None,
    **kwargs: Any,
) -> list[ModelResult]:
    """Evaluate every model of ``models`` (name -> hyperparameters) on ``split``, then add each
    one's paired test against the best other model under ``extra["vs_best_other"]``."""
    users = split.test_users() if users is None else users
    results = [
        evaluate_model(name, split, features, users, params=params, **kwargs)
        for name, params in models.items()
    ]
    for name, test in significance_vs_best(results).items():
        next(r for r in results if r.name == name).extra["vs_best_other"] = test
    return results
