"""Tokens through the API: scopes (``feed:read`` reads a feed and nothing else), expiry,
revocation by the admin or the user, tokens of older versions, and a check that looks at the
token before anything of the user the path names (no timing oracle)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import Request
from fastapi.testclient import TestClient
from service_conftest import ADMIN_HEADERS, bearer, raw_redis, user_headers

from service import keys
from service.cli import main
from service.deps import Credentials, UserIdPath, authorize
from service.main import create_app
from service.security import FEED_SCOPES, hash_token
from service.settings import Settings

PAPER = "sample:nlp-01"


def issue(c: TestClient, user: str, **body: Any) -> dict[str, Any]:
    r = c.post(f"/users/{user}/tokens", headers=ADMIN_HEADERS, json=body or None)
    assert r.status_code == 201, r.text
    return dict(r.json())


def with_feed_probe(settings: Settings) -> Any:
    """The app plus a route that opts in to feed tokens, as the coming feed routes will: the
    scope machinery tested on a route of its own."""
    app = create_app(settings)

    async def feed_probe(request: Request, user_id: UserIdPath, credentials: Credentials) -> dict:
        principal, access = await authorize(
            request, credentials, user_id=user_id, feedback=True, scopes=FEED_SCOPES
        )
        return {"user": principal.user_id, "scope": principal.scope, "likes": access.likes}

    app.router.add_api_route("/users/{user_id}/feed-probe", feed_probe, methods=["GET"])
    return app


def test_a_feed_token_reads_a_feed_and_nothing_else(make_settings: Callable[..., Settings]) -> None:
    with TestClient(with_feed_probe(make_settings())) as c:
        full = user_headers(c, "alice")
        assert c.put(f"/users/alice/likes/{PAPER}", headers=full).status_code == 201
        feed = issue(c, "alice", scope="feed:read")
        assert feed["scope"] == "feed:read" and feed["expires_at"] is None
        h = bearer(feed["token"])
        # The route that opts in: allowed, for alice only.
        r = c.get("/users/alice/feed-probe", headers=h)
        assert r.status_code == 200
        assert r.json() == {"user": "alice", "scope": "feed:read", "likes": [PAPER]}
        assert c.get("/users/bob/feed-probe", headers=h).status_code == 403
        # Everything else: 403, naming the scope.
        for method, path in [
            ("GET", "/users/alice/recommendations"),
            ("GET", "/users/alice/likes"),
            ("PUT", "/users/alice/likes/sample:nlp-02"),
            ("DELETE", f"/users/alice/likes/{PAPER}"),
            ("GET", "/users/alice/dislikes"),
            ("GET", "/users/alice/tokens"),
            ("DELETE", f"/users/alice/tokens/{feed['token_id']}"),
            ("POST", "/users/alice/tokens"),
        ]:
            r = c.request(method, path, headers=h)
            assert r.status_code == 403, (method, path, r.text)
        r = c.get("/users/alice/recommendations", headers=h)
        assert "scope 'feed:read' does not allow" in r.json()["detail"]
        # The full token may use the feed route too.
        assert c.get("/users/alice/feed-probe", headers=full).status_code == 200
        assert c.get("/users/alice/likes", headers=full).json()["paper_ids"] == [PAPER]


def test_tokens_are_revoked_by_the_admin_or_their_user(client: TestClient) -> None:
    first, second = issue(client, "alice"), issue(client, "alice")
    bob = user_headers(client, "bob")
    listed = client.get("/users/alice/tokens", headers=ADMIN_HEADERS).json()
    assert [t["token_id"] for t in listed["tokens"]] == [first["token_id"], second["token_id"]]
    assert all("token" not in t for t in listed["tokens"])  # never the secret itself
    h1, h2 = bearer(first["token"]), bearer(second["token"])
    assert client.get("/users/alice/tokens", headers=h1).json() == listed
    # Bob may neither list nor revoke alice's tokens.
    assert client.get("/users/alice/tokens", headers=bob).status_code == 403
    assert client.delete(f"/users/alice/tokens/{first['token_id']}", headers=bob).status_code == 403
    # Alice revokes her first token with it; from the next request on it is unknown.
    r = client.delete(f"/users/alice/tokens/{first['token_id']}", headers=h1)
    assert r.status_code == 204
    assert client.get("/users/alice/likes", headers=h1).status_code == 401
    assert client.get("/users/alice/likes", headers=h2).status_code == 200
    r = client.delete(f"/users/alice/tokens/{first['token_id']}", headers=h2)
    assert r.status_code == 404 and "no live token" in r.json()["detail"]
    # Not a token of this user: 404 as well, even for the admin.
    bob_id = client.get("/users/bob/tokens", headers=ADMIN_HEADERS).json()["tokens"][0]["token_id"]
    assert client.delete(f"/users/alice/tokens/{bob_id}", headers=ADMIN_HEADERS).status_code == 404
    assert client.get("/users/bob/likes", headers=bob).status_code == 200
    # The admin revokes the second.
    r = client.delete(f"/users/alice/tokens/{second['token_id']}", headers=ADMIN_HEADERS)
    assert r.status_code == 204
    assert client.get("/users/alice/likes", headers=h2).status_code == 401
    assert client.get("/users/alice/tokens", headers=ADMIN_HEADERS).json()["tokens"] == []
    assert client.delete("/users/alice/tokens/not-an-id", headers=ADMIN_HEADERS).status_code == 422


def test_a_token_expires(
    client: TestClient, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    t = issue(client, "alice", expires_in_s=3600)
    assert t["expires_at"] == pytest.approx(time.time() + 3600, abs=60)
    h = bearer(t["token"])
    assert client.get("/users/alice/likes", headers=h).status_code == 200
    with raw_redis(redis_url) as r:
        assert 0 < r.ttl(keys.token(hash_token(t["token"]))) <= 3601  # Redis drops the record too
    later = time.time() + 3601
    monkeypatch.setattr("service.deps.time.time", lambda: later)
    r = client.get("/users/alice/likes", headers=h)
    assert r.status_code == 401 and "expired" in r.json()["detail"]
    for bad in ({"expires_in_s": 59}, {"scope": "admin"}, {"expires": 60}):
        r = client.post("/users/alice/tokens", headers=ADMIN_HEADERS, json=bad)
        assert r.status_code == 422, bad


def test_tokens_of_older_versions_keep_working(client: TestClient, redis_url: str) -> None:
    """Before scopes, a token's record was the bare user id."""
    legacy = "legacy-token-of-an-older-version-0123456789abcdef"
    with raw_redis(redis_url) as r:
        r.set(keys.token(hash_token(legacy)), "alice")
        r.sadd(keys.user_tokens("alice"), hash_token(legacy))
    h = bearer(legacy)
    assert client.put(f"/users/alice/likes/{PAPER}", headers=h).status_code == 201
    assert client.get("/users/alice/recommendations", headers=h).status_code == 200
    assert client.get("/users/bob/likes", headers=h).status_code == 403
    [listed] = client.get("/users/alice/tokens", headers=h).json()["tokens"]
    assert listed["scope"] == "user" and listed["expires_at"] is None


