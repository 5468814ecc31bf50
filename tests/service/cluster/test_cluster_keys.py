"""What main's features keep in Redis, on a real cluster, where their keys span the masters:
impressions flushed for users of every master in one batch (also after the nodes forgot the
script), digest subscribers read from every slot's shard, web sessions listed and ended across
two slots. The API suites of this folder go through the same code; these look at the keys."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

import pytest
from redis.asyncio.cluster import ClusterNode
from redis.crc import key_slot

from bench.redis_cluster import LocalCluster
from service import digest, keys
from service.cluster import ClusterStore, NotReplicatedError, async_cluster_client, cluster_client
from service.connection import open_store
from service.impressions import Impressions
from service.settings import Settings
from service.web import sessions

#: Users whose keys fall on every master of a 3-master cluster (slots 0-16383 over three).
USERS = [f"user-{i}" for i in range(24)]


@pytest.fixture
def store(make_settings: Callable[..., Settings]) -> Iterator[ClusterStore]:
    with open_store(make_settings()) as s:
        assert isinstance(s, ClusterStore)
        yield s


def masters_of(cluster: LocalCluster, users: list[str]) -> set[str]:
    with cluster_client(cluster.seeds, timeout_s=5) as c:
        return {c.get_node_from_key(keys.likes(u)).name for u in users}


def test_users_of_every_master_are_used(cluster: LocalCluster) -> None:
    assert len(masters_of(cluster, USERS)) == 3
    assert len({key_slot(keys.likes(u).encode()) for u in USERS}) == len(USERS)


def test_one_flush_writes_the_lists_of_users_on_every_master(cluster: LocalCluster) -> None:
    async def go() -> None:
        client = async_cluster_client(cluster.seeds, timeout_s=5)
        imp = Impressions(client, kept=100, max_shows=2, flush_s=60)
        for u in USERS:
            await imp.record(u, ["a", "b"])
            await imp.record(u, ["b", u])
        assert await imp.flush() == 2 * len(USERS)
        # The nodes forget the script (as a new or promoted master does): loaded again.
        await client.script_flush()
        for u in USERS:
            await imp.record(u, ["c"])
        assert await imp.flush() == len(USERS)
        assert await imp.flush() == 0
        for u in USERS:
            stored = await imp.seen(u)
            assert stored.counts == {"a": 1, "b": 2, u: 1, "c": 1} and stored.previous == ["c"]
        await client.aclose()

    asyncio.run(go())


def test_digest_subscribers_of_every_slot_are_found(store: ClusterStore) -> None:
    for u in USERS:
        digest.subscribe(store, u, f"{u}@example.org", None)
    assert store.digest_subscribers() == set(USERS)
    # Each entry is in the user's own slot, beside the subscription's hash.
    for u in USERS:
        shard = store.layout.digest_subscribers(u)
        assert key_slot(shard.encode()) == key_slot(keys.digest(u).encode())
    assert digest.unsubscribe(store, USERS[0])
    assert store.digest_subscribers() == set(USERS[1:])


def test_sessions_are_listed_and_ended_across_two_slots(store: ClusterStore) -> None:
    async def go() -> None:
        made = [await sessions.create_session(store, "alice", ttl_s=600) for _ in range(5)]
        for cookie, s in made:
            assert (await sessions.read_session(store, cookie)) == s
        assert len(await store.aredis.smembers(keys.user_sessions("alice"))) == 5
        await sessions.end_session(store, made[0][1])
        assert await sessions.read_session(store, made[0][0]) is None
        assert await sessions.end_sessions_of(store, "alice") == 4
        assert all([await sessions.read_session(store, c) is None for c, _ in made])
        assert not await store.aredis.smembers(keys.user_sessions("alice"))
        await store.aclose()

    asyncio.run(go())


def test_a_wait_refused_by_a_replica_is_not_replicated_not_a_server_error(
    store: ClusterStore, cluster: LocalCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a failover the user's old master can come back as a replica while the client still
    sends the WAIT there: the like ran on the new master, and the WAIT is refused ("WAIT cannot
    be used with replica instances"). That is an unconfirmed write, answered 503 (retry), never a
    500 (it was one, in CI). Here the client is made to send the WAIT to a replica."""
    user = USERS[0]
    replica = cluster.replicas_of(cluster.master_of(keys.likes(user)))[0]

    async def go() -> None:
        assert await store.add_feedback("likes", user, "p-before")  # a write as the first command
        aclient = store._acluster
        route = aclient.get_node_from_key
        # The client knows the masters only; the old master it had would be such a node.
        stale = ClusterNode(
            "127.0.0.1", replica.port, "replica", **aclient.nodes_manager.connection_kwargs
        )
        first = iter([stale])
        monkeypatch.setattr(
            aclient, "get_node_from_key", lambda key, replica=False: next(first, None) or route(key)
        )
        with pytest.raises(NotReplicatedError, match="replica"):
            await store.add_feedback("likes", user, "p-during")
        monkeypatch.setattr(aclient, "get_node_from_key", route)
        assert set(await store.feedback("likes", user)) == {"p-before", "p-during"}
        await stale.disconnect()

    asyncio.run(go())
