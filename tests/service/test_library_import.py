"""A researcher's library through the API (``POST /users/{id}/library``) and the store's index,
against a real Redis: matched and new papers, the next recommendations, idempotency, who may
import, size and format errors, and the sample catalog leaving once real papers come."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from service_conftest import ADMIN, ADMIN_HEADERS, raw_redis, user_headers

from recommender.catalog import Paper
from service import keys
from service.connection import open_store
from service.main import create_app
from service.settings import Settings
from service.store import Store

QUANTUM = "qubits entanglement superconducting circuits quantum error correction decoherence"
PROTEIN = "protein folding amino acid residues structure prediction enzymes binding"
CATALOG = [
    {"paper_id": f"q:{i}", "title": f"Quantum computing study {i}", "abstract": QUANTUM}
    for i in range(6)
] + [
    {"paper_id": f"p:{i}", "title": f"Protein structure study {i}", "abstract": PROTEIN}
    for i in range(6)
]
CATALOG[0]["doi"] = "10.1000/Q0"
CATALOG[1]["arxiv_id"] = "2101.00001"

BIB = r"""@article{first,
  title = {{Q}uantum Computing Study 2},
  year = 2020
}
@article{bydoi, title = {Another title}, doi = {https://doi.org/10.1000/q0}}
@misc{byarxiv, title = {x}, eprint = {2101.00001v2}, archivePrefix = {arXiv}}
@article{new,
  title = {Surface codes for superconducting qubits},
  abstract = {Quantum error correction of qubits on superconducting circuits with entanglement.},
  author = {Lee, Ann}, year = 2023
}
@article{broken, title = {never closed,
"""


@pytest.fixture
def api(make_settings: Callable[..., Settings]) -> TestClient:
    return TestClient(create_app(make_settings(model="content", max_body_bytes=20_000)))


def post_library(
    client: TestClient, user: str, body: bytes | str, headers: dict[str, str], **params: str
) -> dict:
    r = client.post(f"/users/{user}/library", content=body, params=params, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def _counts(c: TestClient) -> tuple[int, int, int]:
    """Papers, events and catalog changes stored, through the app's store (any layout)."""
    store: Store = c.app.state.store  # type: ignore[attr-defined]
    changes = int(store.redis.xlen(store.layout.PAPER_CHANGES))
    return store.count_papers(), len(store.events(100_000)), changes


def test_a_library_becomes_likes_matched_and_new_and_the_next_list_follows_it(
    api: TestClient,
) -> None:
    with api as c:
        assert c.post("/papers", json={"papers": CATALOG}, headers=ADMIN_HEADERS).status_code == 200
        h = user_headers(c, "alice")
        report = post_library(c, "alice", BIB, h, filename="refs.bib")
        assert (report["read"], report["matched"], report["added"], report["skipped"]) == (
            5,
            3,
            1,
            1,
        )
        assert report["matched_by"] == {"arxiv": 1, "doi": 1, "title": 1}
        assert [(m["entry"], m["paper_id"], m["by"]) for m in report["matches"]] == [
            ("line 1 (first)", "q:2", "title"),
            ("line 5 (bydoi)", "q:0", "doi"),
            ("line 6 (byarxiv)", "q:1", "arxiv"),
        ]
        (new,) = report["new_papers"]
        assert new["entry"] == "line 7 (new)" and new["paper_id"].startswith("ref:")
        (skip,) = report["skipped_entries"]
        assert skip["entry"].startswith("line 12") and "does not parse" in skip["reason"]
        assert (report["new_feedback"], report["already"], report["as"]) == (4, 0, "like")
        liked = {"q:0", "q:1", "q:2", new["paper_id"]}
        assert set(c.get("/users/alice/likes", headers=h).json()["paper_ids"]) == liked
        # The new paper is a paper now, recommendable at once, before any retrain.
        assert c.get(f"/papers/{new['paper_id']}").json()["title"] == (
            "Surface codes for superconducting qubits"
        )
        r = c.get("/users/alice/recommendations", params={"k": 3}, headers=h).json()
        got = [i["paper_id"] for i in r["items"]]
        assert len(got) == 3 and all(p.startswith("q:") for p in got), got
        assert not set(got) & liked
        assert all(set(i["because"]) <= liked and i["because"] for i in r["items"])
        # Importing it again changes nothing: no paper, no like, no event.
        before = _counts(c)
        again = post_library(c, "alice", BIB, h, filename="refs.bib")
        assert _counts(c) == before
        assert (again["matched"], again["added"], again["new_feedback"], again["already"]) == (
            4,
            0,
            0,
            4,
        )


def test_multipart_dry_run_and_dislikes(api: TestClient) -> None:
    with api as c:
        c.post("/papers", json={"papers": CATALOG}, headers=ADMIN_HEADERS)
        h = user_headers(c, "bob")
        files = {"file": ("refs.bib", BIB.encode(), "application/x-bibtex")}
        r = c.post("/users/bob/library", files=files, params={"dry_run": "true"}, headers=h)
        assert r.status_code == 200, r.text
        assert r.json()["added"] == 1 and r.json()["dry_run"] is True
        assert c.get("/users/bob/likes", headers=h).json()["paper_ids"] == []
        assert c.get(f"/papers/{r.json()['new_papers'][0]['paper_id']}").status_code == 404
        ids = "2101.00001\n10.1000/Q0\n"
        r = c.post(
            "/users/bob/library",
            files={"file": ("ids.txt", ids.encode(), "text/plain")},
            params={"as": "dislike"},
            headers=h,
        )
        assert r.status_code == 200, r.text
        assert r.json()["as"] == "dislike" and r.json()["new_feedback"] == 2
        assert c.get("/users/bob/dislikes", headers=h).json()["paper_ids"] == ["q:0", "q:1"]
        # The admin may import for anyone.
        body = post_library(c, "carol", ids, ADMIN_HEADERS, format="ids")
        assert body["user_id"] == "carol" and body["new_feedback"] == 2


def test_another_users_token_a_body_too_large_and_an_unreadable_file_are_refused(
    api: TestClient,
) -> None:
    with api as c:
        alice = user_headers(c, "alice")
        r = c.post("/users/bob/library", content=BIB, headers=alice)
        assert r.status_code == 403 and "cannot act for 'bob'" in r.json()["detail"]
        assert c.post("/users/bob/library", content=BIB).status_code == 401
        big = "2101.00001\n" * 3000
        assert c.post("/users/alice/library", content=big, headers=alice).status_code == 413
        files = {"file": ("ids.txt", big.encode(), "text/plain")}
        r = c.post("/users/alice/library", files=files, headers=alice)
        assert r.status_code == 413 and "larger than 20000 bytes" in r.json()["detail"]
        r = c.post(
            "/users/alice/library", content="[{", params={"filename": "x.json"}, headers=alice
        )
        assert r.status_code == 422
        assert (
            r.json()["detail"].startswith("x.json:1: invalid JSON")
            and "nothing" in r.json()["detail"]
        )
        r = c.post("/users/alice/library", content=b"\xff\xfe", headers=alice)
        assert r.status_code == 422 and "not UTF-8" in r.json()["detail"]
        r = c.post("/users/alice/library", content="  ", headers=alice)
        assert r.status_code == 422 and "empty body" in r.json()["detail"]
        r = c.post("/users/alice/library", content="x", params={"format": "word"}, headers=alice)
        assert r.status_code == 422 and "format" in r.json()["detail"]
        r = c.post(
            "/users/alice/library",
            content="x",
            headers={**alice, "Content-Type": "multipart/form-data; boundary=zz"},
        )
        assert r.status_code in (400, 422), r.text
        store: Store = c.app.state.store  # type: ignore[attr-defined]
        assert not store.redis.smembers(keys.likes("alice"))


def test_the_sample_catalog_leaves_once_real_papers_come(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(model="content", papers_poll_s=0)
    with TestClient(create_app(settings)) as c:
        assert c.get("/health", headers=ADMIN_HEADERS).json()["redis"]["papers"] == 60
        h = user_headers(c, "alice")
        c.put("/users/alice/likes/sample:quantum-01", headers=h)
        # Real papers stored by another process (the command line) ...
        with open_store(settings) as store:
            dated = [Paper(**p, published=f"2024-01-{i + 1:02d}") for i, p in enumerate(CATALOG)]  # type: ignore[arg-type]
            put = store.put_papers(dated)
            assert put.created == 12 and len(put.removed) == 60
            assert store.count_papers() == 12
        # ... reach this process through the change stream: the sample papers go with them.
        models = c.app.state.models  # type: ignore[attr-defined]
        models.sync_papers()
        for since in (None, "1900-01-01"):
            params = {"k": 50} | ({"since": since} if since else {})
            items = c.get("/users/alice/recommendations", params=params, headers=h).json()["items"]
            assert items and not [i for i in items if i["paper_id"].startswith("sample:")]
        assert c.get("/papers/sample:quantum-02/similar").status_code == 404
        hits = c.get("/papers", params={"q": "quantum", "k": 50}).json()["items"]
        assert hits and all(not i["paper_id"].startswith("sample:") for i in hits)
        # The user's like of a sample paper is kept (it was acknowledged), counting for nothing.
        assert c.get("/users/alice/likes", headers=h).json()["paper_ids"] == ["sample:quantum-01"]
    # A restart does not bring them back.
    with TestClient(create_app(settings)) as c:
        assert c.get("/health", headers=ADMIN_HEADERS).json()["redis"]["papers"] == 12


def test_the_index_follows_papers_that_change_their_ids(redis_url: str) -> None:
    settings = Settings(_env_file=None, redis_url=redis_url, admin_token=ADMIN)  # type: ignore[call-arg]
    with open_store(settings) as store:
        store.put_papers([Paper("a", "Title A", doi="10.1000/a"), Paper("b", "Title A")])
        assert store.by_doi(["10.1000/a"]) == {"10.1000/a": "a"}
        assert store.by_title(["title a"]) == {"title a": ["a", "b"]}
        # a changes title and DOI; b claims a's old DOI (free now)
        store.put_papers(
            [Paper("a", "Title C", doi="10.1000/c"), Paper("b", "Title A", doi="10.1000/a")]
        )
        assert store.by_doi(["10.1000/a", "10.1000/c"]) == {"10.1000/a": "b", "10.1000/c": "a"}
        assert store.by_title(["title a", "title c"]) == {"title a": ["b"], "title c": ["a"]}
        # A paper claiming a DOI that another paper has does not take it over.
        store.put_papers([Paper("z", "Z", doi="10.1000/c")])
        assert store.by_doi(["10.1000/c"]) == {"10.1000/c": "a"}
        # A store written before the index existed gets it built on first use.
        with raw_redis(redis_url) as rr:
            rr.delete(keys.PAPER_BY_DOI, keys.PAPER_BY_TITLE, keys.PAPER_BY_ARXIV)
            rr.hdel(keys.META, "paper-index")
        assert store.by_title(["title c"]) == {"title c": ["a"]}
        assert store.by_doi(["10.1000/a"]) == {"10.1000/a": "b"}
        with raw_redis(redis_url) as rr:
            assert json.loads(rr.hget(keys.PAPER_BY_TITLE, "z") or "[]") == ["z"]


def test_a_store_that_mixed_sample_and_real_papers_before_is_cleaned_at_start(
    make_settings: Callable[..., Settings],
) -> None:
    from service.sample import sample_papers

    settings = make_settings(model="content")
    with open_store(settings) as store:
        # As an older version left it: the sample loaded, then real papers beside it.
        store.put_papers(sample_papers())
        store.put_papers([Paper(**p) for p in CATALOG])  # type: ignore[arg-type]
        assert store.count_papers() == 72
    with TestClient(create_app(settings)) as c:
        assert c.get("/health", headers=ADMIN_HEADERS).json()["redis"]["papers"] == 12
        assert c.get("/papers/sample:nlp-01").status_code == 404
        hits = c.get("/papers", params={"q": "attention language models", "k": 50}).json()
        assert not [i for i in hits["items"] if i["paper_id"].startswith("sample:")]
    # A store of the sample alone keeps it, and only this once is it looked at.
    with open_store(settings) as store:
        store.wipe()
        store.put_papers(sample_papers())
    with TestClient(create_app(settings)) as c:
        assert c.get("/health", headers=ADMIN_HEADERS).json()["redis"]["papers"] == 60
