"""The plan to arXiv scale, measured: Redis memory on a cluster, scoring over 2.5 M papers, and the
training time of the collaborative parts, each projected to 10 M users and 2.5 M papers.

``python -m bench.arxiv_scale [--quick] [--out FILE]`` prints the figures as JSON (and writes
them to FILE); docs/SCALE.md is written from them.

* **Redis memory** (:func:`redis_memory`): a local cluster (3 masters, 3 replicas;
  :mod:`bench.redis_cluster`) filled through the service's own :class:`ClusterStore` calls:
  users with one like each, then more likes for the same users, a token each, synthetic
  arXiv-sized papers (title, abstract of about 1,000 characters, authors, arXiv id and DOI,
  with the catalog index), then every user's impressions at their bound (500 papers shown,
  through the service's own flush). ``used_memory`` summed over the masters before and after
  each step gives bytes per user, per like, per token, per paper, per stored event and per
  user's full impressions (and per entry of a sorted set of paper ids, what a feed reader's
  served set and a digest's seen set hold as well); the projection is
  linear in each (Redis sets, hashes and streams grow by a fixed amount per member at these
  sizes; the steps are measured at two sizes to check that).
* **Scoring** (:func:`scoring`): the content model over 2.5 M synthetic 64-d papers
  (:func:`bench.scale.synthetic_catalog`), exact and through the IVF index the service uses from
  ``PAPERREC_ANN_THRESHOLD`` papers on: latency of a top-100 for one user.
* **Training** (:func:`training`): ALS (implicit, CPU: no accelerator was at hand) timed on a
  growing synthetic series with 4 users per paper and 50 likes per user, a power law fitted on
  log-log of fit time against likes, projected to 10 M users x 50 likes (500 M likes).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import log, percentiles
from bench.redis_cluster import LocalCluster
from recommender.catalog import Paper
from service import keys
from service.cluster import ClusterStore, async_cluster_client, cluster_client
from service.impressions import Impressions
from service.security import hash_token
from service.store import TokenRecord

__all__ = ["main", "redis_memory", "scoring", "training"]

TARGET_USERS = 10_000_000
TARGET_PAPERS = 2_500_000
LIKES_PER_USER = 50
#: PAPERREC_IMPRESSIONS_KEPT's default: the papers a user's impressions remember at most.
IMPRESSIONS_KEPT = 500
WORDS = [f"w{i}" for i in range(20_000)]


def _paper(i: int, rng: random.Random) -> Paper:
    abstract = " ".join(rng.choices(WORDS, k=150))  # about 1,000 characters, as arXiv's
    return Paper(
        paper_id=f"arxiv:{2400 + i // 100_000}.{i % 100_000:05d}",
        title=" ".join(rng.choices(WORDS, k=10)),
        abstract=abstract,
        authors=tuple(f"Author {rng.randrange(10**6)}" for _ in range(4)),
        year=2024,
        categories=("cs.IR",),
        arxiv_id=f"{2400 + i // 100_000}.{i % 100_000:05d}",
        doi=f"10.48550/arxiv.{2400 + i // 100_000}.{i % 100_000:05d}",
    )


def redis_memory(
    *, quick: bool = False, impressions_kept: int = IMPRESSIONS_KEPT
) -> dict[str, Any]:
    """Bytes per user, like, token, event and paper on a real cluster (module docstring)."""
    sizes = (1_000, 2_000) if quick else (5_000, 10_000)
    n_papers = 2_000 if quick else 20_000
    out: dict[str, Any] = {"steps": []}
    rng = random.Random(0)
    paper_ids = [f"arxiv:{2400 + i // 100_000}.{i % 100_000:05d}" for i in range(n_papers)]
    with tempfile.TemporaryDirectory() as tmp:
        for users in sizes:
            with LocalCluster(Path(tmp) / f"c{users}", appendfsync="no") as cluster:
                client = cluster_client(cluster.seeds, timeout_s=10)
                store = ClusterStore(client, None, events_max=10**9)
                step: dict[str, Any] = {"users": users}
                m0 = cluster.used_memory()
                ids = [f"user-{i:08d}" for i in range(users)]
                store.import_likes({u: [rng.choice(paper_ids)] for u in ids}, source="bench")
                m1 = cluster.used_memory()
                more = {u: rng.sample(paper_ids, LIKES_PER_USER - 1) for u in ids}
                n_more = store.import_likes(more, source="bench")
                m2 = cluster.used_memory()
                events = store.memory()["events"]
                for name in store.layout.all_events():  # the stream alone: drop it
                    client.delete(name)
                m3 = cluster.used_memory()
                for u in ids:
                    record = TokenRecord(u, "user", time.time(), None)
                    store.put_token(hash_token(f"token-of-{u}"), record)
                m4 = cluster.used_memory()
                store.put_papers(_paper(i, rng) for i in range(n_papers))
                m5 = cluster.used_memory()
                # Impressions at their bound: every user shown PAPERREC_IMPRESSIONS_KEPT papers
                # (the service's own flush); then the counts and the previous list dropped: what
                # is left is the sorted set of papers shown, the kind a feed reader's served set
                # and a digest's seen set are too.
                asyncio.run(_fill_impressions(cluster.seeds, ids, paper_ids, rng, impressions_kept))
                m6 = cluster.used_memory()
                for i in range(0, len(ids), 1000):
                    pipe = client.pipeline(transaction=False)
                    for u in ids[i : i + 1000]:
                        pipe.delete(keys.impression_counts(u))
                        pipe.delete(keys.previous_list(u))
                    pipe.execute()
                m7 = cluster.used_memory()
                step.update(
                    bytes_per_user_with_one_like=round((m1 - m0) / users, 1),
                    likes_added=n_more,
                    bytes_per_like=round((m2 - m1 - (m2 - m3) * n_more / events) / n_more, 1),
                    events=events,
                    bytes_per_event=round((m2 - m3) / events, 1),
                    bytes_per_token=round((m4 - m3) / users, 1),
                    papers=n_papers,
                    bytes_per_paper=round((m5 - m4) / n_papers, 1),
                    impressions_kept=impressions_kept,
                    bytes_per_user_impressions_full=round((m6 - m5) / users, 1),
                    bytes_per_shown_entry=round((m7 - m5) / users / impressions_kept, 1),
                    catalog_master_bytes=_catalog_master_bytes(cluster),
                )
                log(f"arxiv_scale: redis memory {step}")
                out["steps"].append(step)
                client.close()
    last = out["steps"][-1]
    per_user = (
        last["bytes_per_user_with_one_like"]
        + (LIKES_PER_USER - 1) * last["bytes_per_like"]
        + last["bytes_per_token"]
    )
    users_bytes = TARGET_USERS * per_user
    impressions_bytes = TARGET_USERS * last.get("bytes_per_user_impressions_full", 0.0)
    events_bytes = 1_000_000 * last["bytes_per_event"]  # PAPERREC_EVENTS_MAX, the default
    catalog_bytes = TARGET_PAPERS * last["bytes_per_paper"]
    out["projection"] = {
        "users": TARGET_USERS,
        "likes_per_user": LIKES_PER_USER,
        "papers": TARGET_PAPERS,
        "users_gib": round(users_bytes / 2**30, 1),
        "events_gib": round(events_bytes / 2**30, 2),
        "catalog_gib": round(catalog_bytes / 2**30, 1),
        "total_gib": round((users_bytes + events_bytes + catalog_bytes) / 2**30, 1),
        # Every user's impressions at their bound (PAPERREC_IMPRESSIONS_KEPT papers shown), on
        # top of the total: the upper bound of what impressions add.
        "impressions_full_gib": round(impressions_bytes / 2**30, 1),
    }
    return out


async def _fill_impressions(
    seeds: str, users: list[str], paper_ids: list[str], rng: random.Random, kept: int
) -> None:
    """Show every user ``kept`` distinct papers, 50 a list, through the service's own
    :class:`service.impressions.Impressions` (kept: ``kept``) and its flush, 200 users a
    flush."""
    client = async_cluster_client(seeds, timeout_s=30)
    impressions = Impressions(client, kept=kept, max_shows=3, flush_s=3600)
    try:
        for i in range(0, len(users), 200):
            for u in users[i : i + 200]:
                shown = rng.sample(paper_ids, kept)
                for j in range(0, kept, 50):
                    await impressions.record(u, shown[j : j + 50])
            await impressions.flush()
    finally:
        await client.aclose()


def _catalog_master_bytes(cluster: LocalCluster) -> int:
    node = cluster.master_of(keys.CLUSTER.PAPERS)
    with node.client(socket_timeout=5) as c:
        return int(c.info("memory")["used_memory"])


def scoring(*, quick: bool = False) -> dict[str, Any]:
    """Top-100 latency of the content model over 2.5 M papers, exact and through IVF."""
    from bench.scale import synthetic_catalog, synthetic_likes
    from recommender.ann import VectorIndex
    from recommender.models import create_model
    from recommender.models.indexed import IndexedModel

    n = 250_000 if quick else TARGET_PAPERS
    V, topic = synthetic_catalog(n)
    likes = synthetic_likes(topic, n_users=2_000)
    model = create_model("content").fit(likes, V)
    del V
    users = [likes.indices[likes.indptr[u] : likes.indptr[u + 1]] for u in range(100)]
    out: dict[str, Any] = {"papers": n}

    def timed(fn: Any) -> tuple[dict[str, float], list[np.ndarray]]:
        times, rows = [], []
        for liked in users:
            t0 = time.perf_counter()
            r, _ = fn(liked, k=100)
            times.append(time.perf_counter() - t0)
            rows.append(r)
        return percentiles(times), rows

    out["exact"], exact_rows = timed(model.recommend)
    t0 = time.perf_counter()
    indexed = IndexedModel(model, VectorIndex("ivf", threads=2, nprobe=256))
    out["ivf_build_seconds"] = round(time.perf_counter() - t0, 1)
    out["ivf"], ivf_rows = timed(indexed.recommend)
    recall = [
        len(np.intersect1d(a, e)) / max(len(e), 1)
        for a, e in zip(ivf_rows, exact_rows, strict=True)
    ]
    out["ivf_recall_at_100_vs_exact"] = round(float(np.mean(recall)), 4)
    log(f"arxiv_scale: scoring {out}")
    return out


def training(*, quick: bool = False) -> dict[str, Any]:
    """ALS fit time on a growing series, projected to 500 M likes (power law on log-log)."""
    from recommender.models import create_model
    from recommender.ranking import rows_to_csr

    series = []
    sizes = (5_000, 10_000, 20_000) if quick else (10_000, 20_000, 40_000)
    rng = np.random.default_rng(4)
    for papers in sizes:
        users = 4 * papers
        # 50 distinct papers per user, popular papers more often (the square of a uniform draw
        # favours low paper numbers): ALS's cost is in the likes and the factors, not their order.
        draws = (papers * rng.random((users, 2 * LIKES_PER_USER)) ** 2).astype(np.int64)
        rows = [np.unique(d)[:LIKES_PER_USER] for d in draws]
        likes = rows_to_csr(rows, papers)
        t0 = time.perf_counter()
        create_model("als").fit(likes, None)
        series.append(
            {
                "users": users,
                "papers": papers,
                "likes": int(likes.nnz),
                "fit_seconds": round(time.perf_counter() - t0, 2),
            }
        )
        log(f"arxiv_scale: als {series[-1]}")
    x = np.log([s["likes"] for s in series])
    y = np.log([max(s["fit_seconds"], 1e-3) for s in series])
    b, a = np.polyfit(x, y, 1)
    target = TARGET_USERS * LIKES_PER_USER
    return {
        "model": "als (implicit, CPU, default hyperparameters)",
        "series": series,
        "exponent": round(float(b), 2),
        "projected_likes": target,
        "projected_hours": round(float(np.exp(a) * target**b) / 3600, 2),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m bench.arxiv_scale", description=__doc__.split("\n")[0]
    )
    ap.add_argument("--quick", action="store_true", help="small sizes (a minute or two)")
    ap.add_argument(
        "--only", choices=("memory", "scoring", "training"), action="append", help="one part"
    )
    ap.add_argument(
        "--impressions-kept",
        type=int,
        default=IMPRESSIONS_KEPT,
        help=f"PAPERREC_IMPRESSIONS_KEPT of the memory part (default {IMPRESSIONS_KEPT})",
    )
    ap.add_argument("--out", type=Path, help="write the figures here as JSON")
    args = ap.parse_args(argv)
    parts = args.only or ["memory", "scoring", "training"]
    figures: dict[str, Any] = {}
    if "memory" in parts:
        figures["redis_memory"] = redis_memory(
            quick=args.quick, impressions_kept=args.impressions_kept
        )
    if "scoring" in parts:
        figures["scoring"] = scoring(quick=args.quick)
    if "training" in parts:
        figures["training"] = training(quick=args.quick)
    text = json.dumps(figures, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
