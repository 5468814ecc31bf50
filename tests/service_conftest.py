"""Fixtures of the service tests: a real Redis server (the embedded one, in a temporary folder),
wiped before every test, and an app built by the factory with injected settings."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from fastapi.testclient import TestClient

from service.main import create_app
from service.redis_server import EmbeddedRedis
from service.settings import Settings

ADMIN = "test-admin-token-not-secret-0123456789"
ADMIN_HEADERS = {"Authorization": f"Bearer {ADMIN}"}


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    """One real Redis for the session (the service's own embedded server, not 127.0.0.1:6379)."""
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"), appendfsync="no").start()
    assert server.owner
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: EmbeddedRedis) -> Iterator[str]:
    """The session server's URL, wiped before the test and after it."""
    with redis_server.client() as c:
        c.flushall()
    yield redis_server.url
    with redis_server.client() as c:
        c.flushall()


@pytest.fixture
def make_settings(tmp_path: Path, redis_url: str) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "data_dir": tmp_path / "data",
            "redis_url": redis_url,
            "model": "hybrid",
            "admin_token": ADMIN,
            "model_poll_s": 0,
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    return make


@pytest.fixture
def client(make_settings: Callable[..., Settings]) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings())) as c:
        yield c


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def user_headers(
    client: TestClient, user_id: str, admin: dict[str, str] = ADMIN_HEADERS
) -> dict[str, str]:
    """Headers with a fresh token of ``user_id``, issued through the API (by ``admin``)."""
    r = client.post(f"/users/{user_id}/tokens", headers=admin)
    assert r.status_code == 201, r.text
    return bearer(r.json()["token"])


def wait_for_retrain(client: TestClient, limit_s: float = 60.0) -> dict[str, Any]:
    """The retrain job once it is no longer running (fails the test if it never ends)."""
    deadline = time.monotonic() + limit_s
    while True:
        job = client.get("/admin/retrain", headers=ADMIN_HEADERS).json()
        if job["status"] != "running":
            return job  # type: ignore[no-any-return]
        assert time.monotonic() < deadline, f"retrain still running: {job}"
        time.sleep(0.05)


def raw_redis(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, decode_responses=True)


def settings_redis(settings: Settings) -> Any:
    """A client of the Redis that ``settings`` name: one server, or the cluster of
    tests/service/cluster (the key names a test reads there must be the same in both layouts)."""
    if settings.redis_cluster:
        from service.cluster import cluster_client

        return cluster_client(settings.redis_cluster, timeout_s=5)
    assert settings.redis_url
    return raw_redis(settings.redis_url)


# ------------------------------------------------------------------ the API as a real process
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ApiProcess:
    """``paperrec serve`` in a subprocess on a free loopback port, with its own data folder
    (embedded Redis unless ``REDIS_URL`` is given in ``env``); its console goes to ``log_path``."""

    def __init__(self, data_dir: Path, *args: str, **env: str) -> None:
        self.data_dir = data_dir
        self.args = list(args)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir.parent / f"serve-{self.port}.log"
        base = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("PAPERREC_") and k != "REDIS_URL"
        }
        base.update(
            PAPERREC_DATA_DIR=str(data_dir),
            PAPERREC_MODEL="content",
            PAPERREC_ADMIN_TOKEN=ADMIN,
            PAPERREC_MODEL_POLL_S="0",
            OPENBLAS_NUM_THREADS="1",
            PYTHONPATH=str(Path(__file__).resolve().parents[1]),
        )
        base.update(env)
        self.env = base
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, limit_s: float = 90.0) -> ApiProcess:
        """Launch the process and wait until it answers ``/health``."""
        return self.launch().wait_healthy(limit_s)

    def launch(self) -> ApiProcess:
        """Start the process without waiting for it."""
        data = self.data_dir
        data.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "service.cli",
                    "serve",
                    "--port",
                    str(self.port),
                    *self.args,
                ],
                cwd=data.parent,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    def wait_healthy(self, limit_s: float = 90.0) -> ApiProcess:
        assert self.proc is not None
        deadline = time.monotonic() + limit_s
        while True:
            assert self.proc.poll() is None, self.log()
            try:
                if httpx.get(f"{self.url}/health", timeout=5).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"paperrec serve did not come up:\n{self.log()}"
            time.sleep(0.1)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
        if self.proc is not None:
            self.proc.wait(30)

    def stop(self) -> None:
        """SIGTERM and wait (uvicorn shuts down cleanly, stopping its embedded Redis)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(30)
