"""Training: fit time and peak memory of every model on citeulike-a and citeulike-t, and a
measured projection to a million users x a million papers x 50 million likes.

Every fit runs in its own process (``python -m bench.training FIT ...``) so that its peak RSS
(``resource.getrusage``) is its own; the figure includes the loaded data, which is also reported
alone. Models take their default hyperparameters.

The projection fits the served model (hybrid) and ALS on a growing synthetic series (users =
papers = N, 50 likes per user from topic blocks with popular papers, 64-d dense content vectors)
and extrapolates time and memory with a power law ``t = a N^b`` fitted on log-log. Two more
series give the hybrid sparse TF-IDF-like content (40 words per paper from a 50,000-word
vocabulary, half from the paper's topic, half common words), as the service's text features
are: with the exact content neighbours and with the pruned search that ``content_knn="auto"``
takes from 100,000 papers on.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

import numpy as np

from bench.common import PYTHON, ROOT, bench_env, log, peak_rss_mib, reset_peak_rss

TIMEOUT_S = 600


def fit_real(dataset: str, model: str) -> dict[str, Any]:
    from recommender.evaluation.datasets import load_experiment_data
    from recommender.models import create_model

    data = load_experiment_data(dataset)
    reset_peak_rss()  # the fit's own peak, above the loaded data
    base = peak_rss_mib()
    t0 = time.perf_counter()
    create_model(model).fit(data.likes, data.features)
    return {
        "fit_seconds": round(time.perf_counter() - t0, 2),
        "peak_rss_mib": peak_rss_mib(),
        "data_rss_mib": base,
        "fit_extra_mib": round(peak_rss_mib() - base, 1),
    }


#: Projection series: ``name -> (model, hyperparameters, content)``.
SERIES: dict[str, tuple[str, dict[str, Any], str]] = {
    "hybrid": ("hybrid", {}, "dense"),
    "als": ("als", {}, "dense"),
    "hybrid, sparse text, exact neighbours": ("hybrid", {"content_knn": "exact"}, "sparse"),
    "hybrid, sparse text, pruned neighbours": ("hybrid", {"content_knn": "pruned"}, "sparse"),
}


def sparse_text(n: int, item_block: np.ndarray, seed: int = 0) -> Any:
    """TF-IDF-like L2-normalised rows: 40 words per paper, 20 Zipf-drawn from its topic's 300
    words and 20 from the whole 50,000-word vocabulary (common words)."""
    import scipy.sparse as sp

    from recommender.matrices import l2_normalize

    rng = np.random.default_rng(seed)
    vocab, per = 50_000, 40
    topic_words = (item_block[:, None] * 97) % (vocab - 300)
    topic_words = topic_words + np.minimum(rng.zipf(1.3, (n, per // 2)), 300) - 1
    common = np.minimum(rng.zipf(1.2, (n, per // 2)), vocab) - 1
    cols = np.concatenate([topic_words, common], axis=1).ravel()
    rows = np.repeat(np.arange(n), per)
    X = sp.csr_matrix((np.ones(rows.size, np.float32), (rows, cols)), shape=(n, vocab))
    X.sum_duplicates()
    df = np.bincount(X.indices, minlength=vocab)
    X.data *= np.log((1 + n) / (1 + df[X.indices])).astype(np.float32) + 1
    return l2_normalize(X)


def synthetic(n: int, per_user: int = 50, seed: int = 0, content: str = "dense") -> tuple[Any, Any]:
    """``(likes, features)``: ``n`` users x ``n`` papers, ``per_user`` likes each."""
    import scipy.sparse as sp

    rng = np.random.default_rng(seed)
    blocks = max(1, n // 500)
    size = n // blocks
    user_block = rng.integers(blocks, size=n)
    # Within a block, a Zipf-like popularity: a few papers are liked by many.
    popularity = 1.0 / np.arange(1, size + 1) ** 0.8
    popularity /= popularity.sum()
    cols = np.empty((n, per_user), dtype=np.int64)
    for u in range(n):
        cols[u] = rng.choice(size, per_user, replace=False, p=popularity)
    cols = np.minimum(user_block[:, None] * size + cols, n - 1)
    rows = np.repeat(np.arange(n), per_user)
    likes = sp.csr_matrix((np.ones(rows.size, np.float32), (rows, cols.ravel())), shape=(n, n))
    likes.sum_duplicates()
    likes.data[:] = 1
    centres = rng.normal(size=(blocks, 64)).astype(np.float32)
    item_block = np.minimum(np.arange(n) // size, blocks - 1)  # papers of a block are adjacent
    if content == "sparse":
        return likes, sparse_text(n, item_block, seed)
    X = centres[item_block] + rng.normal(size=(n, 64)).astype(np.float32)
    return likes, X


def fit_synthetic(n: int, series: str) -> dict[str, Any]:
    from recommender.models import create_model

    model, params, content = SERIES[series]
    likes, X = synthetic(n, content=content)
    reset_peak_rss()
    base = peak_rss_mib()
    t0 = time.perf_counter()
    create_model(model, **params).fit(likes, X)
    return {
        "n": n,
        "likes": int(likes.nnz),
        "fit_seconds": round(time.perf_counter() - t0, 2),
        "peak_rss_mib": peak_rss_mib(),
        "data_rss_mib": base,
        "fit_extra_mib": round(peak_rss_mib() - base, 1),
    }


def _child(args: list[str]) -> dict[str, Any]:
    t0 = time.perf_counter()
    try:
        out = subprocess.run(
            [PYTHON, "-m", "bench.training", *args],
            env=bench_env(),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"over {TIMEOUT_S}s"}
    if out.returncode:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "failed"}
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["process_seconds"] = round(time.perf_counter() - t0, 1)
    return result


def power_law(ns: list[int], ys: list[float], target: float) -> dict[str, float]:
    b, a = np.polyfit(np.log(ns), np.log(np.maximum(ys, 1e-3)), 1)
    return {"exponent": round(float(b), 2), "projected": round(float(np.exp(a) * target**b), 1)}


def run(*, quick: bool = False, models: list[str] | None = None) -> dict[str, Any]:
    from recommender.datasets.citeulike import DATASETS
    from recommender.models import MODELS

    names = models or list(MODELS)
    figures: dict[str, Any] = {"real": {}, "projection": {}}
    for dataset in DATASETS:
        for name in names:
            if quick and name.startswith("lightfm"):
                continue
            log(f"training: {name} on {dataset}")
            figures["real"].setdefault(dataset, {})[name] = _child(["FIT", dataset, name])
            log(f"training:   {figures['real'][dataset][name]}")
    sizes = [5_000, 10_000, 20_000] if quick else [10_000, 20_000, 40_000, 80_000]
    for name in SERIES:
        series = []
        for n in sizes:
            log(f"training: synthetic {name}, {n:,} users x {n:,} papers")
            r = _child(["SYNTH", str(n), name])
            log(f"training:   {r}")
            if "error" in r:
                break
            series.append(r)
        entry: dict[str, Any] = {"series": series}
        if len(series) >= 2:
            ns = [r["n"] for r in series]
            entry["fit_seconds_1M"] = power_law(ns, [r["fit_seconds"] for r in series], 1e6)
            entry["peak_rss_mib_1M"] = power_law(ns, [r["peak_rss_mib"] for r in series], 1e6)
        figures["projection"][name] = entry
    return figures


if __name__ == "__main__":
    kind, *rest = sys.argv[1:]
    if kind == "FIT":
        print(json.dumps(fit_real(rest[0], rest[1])))
    elif kind == "SYNTH":
        print(json.dumps(fit_synthetic(int(rest[0]), rest[1])))
    else:
        raise SystemExit("usage: python -m bench.training FIT DATASET MODEL | SYNTH N SERIES")
