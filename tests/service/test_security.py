"""Who may do what, tokens kept secret (hashed, compared in constant time, never logged), and the
per-token rate limit."""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from service_conftest import ADMIN, ADMIN_HEADERS, ApiProcess, bearer, raw_redis, user_headers

from service import keys
from service.main import create_app
from service.security import AdminTokenError, RedactQueryStrings, admin_token, hash_token
from service.settings import Settings

PAPER = "sample:nlp-01"
# (method, path) of every route that acts for a user.
USER_ROUTES = [
    ("PUT", f"/users/alice/likes/{PAPER}"),
    ("DELETE", f"/users/alice/likes/{PAPER}"),
    ("GET", "/users/alice/likes"),
    ("PUT", f"/users/alice/dislikes/{PAPER}"),
    ("DELETE", f"/users/alice/dislikes/{PAPER}"),
    ("GET", "/users/alice/dislikes"),
    ("GET", "/users/alice/recommendations"),
]
ADMIN_ROUTES = [
    ("POST", "/users/alice/tokens"),
    ("POST", "/admin/retrain"),
    ("GET", "/admin/retrain"),
    ("POST", "/papers"),
]


def test_user_routes_need_the_users_own_token(client: TestClient) -> None:
    bob = user_headers(client, "bob")
    alice = user_headers(client, "alice")
    for method, path in USER_ROUTES:
        r = client.request(method, path)
        assert r.status_code == 401, (method, path)
        assert r.headers["www-authenticate"] == "Bearer"
        r = client.request(method, path, headers=bearer("not-a-token"))
        assert r.status_code == 401, (method, path)
        r = client.request(method, path, headers=bob)
        assert r.status_code == 403, (method, path)
        assert "'bob'" in r.json()["detail"]
        assert client.request(method, path, headers=alice).status_code not in (401, 403)
        assert client.request(method, path, headers=ADMIN_HEADERS).status_code not in (401, 403)


def test_admin_routes_refuse_user_tokens(client: TestClient) -> None:
    alice = user_headers(client, "alice")
    for method, path in ADMIN_ROUTES:
        assert client.request(method, path, json={}).status_code == 401, (method, path)
        r = client.request(method, path, json={}, headers=alice)
        assert r.status_code == 403, (method, path)
        assert r.json()["detail"] == "this needs the admin token"
        r = client.request(method, path, json={}, headers=ADMIN_HEADERS)
        assert r.status_code not in (401, 403), (method, path)


def test_only_token_hashes_are_stored(client: TestClient, redis_url: str) -> None:
    token = client.post("/users/alice/tokens", headers=ADMIN_HEADERS).json()["token"]
    with raw_redis(redis_url) as r:
        dump = {k: r.dump(k) for k in r.keys("*")}
        record = json.loads(r.get(keys.token(hash_token(token))) or "{}")
        assert record["user"] == "alice" and record["scope"] == "user"
    assert not any(token.encode() in (v or b"") or token in k for k, v in dump.items())


def test_the_admin_token_is_compared_in_constant_time(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[str, str]] = []
    real = hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        seen.append((a, b))
        return real(a, b)

    monkeypatch.setattr("service.security.hmac.compare_digest", spy)
    assert client.post("/users/alice/tokens", headers=ADMIN_HEADERS).status_code == 201
    assert client.post("/users/alice/tokens", headers=bearer(ADMIN + "x")).status_code == 401
    # Both checks went through compare_digest, on digests, never on the secret itself.
    assert seen == [(hash_token(ADMIN), hash_token(ADMIN)), (hash_token(ADMIN + "x"), seen[0][1])]


