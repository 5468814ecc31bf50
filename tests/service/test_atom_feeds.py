"""Atom feeds: they parse and carry each entry's fields, read only with their own feed token
(a wrong, revoked or user token is refused, and a feed token reads nothing else), serve new
papers first and never repeat an entry to a reader."""

from __future__ import annotations

import feedparser
from fastapi.testclient import TestClient
from service_conftest import ADMIN_HEADERS, bearer, user_headers
from topic_catalog import store_papers, topic, topic_papers

QUANTUM = topic("quantum", 1, 2, 4)
CLIMATE = topic("climate", 1, 2, 3)


def feed_token(client: TestClient, user: str, h: dict[str, str], collection: str | None = None):
    body = {} if collection is None else {"collection": collection}
    r = client.post(f"/users/{user}/feeds", json=body, headers=h)
    assert r.status_code == 201, r.text
    return r.json()


def fetch(client: TestClient, url: str) -> feedparser.FeedParserDict:
    r = client.get(url)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/atom+xml")
    parsed = feedparser.parse(r.content)
    assert not parsed.bozo, parsed.bozo_exception
    return parsed


def test_a_feed_parses_and_carries_every_field(client: TestClient) -> None:
    papers = topic_papers()
    papers[50]["arxiv_id"] = "2101.00001"  # t:quantum-01: linked to its arXiv page
    store_papers(client, papers)
    h = user_headers(client, "alice")
    for p in QUANTUM[1:]:
        client.put(f"/users/alice/likes/{p}", headers=h)
    made = feed_token(client, "alice", h)
    assert made["feed_url"].startswith("http://testserver/users/alice/feed.atom?token=")
    parsed = fetch(client, made["feed_url"])
    assert parsed.version == "atom10"
    assert parsed.feed.title == "paperrec: papers for alice (all likes)"
    assert "token" not in parsed.feed.link
    entries = parsed.entries
    assert len(entries) == 20
    by_id = {p["paper_id"]: p for p in papers}
    first = entries[0]
    pid = first.id.removeprefix("urn:paperrec:paper:").replace("%3A", ":")
    paper = by_id[pid]
    assert pid.startswith("t:quantum-")
    assert first.title == paper["title"]
    assert [a.name for a in first.authors] == paper["authors"]
    assert first.published.startswith(paper["published"])
    assert first.summary == paper["abstract"]
    assert first.content[0].value.startswith("Because you liked: ")
    liked_titles = {by_id[p]["title"] for p in QUANTUM[1:]}
    assert any(t in first.content[0].value for t in liked_titles)
    links = {e.id: e.link for e in entries}
    assert links["urn:paperrec:paper:t%3Aquantum-01"] == "https://arxiv.org/abs/2101.00001"
    assert links["urn:paperrec:paper:t%3Aquantum-05"] == "http://testserver/papers/t:quantum-05"


def test_a_reader_is_never_served_an_entry_twice(client: TestClient) -> None:
    store_papers(client, topic_papers())
    h = user_headers(client, "alice")
    for p in QUANTUM:
        client.put(f"/users/alice/likes/{p}", headers=h)
    url = feed_token(client, "alice", h)["feed_url"]
    seen: list[str] = []
    for _ in range(4):
        seen += [e.id for e in fetch(client, url).entries]
    assert len(seen) == len(set(seen))
    # The list's top 100 (more than the catalog) all served once: 57 not liked, then nothing.
    assert len(seen) == 57
    assert fetch(client, url).entries == []
    # Another reader (another token) is its own reader.
    other = feed_token(client, "alice", h)["feed_url"]
    assert len(fetch(client, other).entries) == 20


def test_new_papers_come_first_and_once(client: TestClient) -> None:
    store_papers(client, topic_papers())
    h = user_headers(client, "alice")
    for p in QUANTUM:
        client.put(f"/users/alice/likes/{p}", headers=h)
    url = feed_token(client, "alice", h)["feed_url"]
    fetch(client, url)
    # A climate paper (low in a quantum reader's list) appears today.
    fresh = {
        "paper_id": "t:climate-new",
        "title": "Ocean heat uptake",
        "abstract": "Oceans warm.",
        "published": "2099-01-01",
    }
    store_papers(client, [fresh])
    entries = fetch(client, url).entries
    assert entries[0].id == "urn:paperrec:paper:t%3Aclimate-new"
    assert entries[0].content[0].value.startswith("New since your last visit.")
    assert all("New since" not in e.content[0].value for e in entries[1:])
    assert "urn:paperrec:paper:t%3Aclimate-new" not in [e.id for e in fetch(client, url).entries]


