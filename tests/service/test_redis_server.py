"""Exactly one embedded Redis per data directory, whatever the number of processes and their
timing: ``paperrec serve --workers N`` started many times on fresh folders, and two ``paperrec
serve`` raced on one folder, each find one ``redis-server`` for the folder, and a token issued
through one connection works on 30 new ones (with two servers, half of them answered 401)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx
import pytest
from service_conftest import ADMIN_HEADERS, ApiProcess, bearer

from service.redis_server import EmbeddedRedis

pytestmark = pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs /proc")

STARTS = 20


def redis_servers_for(data_dir: Path) -> list[int]:
    """Pids of the ``redis-server`` processes of ``data_dir``: those whose command line names it
    (Redis rewrites its own to ``redis-server unixsocket:<data dir>/redis/redis.sock``) or whose
    working directory is its ``redis`` folder (Redis changes into ``--dir``)."""
    folder = str((data_dir / "redis").resolve())
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if "redis-server" not in cmdline:
                continue
            if folder in cmdline or os.readlink(entry / "cwd") == folder:
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def wait_for_workers(api: ApiProcess, n: int, limit_s: float = 90.0) -> None:
    deadline = time.monotonic() + limit_s
    while api.log().count("Application startup complete") < n:
        assert time.monotonic() < deadline, api.log()
        time.sleep(0.05)


def token_works_everywhere(urls: list[str], user: str, connections: int = 30) -> list[int]:
    """Issue a token through one connection, then read the user's likes with it over
    ``connections`` new connections (spread over ``urls``); their status codes."""
    r = httpx.post(f"{urls[0]}/users/{user}/tokens", headers=ADMIN_HEADERS, timeout=30)
    assert r.status_code == 201, r.text
    headers = bearer(r.json()["token"])
    codes = []
    for i in range(connections):
        with httpx.Client(timeout=30) as fresh:  # a new connection: any worker may take it
            codes.append(fresh.get(f"{urls[i % len(urls)]}/users/{user}/likes", headers=headers))
    return [c.status_code for c in codes]


@pytest.mark.parametrize("workers", [2, 4])
def test_serve_workers_start_exactly_one_embedded_redis(tmp_path: Path, workers: int) -> None:
    for start in range(STARTS):
        data = tmp_path / f"data{start}"
        api = ApiProcess(data, "--workers", str(workers))
        try:
            api.start()
            wait_for_workers(api, workers)
            servers = redis_servers_for(data)
            assert len(servers) == 1, (start, servers, api.log())
            codes = token_works_everywhere([api.url], f"u{start}")
            assert codes == [200] * len(codes), (start, codes, api.log())
        finally:
            api.stop()
        assert not redis_servers_for(data), api.log()


def test_two_serve_processes_raced_on_one_folder_share_one_redis(tmp_path: Path) -> None:
    for start in range(STARTS):
        data = tmp_path / f"data{start}"
        first, second = ApiProcess(data), ApiProcess(data)
        try:
            # Both launched before either is up: they race for the folder.
            for api in (first, second):
                api.launch()
            for api in (first, second):
                api.wait_healthy()
            servers = redis_servers_for(data)
            assert len(servers) == 1, (start, servers, first.log(), second.log())
            codes = token_works_everywhere([first.url, second.url], f"u{start}")
            assert codes == [200] * len(codes), (start, codes)
        finally:
            first.stop()
            # The second one takes the server over (it joined and watches it): still one.
            assert len(redis_servers_for(data)) <= 1
            second.stop()
        assert not redis_servers_for(data), (first.log(), second.log())


def test_a_second_serve_joins_and_takes_over_when_the_first_stops(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = ApiProcess(data).start()
    second = ApiProcess(data)
    try:
        second.start()
        assert "using the running embedded Redis" in second.log()
        (pid,) = redis_servers_for(data)
        r = httpx.post(f"{first.url}/users/alice/tokens", headers=ADMIN_HEADERS, timeout=30)
        headers = bearer(r.json()["token"])
        r = httpx.put(f"{second.url}/users/alice/likes/sample:nlp-01", headers=headers)
        assert r.status_code == 201, r.text
        first.stop()
        # The second one restarts the server on the same files: the like is still there.
        deadline = time.monotonic() + 30
        while True:
            try:
                r = httpx.get(f"{second.url}/users/alice/likes", headers=headers, timeout=10)
                if r.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, second.log()
            time.sleep(0.1)
        assert r.json()["paper_ids"] == ["sample:nlp-01"]
        assert redis_servers_for(data) != [pid] and len(redis_servers_for(data)) == 1
    finally:
        first.stop()
        second.stop()
    assert not redis_servers_for(data)
    assert not EmbeddedRedis(data).server_alive()
