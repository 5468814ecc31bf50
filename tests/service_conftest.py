"""Fixtures of the service tests: a real Redis server (the embedded one, in a temporary folder),
wiped before every test, and an app built by the factory with injected settings."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient

from service.main import create_app
from service.redis_server import EmbeddedRedis
from service.settings import Settings

ADMIN = "test-admin-token"
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


def user_headers(client: TestClient, user_id: str) -> dict[str, str]:
    """Headers with a fresh token of ``user_id``, issued through the API."""
    r = client.post(f"/users/{user_id}/tokens", headers=ADMIN_HEADERS)
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
