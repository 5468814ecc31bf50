"""The service under load: citeulike-a with all its likes, a real server, a separate client.

Starts ``paperrec import citeulike-a --likes`` then ``paperrec serve`` (own data folder, embedded
Redis with ``appendfsync always``: every acknowledged like is on disk) as subprocesses, and drives
the server from :mod:`bench.loadgen` in a third process over loopback. User tokens are real (each
request looks its token up in Redis).

Measure what ships: each worker count runs first with the shipped settings (the rate limit on:
20 requests/s per user, bursts of 100; the generator plays 300 users, so that each stays well
under it, and the statuses would show any 429), then, in the same run, with the rate limit off
(``PAPERREC_RATE_LIMIT_PER_S=0``) for the maximum and the 500/s phases, to show what the limit
costs, and with the ranking cache off (``PAPERREC_RANKING_CACHE=0``: every list scores the
catalog), to show what the cache saves. The generator's 300 users ask again and again, most of
them between likes, so the cache finds most of their rankings; each run records the share it
found (the answering worker's ``paperrec_ranking_cache_*`` gauges at the end).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench.common import PYTHON, ROOT, bench_env, log

ADMIN = "bench-admin-token-not-secret-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(port: int, server: subprocess.Popen[bytes], timeout_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with {server.returncode}")
        try:
            ask = urllib.request.Request(
                f"http://127.0.0.1:{port}/health", headers={"Authorization": f"Bearer {ADMIN}"}
            )
            with urllib.request.urlopen(ask, timeout=5) as r:
                health = json.loads(r.read())
            if health.get("model", {}).get("status") == "ready":
                return health
        except OSError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"the server was not ready within {timeout_s:.0f}s")


def server_rss_mib(pid: int) -> float:
    """Resident memory of the server and its worker processes, now (MiB)."""
    total = 0
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    except OSError:
        pass
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return round(total / 1024, 1)


def stop(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)


def phases(quick: bool) -> list[dict[str, Any]]:
    t = 5 if quick else 20
    return [
        {"name": "warm-up", "mode": "closed", "concurrency": 8, "duration_s": 3, "mix": {}},
        {
            "name": "recommendations, as fast as possible",
            "mode": "closed",
            "concurrency": 32,
            "duration_s": t,
            "mix": {},
        },
        {
            "name": "1,000 recommendations/s, on schedule",
            "mode": "open",
            "rate": 1000,
            "duration_s": t,
            "mix": {},
        },
        {
            # Other users: tens of thousands of likes in seconds would otherwise triple the
            # libraries of the users every later phase reads (and their cost per request).
            "name": "likes, as fast as possible",
            "mode": "closed",
            "concurrency": 32,
            "duration_s": t / 2,
            "mix": {"like": 1.0},
            "users": "like_users",
        },
        {
            "name": "500 recommendations/s + 50 likes/s",
            "mode": "open",
            "rate": 550,
            "duration_s": t,
            "mix": {"like": 50 / 550},
        },
        {
            "name": "half the maximum rate, 1 like per 10 recommendations",
            "mode": "open",
            "rate_of_max": 0.5,
            "duration_s": t,
            "mix": {"like": 0.1},
        },
        {
            "name": "like -> next recommendations",
            "mode": "freshness",
            "samples": 50 if quick else 200,
        },
    ]


#: The settings each worker count runs under: what ships, then the rate limit off, then the
#: ranking cache off.
DEFAULTS = "shipped defaults (rate limit on)"
LIMIT_OFF = "rate limit off"
CACHE_OFF = "ranking cache off"


def ranking_cache(port: int) -> dict[str, float] | None:
    """The answering worker's ranking cache gauges (``/metrics``), or None when it is off."""
    ask = urllib.request.Request(
        f"http://127.0.0.1:{port}/metrics", headers={"Authorization": f"Bearer {ADMIN}"}
    )
    with urllib.request.urlopen(ask, timeout=10) as r:
        text = r.read().decode()
    found = {}
    for line in text.splitlines():
        for name in ("hits", "misses", "entries"):
            if line.startswith(f"paperrec_ranking_cache_{name} "):
                found[name] = float(line.split()[1])
    return found or None


