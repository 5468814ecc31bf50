"""Failover on a Redis Cluster, seen by the API: a stream of likes through two API replicas, a
master SIGKILLed in the middle of it, and then the count of acknowledged likes that are gone.

``python -m bench.failover [--runs N] [--threads T]`` starts a local cluster (3 masters, 3
replicas; :mod:`bench.redis_cluster`, ``cluster-node-timeout`` 2 s) and, for each setting of
``PAPERREC_REDIS_WAIT_REPLICAS`` (1: every like waits for a replica before its 2xx; 0: it does
not), two ``paperrec serve`` processes on it. Writer threads send likes (the admin acting for
many users, each like a new (user, paper)) to both replicas in turn; after a second and a half a
master that holds no catalog is SIGKILLed, the stream goes on until a like of a user of the
killed master is acknowledged again and a second more, then every acknowledged like is looked
up on the cluster. Figures per run: likes acknowledged, acknowledged likes lost, answers by
status, and the failover time seen by the API (SIGKILL to the first acknowledged like of a
user of the killed master's slots). The tests run :func:`like_stream` once with ``WAIT`` and
assert that nothing acknowledged is lost (tests/service/cluster/test_cluster_failover.py).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from redis.crc import key_slot

from bench.redis_cluster import LocalCluster, Node
from bench.service import stop
from service import keys
from service.cluster import cluster_client

__all__ = ["ApiServer", "StreamResult", "like_stream", "main", "victim"]

ADMIN = "bench-admin-token-not-secret-0123456789"
ROOT = Path(__file__).resolve().parents[1]


class ApiServer:
    """``paperrec serve`` on a free loopback port, on the cluster ``seeds``; console to a log
    file in ``data_dir``'s parent."""

    def __init__(self, data_dir: Path, seeds: str, port: int, **env: str) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.port = port
        self.log_path = data_dir.parent / f"serve-{port}.log"
        self.env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("PAPERREC_") and k != "REDIS_URL"
        }
        self.env.update(
            PAPERREC_DATA_DIR=str(data_dir),
            PAPERREC_REDIS_CLUSTER=seeds,
            PAPERREC_MODEL="content",
            PAPERREC_ADMIN_TOKEN=ADMIN,
            PAPERREC_RATE_LIMIT_PER_S="0",
            PAPERREC_ADDRESS_RATE_LIMIT_PER_S="0",
            OPENBLAS_NUM_THREADS="1",
            PYTHONPATH=str(ROOT),
            **env,
        )
        data_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "service.cli", "serve", "--port", str(port)],
                cwd=data_dir.parent,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def wait_healthy(self, limit_s: float = 120.0) -> ApiServer:
        deadline = time.monotonic() + limit_s
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"paperrec serve exited:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=5).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"paperrec serve did not come up:\n{self.log()}")
            time.sleep(0.2)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        stop(self.proc)


@dataclass
class StreamResult:
    """What one stream of likes across a master's SIGKILL gave."""

    acknowledged: int = 0
    lost: list[tuple[str, str]] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    #: SIGKILL to the first acknowledged like of a user on the killed master (seconds).
    failover_s: float | None = None
    #: SIGKILL to the moment a replica of the killed master was master (seconds).
    promoted_s: float | None = None
    #: Acknowledged likes of users on the killed master's slots before the SIGKILL.
    acknowledged_on_victim_before_kill: int = 0

    def figures(self) -> dict[str, Any]:
        return {
            "acknowledged": self.acknowledged,
            "lost": len(self.lost),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "failover_s": None if self.failover_s is None else round(self.failover_s, 2),
            "promoted_s": None if self.promoted_s is None else round(self.promoted_s, 2),
            "acknowledged_on_victim_before_kill": self.acknowledged_on_victim_before_kill,
        }


def _slot_owners(cluster: LocalCluster) -> dict[int, int]:
    """Hash slot -> port of its master now."""
    node = cluster.live_nodes()[0]
    owners: dict[int, int] = {}
    with node.client(socket_timeout=2) as c:
        for start, end, master, *_ in c.execute_command("CLUSTER", "SLOTS"):
            for slot in range(int(start), int(end) + 1):
                owners[slot] = int(master[1])
    return owners


def _is_master(cluster: LocalCluster, node: Node) -> bool:
    try:
        return cluster.role(node) == "master"
    except Exception:  # a node that does not answer is not the master that took over
        return False


def victim(cluster: LocalCluster) -> Node:
    """A master that does not hold the catalog (whose loss would stop every like, not only its
    users')."""
    catalog = cluster.master_of(keys.CLUSTER.PAPERS)
    for node in cluster.live_nodes():
        if node is not catalog and cluster.role(node) == "master":
            return node
    raise RuntimeError("no master without the catalog")


