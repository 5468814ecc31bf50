"""The key layouts without a server: on a Redis Cluster every key that one of the service's
scripts or transactions joins with a user's feedback is in that user's hash slot, the catalog is
one slot, the shards of what is global cover every slot once; one server keeps its names."""

from __future__ import annotations

import pytest
from redis.crc import REDIS_CLUSTER_HASH_SLOTS, key_slot

from service import keys
from service.scripts import ADD_FEEDBACK, REMOVE_FEEDBACK
from service.store import Store

USERS = ["alice", "u42", "Ünïcode-user", "a}b", "{x}", "user:with:colons", ""]


def slot(key: str) -> int:
    return key_slot(key.encode())


def user_keys(layout: keys.Layout, u: str) -> list[str]:
    """Every key that a script or transaction of the service joins with ``u``'s likes."""
    store = Store(None, layout=layout)  # type: ignore[arg-type]  # names only, no connection
    return [
        *store._add_keys("likes", u),
        *store._add_keys("dislikes", u),
        keys.collection(u, "reading-group"),
        keys.collection_prefix(u) + "x",
        keys.rules(u),
        keys.impression_counts(u),
        keys.impression_times(u),
        keys.previous_list(u),
        keys.previous_list(u, "reading-group"),
        keys.feed_served(u, "t0"),
        keys.feed_fetched(u),
        keys.digest(u),
        keys.digest_seen(u),
        keys.digest_lock(u),
        layout.digest_subscribers(u),
        keys.user_tokens(u),
        keys.user_sessions(u),
        keys.visits(u),
    ]


@pytest.mark.parametrize("user", USERS)
def test_on_a_cluster_a_users_keys_are_all_in_the_users_slot(user: str) -> None:
    want = slot(keys.likes(user))
    found = {k: slot(k) for k in user_keys(keys.CLUSTER, user)}
    assert {k: s for k, s in found.items() if s != want} == {}


def test_the_scripts_keys_are_the_layouts() -> None:
    # The feedback scripts write the users set, the stream and the count they are given: on a
    # cluster those are the shards of the user's slot, not the global names.
    assert "KEYS[1]" in ADD_FEEDBACK and "KEYS[4]" in ADD_FEEDBACK and "KEYS[2]" in REMOVE_FEEDBACK
    cluster = Store(None, layout=keys.CLUSTER)  # type: ignore[arg-type]
    names = cluster._add_keys("likes", "alice")
    assert keys.USERS not in names and keys.EVENTS not in names
    assert keys.FEEDBACK_CHANGES not in names


def test_on_a_cluster_the_catalog_is_one_slot() -> None:
    c = keys.CLUSTER
    catalog = [c.PAPERS, c.META, c.PAPER_CHANGES, c.SAMPLE_PAPERS, c.PAPERS_ADDED, *c.paper_index]
    assert len({slot(k) for k in catalog}) == 1


def test_the_shards_cover_every_slot_once() -> None:
    for names in (
        keys.CLUSTER.all_users(),
        keys.CLUSTER.all_events(),
        keys.CLUSTER.all_feedback_changes(),
        keys.CLUSTER.all_digest_subscribers(),
    ):
        assert sorted(slot(k) for k in names) == list(range(REDIS_CLUSTER_HASH_SLOTS))


def test_one_server_keeps_its_names() -> None:
    s = keys.SINGLE
    assert not s.cluster and keys.CLUSTER.cluster
    assert (s.users("u"), s.events("u"), s.feedback_changes("u")) == (
        "paperrec:users",
        "paperrec:events",
        "paperrec:feedback-changes",
    )
    assert s.digest_subscribers("u") == "paperrec:digest-subscribers"
    assert s.all_digest_subscribers() == ["paperrec:digest-subscribers"]
    assert (s.PAPERS, s.PAPER_CHANGES, s.META) == (
        "paperrec:papers",
        "paperrec:paper-changes",
        "paperrec:meta",
    )
