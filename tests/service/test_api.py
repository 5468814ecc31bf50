"""The HTTP API route by route: papers, likes and dislikes, auth, and every error status."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from service_conftest import ADMIN_HEADERS, bearer, raw_redis, user_headers

from service import keys
from service.main import create_app
from service.settings import Settings

NEW_PAPER = {
    "paper_id": "x:quantum-new",
    "title": "Surface code quantum error correction for trapped-ion qubits",
    "abstract": "We decode surface code syndrome measurements on trapped-ion qubits.",
    "authors": ["A. Author"],
    "year": 2024,
}


def test_health_reports_redis_and_model(client: TestClient) -> None:
    r = client.get("/health", headers=ADMIN_HEADERS)
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert body["redis"]["ok"] is True
    assert body["redis"]["papers"] == 60  # the sample catalog, loaded into the empty store
    assert body["model"]["status"] == "ready"
    assert body["model"]["name"] == "hybrid"
    assert body["model"]["n_papers"] == 60
    assert body["model"]["version"]
    assert body["last_failed_retrain"] is None


def test_openapi_docs_are_served(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert "/users/{user_id}/likes/{paper_id}" in paths
    assert "/admin/retrain" in paths


# ----------------------------------------------------------------------------- papers
def test_get_paper_and_unknown_paper(client: TestClient) -> None:
    r = client.get("/papers/sample:bio-01")
    assert r.status_code == 200
    assert r.json()["title"] == "Protein Structure Prediction from Multiple Sequence Alignments"
    r = client.get("/papers/sample:nope")
    assert r.status_code == 404
    assert r.json() == {"detail": "unknown paper 'sample:nope'"}


def test_search_finds_papers_by_text(client: TestClient) -> None:
    r = client.get("/papers", params={"q": "protein sequences amino acids", "k": 3})
    assert r.status_code == 200
    items = r.json()["items"]
    assert len(items) == 3
    assert all(i["paper_id"].startswith("sample:bio-") for i in items)
    assert items[0]["score"] >= items[-1]["score"]
    assert client.get("/papers").status_code == 422  # q is required


def test_similar_papers(client: TestClient) -> None:
    r = client.get("/papers/sample:quantum-02/similar", params={"k": 4})
    assert r.status_code == 200
    ids = [i["paper_id"] for i in r.json()["items"]]
    assert len(ids) == 4
    assert "sample:quantum-02" not in ids
    assert ids[0].startswith("sample:quantum-")
    assert client.get("/papers/sample:nope/similar").status_code == 404


def test_add_papers_needs_admin_and_stores_them(client: TestClient) -> None:
    body = {"papers": [NEW_PAPER]}
    r = client.post("/papers", json=body)
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    r = client.post("/papers", json=body, headers=user_headers(client, "alice"))
    assert r.status_code == 403
    r = client.post("/papers", json=body, headers=ADMIN_HEADERS)
    assert r.status_code == 200
    assert r.json() == {"created": 1, "updated": 0}
    r = client.post("/papers", json=body, headers=ADMIN_HEADERS)
    assert r.json() == {"created": 0, "updated": 1}
    got = client.get("/papers/x:quantum-new").json()
    assert got["authors"] == ["A. Author"] and got["year"] == 2024
    # The first real paper takes the 60 sample papers' place: they leave the catalog.
    assert client.get("/health", headers=ADMIN_HEADERS).json()["redis"]["papers"] == 1
    assert client.get("/papers/sample:bio-01").status_code == 404
    # Searchable at once, before any retrain.
    hits = client.get("/papers", params={"q": "trapped-ion surface code", "k": 3}).json()
    assert "x:quantum-new" in [i["paper_id"] for i in hits["items"]]


def test_paper_ids_with_slashes(client: TestClient) -> None:
    paper = {**NEW_PAPER, "paper_id": "hep-th/9901001"}
    assert (
        client.post("/papers", json={"papers": [paper]}, headers=ADMIN_HEADERS).status_code == 200
    )
    assert client.get("/papers/hep-th/9901001").json()["paper_id"] == "hep-th/9901001"
    assert client.get("/papers/hep-th/9901001/similar", params={"k": 2}).status_code == 200
    h = user_headers(client, "alice")
    assert client.put("/users/alice/likes/hep-th/9901001", headers=h).status_code == 201
    assert client.get("/users/alice/likes", headers=h).json()["paper_ids"] == ["hep-th/9901001"]


def test_bad_paper_bodies_are_422_with_a_readable_detail(client: TestClient) -> None:
    cases = [
        {"papers": []},
        {"papers": [{"paper_id": "ok", "title": ""}]},
        {"papers": [{"paper_id": "bad id!", "title": "T"}]},
        {"papers": [{"paper_id": "ok", "title": "T", "abstact": "typo"}]},
        {"paper": [{"paper_id": "ok", "title": "T"}]},
    ]
    for body in cases:
        r = client.post("/papers", json=body, headers=ADMIN_HEADERS)
        assert r.status_code == 422, body
        assert isinstance(r.json()["detail"], str) and r.json()["detail"], body
    headers = {**ADMIN_HEADERS, "Content-Type": "application/json"}
    r = client.post("/papers", content=b"{not json", headers=headers)
    assert r.status_code == 422
    assert "JSON" in r.json()["detail"]


def test_batch_and_body_size_limits(make_settings: Callable[..., Settings]) -> None:
    with TestClient(create_app(make_settings(max_batch=2, max_body_bytes=4096))) as c:
        papers = [{**NEW_PAPER, "paper_id": f"x:{i}"} for i in range(3)]
        r = c.post("/papers", json={"papers": papers}, headers=ADMIN_HEADERS)
        assert r.status_code == 422
        assert "at most 2" in r.json()["detail"]
        big = {"papers": [{**NEW_PAPER, "abstract": "word " * 2000}]}
        r = c.post("/papers", json=big, headers=ADMIN_HEADERS)
        assert r.status_code == 413
        assert "4096 bytes" in r.json()["detail"]
        # Streamed in chunks, with no Content-Length to refuse it up front.
        chunks = iter([b'{"papers": [', b" " * 3000, b" " * 3000, b"]}"])
        r = c.post("/papers", content=chunks, headers=ADMIN_HEADERS)
        assert r.status_code == 413
        assert "4096 bytes" in r.json()["detail"]
        assert c.get("/papers/x:0").status_code == 404  # nothing of the refused batch stored


def test_k_is_limited(client: TestClient) -> None:
    for k in (0, 1001, -1):
        r = client.get("/papers", params={"q": "quantum", "k": k})
        assert r.status_code == 422
        assert "k" in r.json()["detail"]
    h = user_headers(client, "alice")
    assert client.get("/users/alice/recommendations?k=0", headers=h).status_code == 422
    assert client.get("/users/alice/recommendations?k=1000", headers=h).status_code == 200


# ----------------------------------------------------------------------------- feedback
def test_like_is_idempotent_201_then_200(client: TestClient) -> None:
    h = user_headers(client, "alice")
    r = client.put("/users/alice/likes/sample:nlp-01", headers=h)
    assert r.status_code == 201
    assert r.json() == {"user_id": "alice", "paper_id": "sample:nlp-01", "created": True}
    r = client.put("/users/alice/likes/sample:nlp-01", headers=h)
    assert r.status_code == 200
    assert r.json()["created"] is False
    assert client.get("/users/alice/likes", headers=h).json() == {
        "user_id": "alice",
        "paper_ids": ["sample:nlp-01"],
    }


def test_unlike_204_then_404(client: TestClient) -> None:
    h = user_headers(client, "alice")
    client.put("/users/alice/likes/sample:nlp-01", headers=h)
    r = client.delete("/users/alice/likes/sample:nlp-01", headers=h)
    assert r.status_code == 204
    assert r.content == b""
    r = client.delete("/users/alice/likes/sample:nlp-01", headers=h)
    assert r.status_code == 404
    assert "has not liked" in r.json()["detail"]
    assert client.get("/users/alice/likes", headers=h).json()["paper_ids"] == []


def test_dislikes_mirror_likes_and_exclude_each_other(client: TestClient) -> None:
    h = user_headers(client, "alice")
    assert client.put("/users/alice/dislikes/sample:bio-02", headers=h).status_code == 201
    assert client.put("/users/alice/dislikes/sample:bio-02", headers=h).status_code == 200
    assert client.get("/users/alice/dislikes", headers=h).json()["paper_ids"] == ["sample:bio-02"]
    # Liking it removes the dislike ...
    assert client.put("/users/alice/likes/sample:bio-02", headers=h).status_code == 201
    assert client.get("/users/alice/dislikes", headers=h).json()["paper_ids"] == []
    assert client.get("/users/alice/likes", headers=h).json()["paper_ids"] == ["sample:bio-02"]
    # ... and disliking it removes the like.
    assert client.put("/users/alice/dislikes/sample:bio-02", headers=h).status_code == 201
    assert client.get("/users/alice/likes", headers=h).json()["paper_ids"] == []
    assert client.delete("/users/alice/dislikes/sample:bio-02", headers=h).status_code == 204
    r = client.delete("/users/alice/dislikes/sample:bio-02", headers=h)
    assert r.status_code == 404 and "has not disliked" in r.json()["detail"]


def test_feedback_events_are_streamed(client: TestClient, redis_url: str) -> None:
    h = user_headers(client, "alice")
    client.put("/users/alice/dislikes/sample:bio-02", headers=h)
    client.put("/users/alice/likes/sample:bio-02", headers=h)
    client.put("/users/alice/likes/sample:bio-02", headers=h)  # no change, no event
    client.delete("/users/alice/likes/sample:bio-02", headers=h)
    with raw_redis(redis_url) as r:
        events = [f for _, f in r.xrange(keys.EVENTS)]
    assert [e["action"] for e in events] == ["dislike", "undislike", "like", "unlike"]
    assert {e["user"] for e in events} == {"alice"}
    assert {e["paper"] for e in events} == {"sample:bio-02"}
    assert all(float(e["time"]) > 0 for e in events)


def test_feedback_keys_carry_the_user_hash_tag(client: TestClient, redis_url: str) -> None:
    h = user_headers(client, "alice")
    client.put("/users/alice/likes/sample:bio-02", headers=h)
    client.put("/users/alice/dislikes/sample:bio-03", headers=h)
    with raw_redis(redis_url) as r:
        user_keys = sorted(r.scan_iter("*{user:alice}*"))
    assert user_keys == [
        "paperrec:{user:alice}:dislikes",
        "paperrec:{user:alice}:likes",
        "paperrec:{user:alice}:tokens",
    ]


def test_unknown_paper_and_bad_ids(client: TestClient) -> None:
    h = user_headers(client, "alice")
    r = client.put("/users/alice/likes/sample:nope", headers=h)
    assert r.status_code == 404
    assert "POST /papers" in r.json()["detail"]
    assert client.put("/users/alice/dislikes/sample:nope", headers=h).status_code == 404
    r = client.put("/users/alice/likes/bad%20id", headers=h)
    assert r.status_code == 422
    assert "paper_id" in r.json()["detail"]
    r = client.get(f"/users/{'a' * 129}/likes", headers=ADMIN_HEADERS)
    assert r.status_code == 422
    assert "user_id" in r.json()["detail"]


# ----------------------------------------------------------------------------- auth
def test_missing_malformed_and_unknown_tokens_are_401(client: TestClient) -> None:
    for headers in (
        {},
        {"Authorization": "Basic YWxpY2U6eA=="},
        {"Authorization": "Bearer"},
        bearer("not-a-token"),
    ):
        r = client.get("/users/alice/likes", headers=headers)
        assert r.status_code == 401, headers
        assert r.headers["www-authenticate"] == "Bearer"
        assert r.json()["detail"]


def test_two_users_cannot_touch_each_other(client: TestClient) -> None:
    alice, bob = user_headers(client, "alice"), user_headers(client, "bob")
    assert client.put("/users/alice/likes/sample:nlp-01", headers=alice).status_code == 201
    for method, path in [
        ("GET", "/users/alice/likes"),
        ("GET", "/users/alice/dislikes"),
        ("GET", "/users/alice/recommendations"),
        ("PUT", "/users/alice/likes/sample:nlp-02"),
        ("DELETE", "/users/alice/likes/sample:nlp-01"),
        ("PUT", "/users/alice/dislikes/sample:nlp-02"),
    ]:
        r = client.request(method, path, headers=bob)
        assert r.status_code == 403, (method, path)
        assert "bob" in r.json()["detail"]
    assert client.get("/users/alice/likes", headers=alice).json()["paper_ids"] == ["sample:nlp-01"]
    assert client.get("/users/bob/likes", headers=bob).json()["paper_ids"] == []
    # A user cannot issue tokens, retrain or add papers.
    assert client.post("/users/bob/tokens", headers=bob).status_code == 403
    assert client.post("/admin/retrain", headers=bob).status_code == 403
    assert client.get("/admin/retrain", headers=bob).status_code == 403


def test_admin_acts_for_any_user(client: TestClient) -> None:
    r = client.put("/users/carol/likes/sample:nlp-01", headers=ADMIN_HEADERS)
    assert r.status_code == 201
    assert client.get("/users/carol/likes", headers=ADMIN_HEADERS).json()["paper_ids"] == [
        "sample:nlp-01"
    ]


def test_tokens_are_stored_hashed(client: TestClient, redis_url: str) -> None:
    r = client.post("/users/alice/tokens", headers=ADMIN_HEADERS)
    assert r.status_code == 201
    token = r.json()["token"]
    assert r.json()["user_id"] == "alice" and len(token) >= 40
    with raw_redis(redis_url) as rc:
        dump = " ".join(rc.scan_iter("*")) + " ".join(
            str(rc.get(k)) for k in rc.scan_iter("paperrec:token:*")
        )
    assert token not in dump
    # Two tokens of one user both work.
    second = client.post("/users/alice/tokens", headers=ADMIN_HEADERS).json()["token"]
    assert second != token
    for t in (token, second):
        assert client.get("/users/alice/likes", headers=bearer(t)).status_code == 200


def test_feedback_scripts_are_reloaded_after_the_server_forgot_them(
    client: TestClient, redis_url: str
) -> None:
    """A restarted (or new) Redis has no scripts cached: likes, dislikes and the rate limit load
    theirs again instead of failing."""
    h = user_headers(client, "alice")
    with raw_redis(redis_url) as r:
        r.script_flush()
    assert client.put("/users/alice/likes/sample:bio-02", headers=h).status_code == 201
    with raw_redis(redis_url) as r:
        r.script_flush()
    assert client.delete("/users/alice/likes/sample:bio-02", headers=h).status_code == 204
    with raw_redis(redis_url) as r:
        r.script_flush()
    assert client.get("/users/alice/recommendations", headers=h).status_code == 200
    with raw_redis(redis_url) as r:
        assert [f["action"] for _, f in r.xrange(keys.EVENTS)] == ["like", "unlike"]


def test_papers_carry_their_citation_links(client: TestClient) -> None:
    paper = {
        "paper_id": "x:cites",
        "title": "A survey",
        "references": ["sample:bio-01", "sample:bio-02"],
    }
    r = client.post("/papers", json={"papers": [paper]}, headers=ADMIN_HEADERS)
    assert r.status_code == 200, r.text
    assert client.get("/papers/x:cites").json()["references"] == ["sample:bio-01", "sample:bio-02"]
    # The papers it names were sample papers, which left the catalog when it came.
    assert client.get("/papers/sample:bio-01").status_code == 404
    bad = {**paper, "references": ["not an id!"]}
    r = client.post("/papers", json={"papers": [bad]}, headers=ADMIN_HEADERS)
    assert r.status_code == 422 and "references" in r.json()["detail"]


def test_one_id_rule_for_papers_added_through_the_api(client: TestClient) -> None:
    """Ids the routes would shadow (``foo/similar``) or clients would rewrite (``.``, ``..``,
    ``a/../b``) are refused at the door instead of being stored out of reach."""
    reasons = {
        "foo/similar": "names a route",
        ".": "rewritten by HTTP clients",
        "..": "rewritten by HTTP clients",
        "a/../b": "rewritten by HTTP clients",
        "a//b": "empty path segment",
        "/lead": "empty path segment",
        "with space": "letters, digits",
        "brace}": "letters, digits",
    }
    for paper_id, why in reasons.items():
        body = {"papers": [{**NEW_PAPER, "paper_id": paper_id}]}
        r = client.post("/papers", json=body, headers=ADMIN_HEADERS)
        assert r.status_code == 422, paper_id
        assert why in r.json()["detail"] and "paper_id" in r.json()["detail"], r.text
        refs = {"papers": [{**NEW_PAPER, "references": [paper_id]}]}
        r = client.post("/papers", json=refs, headers=ADMIN_HEADERS)
        assert r.status_code == 422 and "references" in r.json()["detail"], paper_id
    assert (
        client.get("/health", headers=ADMIN_HEADERS).json()["redis"]["papers"] == 60
    )  # none of them stored
    # The other importers' ids stay valid, and reachable.
    for paper_id in ("arxiv:2101.00001", "doi:10.1000/xyz", "a/similarity"):
        body = {"papers": [{**NEW_PAPER, "paper_id": paper_id}]}
        assert client.post("/papers", json=body, headers=ADMIN_HEADERS).status_code == 200
        assert client.get(f"/papers/{paper_id}").json()["paper_id"] == paper_id
        assert client.get(f"/papers/{paper_id}/similar", params={"k": 1}).status_code == 200


def test_the_event_stream_is_bounded(
    make_settings: Callable[..., Settings], redis_url: str
) -> None:
    """A like/unlike loop used to grow paperrec:events forever (1.7 M events a day within the
    rate limit). The stream keeps its last PAPERREC_EVENTS_MAX events and drops those older than
    the retention; the likes themselves and the count of changes are not touched by it."""
    with TestClient(create_app(make_settings(events_max=1000, events_retention_days=30))) as c:
        with raw_redis(redis_url) as r:  # an event from long before the retention
            r.xadd(keys.EVENTS, {"user": "old", "paper": "p", "action": "like"}, id="1000-0")
        path = "/users/looper/likes/sample:nlp-01"
        for _ in range(600):
            assert c.put(path, headers=ADMIN_HEADERS).status_code == 201
            assert c.delete(path, headers=ADMIN_HEADERS).status_code == 204
        assert c.put(path, headers=ADMIN_HEADERS).status_code == 201
        with raw_redis(redis_url) as r:
            assert r.xlen(keys.EVENTS) == 1000
            first, last = r.xrange(keys.EVENTS, count=1), r.xrevrange(keys.EVENTS, count=1)
            assert first[0][1]["user"] == "looper"  # the old event is gone
            assert last[0][1]["action"] == "like"  # the newest are kept
            assert int(r.get(keys.FEEDBACK_CHANGES) or 0) == 1201
        assert c.get("/users/looper/likes", headers=ADMIN_HEADERS).json()["paper_ids"] == [
            "sample:nlp-01"
        ]
