"""Impressions: papers shown N times without a reaction stop showing, a list never repeats the
previous one, both survive a restart of the app and of its Redis (append-only file), stay
bounded, and explored papers are labelled."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from service_conftest import ADMIN_HEADERS, bearer, settings_redis, user_headers

from service import keys
from service.main import create_app
from service.settings import Settings

LIKED = ["sample:nlp-01", "sample:nlp-02", "sample:vision-02"]
PERSIST_ADMIN = "persist-admin-token-not-secret-0123456789"


def _like(c: TestClient, h: dict[str, str]) -> None:
    for p in LIKED:
        assert c.put(f"/users/alice/likes/{p}", headers=h).status_code == 201


def _list(c: TestClient, h: dict[str, str], **params: object) -> list[str]:
    r = c.get("/users/alice/recommendations", headers=h, params={"k": 5, **params})
    assert r.status_code == 200, r.text
    return [i["paper_id"] for i in r.json()["items"]]


def test_unreacted_papers_stop_showing_after_n_and_lists_never_repeat(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(impressions_max_shows=2, impressions_flush_s=0)
    with TestClient(create_app(settings)) as c:
        h = user_headers(c, "alice")
        _like(c, h)
        lists = [_list(c, h) for _ in range(12)]
    shown = Counter(p for lst in lists for p in lst)
    assert max(shown.values()) == 2  # shown twice, then never again
    for before, after in zip(lists, lists[1:], strict=False):
        assert not set(before) & set(after)  # 57 papers left: the previous list never comes back
    assert not set(shown) & set(LIKED)
    # 57 papers, each at most twice: 114 showings fill 22 lists of 5; the 12 asked are full.
    assert all(len(lst) == 5 for lst in lists)


def test_the_previous_list_comes_back_only_when_nothing_else_is_left(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(impressions_max_shows=0, impressions_flush_s=0)
    with TestClient(create_app(settings)) as c:
        h = user_headers(c, "alice")
        _like(c, h)
        first = _list(c, h, k=50)
        # 57 papers: 7 others are left, and 43 of the previous 50 fill the list.
        second = _list(c, h, k=50)
        assert len(second) == 50 and len(set(second) - set(first)) == 7


def test_impressions_survive_a_restart_of_the_app_and_of_redis(tmp_path: Path) -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        data_dir=tmp_path / "data",
        redis_url=None,  # the embedded Redis, append-only, stopped with the app
        model="content",
        admin_token=PERSIST_ADMIN,
        model_poll_s=0,
        impressions_max_shows=1,
        impressions_flush_s=60,  # nothing is flushed while it runs: shutdown writes them
    )
    with TestClient(create_app(settings)) as c:
        token = c.post("/users/alice/tokens", headers=bearer(PERSIST_ADMIN)).json()["token"]
        h = bearer(token)
        _like(c, h)
        before = _list(c, h) + _list(c, h)
    assert len(set(before)) == 10
    with TestClient(create_app(settings)) as c:
        after = _list(c, bearer(token))
    assert len(after) == 5 and not set(after) & set(before)


def test_impressions_stay_bounded(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(impressions_kept=7, impressions_max_shows=0, impressions_flush_s=0)
    with TestClient(create_app(settings)) as c:
        h = user_headers(c, "alice")
        _like(c, h)
        last = [_list(c, h) for _ in range(6)][-1]
    r = settings_redis(settings)
    assert r.hlen(keys.impression_counts("alice")) == 7
    assert r.zcard(keys.impression_times("alice")) == 7
    # The most recent are the ones kept.
    assert set(last) <= set(r.hkeys(keys.impression_counts("alice")))


def test_a_list_is_remembered_in_the_process_before_it_is_written(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(impressions_flush_s=3600)
    r = settings_redis(settings)
    with TestClient(create_app(settings)) as c:
        h = user_headers(c, "alice")
        _like(c, h)
        first, second = _list(c, h), _list(c, h)
        assert not set(first) & set(second)
        assert not r.exists(keys.previous_list("alice"))
    # Written when the app stops.
    assert r.exists(keys.previous_list("alice"))


def test_explored_papers_are_labelled(make_settings: Callable[..., Settings]) -> None:
    with TestClient(create_app(make_settings(impressions=False))) as c:
        h = user_headers(c, "alice")
        _like(c, h)
        greedy = _list(c, h, k=8)
        assert _list(c, h, k=8) == greedy  # without impressions the list is the same
        explored = 0
        for _ in range(8):
            r = c.get("/users/alice/recommendations", headers=h, params={"k": 8, "explore": 2})
            items = r.json()["items"]
            assert len({i["paper_id"] for i in items}) == 8
            for i in items:
                assert i["reason"] == ("explore" if i["paper_id"] not in greedy else None)
            explored += sum(i["reason"] == "explore" for i in items)
        assert explored > 0
        plain = c.get("/users/alice/recommendations", headers=h, params={"k": 8}).json()
        assert all(i["reason"] is None for i in plain["items"])
        # Diversity alone is deterministic and labels what it brings in as well.
        d1 = c.get("/users/alice/recommendations", headers=h, params={"k": 8, "diversity": 0.9})
        d2 = c.get("/users/alice/recommendations", headers=h, params={"k": 8, "diversity": 0.9})
        assert d1.json() == d2.json()


def test_bad_explore_and_diversity_say_what_is_wrong(
    make_settings: Callable[..., Settings],
) -> None:
    with TestClient(create_app(make_settings())) as c:
        h = user_headers(c, "alice")
        for param, value in (("explore", 3), ("diversity", -0.5), ("explore", "lots")):
            r = c.get("/users/alice/recommendations", headers=h, params={param: value})
            assert r.status_code == 422
            assert param in r.json()["detail"]
        assert c.get("/users/alice/recommendations", headers=ADMIN_HEADERS).status_code == 200


def test_one_flush_writes_every_users_lists_in_order(redis_url: str) -> None:
    import asyncio

    import redis.asyncio as aioredis

    from service.impressions import Impressions

    async def go() -> None:
        client = aioredis.Redis.from_url(redis_url, decode_responses=True)
        imp = Impressions(client, kept=100, max_shows=2, flush_s=60)
        await imp.record("u1", ["a", "b"])
        await imp.record("u2", ["c"])
        await imp.record("u1", ["b", "d"])
        # Not written yet, but this process already counts them.
        assert not await client.exists(keys.previous_list("u1"))
        seen = await imp.seen("u1")
        assert seen.counts == {"a": 1, "b": 2, "d": 1} and seen.previous == ["b", "d"]
        assert seen.hidden(2) == ["b"]
        assert await imp.flush() == 3
        assert await imp.flush() == 0
        stored = await imp.seen("u1")
        assert stored.counts == {"a": 1, "b": 2, "d": 1} and stored.previous == ["b", "d"]
        assert (await imp.seen("u2")).previous == ["c"]
        await client.aclose()

    asyncio.run(go())


def _collection(c: TestClient, h: dict[str, str], **params: object) -> list[str]:
    r = c.get("/users/alice/collections/c/recommendations", headers=h, params={"k": 5, **params})
    assert r.status_code == 200, r.text
    return [i["paper_id"] for i in r.json()["items"]]


def _make_collection(c: TestClient, h: dict[str, str]) -> None:
    _like(c, h)
    assert c.put("/users/alice/collections/c", headers=h).status_code == 201
    for p in LIKED[:2]:
        assert c.put(f"/users/alice/collections/c/papers/{p}", headers=h).status_code == 201


@pytest.mark.parametrize("flush_s", [0, 3600])  # written in the request; kept in the process
def test_each_list_avoids_its_own_previous_one(
    make_settings: Callable[..., Settings], flush_s: float
) -> None:
    """A collection's list between two main lists does not let the main list repeat itself,
    and the collection's lists do not repeat theirs."""
    settings = make_settings(impressions_max_shows=0, impressions_flush_s=flush_s)
    with TestClient(create_app(settings)) as c:
        h = user_headers(c, "alice")
        _make_collection(c, h)
        main1 = _list(c, h)
        coll1 = _collection(c, h)
        main2 = _list(c, h)
        coll2 = _collection(c, h)
    assert len(main2) == len(coll2) == 5
    assert not set(main1) & set(main2)
    assert not set(coll1) & set(coll2)


