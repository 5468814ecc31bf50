"""The web page through the app (real Redis, no browser): sign-in links and sessions, the
cross-site checks, one user's session against another's data, the core actions as plain form
posts (what works without JavaScript), the library import's report and the offline docs.

The same flows in a real browser: test_web_browser.py."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis
from fastapi.testclient import TestClient
from service_conftest import ADMIN_HEADERS, bearer, user_headers
from web_helpers import bibtex, catalog

from service import keys
from service.cli import main
from service.main import create_app
from service.settings import Settings
from service.store import Store
from service.web.auth import COOKIE
from service.web.sessions import NEW_VISIT_S, visit

LIKED = "sample:quantum-01"
OTHER = "sample:bio-01"


def login_link(client: TestClient, user: str) -> str:
    r = client.post(f"/users/{user}/login-link", headers=ADMIN_HEADERS)
    assert r.status_code == 201, r.text
    url = r.json()["url"]
    assert url.startswith("http://testserver/login?link=")
    return str(url.split("=", 1)[1])


def sign_in(client: TestClient, user: str) -> str:
    """Sign ``user`` in through a login link (the client keeps the cookie); their CSRF token."""
    secret = login_link(client, user)
    page = client.get("/login", params={"link": secret})
    assert page.status_code == 200 and f"Continue as {user}" in page.text
    r = client.post("/login", data={"secret": secret}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return csrf_of(client.get("/").text)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html[:2000]
    return found.group(1)


def suggested_ids(html: str) -> list[str]:
    block = html.split('id="suggestions"', 1)[1]
    return re.findall(r'<article class="card[^"]*" data-paper="([^"]+)"', block)


def likes_of(client: TestClient, user: str) -> list[str]:
    r = client.get(f"/users/{user}/likes", headers=ADMIN_HEADERS)
    return list(r.json()["paper_ids"])


# ------------------------------------------------------------------------------ sign-in
def test_a_login_link_signs_in_once_with_a_safe_cookie(client: TestClient) -> None:
    secret = login_link(client, "alice")
    assert client.get("/", follow_redirects=False).headers["location"].startswith("/signin")
    # Opening the link uses nothing up (a mail scanner fetching it cannot spend it).
    assert client.get("/login", params={"link": secret}).status_code == 200
    assert client.get("/login", params={"link": secret}).status_code == 200
    r = client.post("/login", data={"secret": secret}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    attrs = {a.strip().split("=")[0].lower() for a in cookie.split(";")}
    assert {"httponly", "max-age", "path", "samesite"} <= attrs
    assert "samesite=lax" in cookie.lower()
    assert "secure" not in attrs  # served over http here (see the https test)
    page = client.get("/")
    assert page.status_code == 200 and "Suggestions for alice" in page.text
    # Used: refused, and it signs nobody in.
    client.cookies.clear()
    assert client.get("/login", params={"link": secret}).status_code == 410
    again = client.post("/login", data={"secret": secret}, follow_redirects=False)
    assert again.status_code == 410 and "cannot be used" in again.text
    assert "set-cookie" not in again.headers
    assert client.post("/login", data={"secret": "made-up"}).status_code == 410


def test_an_expired_login_link_is_refused(client: TestClient) -> None:
    secret = login_link(client, "alice")
    r = raw(client)
    # Past its own expiry (Redis would remove the key at that second; the record says so too).
    (key,) = r.scan_iter(match=keys.login_link("*"))  # every node's keys on a cluster
    record = json.loads(r.get(key))
    record["expires"] = record["created"] - 1
    r.set(key, json.dumps(record))
    assert client.get("/login", params={"link": secret}).status_code == 410
    assert client.post("/login", data={"secret": secret}).status_code == 410
    assert client.get("/", follow_redirects=False).status_code == 303


def test_the_cookie_is_secure_over_https(client: TestClient) -> None:
    secret = login_link(client, "alice")
    r = client.post("https://testserver/login", data={"secret": secret}, follow_redirects=False)
    assert r.status_code == 303
    assert "secure" in {a.strip().lower() for a in r.headers["set-cookie"].split(";")}


def test_signing_in_with_a_pasted_token(client: TestClient) -> None:
    token = user_headers(client, "carol")["Authorization"].split()[1]
    r = client.post(
        "/signin", data={"token": f" {token} ", "next": "/library"}, follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"] == "/library"
    assert "My library" in client.get("/library").text
    client.cookies.clear()
    feed = client.post("/users/carol/tokens", json={"scope": "feed:read"}, headers=ADMIN_HEADERS)
    for presented, why in [
        ("not-a-token", "Unknown token"),
        (feed.json()["token"], "only reads a feed"),
        (ADMIN_HEADERS["Authorization"].split()[1], "admin token"),
    ]:
        r = client.post("/signin", data={"token": presented}, follow_redirects=False)
        assert r.status_code == 401 and why in r.text
        assert "set-cookie" not in r.headers
    # ``next`` never leads to another site.
    r = client.post(
        "/signin", data={"token": token, "next": "//evil.example/x"}, follow_redirects=False
    )
    assert r.headers["location"] == "/"


def test_signing_out_ends_the_session_for_good(client: TestClient) -> None:
    csrf = sign_in(client, "alice")
    cookie = client.cookies[COOKIE]
    r = client.post("/signout", data={"csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/signin")
    client.cookies.set(COOKIE, cookie)  # the old cookie, kept by an attacker
    assert client.get("/", follow_redirects=False).status_code == 303
    r = client.post(
        "/feedback",
        data={"csrf": csrf, "paper_id": LIKED, "action": "like"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"].startswith("/signin")
    assert likes_of(client, "alice") == []


def test_signing_out_everywhere_and_the_admin_ending_sessions(client: TestClient) -> None:
    first = sign_in(client, "alice")
    one = client.cookies[COOKIE]
    client.cookies.clear()
    sign_in(client, "alice")
    two = client.cookies[COOKIE]
    client.cookies.set(COOKIE, one)
    r = client.post("/settings/signout-everywhere", data={"csrf": first}, follow_redirects=False)
    assert r.status_code == 303
    for cookie in (one, two):
        client.cookies.set(COOKIE, cookie)
        assert client.get("/", follow_redirects=False).status_code == 303
    client.cookies.clear()
    sign_in(client, "alice")
    r = client.delete("/users/alice/sessions", headers=ADMIN_HEADERS)
    assert r.status_code == 200 and r.json() == {"user_id": "alice", "ended": 1}
    assert client.get("/", follow_redirects=False).status_code == 303
    assert (
        client.delete("/users/alice/sessions", headers=user_headers(client, "alice")).status_code
        == 403
    )


# ------------------------------------------------------------------- cross-site requests
def test_a_form_without_the_csrf_token_or_from_another_site_is_refused(
    client: TestClient,
) -> None:
    csrf = sign_in(client, "alice")
    like = {"paper_id": LIKED, "action": "like"}
    assert client.post("/feedback", data=like, follow_redirects=False).status_code == 403
    assert client.post("/feedback", data={**like, "csrf": "x" * 32}).status_code == 403
    evil = {"Origin": "http://evil.example"}
    r = client.post("/feedback", data={**like, "csrf": csrf}, headers=evil, follow_redirects=False)
    assert r.status_code == 403
    r = client.post(
        "/feedback",
        data={**like, "csrf": csrf},
        headers={"Referer": "http://evil.example/page"},
        follow_redirects=False,
    )
    assert r.status_code == 403
    scripted = client.post("/feedback", data=like, headers={"X-Requested-With": "fetch"})
    assert scripted.status_code == 403 and "refused" in scripted.json()["detail"]
    files = {"file": ("refs.bib", b"@article{a, title={Quantum}}")}
    assert client.post("/library/import", files=files).status_code == 403
    assert client.post("/signout", data={}).status_code == 403
    assert client.post("/settings/signout-everywhere", data={}).status_code == 403
    assert likes_of(client, "alice") == []
    assert "Suggestions for alice" in client.get("/").text  # still signed in
    # A sign-in form from another site (login CSRF) is refused too.
    secret = login_link(client, "mallory")
    r = client.post("/login", data={"secret": secret}, headers=evil, follow_redirects=False)
    assert r.status_code == 403
    # The same form from this site, with the token, is stored.
    ok = client.post(
        "/feedback",
        data={**like, "csrf": csrf},
        headers={"Origin": "http://testserver"},
        follow_redirects=False,
    )
    assert ok.status_code == 303
    assert likes_of(client, "alice") == [LIKED]


def test_one_users_session_cannot_read_or_change_anothers_data(client: TestClient) -> None:
    alice_csrf = sign_in(client, "alice")
    client.post("/feedback", data={"csrf": alice_csrf, "paper_id": LIKED, "action": "like"})
    alice = client.cookies[COOKIE]
    client.cookies.clear()
    bob_csrf = sign_in(client, "bob")
    # Bob's pages show Bob's data: Alice's like is not in his library.
    assert LIKED not in client.get("/library").text
    # Alice's CSRF token with Bob's cookie is refused; Bob's buttons change only Bob's likes.
    r = client.post("/feedback", data={"csrf": alice_csrf, "paper_id": OTHER, "action": "like"})
    assert r.status_code == 403
    client.post("/feedback", data={"csrf": bob_csrf, "paper_id": LIKED, "action": "unlike"})
    client.post("/feedback", data={"csrf": bob_csrf, "paper_id": OTHER, "action": "like"})
    assert likes_of(client, "alice") == [LIKED]
    assert likes_of(client, "bob") == [OTHER]
    # A session cookie is not an API credential: the API wants a bearer token.
    client.cookies.set(COOKIE, alice)
    assert client.get("/users/alice/likes").status_code == 401
    assert client.put(f"/users/alice/likes/{OTHER}").status_code == 401
    assert likes_of(client, "alice") == [LIKED]


# ---------------------------------------------------------------- the pages, without JS
def test_like_dislike_and_undo_as_plain_forms_rerank_the_suggestions(client: TestClient) -> None:
    csrf = sign_in(client, "alice")
    before = suggested_ids(client.get("/").text)
    liked = before[0]  # a suggestion: liking it takes it out of the list
    r = client.post(
        "/feedback",
        data={"csrf": csrf, "paper_id": liked, "action": "like", "next": "/"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/"
    page = client.get("/").text
    after = suggested_ids(page)
    assert liked not in after and after != before
    # The suggestions now follow the like: papers of its topic first, explained by it.
    topic = liked.split("-")[0]
    assert [p.split("-")[0] for p in after[:3]] == [topic] * 3
    assert "Because you liked" in page and f'href="/paper/{liked}"' in page
    assert likes_of(client, "alice") == [liked]
    # A dislike leaves the list too, and shows in the library with its undo.
    client.post("/feedback", data={"csrf": csrf, "paper_id": after[0], "action": "dislike"})
    assert after[0] not in suggested_ids(client.get("/").text)
    library = client.get("/library").text
    assert "Liked (1)" in library and "Disliked (1)" in library
    client.post("/feedback", data={"csrf": csrf, "paper_id": liked, "action": "unlike"})
    client.post("/feedback", data={"csrf": csrf, "paper_id": after[0], "action": "undislike"})
    assert likes_of(client, "alice") == []
    assert "Liked (0)" in client.get("/library").text
    # An unknown paper is said so, and nothing is stored.
    r = client.post("/feedback", data={"csrf": csrf, "paper_id": "sample:nope", "action": "like"})
    assert r.status_code == 404 and "sample:nope" in r.text


def test_the_scripted_button_answers_with_the_reranked_list(client: TestClient) -> None:
    csrf = sign_in(client, "alice")
    r = client.post(
        "/feedback",
        data={"csrf": csrf, "paper_id": LIKED, "action": "like", "view": "suggestions"},
        headers={"X-Requested-With": "fetch"},
    )
    assert r.status_code == 200
    body = r.json()
    assert body["state"] == "like"
    ids = re.findall(r'data-paper="([^"]+)"', body["html"])
    assert ids and LIKED not in ids and ids == suggested_ids(client.get("/").text)
    # Elsewhere (a paper page) only the new state comes back.
    r = client.post(
        "/feedback",
        data={"csrf": csrf, "paper_id": LIKED, "action": "unlike"},
        headers={"X-Requested-With": "fetch"},
    )
    assert r.json() == {"paper_id": LIKED, "state": ""}


def test_search_and_the_paper_page(client: TestClient) -> None:
    page = client.get("/search", params={"q": "protein amino acids"})
    assert page.status_code == 200 and "sample:bio-" in page.text
    assert "to like papers" in page.text  # signed out: no buttons, an invitation
    paper = client.get(f"/paper/{OTHER}")
    assert paper.status_code == 200
    assert "Protein Structure Prediction" in paper.text and "Similar papers" in paper.text
    assert client.get("/paper/sample:nope").status_code == 404
    csrf = sign_in(client, "alice")
    client.post("/feedback", data={"csrf": csrf, "paper_id": OTHER, "action": "like"})
    paper = client.get(f"/paper/{OTHER}").text
    assert 'aria-pressed="true"' in paper and 'value="unlike"' in paper


def test_importing_a_library_shows_its_report_and_new_suggestions(client: TestClient) -> None:
    r = client.post("/papers", json={"papers": catalog()}, headers=ADMIN_HEADERS)
    assert r.status_code == 200, r.text
    matched = catalog()[10]
    csrf = sign_in(client, "alice")
    files = {"file": ("refs.bib", bibtex(matched["title"]).encode())}
    r = client.post("/library/import", data={"csrf": csrf, "as": "like"}, files=files)
    assert r.status_code == 200, r.text
    html = r.text
    assert "refs.bib: 3 entries read (bibtex)" in html
    assert re.search(r'id="n-matched">1<', html) and re.search(r'id="n-added">1<', html)
    assert re.search(r'id="n-skipped">1<', html) and "broken" in html
    assert "Your suggestions now" in html and "Because you liked" in html
    likes = likes_of(client, "alice")
    assert len(likes) == 2 and matched["paper_id"] in likes
    # The suggestions follow the import: papers of the two liked papers' topics.
    shown = suggested_ids(html)
    assert shown and all(p.startswith(("t:soil-", "t:optics-")) for p in shown[:4])
    # The same file again changes nothing; a file that is no library stores nothing and says why.
    again = client.post("/library/import", data={"csrf": csrf}, files=files)
    assert re.search(r'id="n-new">0<', again.text)
    bad = client.post(
        "/library/import",
        data={"csrf": csrf, "format": "csl-json"},
        files={"file": ("refs.json", b"{not json")},
    )
    assert bad.status_code == 422 and "nothing was imported" in bad.text
    assert len(likes_of(client, "alice")) == 2


def test_new_since_the_last_visit(redis_url: str) -> None:
    async def visits() -> list[float | None]:
        client = aioredis.Redis.from_url(redis_url, decode_responses=True)
        store = Store(redis.Redis.from_url(redis_url, decode_responses=True), client)
        try:
            t = 1_700_000_000.0
            return [
                await visit(store, "alice", t),  # first visit: nothing to compare with
                await visit(store, "alice", t + 60),  # the same visit, a page later
                await visit(store, "alice", t + 60 + NEW_VISIT_S),  # a new visit
                await visit(store, "alice", t + 120 + NEW_VISIT_S),
            ]
        finally:
            await client.aclose()

    t = 1_700_000_000.0
    assert asyncio.run(visits()) == [None, None, t + 60, t + 60]


def test_the_login_link_command(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    redis_url: str,
    capsys: pytest.CaptureFixture[str],
    make_settings: Callable[..., Settings],
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("PAPERREC_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PAPERREC_PUBLIC_URL", "https://papers.example.org/")
    assert main(["login-link", "alice", "--minutes", "5"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("https://papers.example.org/login?link=") and "one use" in err
    secret = out.strip().split("=", 1)[1]
    with TestClient(create_app(make_settings())) as c:
        assert c.post("/login", data={"secret": secret}, follow_redirects=False).status_code == 303
        assert "Suggestions for alice" in c.get("/").text
    assert main(["login-link", "no one"]) == 2
    assert "invalid user id" in capsys.readouterr().err
    assert main(["login-link", "alice", "--minutes", "0"]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_the_api_docs_need_no_cdn(client: TestClient) -> None:
    for path in ("/docs", "/redoc"):
        html = client.get(path).text
        urls = re.findall(r'(?:src|href)=["\']([^"\']+)', html)
        assert urls and all(u.startswith("/") for u in urls), urls
        for u in urls:
            assert client.get(u).status_code == 200, u
    assert "fonts.googleapis" not in client.get("/redoc").text


def raw(client: TestClient) -> redis.Redis:
    store: Store = client.app.state.store  # type: ignore[attr-defined]
    return store.redis


@pytest.mark.parametrize("path", ["/", "/library", "/settings"])
def test_pages_of_a_user_need_a_session(client: TestClient, path: str) -> None:
    r = client.get(path, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/signin?next=")


def test_bearer_helper_is_the_apis(client: TestClient) -> None:
    # The page's admin routes are API routes: a user's own token cannot make a sign-in link.
    headers = user_headers(client, "alice")
    assert client.post("/users/alice/login-link", headers=headers).status_code == 403
    assert client.post("/users/alice/login-link", headers=bearer("nope")).status_code == 401


def test_the_suggestions_say_what_is_new_since_the_last_visit(client: TestClient) -> None:
    assert client.post("/papers", json={"papers": catalog()}, headers=ADMIN_HEADERS).is_success
    sign_in(client, "alice")
    page = client.get("/", params={"k": 24}).text
    assert "new since your last visit" not in page  # a first visit
    # The last visit was on 2026-06-01, long enough ago for this view to be a new visit.
    last = datetime(2026, 6, 1, 12, tzinfo=UTC).timestamp()
    raw(client).hset(keys.visits("alice"), mapping={"seen": repr(last)})
    page = client.get("/", params={"k": 24}).text
    new = {p["paper_id"] for p in catalog() if p["published"] >= "2026-06-01"}
    assert f"{len(new)} of these are new since your last visit (2026-06-01)" in page
    cards = re.findall(r'data-paper="([^"]+)">\s*<h3 class="title">.*?</h3>', page, re.S)
    badged = set(
        re.findall(
            r'data-paper="([^"]+)">\s*<h3 class="title">[^<]*<a[^>]*>[^<]*</a>\s*<span class="badge">new',
            page,
        )
    )
    assert len(cards) == 24 and badged == new
    only = client.get("/", params={"new": "1"}).text
    assert set(suggested_ids(only)) == new and "Show all" in only
