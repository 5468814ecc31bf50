"""State across restarts (the embedded Redis in the data folder), the admin token file, and the
service's answer when Redis goes away."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from service_conftest import ADMIN_HEADERS, bearer, user_headers

from service.main import create_app
from service.redis_server import EmbeddedRedis
from service.settings import Settings

LIKED = ["sample:nlp-01", "sample:vision-02", "sample:recsys-06"]


def embedded_settings(data_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": data_dir,
        "redis_url": None,
        "model": "content",
        "admin_token": "persist-admin",
        "model_poll_s": 0,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


def test_likes_tokens_and_model_survive_a_restart(tmp_path: Path) -> None:
    settings = embedded_settings(tmp_path / "data")
    admin = bearer("persist-admin")
    with TestClient(create_app(settings)) as c:
        token = c.post("/users/alice/tokens", headers=admin).json()["token"]
        for p in LIKED:
            assert c.put(f"/users/alice/likes/{p}", headers=bearer(token)).status_code == 201
        c.put("/users/alice/dislikes/sample:bio-05", headers=bearer(token))
        version = c.get("/health").json()["model"]["version"]
        assert c.get("/health").json()["redis"]["aof_enabled"] is True
    # The app stopped its embedded server on shutdown.
    assert not EmbeddedRedis(tmp_path / "data").ping()
    assert (tmp_path / "data" / "redis" / "appendonly.aof").stat().st_size > 0

    with TestClient(create_app(settings)) as c:
        h = bearer(token)  # the token is still valid
        assert c.get("/users/alice/likes", headers=h).json()["paper_ids"] == sorted(LIKED)
        assert c.get("/users/alice/dislikes", headers=h).json()["paper_ids"] == ["sample:bio-05"]
        assert c.get("/health").json()["model"]["version"] == version
        assert c.get("/health").json()["redis"]["papers"] == 60  # sample not loaded twice
        recs = c.get("/users/alice/recommendations", headers=h).json()
        assert not {i["paper_id"] for i in recs["items"]} & set(LIKED)


def test_admin_token_is_generated_once_with_mode_0600(tmp_path: Path) -> None:
    settings = embedded_settings(tmp_path / "data", admin_token=None)
    with TestClient(create_app(settings)) as c:
        path = settings.admin_token_path
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        token = path.read_text().strip()
        assert len(token) >= 40
        assert c.post("/users/bob/tokens", headers=bearer(token)).status_code == 201
        assert c.post("/users/bob/tokens", headers=bearer(token + "x")).status_code == 401
    with TestClient(create_app(settings)) as c:
        assert path.read_text().strip() == token  # kept, not regenerated
        assert c.post("/users/bob/tokens", headers=bearer(token)).status_code == 201


def test_redis_down_is_503(tmp_path: Path, make_settings: Callable[..., Settings]) -> None:
    server = EmbeddedRedis(tmp_path / "own-redis", appendfsync="no").start()
    try:
        with TestClient(create_app(make_settings(redis_url=server.url))) as c:
            h = user_headers(c, "alice")
            assert c.get("/health").status_code == 200
            server.stop()
            r = c.get("/health")
            assert r.status_code == 503
            assert "Redis" in r.json()["detail"] and r.json()["redis"]["ok"] is False
            for method, path, headers in [
                ("PUT", "/users/alice/likes/sample:nlp-01", h),
                ("GET", "/users/alice/recommendations", h),
                ("GET", "/papers/sample:nlp-01", {}),
                ("POST", "/users/alice/tokens", ADMIN_HEADERS),
            ]:
                r = c.request(method, path, headers=headers)
                assert r.status_code == 503, (method, path, r.text)
                assert "Redis" in r.json()["detail"]
    finally:
        server.stop()


def test_a_second_process_joins_the_embedded_server(tmp_path: Path) -> None:
    first = EmbeddedRedis(tmp_path, appendfsync="no").start()
    try:
        second = EmbeddedRedis(tmp_path).start()
        assert first.owner and not second.owner
        second.stop()  # not the owner: leaves the server running
        assert first.ping()
    finally:
        first.stop()
    assert not first.ping()


def test_an_orphaned_server_is_adopted(tmp_path: Path) -> None:
    first = EmbeddedRedis(tmp_path, appendfsync="no").start()
    try:
        # The owner goes away (as if it died) and leaves its server running.
        first._release_ownership()
        heir = EmbeddedRedis(tmp_path).start()
        assert heir.owner and first.ping()
        heir.stop()
        assert not first.ping()
        assert not heir.server_alive()
    finally:
        if first._proc is not None:
            first._proc.wait(10)


@pytest.mark.skipif(len(str(Path("/tmp").resolve())) > 50, reason="needs a short /tmp")
def test_deep_data_dirs_get_a_short_socket(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    server = EmbeddedRedis(deep, appendfsync="no")
    assert len(str(server.socket_path)) <= 100
    assert server.socket_path == EmbeddedRedis(deep).socket_path
    with server:
        assert server.ping()
    assert os.path.exists(deep / "redis")