def test_shows_count_over_all_of_a_users_lists(make_settings: Callable[..., Settings]) -> None:
    """A paper shown once in a collection's list (the bound here is 1) leaves the main list
    too, and one shown in the main list leaves the collection's."""
    settings = make_settings(impressions_max_shows=1, impressions_flush_s=3600)
    with TestClient(create_app(settings)) as c:
        h = user_headers(c, "alice")
        _make_collection(c, h)
        coll = _collection(c, h, k=10)
        main = _list(c, h, k=20)
        again = _collection(c, h, k=20)
    assert len(coll) == 10 and len(main) == 20
    assert not set(coll) & set(main)
    assert not (set(coll) | set(main)) & set(again)


def test_a_collections_list_explores_and_forgets_its_previous_list_when_deleted(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(impressions_max_shows=0, impressions_flush_s=0)
    r = settings_redis(settings)
    with TestClient(create_app(settings)) as c:
        h = user_headers(c, "alice")
        _make_collection(c, h)
        url = "/users/alice/collections/c/recommendations"
        reasons = [
            i["reason"]
            for _ in range(5)
            for i in c.get(url, headers=h, params={"k": 8, "explore": 2}).json()["items"]
        ]
        assert "explore" in reasons
        bad = c.get(url, headers=h, params={"explore": 3})
        assert bad.status_code == 422 and "explore" in bad.text
        assert r.exists(keys.previous_list("alice", "c"))
        assert c.delete("/users/alice/collections/c", headers=h).status_code == 204
        assert not r.exists(keys.previous_list("alice", "c"))
        assert r.exists(keys.previous_list("alice")) == 0  # the main list was never shown