def test_feed_tokens_read_their_feed_and_nothing_else(client: TestClient) -> None:
    store_papers(client, topic_papers())
    h = user_headers(client, "alice")
    client.put("/users/alice/collections/q", headers=h)
    for p in QUANTUM:
        client.put(f"/users/alice/collections/q/papers/{p}", headers=h)
    for p in CLIMATE:
        client.put(f"/users/alice/likes/{p}", headers=h)
    own = feed_token(client, "alice", h)
    coll = feed_token(client, "alice", h, collection="q")
    assert coll["feed_url"].startswith("http://testserver/users/alice/collections/q/feed.atom?")
    entries = fetch(client, coll["feed_url"]).entries
    assert entries and all(e.id.startswith("urn:paperrec:paper:t%3Aquantum-") for e in entries[:5])

    own_path = "/users/alice/feed.atom"
    coll_path = "/users/alice/collections/q/feed.atom"
    # A feed token reads only its own feed: 403 on the other feed, on every user route.
    assert client.get(coll_path, params={"token": own["token"]}).status_code == 403
    assert client.get(own_path, params={"token": coll["token"]}).status_code == 403
    fh = bearer(own["token"])
    assert client.get("/users/alice/likes", headers=fh).status_code == 403
    assert client.get("/users/alice/recommendations", headers=fh).status_code == 403
    assert client.put(f"/users/alice/likes/{QUANTUM[0]}", headers=fh).status_code == 403
    assert client.post("/users/alice/feeds", json={}, headers=fh).status_code == 403
    # A user token is not a feed token (it must never sit in a reader's URL).
    user_token = h["Authorization"].removeprefix("Bearer ")
    r = client.get(own_path, params={"token": user_token})
    assert r.status_code == 403 and "feed:read" in r.json()["detail"]
    # Another user's feed token, a wrong token, none: refused.
    bob = feed_token(client, "bob", user_headers(client, "bob"))
    assert client.get(own_path, params={"token": bob["token"]}).status_code == 403
    assert client.get(own_path, params={"token": "not-a-token"}).status_code == 401
    assert client.get(own_path).status_code == 401
    # The bearer header works too.
    assert client.get(own_path, headers=fh).status_code == 200

    # Revoked: 401 from the next fetch on.
    r = client.delete(f"/users/alice/tokens/{own['token_id']}", headers=h)
    assert r.status_code == 204
    assert client.get(own["feed_url"]).status_code == 401
    listed = client.get("/users/alice/tokens", headers=h).json()["tokens"]
    assert [t["feed"] for t in listed if t["scope"] == "feed:read"] == ["q"]


def test_feed_of_an_unknown_collection(client: TestClient) -> None:
    h = user_headers(client, "alice")
    r = client.post("/users/alice/feeds", json={"collection": "nope"}, headers=h)
    assert r.status_code == 404
    # The admin previews without a token of the user's.
    assert client.get("/users/alice/feed.atom", headers=ADMIN_HEADERS).status_code == 200
    r = client.get("/users/alice/collections/nope/feed.atom", headers=ADMIN_HEADERS)
    assert r.status_code == 404


def test_text_that_xml_cannot_hold_still_makes_a_feed(client: TestClient) -> None:
    papers = topic_papers()
    title, abstract = papers[51]["title"], papers[51]["abstract"]  # t:quantum-02
    papers[51]["title"] = f"\x00{title}\x1b\ufffe"
    papers[51]["abstract"] = f"{abstract}\x07"
    store_papers(client, papers)
    h = user_headers(client, "alice")
    client.put(f"/users/alice/likes/{QUANTUM[0]}", headers=h)
    entries = fetch(client, feed_token(client, "alice", h)["feed_url"]).entries
    odd = next(e for e in entries if e.id == "urn:paperrec:paper:t%3Aquantum-02")
    assert odd.title == title and odd.summary == abstract
