"""Rules through the API: the user's own on every list, a collection's on top for that
collection, each excluding or promoting exactly what it names and saying so."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from service_conftest import user_headers
from topic_catalog import store_papers, topic, topic_papers

from recommender.identifiers import title_key
from service.main import create_app
from service.settings import Settings

QUANTUM = topic("quantum", 1, 2, 4)
NEW = [
    {
        "paper_id": "new:followed-1",
        "title": "Glacier melt under warming oceans",
        "abstract": "Ice sheets lose mass as the ocean warms.",
        "authors": ["Lovelace, Ada"],
        "categories": ["physics.ao-ph"],
        "published": "2025-01-02",
    },
    {
        "paper_id": "new:qubits",
        "title": "Qubit readout with fewer errors",
        "abstract": "Quantum error correction of readout errors on noisy qubits.",
        "authors": ["Someone Else"],
        "categories": ["quant-ph"],
        "published": "2025-01-03",
    },
]


@pytest.fixture
def client(make_settings: Callable[..., Settings]) -> Iterator[TestClient]:
    """The app without impressions: these tests read the same list several times and compare
    them, which impressions (a list never repeats the previous one) would change on purpose."""
    with TestClient(create_app(make_settings(impressions=False))) as c:
        yield c


def ids(body: dict) -> list[str]:
    return [i["paper_id"] for i in body["items"]]


def rec(client: TestClient, url: str, h: dict[str, str], k: int = 10) -> dict:
    r = client.get(url, params={"k": k}, headers=h)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def test_user_rules_promote_and_exclude_on_the_main_list(client: TestClient) -> None:
    store_papers(client, topic_papers() + NEW)
    h = user_headers(client, "alice")
    for p in QUANTUM:
        client.put(f"/users/alice/likes/{p}", headers=h)
    url = "/users/alice/recommendations"
    before = rec(client, url, h, k=5)
    assert "new:followed-1" not in ids(before)  # a climate paper: not for a quantum reader
    assert all(i["reason"] is None for i in before["items"])
    assert "new:qubits" in ids(rec(client, url, h, k=20))

    rules = {"follow_authors": ["A. Lovelace"], "mute_words": ["qubit"]}
    r = client.put("/users/alice/rules", json=rules, headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["follow_authors"] == ["A. Lovelace"] and r.json()["collection"] is None
    after = rec(client, url, h, k=20)
    assert ids(after)[0] == "new:followed-1"
    assert after["items"][0]["reason"] == "followed author A. Lovelace"
    assert all(i["reason"] is None for i in after["items"][1:])
    # Muted: exactly the papers whose title or abstract holds the word "qubit".
    full = ids(rec(client, url, h, k=100))
    client.delete("/users/alice/rules", headers=h)
    unmuted = ids(rec(client, url, h, k=100))
    assert set(full) <= set(unmuted)
    muted = set(unmuted) - set(full)
    assert "new:qubits" in muted
    for pid in unmuted:
        paper = client.get(f"/papers/{pid}").json()
        says = " qubit " in f" {title_key(paper['title'] + ' ' + paper['abstract'])} "
        assert (pid in muted) == says, pid
    assert client.get("/users/alice/rules", headers=h).json()["mute_words"] == []


def test_collection_rules_add_to_the_users(client: TestClient) -> None:
    store_papers(client, topic_papers())
    h = user_headers(client, "alice")
    client.put("/users/alice/collections/q", headers=h)
    for p in QUANTUM:
        client.put(f"/users/alice/collections/q/papers/{p}", headers=h)
    client.put("/users/alice/rules", json={"min_year": 2020}, headers=h)
    r = client.put(
        "/users/alice/collections/q/rules",
        json={"exclude_categories": ["Quantum Physics"]},
        headers=h,
    )
    assert r.status_code == 200 and r.json()["collection"] == "q"
    body = rec(client, "/users/alice/collections/q/recommendations", h, k=50)
    assert body["rules"]["min_year"] == 2020
    assert body["rules"]["exclude_categories"] == ["Quantum Physics"]
    for pid in ids(body):
        paper = client.get(f"/papers/{pid}").json()
        assert paper["year"] >= 2020 and "Quantum Physics" not in paper["categories"]
    # The main list has the user's rule only.
    main = ids(rec(client, "/users/alice/recommendations", h, k=50))
    cats = {c for pid in main for c in client.get(f"/papers/{pid}").json()["categories"]}
    assert "Quantum Physics" in cats


def test_bad_rules_are_refused_and_store_nothing(client: TestClient) -> None:
    h = user_headers(client, "alice")
    for body, where in (
        ({"mute": ["x"]}, "mute"),
        ({"min_year": "soon"}, "min_year"),
        ({"follow_authors": ["  "]}, "follow_authors"),
        ({"exclude_categories": ["x" * 201]}, "exclude_categories"),
        ({"mute_words": [""]}, "mute_words"),
    ):
        r = client.put("/users/alice/rules", json=body, headers=h)
        assert r.status_code == 422, r.text
        assert where in r.json()["detail"]
    assert client.get("/users/alice/rules", headers=h).json()["min_year"] is None
    r = client.put("/users/alice/collections/none/rules", json={}, headers=h)
    assert r.status_code == 404