def test_rate_limit_per_user_answers_429_with_retry_after(
    make_settings: Callable[..., Settings],
) -> None:
    # A refill so slow that no token comes back during the test: exactly `burst` requests pass.
    with TestClient(create_app(make_settings(rate_limit_per_s=0.01, rate_limit_burst=3))) as c:
        first = user_headers(c, "alice")
        codes = [c.get("/users/alice/likes", headers=first).status_code for _ in range(5)]
        assert codes == [200, 200, 200, 429, 429]
        r = c.get("/users/alice/likes", headers=first)
        assert r.status_code == 429
        assert int(r.headers["retry-after"]) >= 1
        assert "rate limit of user 'alice'" in r.json()["detail"]
        # Per user, not per token: more tokens of the same user give no more requests ...
        for _ in range(3):
            more = user_headers(c, "alice")
            assert c.get("/users/alice/likes", headers=more).status_code == 429
        # ... while another user has a bucket of their own.
        assert c.get("/users/bob/likes", headers=user_headers(c, "bob")).status_code == 200
        # The admin is exempt.
        for _ in range(10):
            assert c.get("/users/alice/likes", headers=ADMIN_HEADERS).status_code == 200


def test_requests_without_a_valid_token_are_limited_per_address(
    make_settings: Callable[..., Settings],
) -> None:
    """Anonymous requests and unknown tokens (which used to be free to send and to write the
    AOF) are counted per client address; a valid user's requests are not among them."""
    settings = make_settings(address_rate_limit_per_s=0.01, address_rate_limit_burst=4)
    with TestClient(create_app(settings)) as c:
        alice = user_headers(c, "alice")
        codes = [
            c.get("/users/alice/likes").status_code,  # no token
            c.get("/users/alice/likes", headers=bearer("guess-1")).status_code,
            c.get("/papers/sample:nlp-01").status_code,  # a public route
            c.get("/papers", params={"q": "graph"}).status_code,
            c.get("/users/alice/likes", headers=bearer("guess-2")).status_code,
            c.get("/papers/sample:nlp-01").status_code,
            c.get("/health").status_code,
        ]
        assert codes == [401, 401, 200, 200, 429, 429, 429]
        r = c.get("/users/alice/likes", headers=bearer("guess-3"))
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        assert "without a valid token" in r.json()["detail"]
        # The user's own token still works from that address, and the admin is exempt.
        assert c.get("/users/alice/likes", headers=alice).status_code == 200
        assert c.get("/papers/sample:nlp-01", headers=ADMIN_HEADERS).status_code == 200


def test_a_short_admin_token_is_refused(make_settings: Callable[..., Settings]) -> None:
    """An 11-character admin token used to be accepted."""
    for weak in ("elevenchars", "x" * 40, "abcabcabcabcabcabcabcabcabcabcabcabc"):
        with pytest.raises(ValueError, match="at least 32 characters"):
            make_settings(admin_token=weak)
    # The same rule for a token file written by hand.
    settings = make_settings(admin_token=None)
    settings.data_dir.mkdir(parents=True)
    settings.admin_token_path.write_text("elevenchars\n")
    settings.admin_token_path.chmod(0o600)
    with pytest.raises(AdminTokenError, match="at least 32 characters"):
        admin_token(settings)


def test_rate_limit_can_be_turned_off(make_settings: Callable[..., Settings]) -> None:
    with TestClient(create_app(make_settings(rate_limit_per_s=0, rate_limit_burst=1))) as c:
        h = user_headers(c, "alice")
        assert {c.get("/users/alice/likes", headers=h).status_code for _ in range(5)} == {200}


def test_no_token_reaches_the_logs(
    make_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, every level: redis, httpx, the service
    with TestClient(create_app(make_settings())) as c:
        token = c.post("/users/alice/tokens", headers=ADMIN_HEADERS).json()["token"]
        h = bearer(token)
        assert c.put(f"/users/alice/likes/{PAPER}", headers=h).status_code == 201
        assert c.get("/users/alice/recommendations", headers=h).status_code == 200
        assert c.get("/users/bob/likes", headers=h).status_code == 403
        assert c.get("/users/alice/likes", headers=bearer(token + "x")).status_code == 401
        assert c.get(f"/users/alice/likes?access_token={token}", headers=h).status_code == 200
    # The service's side: everything but the test's own HTTP client (httpx logs its URLs).
    records = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    text = "".join(f"{r.getMessage()} {r.args!r} {r.exc_text}" for r in records)
    assert any(r.name.startswith("service") for r in records)  # the capture saw the service
    assert token not in text
    assert ADMIN not in text


def test_access_log_query_strings_are_redacted() -> None:
    # The record uvicorn's access logger emits: client, method, path with query, version, status.
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/users/alice/likes?access_token=s3cret&k=3", "1.1", 200),
        None,
    )
    assert RedactQueryStrings().filter(record)
    assert (
        record.getMessage() == '127.0.0.1:5000 - "GET /users/alice/likes?<redacted> HTTP/1.1" 200'
    )


