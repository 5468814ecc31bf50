"""What a slate policy costs per request: the served model on citeulike-a, in process.

    python -m bench --only policy [--quick]

Trains what ``paperrec serve`` trains on citeulike-a with all its likes, then times
``Engine.recommend`` for users drawn from the data (their own likes, k=10) under each policy:
greedy (today's path), MMR, in-slate Thompson sampling, both together, and greedy with the
impressions' hidden and avoided papers; then the impressions' own Redis work against an embedded
server (``appendfsync always``, as shipped): reading a user's impressions (one round trip per
request) and writing one flush of 500 users' lists (one pipeline).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import log, percentiles
from recommender.catalog import Catalog
from recommender.datasets.citeulike import load_citeulike, prefixed_records
from recommender.exploration import Policy
from recommender.serving import Engine
from recommender.training import DEFAULT_FEATURES, DEFAULT_MODEL, training_plan

__all__ = ["run", "section"]

POLICIES: dict[str, Policy | None] = {
    "greedy (no policy)": None,
    "mmr(lam=0.7)": Policy.mmr(0.7),
    "thompson(scale=0.25)": Policy.thompson(0.25),
    "thompson(scale=0.25) + mmr(lam=0.7)": Policy.thompson(0.25, lam=0.7),
}


def _engine() -> tuple[Engine, dict[str, list[str]]]:
    data = load_citeulike("citeulike-a")
    papers, likes = prefixed_records(data)
    plan = training_plan(DEFAULT_MODEL, DEFAULT_FEATURES, catalog_has_references=True)
    catalog = Catalog(papers)
    return Engine(plan.train(catalog, likes), catalog), likes


def _time_engine(engine: Engine, users: list[list[str]], repeats: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    engine.warm()
    out["paper space built (s)"] = round(time.perf_counter() - t0, 3)
    for name, policy in POLICIES.items():
        times = []
        for _ in range(repeats):
            for liked in users:
                t = time.perf_counter()
                engine.recommend(liked, k=10, policy=policy, rng=rng)
                times.append(time.perf_counter() - t)
        out[name] = percentiles(times)
        log(f"policy: {name}: {out[name]}")
    # Impressions in the ranking: 100 hidden papers and the previous list of 10 avoided.
    times = []
    ids = engine.paper_ids
    for liked in users:
        hide = [ids[i] for i in rng.choice(len(ids), 100, replace=False)]
        avoid = [s.paper_id for s in engine.recommend(liked, k=10)]
        t = time.perf_counter()
        engine.recommend(liked, k=10, hide=hide, avoid=avoid)
        times.append(time.perf_counter() - t)
    out["greedy, 100 hidden + previous list avoided"] = percentiles(times)
    return out


async def _time_impressions(n_users: int) -> dict[str, Any]:
    from service.impressions import Impressions
    from service.redis_server import EmbeddedRedis

    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedRedis(Path(tmp), appendfsync="always").start()
        try:
            import redis.asyncio as aioredis

            client = aioredis.Redis.from_url(server.url, decode_responses=True)
            imp = Impressions(client, kept=500, max_shows=3, flush_s=1.0)
            users = [f"u{i}" for i in range(n_users)]
            lists = [[f"p{(i * 7 + j) % 5000}" for j in range(10)] for i in range(n_users)]
            flushes = []
            for _ in range(5):
                for u, lst in zip(users, lists, strict=True):
                    await imp.record(u, lst)
                t = time.perf_counter()
                await imp.flush()
                flushes.append(time.perf_counter() - t)
            reads = []
            for u in users:
                t = time.perf_counter()
                await imp.seen(u)
                reads.append(time.perf_counter() - t)
            await client.aclose()
        finally:
            server.stop()
    return {
        "read one user's impressions": percentiles(reads),
        f"flush of {n_users} users' lists": percentiles(flushes),
    }


def run(*, quick: bool = False) -> dict[str, Any]:
    log("policy: training the served model on citeulike-a")
    t0 = time.perf_counter()
    engine, likes = _engine()
    log(f"policy: trained in {time.perf_counter() - t0:.0f}s")
    rng = np.random.default_rng(1)
    names = sorted(likes)
    n = 100 if quick else 500
    users = [likes[names[i]] for i in rng.choice(len(names), n, replace=False)]
    figures: dict[str, Any] = {
        "users": n,
        "k": 10,
        "engine": _time_engine(engine, users, 1 if quick else 3),
    }
    figures["impressions"] = asyncio.run(_time_impressions(n))
    return figures


def section(part: dict[str, Any] | None, machine: str) -> list[str]:
    """The RESULTS.md section of the stored figures (none when never run)."""
    if not part:
        return []
    f = part["figures"]
    lines = [
        "## 6. What a slate policy costs per request",
        "",
        f"`python -m bench --only policy`: {machine}.",
        "",
        f"`Engine.recommend` of the served model on citeulike-a for {f['users']} users drawn "
        f"from the data (their own likes, k={f['k']}), in process; the paper space (a "
        f"truncated SVD, built once per model) took {f['engine']['paper space built (s)']} s. "
        "Impressions against an embedded Redis with `appendfsync always`.",
        "",
        "| what | p50 | p95 | p99 | max |",
        "|---|---|---|---|---|",
    ]
    rows = {k: v for k, v in f["engine"].items() if isinstance(v, dict)}
    rows.update(f["impressions"])
    for name, p in rows.items():
        lines.append(
            f"| {name} | {p['p50_ms']:.2f} ms | {p['p95_ms']:.2f} ms | {p['p99_ms']:.2f} ms | "
            f"{p['max_ms']:.2f} ms |"
        )
    lines.append("")
    return lines
