"""The operator's view: /metrics in the Prometheus text format, /health that says when the model
is stale and shows internals to the admin only, slow clients cut off, and the data folder's
file modes."""

from __future__ import annotations

import socket
import stat
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from service_conftest import ADMIN, ADMIN_HEADERS, ApiProcess, bearer, user_headers

from service.main import create_app
from service.redis_server import EmbeddedRedis
from service.settings import Settings

METRICS_TOKEN = "metrics-scraper-token-not-secret-0123456789"
LIKE_ROUTE = "/users/{user_id}/likes/{paper_id:path}"


def scrape(
    c: TestClient, headers: dict[str, str] = ADMIN_HEADERS
) -> dict[tuple[str, tuple], float]:
    r = c.get("/metrics", headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    out = {}
    for family in text_string_to_metric_families(r.text):  # the Prometheus text parser
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def test_metrics_parse_and_move_when_a_like_is_recorded(
    make_settings: Callable[..., Settings],
) -> None:
    with TestClient(create_app(make_settings(metrics_token=METRICS_TOKEN))) as c:
        assert c.get("/metrics").status_code == 401
        assert c.get("/metrics", headers=bearer("not-the-token")).status_code == 401
        h = user_headers(c, "alice")
        before = scrape(c, bearer(METRICS_TOKEN))
        assert c.put("/users/alice/likes/sample:nlp-01", headers=h).status_code == 201
        for _ in range(2):  # scored once, then filtered from the kept ranking
            assert c.get("/users/alice/recommendations", headers=h).status_code == 200
        after = scrape(c)
    like = ("paperrec_feedback_recorded_total", (("action", "like"),))
    assert after[like] == before.get(like, 0) + 1
    answered = (
        "paperrec_http_requests_total",
        (("method", "PUT"), ("route", LIKE_ROUTE), ("status", "201")),
    )
    assert after[answered] == before.get(answered, 0) + 1
    latency = (
        "paperrec_http_request_duration_seconds_count",
        (("method", "PUT"), ("route", LIKE_ROUTE)),
    )
    assert after[latency] >= 1
    unseen = ("paperrec_model_unseen_feedback_changes", ())
    assert after[unseen] == before[unseen] + 1
    assert after[("paperrec_model_age_seconds", ())] >= 0
    assert after[("paperrec_model_ready", ())] == 1
    assert after[("paperrec_retrains_total", (("outcome", "succeeded"),))] >= 1  # at start
    assert after[("paperrec_retrain_duration_seconds_count", ())] >= 1
    assert after[("paperrec_redis_used_memory_bytes", ())] > 0
    assert ("paperrec_redis_errors_total", (("kind", "unreachable"),)) not in after
    for gauge, moved in (("hits", 1), ("misses", 1), ("entries", 1)):
        name = (f"paperrec_ranking_cache_{gauge}", ())
        assert after[name] == before.get(name, 0) + moved, name


def test_health_says_stale_when_the_model_missed_the_feedback(
    make_settings: Callable[..., Settings],
) -> None:
    """Today /health said ok with a model trained on 0 likes after 204,986 were imported."""
    with TestClient(create_app(make_settings(model="content", stale_feedback=500))) as c:
        health = c.get("/health").json()
        assert health["status"] == "ok" and health["model"]["stale"] is False
        likes = {f"importer{u}": [f"sample:nlp-{i:02d}" for i in range(1, 7)] for u in range(100)}
        assert c.app.state.store.import_likes(likes, source="test") == 600  # type: ignore[attr-defined]
        health = c.get("/health").json()
        assert health["status"] == "stale" and health["model"]["stale"] is True
        detail = c.get("/health", headers=ADMIN_HEADERS).json()["model"]
        assert detail["unseen_feedback"] == 600 and detail["n_feedback"] == 0
        assert c.post("/admin/retrain", headers=ADMIN_HEADERS).status_code == 202
        deadline = time.monotonic() + 60
        while c.get("/admin/retrain", headers=ADMIN_HEADERS).json()["status"] == "running":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        health = c.get("/health", headers=ADMIN_HEADERS).json()
        assert health["status"] == "ok" and health["model"]["unseen_feedback"] == 0
        assert health["model"]["n_feedback"] == 600


def test_health_shows_no_internals_to_anonymous_callers(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    server = EmbeddedRedis(tmp_path / "own-redis", appendfsync="no").start()
    settings = make_settings(redis_url=server.url, model="content")
    try:
        with TestClient(create_app(settings)) as c:
            settings.bundle_path.write_bytes(b"not a bundle")
            assert c.app.state.models.check_bundle() is False  # type: ignore[attr-defined]
            anonymous = c.get("/health")
            admin = c.get("/health", headers=ADMIN_HEADERS)
            assert str(settings.data_dir) in admin.text  # the operator sees the path ...
            assert str(settings.data_dir) not in anonymous.text  # ... nobody else does
            assert "BundleError" not in anonymous.text
            assert set(anonymous.json()["redis"]) == {"ok"}
            assert "n_feedback" not in anonymous.json()["model"]
            server.stop()
            down = c.get("/health")
            assert down.status_code == 503 and down.json()["status"] == "unavailable"
            assert str(server.socket_path) not in down.text and "Error" not in down.text
            assert str(server.socket_path) in c.get("/health", headers=ADMIN_HEADERS).text
    finally:
        server.stop()


def _trickle(port: int, at_once: bytes, data: bytes, every_s: float = 0.25) -> bytes:
    """Send ``at_once``, then ``data`` two bytes every ``every_s``; what the server answered
    (b"" if it closed without a word), or b"(all sent)" if it let the whole trickle through."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(at_once)
        for i in range(0, len(data), 2):
            try:
                s.sendall(data[i : i + 2])
            except OSError:
                break  # closed by the server
            s.settimeout(every_s)
            try:
                answer = s.recv(65536)
            except TimeoutError:
                continue
            finally:
                s.settimeout(30)
            # A trickler sends on after the answer (here: at once). The server must neither
            # reset the connection for it (a reset can discard the answer's rest, and CI saw
            # one) nor answer again: the whole 408, then a clean close.
            time.sleep(0.05)
            s.sendall(data[i + 2 : i + 4] or b"  ")
            while chunk := s.recv(65536):
                answer += chunk
            return answer
        return b"(all sent)"


def test_slow_clients_are_cut_off(tmp_path: Path) -> None:
    """Headers or a body sent a byte at a time: answered 408 and closed after the timeouts
    (here 1 s) instead of holding a connection for as long as the client likes."""
    api = ApiProcess(
        tmp_path / "data",
        PAPERREC_CLIENT_HEADER_TIMEOUT_S="1",
        PAPERREC_CLIENT_BODY_TIMEOUT_S="1",
    ).start()
    try:
        # About 80 bytes at 2 bytes per 0.25 s: 10 s to send, against 1 s allowed.
        head = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: a-very-slow-client/1.0\r\nAccept: */*\r\n\r\n"
        answer = _trickle(api.port, b"", head)
        assert answer.startswith(b"HTTP/1.1 408"), answer
        body = b'{"papers": [{"paper_id": "x:slow", "title": "Sent slowly"}]}'
        post = (
            b"POST /papers HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            + f"Authorization: Bearer {ADMIN}\r\nContent-Length: {len(body) + 40}\r\n\r\n".encode()
        )
        answer = _trickle(api.port, post, body + b" " * 40)
        assert answer.startswith(b"HTTP/1.1 408"), answer
        assert b"did not arrive" in answer
        # An ordinary client is served as before.
        assert httpx.get(f"{api.url}/health", timeout=10).status_code == 200
    finally:
        api.stop()


def test_the_data_folder_and_the_aof_are_the_owners_alone(tmp_path: Path) -> None:
    """The AOF holds every like and token hash: 0600, in folders of mode 0700 (an AOF an older
    version left 0644 is narrowed at start). Files meant for others stay 0644 by intent
    (recommender.io.files.write_atomic, tested in tests/recommender/io/test_files.py)."""
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    (data / "redis").mkdir(mode=0o755)
    old_aof = data / "redis" / "appendonly.aof"
    old_aof.write_bytes(b"")
    old_aof.chmod(0o644)
    server = EmbeddedRedis(data, appendfsync="always").start()
    try:
        with server.client() as r:
            r.set("k", "v")
        modes = {
            p.name: stat.S_IMODE(p.stat().st_mode)
            for p in (data, data / "redis", old_aof, data / "redis" / "redis.log")
        }
    finally:
        server.stop()
    assert modes == {"data": 0o700, "redis": 0o700, "appendonly.aof": 0o600, "redis.log": 0o600}


def test_metrics_count_every_worker(tmp_path: Path) -> None:
    """With --workers 2 a scrape is answered by either worker and counts the requests of both
    (one multi-process folder): 40 requests on new connections, which the kernel spreads over
    the two processes, show as 40 in every scrape."""
    api = ApiProcess(tmp_path / "data", "--workers", "2").start()
    route = (
        'paperrec_http_requests_total{method="GET",route="/papers/{paper_id:path}",status="200"}'
    )
    try:
        for _ in range(40):
            assert httpx.get(f"{api.url}/papers/sample:nlp-01", timeout=30).status_code == 200
        counts = set()
        for _ in range(10):  # each on a new connection, so on either worker
            text = httpx.get(f"{api.url}/metrics", headers=ADMIN_HEADERS, timeout=30).text
            counts |= {
                line.rsplit(" ", 1)[1] for line in text.splitlines() if line.startswith(route)
            }
    finally:
        api.stop()
    assert counts == {"40.0"}
