"""A bounded soak run of the HTTP API on loopback.

Starts ``paperrec serve`` in a subprocess with its own data folder (embedded Redis, append-only,
``appendfsync always``), issues tokens for a set of users, measures the capacity of the mix for a
few seconds (closed loop), then drives the mix open-loop at a fixed rate (by default half that
capacity) for ``--minutes``, and reports requests served, errors, latency and the memory (RSS)
of the API process and of its Redis at the start and end of the run::

    python -m bench.soak --minutes 10            # rate: half the measured capacity
    python -m bench.soak --minutes 2 --rate 40   # a fixed rate (requests/s)

The mix: 70% recommendations, 10% similar papers, 15% likes (PUT), 5% unlikes (DELETE; a 404
for a paper that was not liked is an answer, not an error). Errors: 5xx, 429, no answer.
Not part of the tests.
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ADMIN = "soak-admin-token-not-secret-0123456789"
THREADS = 8


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@dataclass
class Tally:
    lock: threading.Lock = field(default_factory=threading.Lock)
    codes: Counter[int] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)

    def add(self, code: int, seconds: float) -> None:
        with self.lock:
            self.codes[code] += 1
            self.latencies.append(seconds)

    @property
    def total(self) -> int:
        return sum(self.codes.values())

    @property
    def errors(self) -> int:
        return sum(n for c, n in self.codes.items() if c == 0 or c == 429 or c >= 500)

    def quantile(self, q: float) -> float:
        xs = sorted(self.latencies)
        return xs[min(len(xs) - 1, int(q * len(xs)))] * 1000 if xs else float("nan")


class Driver:
    def __init__(self, url: str, tokens: dict[str, str], papers: list[str], seed: int) -> None:
        self.url = url
        self.tokens = tokens
        self.users = sorted(tokens)
        self.papers = papers
        self.rng = random.Random(seed)
        self.rng_lock = threading.Lock()
        self.client = httpx.Client(
            base_url=url, timeout=10, limits=httpx.Limits(max_connections=32)
        )

    def one(self, tally: Tally) -> None:
        with self.rng_lock:
            user = self.rng.choice(self.users)
            paper = self.rng.choice(self.papers)
            roll = self.rng.random()
        h = {"Authorization": f"Bearer {self.tokens[user]}"}
        start = time.perf_counter()
        try:
            if roll < 0.70:
                r = self.client.get(f"/users/{user}/recommendations", headers=h)
            elif roll < 0.80:
                r = self.client.get(f"/papers/{paper}/similar", params={"k": 10})
            elif roll < 0.95:
                r = self.client.put(f"/users/{user}/likes/{paper}", headers=h)
            else:
                r = self.client.delete(f"/users/{user}/likes/{paper}", headers=h)
            code = r.status_code
        except httpx.TransportError:
            code = 0
        tally.add(code, time.perf_counter() - start)

    def closed_loop(self, seconds: float) -> Tally:
        tally = Tally()
        stop = time.monotonic() + seconds

        def worker() -> None:
            while time.monotonic() < stop:
                self.one(tally)

        threads = [threading.Thread(target=worker) for _ in range(THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(seconds + 30)
        return tally

    def open_loop(self, rate: float, seconds: float) -> tuple[Tally, int]:
        """Send at ``rate`` requests/s for ``seconds``; returns the tally and how many sends
        were skipped because every worker was busy (the server fell behind)."""
        tally = Tally()
        skipped = 0
        busy = threading.Semaphore(THREADS * 4)
        with ThreadPoolExecutor(THREADS * 4) as pool:
            start = time.monotonic()
            n = int(rate * seconds)
            for i in range(n):
                delay = start + i / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                if not busy.acquire(blocking=False):
                    skipped += 1
                    continue
                fut = pool.submit(self.one, tally)
                fut.add_done_callback(lambda _f: busy.release())
        return tally, skipped


def _start_server(data_dir: Path, port: int, log_path: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAPERREC_")}
    env.pop("REDIS_URL", None)
    env.update(
        PAPERREC_DATA_DIR=str(data_dir),
        PAPERREC_ADMIN_TOKEN=ADMIN,
        PAPERREC_LOG_LEVEL="warning",
        OPENBLAS_NUM_THREADS="1",
    )
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "serve", "--port", str(port)],
            cwd=data_dir.parent,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 120
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited:\n{log_path.read_text()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            raise SystemExit("the server did not come up within 120 s")
        time.sleep(0.2)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=10.0, help="length of the run")
    p.add_argument("--rate", type=float, default=0.0, help="requests/s (default: half capacity)")
    p.add_argument("--users", type=int, default=50)
    p.add_argument("--probe-seconds", type=float, default=10.0, help="capacity measurement")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="paperrec-soak-") as tmp:
        data_dir = Path(tmp) / "data"
        data_dir.mkdir()
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        proc = _start_server(data_dir, port, Path(tmp) / "serve.log")
        try:
            admin = {"Authorization": f"Bearer {ADMIN}"}
            with httpx.Client(base_url=url, timeout=30) as c:
                tokens = {
                    f"soak{u}": c.post(f"/users/soak{u}/tokens", headers=admin).json()["token"]
                    for u in range(args.users)
                }
                papers = [
                    i["paper_id"]
                    for i in c.get("/papers", params={"q": "a", "k": 1000}).json()["items"]
                ]
            if not papers:
                papers = [f"sample:nlp-{i:02d}" for i in range(1, 11)]
            driver = Driver(url, tokens, papers, args.seed)
            probe = driver.closed_loop(args.probe_seconds)
            capacity = probe.total / args.probe_seconds
            rate = args.rate or capacity / 2
            redis_pid = int((data_dir / "redis" / "redis.pid").read_text())
            rss0 = (_rss_mib(proc.pid), _rss_mib(redis_pid))
            print(
                f"capacity (closed loop, {THREADS} threads, {args.probe_seconds:g} s): "
                f"{capacity:.0f} req/s; soak at {rate:.0f} req/s for {args.minutes:g} min"
            )
            t0 = time.monotonic()
            tally, skipped = driver.open_loop(rate, args.minutes * 60)
            elapsed = time.monotonic() - t0
            rss1 = (_rss_mib(proc.pid), _rss_mib(redis_pid))
            aof = (data_dir / "redis" / "appendonly.aof").stat().st_size / 2**20
            alive = proc.poll() is None
            driver.client.close()
        finally:
            proc.terminate()
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    print(f"requests: {tally.total} in {elapsed:.0f} s ({tally.total / elapsed:.1f} req/s)")
    print(f"answers:  {dict(sorted(tally.codes.items()))}  (0 = no answer)")
    print(
        f"errors:   {tally.errors} (5xx, 429, no answer); sends skipped (all workers busy): {skipped}"
    )
    print(f"latency:  p50 {tally.quantile(0.5):.1f} ms, p99 {tally.quantile(0.99):.1f} ms")
    print(
        f"RSS API:   {rss0[0]:.1f} -> {rss1[0]:.1f} MiB ({rss1[0] - rss0[0]:+.1f})\n"
        f"RSS Redis: {rss0[1]:.1f} -> {rss1[1]:.1f} MiB ({rss1[1] - rss0[1]:+.1f}); "
        f"append-only file {aof:.1f} MiB"
    )
    print(f"server alive at the end: {alive}")
    return 0 if alive and tally.errors == 0 and skipped == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