def test_a_real_server_logs_no_token(tmp_path: Path) -> None:
    api = ApiProcess(tmp_path / "data", PAPERREC_LOG_LEVEL="debug").start()
    try:
        with httpx.Client(base_url=api.url, timeout=30) as c:
            token = c.post("/users/alice/tokens", headers=ADMIN_HEADERS).json()["token"]
            h = bearer(token)
            assert c.put(f"/users/alice/likes/{PAPER}", headers=h).status_code == 201
            # A client that wrongly puts the token into the query string as well.
            r = c.get("/users/alice/recommendations", params={"access_token": token}, headers=h)
            assert r.status_code == 200
            assert c.get("/users/alice/likes", headers=bearer(token[:-1])).status_code == 401
    finally:
        api.stop()
    log = api.log()
    assert '"GET /users/alice/recommendations?<redacted> HTTP/1.1" 200' in log  # access log on
    assert token not in log
    assert ADMIN not in log
    redis_log = (tmp_path / "data" / "redis" / "redis.log").read_text()
    assert token not in redis_log and ADMIN not in redis_log


def _big_batch(n_bytes: int) -> bytes:
    paper = {"paper_id": "x:0", "title": "T", "abstract": "word " * 400}
    one = len(json.dumps(paper)) + 2
    papers = [{**paper, "paper_id": f"x:{i}"} for i in range(n_bytes // one)]
    return json.dumps({"papers": papers}).encode()


def test_post_papers_checks_the_admin_token_before_reading_the_body(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The body of POST /papers is parsed only for the admin, and then on a worker thread."""
    import asyncio

    from service.routes import papers

    parsed: list[bool] = []
    real = papers._parse_papers

    def spy(raw: bytes) -> Any:
        try:
            asyncio.get_running_loop()
            parsed.append(False)  # on the event loop
        except RuntimeError:
            parsed.append(True)  # on a worker thread
        return real(raw)

    monkeypatch.setattr(papers, "_parse_papers", spy)
    body = _big_batch(2_000_000)
    headers = {"Content-Type": "application/json"}
    alice = user_headers(client, "alice")
    assert client.post("/papers", content=body, headers=headers).status_code == 401
    assert client.post("/papers", content=body, headers={**headers, **alice}).status_code == 403
    assert parsed == []
    small = json.dumps({"papers": [{"paper_id": "x:new", "title": "New"}]})
    r = client.post("/papers", content=small, headers={**headers, **ADMIN_HEADERS})
    assert r.status_code == 200 and parsed == [True]


def _peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def test_unauthenticated_10_mb_bodies_cost_no_memory(tmp_path: Path) -> None:
    """Four unauthenticated 9.9 MB bodies at once: each answered 401 without being parsed, and
    the server's peak memory does not move (today's code parsed each, about 200 MB apiece)."""
    import socket
    from concurrent.futures import ThreadPoolExecutor

    body = _big_batch(9_900_000)
    api = ApiProcess(tmp_path / "data").start()
    try:
        assert api.proc is not None
        with httpx.Client(base_url=api.url, timeout=30) as c:  # warm: one ordinary request
            assert c.get("/papers", params={"q": "graph"}).status_code == 200
        before = _peak_rss_mib(api.proc.pid)

        def send() -> bytes:
            with socket.create_connection(("127.0.0.1", api.port), timeout=60) as s:
                s.sendall(
                    b"POST /papers HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                )
                # The server may answer and close before the body is all sent.
                with contextlib.suppress(OSError):
                    s.sendall(body)
                answer = b""
                while chunk := s.recv(65536):
                    answer += chunk
                return answer

        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda _: send(), range(4)))
        after = _peak_rss_mib(api.proc.pid)
    finally:
        api.stop()
    assert all(a.startswith(b"HTTP/1.1 401") for a in answers), [a[:80] for a in answers]
    print(f"peak RSS {before:.1f} -> {after:.1f} MiB")
    assert after - before < 20, (before, after)
