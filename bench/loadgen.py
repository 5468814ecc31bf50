"""A small load generator: asyncio over raw HTTP/1.1 keep-alive connections (loopback only).

Run as its own process by :mod:`bench.service`: ``python -m bench.loadgen CONFIG.json`` prints
one JSON object of figures. A hand-written client rather than httpx because the generator shares
the machine with the server: every microsecond it spends is one the server does not get.

Phases (each bounded in time and count):

* ``closed``: ``concurrency`` connections each send the next request as soon as the last answered
  (the most the server can do);
* ``open``: requests start on a fixed schedule of ``rate`` per second whatever the server does, and
  latency runs from the scheduled start, so a stall counts against every request it delays (no
  coordinated omission);
* ``freshness``: per sample, read a user's recommendations, like the top one, read again: the time
  from sending the like to the answer that reflects it, and whether that answer is the very next
  one.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import percentiles

uvloop: Any
try:
    import uvloop
except ImportError:  # pragma: no cover
    uvloop = None


class Conn:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, token: str) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n"
            f"Authorization: Bearer {token}\r\nContent-Length: 0\r\n\r\n".encode()
        )
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        body = await self.reader.readexactly(length) if length else b""
        return status, body

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


@dataclass
class Route:
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)

    def add(self, seconds: float, status: int) -> None:
        self.latencies.append(seconds)
        self.statuses[status] = self.statuses.get(status, 0) + 1


class Load:
    def __init__(self, cfg: dict[str, Any]) -> None:
        self.cfg = cfg
        self.host, self.port = cfg["host"], int(cfg["port"])
        self.users: list[str] = cfg["users"]
        self.tokens: dict[str, str] = {}
        self.papers: list[str] = cfg["papers"]
        self.k = int(cfg.get("k", 10))
        self.rng = random.Random(0)
        self.max_rate = 100.0  # recommendations/s of the last closed-loop phase

    async def setup(self) -> None:
        conn = Conn(self.host, self.port)
        for u in self.users + self.cfg.get("like_users", []):
            status, body = await conn.request("POST", f"/users/{u}/tokens", self.cfg["admin"])
            if status != 201:
                raise RuntimeError(f"token for {u}: HTTP {status} {body[:200]!r}")
            self.tokens[u] = json.loads(body)["token"]
        if self.cfg.get("collection"):
            await self._collections(conn)
        conn.close()

    async def _collections(self, conn: Conn) -> None:
        """Give each user a collection (``collection`` of the configuration) holding every
        other one of their likes (bench/collection_route.py); as the admin, whom the per-user
        rate limit leaves alone (a user's hundreds of papers at once would meet it)."""
        name = self.cfg["collection"]
        token = self.cfg["admin"]
        for u in self.users:
            status, body = await conn.request("PUT", f"/users/{u}/collections/{name}", token)
            if status not in (200, 201):
                raise RuntimeError(f"collection of {u}: HTTP {status} {body[:200]!r}")
            _, body = await conn.request("GET", f"/users/{u}/likes", token)
            for p in json.loads(body)["paper_ids"][::2]:
                path = f"/users/{u}/collections/{name}/papers/{p}"
                status, body = await conn.request("PUT", path, token)
                if status not in (200, 201):
                    raise RuntimeError(f"{path}: HTTP {status} {body[:200]!r}")

    def pick(self, mix: dict[str, float], users: str = "users") -> tuple[str, str, str, str]:
        """``(route, method, path, token)`` of the next request of ``mix``, for one of the
        users listed under ``users`` in the configuration."""
        u = self.rng.choice(self.cfg[users])
        draw = self.rng.random()
        if draw < mix.get("like", 0.0):
            p = self.rng.choice(self.papers)
            return "PUT like", "PUT", f"/users/{u}/likes/{p}", self.tokens[u]
        if draw < mix.get("like", 0.0) + mix.get("collection", 0.0):
            c = self.cfg["collection"]
            path = f"/users/{u}/collections/{c}/recommendations?k={self.k}"
            return "GET collection recommendations", "GET", path, self.tokens[u]
        return (
            "GET recommendations",
            "GET",
            f"/users/{u}/recommendations?k={self.k}",
            self.tokens[u],
        )

    async def closed(self, phase: dict[str, Any]) -> dict[str, Any]:
        routes: dict[str, Route] = {}
        deadline = time.perf_counter() + phase["duration_s"]
        limit = phase.get("max_requests", 1_000_000)
        sent = 0

        async def worker() -> None:
            nonlocal sent
            conn = Conn(self.host, self.port)
            while time.perf_counter() < deadline and sent < limit:
                sent += 1
                name, method, path, token = self.pick(phase["mix"], phase.get("users", "users"))
                t0 = time.perf_counter()
                status, _ = await conn.request(method, path, token)
                routes.setdefault(name, Route()).add(time.perf_counter() - t0, status)
            conn.close()

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(phase["concurrency"])))
        elapsed = time.perf_counter() - t0
        if "GET recommendations" in routes and not phase["mix"]:
            self.max_rate = len(routes["GET recommendations"].latencies) / elapsed
        return self._figures(phase, routes, elapsed)

    async def open(self, phase: dict[str, Any]) -> dict[str, Any]:
        routes: dict[str, Route] = {}
        pool: asyncio.Queue[Conn] = asyncio.Queue()
        for _ in range(phase.get("connections", 64)):
            pool.put_nowait(Conn(self.host, self.port))
        if "rate_of_max" in phase:  # a share of what the closed-loop phase reached
            phase = {**phase, "rate": round(phase["rate_of_max"] * self.max_rate, 1)}
        n = int(phase["rate"] * phase["duration_s"])
        tasks = []

        async def one(scheduled: float, name: str, method: str, path: str, token: str) -> None:
            conn = await pool.get()
            try:
                status, _ = await conn.request(method, path, token)
            finally:
                pool.put_nowait(conn)
            routes.setdefault(name, Route()).add(time.perf_counter() - scheduled, status)

        t0 = time.perf_counter()
        for i in range(n):
            scheduled = t0 + i / phase["rate"]
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            request = self.pick(phase["mix"], phase.get("users", "users"))
            tasks.append(asyncio.create_task(one(scheduled, *request)))
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=phase["duration_s"] + 60)
        elapsed = time.perf_counter() - t0
        while not pool.empty():
            pool.get_nowait().close()
        return self._figures(phase, routes, elapsed)

    async def freshness(self, phase: dict[str, Any]) -> dict[str, Any]:
        conn = Conn(self.host, self.port)
        delays, next_ok = [], 0
        samples = min(phase["samples"], len(self.users))
        for u in self.users[:samples]:
            token = self.tokens[u]
            path = f"/users/{u}/recommendations?k={self.k}"
            _, body = await conn.request("GET", path, token)
            before = [i["paper_id"] for i in json.loads(body)["items"]]
            if not before:
                continue
            t0 = time.perf_counter()
            status, _ = await conn.request("PUT", f"/users/{u}/likes/{before[0]}", token)
            _, body = await conn.request("GET", path, token)
            t1 = time.perf_counter()
            after = [i["paper_id"] for i in json.loads(body)["items"]]
            ok = status in (200, 201) and before[0] not in after and after != before
            next_ok += ok
            delays.append(t1 - t0)
        conn.close()
        return {
            "phase": phase["name"],
            "samples": len(delays),
            "reflected_in_next_response": next_ok,
            "like_to_new_recommendations": percentiles(delays),
        }

    def _figures(
        self, phase: dict[str, Any], routes: dict[str, Route], elapsed: float
    ) -> dict[str, Any]:
        out: dict[str, Any] = {
            "phase": phase["name"],
            "mode": phase["mode"],
            "seconds": round(elapsed, 2),
        }
        for key in ("concurrency", "rate", "rate_of_max", "mix"):
            if key in phase:
                out[key] = phase[key]
        out["routes"] = {
            name: {
                "requests": len(r.latencies),
                "per_s": round(len(r.latencies) / elapsed, 1),
                "statuses": {str(s): c for s, c in sorted(r.statuses.items())},
                **percentiles(r.latencies),
            }
            for name, r in sorted(routes.items())
        }
        out["total_per_s"] = round(sum(len(r.latencies) for r in routes.values()) / elapsed, 1)
        return out

    async def run(self) -> dict[str, Any]:
        await self.setup()
        results = []
        for phase in self.cfg["phases"]:
            fn = {"closed": self.closed, "open": self.open, "freshness": self.freshness}
            results.append(await fn[phase["mode"]](phase))
            print(json.dumps(results[-1]), file=sys.stderr, flush=True)
        return {
            "phases": results,
            "client": "asyncio raw HTTP/1.1" + (" + uvloop" if uvloop else ""),
        }


def main() -> None:
    cfg = json.loads(Path(sys.argv[1]).read_text())
    run = Load(cfg).run()
    result = uvloop.run(run) if uvloop is not None else asyncio.run(run)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