def comparison_phases(quick: bool) -> list[dict[str, Any]]:
    """The phases run again with the rate limit off: the maximum and the 500/s mix."""
    keep = ("warm-up", "recommendations, as fast", "500 recommendations/s")
    return [p for p in phases(quick) if p["name"].startswith(keep)]


def _summary(run: dict[str, Any]) -> str:
    """Recommendations/s at most and p99 at 500/s of one run, in words (printed as it ends)."""
    out = []
    for p in run["phases"]:
        rec = p.get("routes", {}).get("GET recommendations")
        if rec and p["phase"].startswith("recommendations, as fast"):
            out.append(f"{rec['per_s']:.0f} recommendations/s at most")
        if rec and p["phase"].startswith("500 recommendations/s"):
            out.append(f"p99 {rec['p99_ms']:.1f} ms at {rec['per_s']:.0f}/s")
    return ", ".join(out)


def _step(cmd: list[str], env: dict[str, str], what: str) -> subprocess.CompletedProcess[str]:
    """Run one step of the benchmark in its own process; its stderr tail if it fails."""
    out = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=900)
    if out.returncode:
        raise RuntimeError(f"{what} failed: {out.stderr[-3000:]}")
    return out


def run(
    *, quick: bool = False, data_dir: str | None = None, workers: tuple[int, ...] = (1, 2)
) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="paperrec-bench-"))
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
        log("service: importing citeulike-a with its likes")
        cmd = [PYTHON, "-m", "service.cli", "import", "citeulike-a", "--likes"]
        if data_dir:
            cmd += ["--data-dir", data_dir]
        t0 = time.perf_counter()
        out = _step(cmd, env, "import")
        figures["import_seconds"] = round(time.perf_counter() - t0, 1)
        figures["import_output"] = out.stdout.strip().splitlines()[:2]

        log("service: training the hybrid (paperrec train)")
        t0 = time.perf_counter()
        _step([PYTHON, "-m", "service.cli", "train"], env, "train")
        figures["train_seconds"] = round(time.perf_counter() - t0, 1)

        figures["runs"] = []
        for n_workers in workers:
            for label, extra, run_phases in (
                (DEFAULTS, {}, phases(quick)),
                (LIMIT_OFF, {"PAPERREC_RATE_LIMIT_PER_S": "0"}, comparison_phases(quick)),
                (CACHE_OFF, {"PAPERREC_RANKING_CACHE": "0"}, comparison_phases(quick)),
            ):
                port = free_port()
                log(f"service: {n_workers} worker(s), {label}, on 127.0.0.1:{port}")
                t0 = time.perf_counter()
                server = subprocess.Popen(
                    [PYTHON, "-m", "service.cli", "serve", "--port", str(port)]
                    + ["--workers", str(n_workers)],
                    env={**env, **extra},
                    cwd=ROOT,
                    stdout=subprocess.DEVNULL,
                    stderr=open(work / f"server-{n_workers}-{len(figures['runs'])}.log", "wb"),  # noqa: SIM115
                )
                health = wait_ready(port, server, 900)
                run_fig: dict[str, Any] = {
                    "workers": n_workers,
                    "settings": label,
                    "start_seconds": round(time.perf_counter() - t0, 1),
                }
                figures["model"] = health["model"]
                rng = random.Random(0)
                sample = rng.sample(range(5551), 600)
                cfg = {
                    "host": "127.0.0.1",
                    "port": port,
                    "admin": ADMIN,
                    "users": [f"citeulike-a:user{u}" for u in sample[:300]],
                    "like_users": [f"citeulike-a:user{u}" for u in sample[300:]],
                    "papers": [f"citeulike-a:{p}" for p in range(16980)],
                    "k": 10,
                    "phases": run_phases,
                }
                cfg_path = work / "load.json"
                cfg_path.write_text(json.dumps(cfg))
                out = _step([PYTHON, "-m", "bench.loadgen", str(cfg_path)], env, "load generator")
                run_fig.update(json.loads(out.stdout))
                run_fig["server_rss_mib"] = server_rss_mib(server.pid)
                run_fig["ranking_cache"] = ranking_cache(port)
                figures["runs"].append(run_fig)
                log(f"service: {n_workers} worker(s), {label}: {_summary(run_fig)}")
                stop(server)
                server = None
    finally:
        if server is not None:
            stop(server)
        if os.environ.get("PAPERREC_BENCH_KEEP"):
            log(f"service: kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return figures