def like_stream(
    cluster: LocalCluster,
    urls: list[str],
    papers: list[str],
    *,
    threads: int = 8,
    users_per_thread: int = 25,
    kill_after_s: float = 1.5,
    after_recovery_s: float = 1.0,
    restart_after_s: float = 0.5,
    limit_s: float = 90.0,
) -> StreamResult:
    """Send likes to ``urls`` in turn from ``threads`` writers, SIGKILL a master (:func:`victim`)
    ``kill_after_s`` in, go on until a like of its users was acknowledged again and
    ``after_recovery_s`` more, then look every acknowledged like up on the cluster."""
    target = victim(cluster)
    standby = cluster.replicas_of(target)
    owners = _slot_owners(cluster)
    result = StreamResult()
    acked: list[tuple[str, str, float]] = []
    lock = threading.Lock()
    stop = threading.Event()
    killed_at: list[float] = []
    recovered = threading.Event()

    def on_victim(user: str) -> bool:
        return owners[key_slot(keys.likes(user).encode())] == target.port

    def writer(w: int) -> None:
        users = [f"w{w}-u{i}" for i in range(users_per_thread)]
        pairs = itertools.product(papers, users)  # every like a new (user, paper)
        turn = itertools.cycle(urls)
        with httpx.Client(headers={"Authorization": f"Bearer {ADMIN}"}, timeout=10) as http:
            for paper, user in pairs:
                if stop.is_set():
                    return
                sent = time.monotonic()
                try:
                    status = http.put(f"{next(turn)}/users/{user}/likes/{paper}").status_code
                except httpx.TransportError:
                    status = 0
                now = time.monotonic()
                with lock:
                    result.statuses[status] += 1
                    if status in (200, 201):
                        acked.append((user, paper, now))
                        late = killed_at and sent > killed_at[0]
                        if late and on_victim(user) and not recovered.is_set():
                            result.failover_s = now - killed_at[0]
                            recovered.set()
                if status == 503:
                    time.sleep(0.05)  # as a client told Retry-After would, briefly

    workers = [threading.Thread(target=writer, args=(w,), daemon=True) for w in range(threads)]
    start = time.monotonic()
    for t in workers:
        t.start()
    time.sleep(kill_after_s)
    with lock:
        result.acknowledged_on_victim_before_kill = sum(1 for u, _, _ in acked if on_victim(u))
    cluster.kill(target)
    killed_at.append(time.monotonic())  # dead: a request sent from now on cannot reach it
    # Its replica takes over; then the dead node is started again (as a supervisor would), and
    # rejoins as the new master's replica: until then a write that waits for a replica cannot
    # be acknowledged.
    deadline = time.monotonic() + limit_s
    while not any(_is_master(cluster, n) for n in standby):
        if time.monotonic() > deadline:
            raise TimeoutError("no replica of the killed master took over")
        time.sleep(0.05)
    result.promoted_s = time.monotonic() - killed_at[0]
    time.sleep(restart_after_s)
    cluster.restart(target)
    recovered.wait(max(0.0, deadline - time.monotonic()))
    time.sleep(after_recovery_s)
    stop.set()
    for t in workers:
        t.join(30)
    if time.monotonic() - start > limit_s and not recovered.is_set():
        raise TimeoutError(
            f"no like of the killed master's users was acknowledged again: {result.statuses}"
        )
    cluster.wait_ok()
    result.acknowledged = len(acked)
    with cluster_client(cluster.seeds, timeout_s=5) as c:
        for i in range(0, len(acked), 1000):
            chunk = acked[i : i + 1000]
            pipe = c.pipeline(transaction=False)
            for user, paper, _ in chunk:
                pipe.sismember(keys.likes(user), paper)
            for (user, paper, _), present in zip(chunk, pipe.execute(), strict=True):
                if not present:
                    result.lost.append((user, paper))
    return result


def sample_ids() -> list[str]:
    """The ids of the sample papers, which every server loads into an empty catalog."""
    from service.sample import sample_papers

    return [p.paper_id for p in sample_papers()]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m bench.failover", description=__doc__.split("\n")[0]
    )
    ap.add_argument("--runs", type=int, default=3, help="runs per WAIT setting (default 3)")
    ap.add_argument("--threads", type=int, default=8, help="writer threads (default 8)")
    ap.add_argument(
        "--wait",
        type=int,
        choices=(0, 1),
        action="append",
        help="only this PAPERREC_REDIS_WAIT_REPLICAS (repeatable; default 1 and 0)",
    )
    ap.add_argument("--out", type=Path, help="write the figures here as JSON")
    args = ap.parse_args(argv)
    figures: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for wait in args.wait or (1, 0):
            runs: list[dict[str, Any]] = []
            for run in range(args.runs):
                folder = Path(tmp) / f"wait{wait}-run{run}"
                with LocalCluster(folder / "cluster") as cluster:
                    servers = [
                        ApiServer(
                            folder / "data",
                            cluster.seeds,
                            _free_port(),
                            PAPERREC_REDIS_WAIT_REPLICAS=str(wait),
                        )
                        for _ in range(2)
                    ]
                    try:
                        for s in servers:
                            s.wait_healthy()
                        r = like_stream(
                            cluster, [s.url for s in servers], sample_ids(), threads=args.threads
                        )
                    except Exception:
                        print(servers[0].log()[-3000:], file=sys.stderr)
                        raise
                    finally:
                        for s in servers:
                            s.stop()
                figures_run = r.figures()
                figures_run["unexpected"] = [
                    line
                    for s in servers
                    for line in s.log().splitlines()
                    if ("ERROR" in line or "Error:" in line)
                    and "unreachable" not in line
                    and "unavailable" not in line
                ][:20]
                runs.append(figures_run)
                print(f"WAIT replicas={wait} run {run + 1}: {json.dumps(figures_run)}", flush=True)
            figures[f"wait_{wait}"] = runs
    for name, runs in figures.items():
        acked = sum(r["acknowledged"] for r in runs)
        lost = sum(r["lost"] for r in runs)
        times = [r["failover_s"] for r in runs if r["failover_s"] is not None]
        print(
            f"{name}: {lost} of {acked} acknowledged likes lost over {len(runs)} runs; "
            f"failover seen by the API {min(times):.2f}-{max(times):.2f} s"
        )
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
