"""Scale: a synthetic catalog of a million papers, ranked exactly and through an ANN index.

Papers are 64-d L2-normalised vectors around 2,000 topic centres (the shape of LSA or sentence
embedding vectors: clustered, not uniform noise), and users are sparse likes of 20 papers from
one or two topics. The model is the content profile on dense features, through the model contract:
its own ``recommend`` for exact scoring, that of :class:`recommender.models.indexed.IndexedModel`
wrapping it for the index. Recall is that of the index's top-100 against the exact top-100 for the
same users, seen papers excluded.

For the hybrid, what needs an index at this size is its fit: every paper's top-k content
neighbours. That is measured at a smaller size (exact O(n²) against the index) and projected.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import scipy.sparse as sp

from bench.common import log, peak_rss_mib, percentiles
from recommender.ann import Method, VectorIndex, topk_neighbors
from recommender.models import create_model
from recommender.models.indexed import IndexedModel
from recommender.ranking import rows_to_csr
from recommender.similarity import topk_cosine

DIM = 64
TOPICS = 2000


def synthetic_catalog(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(vectors, topic of each paper)``: float32 ``n x 64``, built in chunks (bounded memory)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(TOPICS, DIM)).astype(np.float32)
    topic = rng.integers(TOPICS, size=n)
    V = np.empty((n, DIM), dtype=np.float32)
    for start in range(0, n, 100_000):
        stop = min(start + 100_000, n)
        x = centres[topic[start:stop]] + 0.7 * rng.normal(size=(stop - start, DIM)).astype(
            np.float32
        )
        V[start:stop] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return V, topic


def synthetic_likes(
    topic: np.ndarray, n_users: int, per_user: int = 20, seed: int = 1
) -> sp.csr_matrix:
    """Each user likes ``per_user`` papers of one or two topics."""
    rng = np.random.default_rng(seed)
    order = np.argsort(topic, kind="stable")
    starts = np.searchsorted(topic[order], np.arange(TOPICS + 1))
    rows = []
    for _ in range(n_users):
        ts = rng.integers(TOPICS, size=rng.integers(1, 3))
        pool = np.concatenate([order[starts[t] : starts[t + 1]] for t in ts])
        rows.append(rng.choice(pool, size=min(per_user, pool.size), replace=False))
    return rows_to_csr(rows, topic.size)


def _latencies(fn: Any, users: list[np.ndarray], k: int) -> tuple[list[float], list[np.ndarray]]:
    times, answers = [], []
    for likes in users:
        t0 = time.perf_counter()
        rows, _ = fn(likes, k=k)
        times.append(time.perf_counter() - t0)
        answers.append(rows)
    return times, answers


def run(*, quick: bool = False) -> dict[str, Any]:
    n = 100_000 if quick else 1_000_000
    n_queries = 50 if quick else 200
    k = 100
    figures: dict[str, Any] = {"papers": n, "dims": DIM, "topics": TOPICS, "k": k}
    log(f"scale: generating {n:,} papers x {DIM} dims and sparse likes")
    t0 = time.perf_counter()
    V, topic = synthetic_catalog(n)
    likes = synthetic_likes(topic, n_users=20_000 if quick else 100_000)
    figures["generate_seconds"] = round(time.perf_counter() - t0, 1)
    figures["likes"] = {"users": likes.shape[0], "nnz": int(likes.nnz)}

    model = create_model("content").fit(likes, V)
    del V  # the model keeps its own normalised copy
    users = [likes.indices[likes.indptr[u] : likes.indptr[u + 1]] for u in range(n_queries)]

    log("scale: exact scoring")
    exact_t, exact_rows = _latencies(model.recommend, users, k)
    figures["exact"] = percentiles(exact_t)

    figures["indexes"] = {}
    configs: list[tuple[Method, dict[str, Any]]] = [
        ("hnsw", {"hnsw_m": 32, "ef_construction": 64, "ef_search": 256}),
        ("ivf", {"nprobe": 256}),
    ]
    for method, params in configs:
        log(f"scale: building {method} ({params}) over {n:,} papers, 2 threads")
        t0 = time.perf_counter()
        indexed = IndexedModel(model, VectorIndex(method, threads=2, **params))
        build = time.perf_counter() - t0
        ann_t, ann_rows = _latencies(indexed.recommend, users, k)
        rec = [
            len(np.intersect1d(a, e)) / max(len(e), 1)
            for a, e in zip(ann_rows, exact_rows, strict=True)
        ]
        figures["indexes"][method] = {
            "params": params,
            "build_seconds": round(build, 1),
            "latency": percentiles(ann_t),
            "recall_at_100_vs_exact": {
                "mean": round(float(np.mean(rec)), 4),
                "min": round(float(np.min(rec)), 4),
            },
        }
        log(f"scale: {method}: {figures['indexes'][method]}")
        del indexed
    figures["peak_rss_mib"] = peak_rss_mib()
    figures["hybrid_neighbours"] = hybrid_neighbours(quick=quick)
    figures["peak_rss_mib_end"] = peak_rss_mib()
    return figures


def hybrid_neighbours(*, quick: bool) -> dict[str, Any]:
    """Time of the hybrid's content top-100 neighbours, exact vs through HNSW, and the
    index's recall of the exact neighbour lists; both projected to a million papers."""
    out: dict[str, Any] = {"k": 100, "sizes": []}
    for n in (5_000, 10_000) if quick else (10_000, 20_000, 40_000):
        V, _ = synthetic_catalog(n, seed=2)
        t0 = time.perf_counter()
        exact = topk_cosine(V, 100)
        t_exact = time.perf_counter() - t0
        t0 = time.perf_counter()
        approx = topk_neighbors(V, 100, VectorIndex("hnsw", ef_search=128, threads=2))
        t_ann = time.perf_counter() - t0
        hit = exact.multiply(approx.astype(bool)).getnnz() / max(exact.nnz, 1)
        out["sizes"].append(
            {
                "papers": n,
                "exact_seconds": round(t_exact, 1),
                "hnsw_seconds": round(t_ann, 1),
                "recall_of_exact_neighbours": round(hit, 4),
            }
        )
        log(f"scale: hybrid neighbours {out['sizes'][-1]}")
    ns = np.array([s["papers"] for s in out["sizes"]], dtype=float)
    for key in ("exact_seconds", "hnsw_seconds"):
        ts = np.array([max(s[key], 1e-3) for s in out["sizes"]])
        b, a = np.polyfit(np.log(ns), np.log(ts), 1)
        out[f"{key}_projected_1M"] = {
            "exponent": round(float(b), 2),
            "seconds": round(float(np.exp(a) * 1e6**b), 0),
        }
    return out