def _command_calls(url: str) -> dict[str, int]:
    with raw_redis(url) as r:
        stats = r.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}


def _work_of(c: TestClient, url: str, path: str, headers: dict[str, str]) -> dict[str, int]:
    """The Redis commands one request made (INFO commandstats counts those run by scripts)."""
    before = _command_calls(url)
    c.get(path, headers=headers)
    after = _command_calls(url)
    return {k: n - before.get(k, 0) for k, n in after.items() if n != before.get(k, 0)}


def test_a_refused_token_costs_the_same_whichever_user_the_path_names(
    client: TestClient, redis_url: str
) -> None:
    """Before, a user's likes were read before the token was checked, so a 401's time told
    whether the user existed and how active they were. Now nothing of the path's user is read
    for an unknown or foreign token: the same Redis work and the same answer for any user."""
    heavy = user_headers(client, "heavy")
    for i in range(1, 11):
        assert (
            client.put(f"/users/heavy/likes/sample:nlp-{i:02d}", headers=heavy).status_code == 201
        )
    mallory = user_headers(client, "mallory")
    for headers, status in ((bearer("not-a-token"), 401), (mallory, 403)):
        works, answers = [], []
        for user in ("heavy", "nobody"):
            path = f"/users/{user}/recommendations"
            works.append(_work_of(client, redis_url, path, headers))
            r = client.get(path, headers=headers)
            assert r.status_code == status
            answers.append(r.json()["detail"].replace(user, "USER"))
        assert works[0] == works[1], works
        assert "get" in works[0], works[0]  # the token was looked up (the counts are real) ...
        assert not {"smembers", "sismember", "scard", "hexists"} & set(works[0]), works[0]
        assert answers[0] == answers[1]


def test_the_token_command_issues_scoped_and_expiring_tokens(
    tmp_path: Any,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    make_settings: Callable[..., Settings],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("PAPERREC_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PAPERREC_ADMIN_TOKEN", "cli-admin-token-not-secret-0123456789")
    assert main(["token", "alice", "--scope", "feed:read", "--expires-in", "600"]) == 0
    out = capsys.readouterr()
    token = out.out.strip()
    assert "token_id" in out.err
    with TestClient(create_app(make_settings())) as c:
        assert c.get("/users/alice/recommendations", headers=bearer(token)).status_code == 403
        [info] = c.get("/users/alice/tokens", headers=ADMIN_HEADERS).json()["tokens"]
        assert info["scope"] == "feed:read"
        assert info["expires_at"] == pytest.approx(time.time() + 600, abs=60)
