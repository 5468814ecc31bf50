"""Recommendations through the API: fold-in, cold start, new papers, retraining and model swap."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient
from service_conftest import ADMIN_HEADERS, raw_redis, user_headers, wait_for_retrain

from service.main import create_app
from service.settings import Settings

CLIMATE = ["sample:climate-01", "sample:climate-02", "sample:climate-03"]
QUANTUM = ["sample:quantum-01", "sample:quantum-02", "sample:quantum-04"]


def recommend(client: TestClient, user: str, headers: dict[str, str], k: int = 5) -> dict:
    r = client.get(f"/users/{user}/recommendations", params={"k": k}, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def ids(body: dict) -> list[str]:
    return [i["paper_id"] for i in body["items"]]


def test_cold_start_user_gets_a_list(client: TestClient) -> None:
    h = user_headers(client, "newbie")
    body = recommend(client, "newbie", h, k=7)
    assert body["user_id"] == "newbie"
    assert (
        body["model_version"]
        == client.get("/health", headers=ADMIN_HEADERS).json()["model"]["version"]
    )
    assert len(body["items"]) == 7
    assert len(set(ids(body))) == 7
    assert all(i["because"] == [] for i in body["items"])


def test_a_like_changes_the_very_next_recommendations(client: TestClient) -> None:
    h = user_headers(client, "alice")
    for p in CLIMATE:
        assert client.put(f"/users/alice/likes/{p}", headers=h).status_code == 201
    first = recommend(client, "alice", h, k=3)
    assert all(p.startswith("sample:climate-") for p in ids(first))
    assert not set(ids(first)) & set(CLIMATE)  # liked papers are left out
    for item in first["items"]:
        assert item["title"]
        assert item["because"] and set(item["because"]) <= set(CLIMATE)

    # Likes on another topic, folded in without any retrain.
    version = first["model_version"]
    for p in QUANTUM:
        client.put(f"/users/alice/likes/{p}", headers=h)
    client.delete(f"/users/alice/likes/{CLIMATE[0]}", headers=h)
    client.delete(f"/users/alice/likes/{CLIMATE[1]}", headers=h)
    client.delete(f"/users/alice/likes/{CLIMATE[2]}", headers=h)
    second = recommend(client, "alice", h, k=3)
    assert second["model_version"] == version
    assert all(p.startswith("sample:quantum-") for p in ids(second))
    assert not set(ids(second)) & set(QUANTUM)


def test_disliked_papers_are_left_out(client: TestClient) -> None:
    h = user_headers(client, "alice")
    for p in CLIMATE:
        client.put(f"/users/alice/likes/{p}", headers=h)
    top = ids(recommend(client, "alice", h, k=1))[0]
    client.put(f"/users/alice/dislikes/{top}", headers=h)
    assert top not in ids(recommend(client, "alice", h, k=20))


def test_paper_added_through_the_api_is_recommended_at_once(client: TestClient) -> None:
    h = user_headers(client, "alice")
    for p in QUANTUM:
        client.put(f"/users/alice/likes/{p}", headers=h)
    paper = {
        "paper_id": "new:qec-2025",
        "title": "Quantum error correction with surface code decoders on noisy qubits",
        "abstract": "Noisy qubits of quantum computers need error correction. A surface code "
        "decoder for quantum hardware improves error mitigation on superconducting qubits.",
    }
    before = recommend(client, "alice", h, k=3)
    assert "new:qec-2025" not in ids(before)
    r = client.post("/papers", json={"papers": [paper]}, headers=ADMIN_HEADERS)
    assert r.status_code == 200
    after = recommend(client, "alice", h, k=3)
    assert after["model_version"] == before["model_version"]  # no retrain happened
    assert "new:qec-2025" in ids(after)
    # And it can be liked at once.
    assert client.put("/users/alice/likes/new:qec-2025", headers=h).status_code == 201


def test_retrain_swaps_the_model_version(client: TestClient) -> None:
    h = user_headers(client, "alice")
    for p in CLIMATE:
        client.put(f"/users/alice/likes/{p}", headers=h)
    old = recommend(client, "alice", h)["model_version"]
    r = client.post("/admin/retrain", headers=ADMIN_HEADERS)
    assert r.status_code == 202
    assert r.headers["location"] == "/admin/retrain"
    job = r.json()
    assert job["status"] in {"running", "succeeded"}
    done = wait_for_retrain(client)
    assert done["job_id"] == job["job_id"]
    assert done["status"] == "succeeded", done
    assert done["model_version"] != old
    health = client.get("/health", headers=ADMIN_HEADERS).json()
    assert health["model"]["version"] == done["model_version"]
    assert health["model"]["n_likes"] == 3 and health["model"]["n_users"] == 1
    assert recommend(client, "alice", h)["model_version"] == done["model_version"]


def test_failed_retrain_keeps_the_old_model(client: TestClient, redis_url: str) -> None:
    old = client.get("/health", headers=ADMIN_HEADERS).json()["model"]["version"]
    with raw_redis(redis_url) as r:
        r.flushall()  # an empty catalog: training must fail
    assert client.post("/admin/retrain", headers=ADMIN_HEADERS).status_code == 202
    job = wait_for_retrain(client)
    assert job["status"] == "failed"
    assert "empty catalog" in job["error"]
    health = client.get("/health", headers=ADMIN_HEADERS).json()
    assert health["model"]["version"] == old
    assert health["last_failed_retrain"]["job_id"] == job["job_id"]
    assert "empty catalog" in health["last_failed_retrain"]["error"]
    # The old model still answers.
    r = client.get("/papers/sample:bio-01/similar", params={"k": 2})
    assert r.status_code == 200 and len(r.json()["items"]) == 2


def test_retrain_status_before_any_retrain(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    with TestClient(create_app(settings)) as c:  # trains at start: that is a job
        assert c.get("/admin/retrain", headers=ADMIN_HEADERS).json()["status"] == "succeeded"
    with TestClient(create_app(settings)) as c:  # loads the saved bundle: no job
        r = c.get("/admin/retrain", headers=ADMIN_HEADERS)
        assert r.status_code == 404
        assert r.json()["detail"]


def test_startup_loads_the_saved_bundle_or_retrains(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    with TestClient(create_app(settings)) as c:
        first = c.get("/health", headers=ADMIN_HEADERS).json()["model"]["version"]
    assert settings.bundle_path.is_file()
    with TestClient(create_app(settings)) as c:
        assert (
            c.get("/health", headers=ADMIN_HEADERS).json()["model"]["version"] == first
        )  # loaded, not retrained
    Path(settings.bundle_path).write_bytes(b"not a bundle")
    with TestClient(create_app(settings)) as c:
        health = c.get("/health", headers=ADMIN_HEADERS).json()
        assert health["model"]["status"] == "ready"
        assert health["model"]["version"] != first  # corrupt bundle: retrained from Redis


def test_empty_store_without_sample_serves_503_until_papers_arrive(
    make_settings: Callable[..., Settings],
) -> None:
    with TestClient(create_app(make_settings(seed_sample=False))) as c:
        health = c.get("/health", headers=ADMIN_HEADERS).json()
        assert health["status"] == "degraded"
        assert health["model"]["status"] == "not trained"
        r = c.get("/papers", params={"q": "quantum"})
        assert r.status_code == 503
        assert "POST /papers" in r.json()["detail"]
        papers = [
            {"paper_id": f"p{i}", "title": f"Quantum qubits paper {i}", "abstract": "qubits"}
            for i in range(3)
        ]
        assert c.post("/papers", json={"papers": papers}, headers=ADMIN_HEADERS).status_code == 200
        assert wait_for_retrain(c)["status"] == "succeeded"
        assert c.get("/papers", params={"q": "qubits"}).status_code == 200


def test_since_keeps_only_papers_published_from_that_day(client: TestClient) -> None:
    h = user_headers(client, "alice")
    for p in QUANTUM:
        client.put(f"/users/alice/likes/{p}", headers=h)
    text = "Quantum error correction with surface code decoders for noisy superconducting qubits."
    new = [
        {
            "paper_id": "new:q-early",
            "title": "Surface codes",
            "abstract": text,
            "published": "2026-11-10",
        },
        {
            "paper_id": "new:q-late",
            "title": "Surface code decoders",
            "abstract": text,
            "published": "2026-11-20",
        },
        {
            "paper_id": "new:c-late",
            "title": "Regional climate model ensembles for rainfall",
            "published": "2026-11-15",
        },
        {"paper_id": "new:undated", "title": "Surface code decoders, undated", "abstract": text},
    ]
    assert client.post("/papers", json={"papers": new}, headers=ADMIN_HEADERS).status_code == 200
    r = client.get(
        "/users/alice/recommendations", params={"k": 10, "since": "2026-11-12"}, headers=h
    )
    assert r.status_code == 200, r.text
    # Only the two published on or after the day, the quantum one first as in the full ranking.
    assert ids(r.json()) == ["new:q-late", "new:c-late"]
    full = ids(recommend(client, "alice", h, k=60))
    assert full.index("new:q-late") < full.index("new:c-late")
    assert {"new:q-early", "new:undated"} <= set(full)
    # The sample catalog's papers have dates too, but they left with the first real papers: a
    # day long ago lets every new dated paper through, never the undated one nor a sample one.
    long_ago = ids(recommend_since(client, "alice", h, "1900-01-01", k=100))
    assert sorted(long_ago) == ["new:c-late", "new:q-early", "new:q-late"]
    assert ids(recommend_since(client, "alice", h, "2026-11-21")) == []
    # A liked paper stays out of a filtered list as out of the full one.
    client.put("/users/alice/likes/new:q-late", headers=h)
    # c-late has now been shown three times without a reaction (PAPERREC_IMPRESSIONS_MAX_SHOWS):
    # alice no longer sees it; bob, with the same like and no impressions, does.
    assert ids(recommend_since(client, "alice", h, "2026-11-12")) == []
    hb = user_headers(client, "bob")
    client.put("/users/bob/likes/new:q-late", headers=hb)
    assert ids(recommend_since(client, "bob", hb, "2026-11-12")) == ["new:c-late"]


def recommend_since(
    client: TestClient, user: str, headers: dict[str, str], since: str, k: int = 10
) -> dict:
    r = client.get(
        f"/users/{user}/recommendations", params={"k": k, "since": since}, headers=headers
    )
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def test_bad_since_and_bad_published_are_clear_errors(client: TestClient) -> None:
    h = user_headers(client, "alice")
    for since in ("2026-13-01", "0", "2026-1-1"):  # pydantic alone reads "0" as a Unix time
        r = client.get("/users/alice/recommendations", params={"since": since}, headers=h)
        assert r.status_code == 422, since
        assert "since" in r.text and "YYYY-MM-DD" in r.text
    for route in ("/papers?q=quantum&since=0", "/papers/sample:quantum-01/similar?since=0"):
        assert client.get(route).status_code == 422, route
    schema = client.get("/openapi.json").json()
    params = schema["paths"]["/users/{user_id}/recommendations"]["get"]["parameters"]
    since_schema = next(p for p in params if p["name"] == "since")["schema"]
    assert {"type": "string", "format": "date"} in since_schema["anyOf"]
    for published in ("2021-02-30", 20210301, 0):
        bad = {"paper_id": "new:x", "title": "X", "published": published}
        r = client.post("/papers", json={"papers": [bad]}, headers=ADMIN_HEADERS)
        assert r.status_code == 422, published
        assert "published" in r.text and "YYYY-MM-DD" in r.text
    r = client.post(
        "/papers",
        json={"papers": [{"paper_id": "new:y", "title": "Y", "published": "2021-05-01"}]},
        headers=ADMIN_HEADERS,
    )
    assert r.status_code == 200
    got = client.get("/papers/new:y").json()
    assert got["published"] == "2021-05-01" and got["year"] == 2021


def test_papers_added_through_one_process_reach_the_others(
    make_settings: Callable[..., Settings],
) -> None:
    """Two API processes on one Redis (``--workers 2``): a paper POSTed to one is recommended by
    the other too, without a retrain, and so is a later change to it."""
    settings = make_settings(papers_poll_s=0.05)
    with TestClient(create_app(settings)) as a, TestClient(create_app(settings)) as b:
        h = user_headers(a, "alice")
        for p in QUANTUM:
            a.put(f"/users/alice/likes/{p}", headers=h)
        version = recommend(b, "alice", h)["model_version"]
        paper = {
            "paper_id": "new:qec",
            "title": "Quantum error correction with surface code decoders on noisy qubits",
            "abstract": "A surface code decoder for quantum hardware with noisy qubits.",
        }
        assert a.post("/papers", json={"papers": [paper]}, headers=ADMIN_HEADERS).status_code == 200
        deadline = time.monotonic() + 10
        while "new:qec" not in ids(recommend(b, "alice", h, k=3)):
            assert time.monotonic() < deadline, "the other process never took the paper in"
            time.sleep(0.05)
        assert recommend(b, "alice", h)["model_version"] == version  # no retrain
        # A change to the paper follows it (here its date, which `since` filters on).
        dated = {**paper, "published": "2030-01-01"}
        a.post("/papers", json={"papers": [dated]}, headers=ADMIN_HEADERS)
        while ids(recommend_since(b, "alice", h, "2030-01-01")) != ["new:qec"]:
            assert time.monotonic() < deadline, "the other process never took the change in"
            time.sleep(0.05)


def test_catalog_changes_name_what_changed_and_say_when_trimmed(redis_url: str) -> None:
    from recommender.catalog import Paper
    from service.connection import open_store

    with open_store(make_store_settings(redis_url)) as store:
        start = store.last_paper_change()
        store.put_papers([Paper("x:1", "One"), Paper("x:2", "Two")])
        mark = store.last_paper_change()
        # Ids with a '/' (arXiv's old ones) come back whole.
        store.put_papers([Paper("x:2", "Two, renamed"), Paper("hep-th/3", "Three")])
        last, papers, removed = store.paper_changes(mark)
        assert last == store.last_paper_change() != mark and removed == []
        assert papers is not None and [(p.paper_id, p.title) for p in papers] == [
            ("x:2", "Two, renamed"),
            ("hep-th/3", "Three"),
        ]
        _, everything, _ = store.paper_changes(start)
        assert everything is not None
        assert {p.paper_id for p in everything} == {"x:1", "x:2", "hep-th/3"}
        assert store.paper_changes(last) == (last, [], [])
        raw_redis(redis_url).xtrim("paperrec:paper-changes", maxlen=1, approximate=False)
        assert store.paper_changes(mark) == (last, None, [])  # trimmed past it: re-read all


def test_the_catalog_remembers_when_each_paper_first_entered_it(redis_url: str) -> None:
    """What a digest calls new: papers stored for the first time after a moment; storing a
    known paper again is no entry, and the sample papers leaving take their entries along."""
    from recommender.catalog import Paper
    from service.connection import open_store

    with open_store(make_store_settings(redis_url)) as store:
        store.put_papers([Paper("sample:1", "A sample")], sample=True)
        store.put_papers([Paper("x:1", "One")])  # a real paper: the sample one leaves
        assert store.papers_added_after(0.0) == ["x:1"]
        mark = time.time()
        time.sleep(0.01)
        store.put_papers([Paper("x:1", "One, renamed"), Paper("x:2", "Two")])
        assert store.papers_added_after(mark) == ["x:2"]
        assert store.papers_added_after(time.time()) == []


def test_a_papers_entry_time_is_never_after_the_moment_it_was_stored(
    redis_url: str, monkeypatch
) -> None:
    """A moment read once a write is done is at or after the entries it made, to the clock's
    precision: rounded to the millisecond, a paper stored at .0006 s would count as entered
    after .0007 s, and a digest whose horizon fell there would take it for new twice."""
    from types import SimpleNamespace

    import service.store as store_module
    from recommender.catalog import Paper
    from service.connection import open_store

    with open_store(make_store_settings(redis_url)) as store:
        monkeypatch.setattr(store_module, "time", SimpleNamespace(time=lambda: 1_000_000.0006))
        store.put_papers([Paper("x:1", "One")])
        monkeypatch.undo()
        assert store.papers_added_after(1_000_000.0005) == ["x:1"]
        assert store.papers_added_after(1_000_000.0007) == []


def test_a_stored_id_that_breaks_the_id_rule_does_not_stop_the_catalog(redis_url: str) -> None:
    """An older version stored ids the rule now refuses (``x 3`` through a catalog file,
    ``foo/similar`` through the API): the catalog still loads, without them."""
    import json

    from recommender.catalog import Paper
    from service.connection import open_store

    with open_store(make_store_settings(redis_url)) as store:
        store.put_papers([Paper("x:1", "One")])
        legacy = {"paper_id": "x 3", "title": "Three", "abstract": ""}
        raw_redis(redis_url).hset("paperrec:papers", "x 3", json.dumps(legacy))
        assert [p.paper_id for p in store.catalog()] == ["x:1"]
        assert store.get_paper("x 3") is None


def make_store_settings(redis_url: str) -> Settings:
    return Settings(
        _env_file=None, redis_url=redis_url, admin_token="store-admin-token-not-secret-0123456789"
    )  # type: ignore[call-arg]


def test_search_and_similar_take_since_and_answers_carry_the_date(client: TestClient) -> None:
    day = "2024-06-01"
    for route, query in (
        ("/papers", {"q": "quantum qubits"}),
        ("/papers/sample:quantum-01/similar", {}),
    ):
        every = client.get(route, params={**query, "k": 60}).json()["items"]
        recent = client.get(route, params={**query, "k": 60, "since": day}).json()["items"]
        assert every and all(i["published"] for i in every)  # the sample papers are dated
        assert any(i["published"] < day for i in every)
        assert recent and all(i["published"] >= day for i in recent)
        # The same papers in the same order as the full answer, less the older ones.
        assert [i["paper_id"] for i in recent] == [
            i["paper_id"] for i in every if i["published"] >= day
        ]
    h = user_headers(client, "alice")
    client.put(f"/users/alice/likes/{QUANTUM[0]}", headers=h)
    items = recommend(client, "alice", h)["items"]
    assert all(len(i["published"]) == 10 for i in items)
