"""State across restarts (the embedded Redis in the data folder), the admin token file, and the
service's answer when Redis goes away."""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from service_conftest import ADMIN_HEADERS, bearer, user_headers

from service.main import create_app
from service.redis_server import EmbeddedRedis
from service.settings import Settings

LIKED = ["sample:nlp-01", "sample:vision-02", "sample:recsys-06"]
PERSIST_ADMIN = bearer("persist-admin-token-not-secret-0123456789")


def embedded_settings(data_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": data_dir,
        "redis_url": None,
        "model": "content",
        "admin_token": "persist-admin-token-not-secret-0123456789",
        "model_poll_s": 0,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


def test_likes_tokens_and_model_survive_a_restart(tmp_path: Path) -> None:
    settings = embedded_settings(tmp_path / "data")
    admin = bearer("persist-admin-token-not-secret-0123456789")
    with TestClient(create_app(settings)) as c:
        token = c.post("/users/alice/tokens", headers=admin).json()["token"]
        for p in LIKED:
            assert c.put(f"/users/alice/likes/{p}", headers=bearer(token)).status_code == 201
        c.put("/users/alice/dislikes/sample:bio-05", headers=bearer(token))
        version = c.get("/health", headers=PERSIST_ADMIN).json()["model"]["version"]
        assert c.get("/health", headers=PERSIST_ADMIN).json()["redis"]["aof_enabled"] is True
    # The app stopped its embedded server on shutdown.
    assert not EmbeddedRedis(tmp_path / "data").ping()
    assert (tmp_path / "data" / "redis" / "appendonly.aof").stat().st_size > 0

    with TestClient(create_app(settings)) as c:
        h = bearer(token)  # the token is still valid
        assert c.get("/users/alice/likes", headers=h).json()["paper_ids"] == sorted(LIKED)
        assert c.get("/users/alice/dislikes", headers=h).json()["paper_ids"] == ["sample:bio-05"]
        assert c.get("/health", headers=PERSIST_ADMIN).json()["model"]["version"] == version
        assert (
            c.get("/health", headers=PERSIST_ADMIN).json()["redis"]["papers"] == 60
        )  # sample not loaded twice
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
            assert c.get("/health", headers=PERSIST_ADMIN).status_code == 200
            server.stop()
            r = c.get("/health", headers=PERSIST_ADMIN)
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


def _resp_commands(data: bytes) -> list[list[bytes]]:
    """The commands in a stretch of an append-only file (RESP arrays of bulk strings)."""
    commands, i = [], 0
    while i < len(data):
        assert data[i : i + 1] == b"*", data[i : i + 20]
        end = data.index(b"\r\n", i)
        n, i = int(data[i + 1 : end]), end + 2
        parts = []
        for _ in range(n):
            end = data.index(b"\r\n", i)
            size = int(data[i + 1 : end])
            parts.append(data[end + 2 : end + 2 + size])
            i = end + 2 + size + 2
        commands.append(parts)
    return commands


def test_reads_write_nothing_durable_and_a_like_is_one_aof_write(tmp_path: Path) -> None:
    """With the shipped settings (rate limit on, ``appendfsync always``), 1,000 recommendation
    requests, unknown tokens and anonymous reads leave the append-only file as it was, so no read
    waits for an fsync; a like is one write (one MULTI/EXEC block: one fsync). What the lists
    showed (impressions) is written in one batch per PAPERREC_IMPRESSIONS_FLUSH_S, not by the
    requests: with a flush interval longer than the test, none lands in the window measured
    (test_impressions.py checks the batch)."""
    settings = embedded_settings(tmp_path / "data", impressions_flush_s=3600)
    assert settings.rate_limit_per_s > 0 and settings.redis_appendfsync == "always"
    aof = tmp_path / "data" / "redis" / "appendonly.aof"
    with TestClient(create_app(settings)) as c:
        admin = bearer("persist-admin-token-not-secret-0123456789")
        # 20 users x 50 requests: every request within the default per-user burst.
        users = {f"reader{u}": user_headers(c, f"reader{u}", admin) for u in range(20)}
        for u, h in users.items():
            assert c.put(f"/users/{u}/likes/{LIKED[0]}", headers=h).status_code == 201
        size = aof.stat().st_size
        codes: dict[int, int] = {}
        for _ in range(50):
            for u, h in users.items():
                r = c.get(f"/users/{u}/recommendations", params={"k": 5}, headers=h)
                codes[r.status_code] = codes.get(r.status_code, 0) + 1
        assert codes == {200: 1000}
        for i in range(300):  # unknown tokens (answered 401, then 429 once over the limit)
            c.get("/users/reader0/recommendations", headers=bearer(f"random-{i}"))
        for _ in range(50):
            c.get("/papers/sample:nlp-01")
            c.get("/papers", params={"q": "graph"})
        assert aof.stat().st_size == size  # nothing durable written by any of it
        h = users["reader0"]
        assert c.put(f"/users/reader0/likes/{LIKED[1]}", headers=h).status_code == 201
        grown = aof.read_bytes()[size:]
    commands = [parts[0].upper() for parts in _resp_commands(grown)]
    assert commands[0] == b"MULTI" and commands[-1] == b"EXEC", commands
    assert commands.count(b"MULTI") == 1 and b"XADD" in commands


def test_at_its_memory_bound_redis_refuses_writes_and_loses_nothing(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    """The embedded Redis is bounded (maxmemory) and never evicts: at the bound a write is
    answered 507 saying nothing was stored, reads go on, and every acknowledged write stays."""
    server = EmbeddedRedis(tmp_path / "own-redis", appendfsync="no", maxmemory="4mb").start()
    try:
        with server.client(decode_responses=True) as r:
            assert r.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}
        with TestClient(create_app(make_settings(redis_url=server.url))) as c:
            h = user_headers(c, "alice")
            stored: list[str] = []
            full = None
            for batch in range(40):
                papers = [
                    {"paper_id": f"x:{batch}-{i}", "title": f"Paper {i}", "abstract": "w " * 2500}
                    for i in range(50)
                ]
                r = c.post("/papers", json={"papers": papers}, headers=ADMIN_HEADERS)
                if r.status_code != 200:
                    full = r
                    break
                stored += [p["paper_id"] for p in papers]
            assert full is not None and full.status_code == 507, "the bound was never reached"
            assert "nothing was stored" in full.json()["detail"]
            # Redis counts a request's own buffers while it decides, so memory may sink below
            # the bound again once a large batch is refused; held over it from here on.
            with server.client(decode_responses=True) as r:
                r.config_set("maxmemory", int(r.info("memory")["used_memory"]) // 2)
            like = c.put(f"/users/alice/likes/{stored[0]}", headers=h)
            assert like.status_code == 507 and "nothing was stored" in like.json()["detail"]
            assert c.get("/users/alice/likes", headers=h).json()["paper_ids"] == []
            assert c.get("/users/alice/recommendations", headers=h).status_code == 200
            assert c.post("/users/bob/tokens", headers=ADMIN_HEADERS).status_code == 507
            with server.client(decode_responses=True) as r:
                assert set(stored) <= set(r.hkeys("paperrec:papers"))  # nothing evicted
                r.config_set("maxmemory", "0")
            assert c.put(f"/users/alice/likes/{stored[0]}", headers=h).status_code == 201
    finally:
        server.stop()


def _write_aof(path: Path, n: int) -> None:
    """A plain-command append-only file of ``n`` HSETs: 4 fields rewritten over and over (the
    impressions' pattern: many writes, little data), plus one field per 1000 writes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    hset = b"*4\r\n$4\r\nHSET\r\n$1\r\nh\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n"
    with path.open("wb") as f:
        for start in range(0, n, 100_000):
            chunk = []
            for i in range(start, min(n, start + 100_000)):
                field = b"f%d" % (i % 4) if i % 1000 else b"k%d" % i
                value = b"%d" % i
                chunk.append(hset % (len(field), field, len(value), value))
            f.write(b"".join(chunk))


def test_a_long_load_is_waited_for_and_a_bloated_file_is_rewritten(tmp_path: Path) -> None:
    """A server still loading a large append-only file answers LOADING: that is waited for,
    however long it lasts (here about half a second, against 0.1 s of silence allowed), instead of
    being taken for a dead server. Once it answers, a file far larger than its data is
    rewritten in the background (Redis alone would wait until it doubled again)."""
    aof = tmp_path / "redis" / "appendonly.aof"
    n = 400_000  # about 14 MB: small enough not to weigh on the disk the other tests fsync to
    _write_aof(aof, n)
    before = aof.stat().st_size
    server = EmbeddedRedis(
        tmp_path, appendfsync="no", start_timeout_s=0.1, compact_above_bytes=2**20
    ).start()
    try:
        with server.client(decode_responses=True) as c:
            assert c.hget("h", "f0") == str(n - 4) and c.hget("h", "k1000") == "1000"
            assert c.hlen("h") == 4 + n // 1000
            for _ in range(200):  # the rewrite runs in a forked child
                info = c.info("persistence")
                if not info["aof_rewrite_in_progress"] and not info["aof_rewrite_scheduled"]:
                    break
                time.sleep(0.05)
            assert info["aof_last_bgrewrite_status"] == "ok"
        after = aof.stat().st_size
        assert after < before / 20, (before, after)
    finally:
        server.stop()
    # What was rewritten loads back whole.
    again = EmbeddedRedis(tmp_path, appendfsync="no").start()
    try:
        with again.client(decode_responses=True) as c:
            assert c.hget("h", "f3") == str(n - 1) and c.hlen("h") == 4 + n // 1000
    finally:
        again.stop()
