"""A collection's recommendations beside the main list, under the same load on the same server.

citeulike-a with all its likes (as :mod:`bench.service`), one worker with the shipped defaults;
300 users each get a collection holding every other one of their likes (through the API). Then,
in one run and alternating so that the machine's other load falls on both alike, the main list
and the collection's list are each driven as fast as 32 connections go, then on a fixed schedule
(latency from the scheduled start) at half the rate the main list reached (the same offered rate
for both: on a machine shared with other work a fixed 500/s may be more than either can do), and
a 50/50 mix of the two at that rate.
The issue's target: the collection route keeps the recommendation route's latency targets
(bench/RESULTS.md, section 1).

    python -m bench --only collections [--quick]
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import PYTHON, ROOT, bench_env, log
from bench.service import ADMIN, _step, free_port, server_rss_mib, stop, wait_ready

MAIN = "GET recommendations"
COLLECTION = "GET collection recommendations"


def phases(quick: bool) -> list[dict[str, Any]]:
    t = 5 if quick else 20
    out: list[dict[str, Any]] = [
        {"name": "warm-up", "mode": "closed", "concurrency": 8, "duration_s": 3, "mix": {}},
        {
            "name": "warm-up (collection)",
            "mode": "closed",
            "concurrency": 8,
            "duration_s": 3,
            "mix": {"collection": 1.0},
        },
    ]
    for round_ in (1, 2):
        for what, mix in (("main list", {}), ("collection", {"collection": 1.0})):
            out.append(
                {
                    "name": f"{what}, as fast as possible (round {round_})",
                    "mode": "closed",
                    "concurrency": 32,
                    "duration_s": t,
                    "mix": mix,
                }
            )
        for what, mix in (("main list", {}), ("collection", {"collection": 1.0})):
            out.append(
                {
                    "name": f"{what}, half the main list's maximum on schedule (round {round_})",
                    "mode": "open",
                    "rate_of_max": 0.5,
                    "duration_s": t,
                    "mix": mix,
                }
            )
    out.append(
        {
            "name": "half and half, half the main list's maximum on schedule",
            "mode": "open",
            "rate_of_max": 0.5,
            "duration_s": t,
            "mix": {"collection": 0.5},
        }
    )
    return out


def run(*, quick: bool = False, data_dir: str | None = None) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="paperrec-bench-collections-"))
    env = bench_env(
        PAPERREC_DATA_DIR=str(work / "data"),
        PAPERREC_ADMIN_TOKEN=ADMIN,
        PAPERREC_SEED_SAMPLE="false",
        PAPERREC_MODEL_POLL_S="0",
        PAPERREC_LOG_LEVEL="WARNING",
    )
    env.pop("REDIS_URL", None)
    figures: dict[str, Any] = {"quick": quick}
    server: subprocess.Popen[bytes] | None = None
    try:
        log("collections: importing citeulike-a with its likes, training the hybrid")
        cmd = [PYTHON, "-m", "service.cli", "import", "citeulike-a", "--likes"]
        _step(cmd + (["--data-dir", data_dir] if data_dir else []), env, "import")
        _step([PYTHON, "-m", "service.cli", "train"], env, "train")
        port = free_port()
        server = subprocess.Popen(
            [PYTHON, "-m", "service.cli", "serve", "--port", str(port)],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=open(work / "server.log", "wb"),  # noqa: SIM115
        )
        figures["model"] = wait_ready(port, server, 900)["model"]
        sample = random.Random(0).sample(range(5551), 300)
        cfg = {
            "host": "127.0.0.1",
            "port": port,
            "admin": ADMIN,
            "users": [f"citeulike-a:user{u}" for u in sample],
            "papers": [f"citeulike-a:{p}" for p in range(16980)],
            "k": 10,
            "collection": "half",
            "phases": phases(quick),
        }
        (work / "load.json").write_text(json.dumps(cfg))
        log("collections: 300 collections, then the load")
        t0 = time.perf_counter()
        out = _step([PYTHON, "-m", "bench.loadgen", str(work / "load.json")], env, "load")
        figures["load_seconds"] = round(time.perf_counter() - t0, 1)
        figures.update(json.loads(out.stdout))
        figures["server_rss_mib"] = server_rss_mib(server.pid)
        for p in figures["phases"]:
            for route, r in p.get("routes", {}).items():
                if "warm-up" not in p["phase"]:
                    log(
                        f"  {p['phase']}: {route} {r['per_s']:.0f}/s p50 {r['p50_ms']:.1f} ms "
                        f"p99 {r['p99_ms']:.1f} ms {r['statuses']}"
                    )
    finally:
        if server is not None:
            stop(server)
        shutil.rmtree(work, ignore_errors=True)
    return figures
