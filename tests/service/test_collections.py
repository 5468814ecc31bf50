"""Collections of likes through the API: CRUD, consistency with likes, their own
recommendations, and the library import into a collection."""

from __future__ import annotations

from fastapi.testclient import TestClient
from service_conftest import ADMIN_HEADERS, user_headers

from service.store import Store

CLIMATE = ["sample:climate-01", "sample:climate-02", "sample:climate-03"]
QUANTUM = ["sample:quantum-01", "sample:quantum-02", "sample:quantum-04"]


def ids(body: dict) -> list[str]:
    return [i["paper_id"] for i in body["items"]]


def test_two_collections_follow_their_own_likes(client: TestClient) -> None:
    h = user_headers(client, "alice")
    for name, papers in (("climate", CLIMATE), ("quantum", QUANTUM)):
        assert client.put(f"/users/alice/collections/{name}", headers=h).status_code == 201
        for p in papers:
            r = client.put(f"/users/alice/collections/{name}/papers/{p}", headers=h)
            assert r.status_code == 201, r.text
            assert r.json()["liked"] is True
    # The main list mixes both; each collection follows its own likes.
    main = client.get("/users/alice/recommendations", params={"k": 20}, headers=h).json()
    got = {}
    for name in ("climate", "quantum"):
        r = client.get(
            f"/users/alice/collections/{name}/recommendations", params={"k": 3}, headers=h
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["collection"] == name
        got[name] = ids(body)
        assert all(p.startswith(f"sample:{name}-") for p in got[name]), got[name]
        papers = CLIMATE if name == "climate" else QUANTUM
        for item in body["items"]:
            assert item["because"] and set(item["because"]) <= set(papers)
    assert not set(got["climate"]) & set(got["quantum"])
    # Nothing the user liked is recommended, in either collection's list or the main one.
    liked = set(CLIMATE + QUANTUM)
    assert not (set(got["climate"]) | set(got["quantum"]) | set(ids(main))) & liked


def test_dislikes_count_in_every_collection(client: TestClient) -> None:
    h = user_headers(client, "alice")
    client.put("/users/alice/collections/c", headers=h)
    for p in CLIMATE:
        client.put(f"/users/alice/collections/c/papers/{p}", headers=h)
    url = "/users/alice/collections/c/recommendations"
    top = ids(client.get(url, params={"k": 1}, headers=h).json())[0]
    assert client.put(f"/users/alice/dislikes/{top}", headers=h).status_code == 201
    assert top not in ids(client.get(url, params={"k": 50}, headers=h).json())


def test_unlike_and_dislike_leave_every_collection_atomically(client: TestClient) -> None:
    h = user_headers(client, "alice")
    for name in ("a", "b"):
        client.put(f"/users/alice/collections/{name}", headers=h)
        for p in CLIMATE[:2]:
            client.put(f"/users/alice/collections/{name}/papers/{p}", headers=h)
    # Already in the collection: 200, not liked again.
    again = client.put(f"/users/alice/collections/a/papers/{CLIMATE[0]}", headers=h)
    assert again.status_code == 200 and again.json() == {
        "user_id": "alice",
        "collection": "a",
        "paper_id": CLIMATE[0],
        "created": False,
        "liked": False,
    }
    assert client.delete(f"/users/alice/likes/{CLIMATE[0]}", headers=h).status_code == 204
    assert client.put(f"/users/alice/dislikes/{CLIMATE[1]}", headers=h).status_code == 201
    for name in ("a", "b"):
        assert client.get(f"/users/alice/collections/{name}", headers=h).json()["paper_ids"] == []
    # The stream has the events of the likes' removals, as before collections (read through the
    # app's store: one server's stream, or every shard of a cluster's).
    store: Store = client.app.state.store  # type: ignore[attr-defined]
    actions = [e["action"] for e in store.events(1000)]
    assert actions.count("unlike") == 2 and actions.count("dislike") == 1


def test_taking_a_paper_out_keeps_the_like(client: TestClient) -> None:
    h = user_headers(client, "alice")
    client.put("/users/alice/collections/a", headers=h)
    client.put(f"/users/alice/collections/a/papers/{CLIMATE[0]}", headers=h)
    url = f"/users/alice/collections/a/papers/{CLIMATE[0]}"
    assert client.delete(url, headers=h).status_code == 204
    assert client.delete(url, headers=h).status_code == 404
    assert CLIMATE[0] in client.get("/users/alice/likes", headers=h).json()["paper_ids"]


def test_crud_and_errors(client: TestClient) -> None:
    h = user_headers(client, "alice")
    assert client.get("/users/alice/collections", headers=h).json() == {
        "user_id": "alice",
        "collections": [],
    }
    assert client.put("/users/alice/collections/thesis", headers=h).status_code == 201
    r = client.put("/users/alice/collections/thesis", headers=h)
    assert r.status_code == 200 and r.json()["created"] is False
    client.put(f"/users/alice/collections/thesis/papers/{QUANTUM[0]}", headers=h)
    listing = client.get("/users/alice/collections", headers=h).json()["collections"]
    assert [(c["name"], c["size"]) for c in listing] == [("thesis", 1)]

    # Unknown collection, unknown paper, bad name: clear errors, nothing stored.
    r = client.put(f"/users/alice/collections/nope/papers/{QUANTUM[1]}", headers=h)
    assert r.status_code == 404 and "no collection 'nope'" in r.json()["detail"]
    assert QUANTUM[1] not in client.get("/users/alice/likes", headers=h).json()["paper_ids"]
    r = client.put("/users/alice/collections/thesis/papers/no:such-paper", headers=h)
    assert r.status_code == 404 and "unknown paper" in r.json()["detail"]
    assert client.get("/users/alice/collections/nope/recommendations", headers=h).status_code == 404
    assert client.put("/users/alice/collections/-bad", headers=h).status_code == 422
    assert client.put(f"/users/alice/collections/{'x' * 65}", headers=h).status_code == 422

    # Another user's token: 403; no token: 401.
    bob = user_headers(client, "bob")
    assert client.get("/users/alice/collections/thesis", headers=bob).status_code == 403
    assert client.get("/users/alice/collections/thesis/recommendations").status_code == 401
    # The admin may act for the user.
    r = client.get("/users/alice/collections/thesis/recommendations", headers=ADMIN_HEADERS)
    assert r.status_code == 200

    # Deleting it keeps the like.
    assert client.delete("/users/alice/collections/thesis", headers=h).status_code == 204
    assert client.delete("/users/alice/collections/thesis", headers=h).status_code == 404
    assert QUANTUM[0] in client.get("/users/alice/likes", headers=h).json()["paper_ids"]


def test_a_feed_token_cannot_use_the_collection_routes(client: TestClient) -> None:
    r = client.post("/users/alice/tokens", json={"scope": "feed:read"}, headers=ADMIN_HEADERS)
    feed = {"Authorization": f"Bearer {r.json()['token']}"}
    assert client.get("/users/alice/collections", headers=feed).status_code == 403
    assert client.put("/users/alice/collections/x", headers=feed).status_code == 403


def test_since_applies_to_a_collection(client: TestClient) -> None:
    h = user_headers(client, "alice")
    client.put("/users/alice/collections/c", headers=h)
    for p in CLIMATE:
        client.put(f"/users/alice/collections/c/papers/{p}", headers=h)
    url = "/users/alice/collections/c/recommendations"
    full = ids(client.get(url, params={"k": 57}, headers=h).json())
    since = client.get(url, params={"k": 57, "since": "2022-01-01"}, headers=h).json()
    days = [i["published"] for i in since["items"]]
    assert days and all(d >= "2022-01-01" for d in days)
    # In the order of the full list.
    assert ids(since) == [p for p in full if p in set(ids(since))]


def test_library_import_into_a_collection(client: TestClient) -> None:
    h = user_headers(client, "alice")
    body = (
        "@article{a, title={Error Mitigation for Noisy Intermediate-Scale Quantum Computers}}\n"
        "@article{b, title={Surface Code Decoding with Neural Networks}}\n"
    )
    r = client.post(
        "/users/alice/library",
        params={"format": "bibtex", "collection": "q"},
        content=body,
        headers=h,
    )
    assert r.status_code == 404 and "no collection 'q'" in r.json()["detail"]
    assert client.get("/users/alice/likes", headers=h).json()["paper_ids"] == []
    client.put("/users/alice/collections/q", headers=h)
    r = client.post(
        "/users/alice/library",
        params={"format": "bibtex", "collection": "q"},
        content=body,
        headers=h,
    )
    assert r.status_code == 200, r.text
    assert r.json()["collection"] == "q"
    got = client.get("/users/alice/collections/q", headers=h).json()["paper_ids"]
    assert sorted(got) == ["sample:quantum-01", "sample:quantum-02"]
