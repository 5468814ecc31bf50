"""Several API replicas on one Redis Cluster, and what they answer when a master dies.

Real processes: ``paperrec serve`` twice on the cluster of this folder's conftest (3 masters, 3
replicas on loopback), a master SIGKILLed, the cluster failing over by itself."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from redis.crc import key_slot
from service_conftest import free_port

from bench.failover import ADMIN, ApiServer, StreamResult, like_stream, sample_ids
from bench.redis_cluster import LocalCluster
from service import keys
from service.cluster import cluster_client

HEADERS = {"Authorization": f"Bearer {ADMIN}"}


@contextmanager
def api_replicas(folder: Path, cluster: LocalCluster, **env: str) -> Iterator[list[ApiServer]]:
    """Two API processes sharing only the cluster and a model folder (as two hosts would)."""
    shared = folder / "shared-data"
    servers = [
        ApiServer(shared, cluster.seeds, free_port(), PAPERREC_MODEL_POLL_S="0.2", **env)
        for _ in range(2)
    ]
    try:
        for s in servers:
            s.wait_healthy()
        yield servers
    finally:
        for s in servers:
            s.stop()


@pytest.fixture
def replicas(tmp_path: Path, cluster: LocalCluster) -> Iterator[list[ApiServer]]:
    with api_replicas(tmp_path, cluster) as servers:
        yield servers


def _report(result: StreamResult, wait: str) -> str:
    return (
        f"{wait}: {len(result.lost)} of {result.acknowledged} acknowledged likes lost after a "
        f"master's SIGKILL; failover seen by the API {result.failover_s:.1f} s (replica "
        f"promoted after {result.promoted_s:.1f} s); statuses {dict(result.statuses)}"
    )


def test_a_like_through_one_replica_is_seen_by_the_other(replicas: list[ApiServer]) -> None:
    a, b = replicas
    paper = sample_ids()[0]
    with httpx.Client(headers=HEADERS, timeout=10) as http:
        assert http.put(f"{a.url}/users/alice/likes/{paper}").status_code == 201
        assert http.get(f"{b.url}/users/alice/likes").json()["paper_ids"] == [paper]
        assert http.put(f"{b.url}/users/alice/likes/{paper}").status_code == 200  # already there
        assert http.delete(f"{b.url}/users/alice/likes/{paper}").status_code == 204
        assert http.get(f"{a.url}/users/alice/likes").json()["paper_ids"] == []
        # A token issued by one replica is accepted by the other.
        token = http.post(f"{a.url}/users/bob/tokens").json()["token"]
        r = http.put(
            f"{b.url}/users/bob/likes/{paper}", headers={"Authorization": f"Bearer {token}"}
        )
        assert r.status_code == 201


def test_a_model_trained_through_one_replica_is_served_by_both(
    replicas: list[ApiServer],
) -> None:
    a, b = replicas
    with httpx.Client(headers=HEADERS, timeout=30) as http:
        for i, paper in enumerate(sample_ids()[:12]):
            assert http.put(f"{a.url}/users/u{i % 3}/likes/{paper}").status_code == 201
        before = http.get(f"{b.url}/health").json()["model"]["version"]
        assert http.post(f"{a.url}/admin/retrain").status_code == 202
        deadline = time.monotonic() + 120
        while http.get(f"{a.url}/admin/retrain").json()["status"] == "running":
            assert time.monotonic() < deadline, "the retrain did not end"
            time.sleep(0.1)
        trained = http.get(f"{a.url}/health").json()["model"]["version"]
        assert trained != before
        # B picks the bundle up from the shared folder (its model poll), without a restart.
        while http.get(f"{b.url}/health").json()["model"]["version"] != trained:
            assert time.monotonic() < deadline, "the other replica never loaded the new model"
            time.sleep(0.1)


def test_no_acknowledged_like_is_lost_when_a_master_is_killed(
    cluster: LocalCluster, replicas: list[ApiServer], failover_report: list[str]
) -> None:
    """With WAIT for a replica (the cluster default) every 2xx like survives the SIGKILL of its
    master in the middle of a stream of likes through both replicas."""
    result = like_stream(cluster, [s.url for s in replicas], sample_ids(), threads=6)
    assert result.acknowledged_on_victim_before_kill > 0  # the kill hit users with likes
    assert result.failover_s is not None  # and their likes were acknowledged again afterwards
    failover_report.append(_report(result, "WAIT for 1 replica (the cluster default)"))
    assert set(result.statuses) <= {201, 503}, result.statuses  # never another answer
    assert result.lost == [], f"{len(result.lost)} of {result.acknowledged} likes lost"


def test_without_wait_the_acknowledged_likes_lost_are_counted(
    tmp_path: Path, cluster: LocalCluster, failover_report: list[str]
) -> None:
    """Without WAIT (``PAPERREC_REDIS_WAIT_REPLICAS=0``) a 2xx means the master had the like,
    and a master killed before its replica copied it takes it along: the number lost is counted
    and reported at the end of the run (replication on loopback is quick, so often none)."""
    with api_replicas(tmp_path, cluster, PAPERREC_REDIS_WAIT_REPLICAS="0") as servers:
        result = like_stream(cluster, [s.url for s in servers], sample_ids(), threads=6)
    assert result.acknowledged_on_victim_before_kill > 0
    assert result.failover_s is not None
    failover_report.append(_report(result, "no WAIT"))
    assert set(result.statuses) <= {201, 503}, result.statuses
    assert len(result.lost) <= result.acknowledged


def _user_on(cluster: LocalCluster, port: int) -> str:
    for i in range(10_000):
        user = f"user{i}"
        if cluster.master_of(keys.likes(user)).port == port:
            return user
    raise AssertionError("no user found on that master")


def test_a_slot_without_a_master_is_503_until_it_is_back(
    cluster: LocalCluster, replicas: list[ApiServer]
) -> None:
    """A master and its replica both down: the slot has no master, the cluster says
    CLUSTERDOWN. Likes there are 503 (never a 2xx), and the API recovers by itself when the
    nodes come back (from their append-only files)."""
    a, b = replicas
    catalog = cluster.master_of(keys.CLUSTER.PAPERS)
    master = next(
        n for n in cluster.live_nodes() if n is not catalog and cluster.role(n) == "master"
    )
    (replica,) = cluster.replicas_of(master)
    user = _user_on(cluster, master.port)
    papers = sample_ids()
    with httpx.Client(headers=HEADERS, timeout=10) as http:
        assert http.put(f"{a.url}/users/{user}/likes/{papers[0]}").status_code == 201
        cluster.kill(replica)
        cluster.kill(master)
        answers = [
            http.put(f"{(a, b)[i % 2].url}/users/{user}/likes/{papers[1 + i]}").status_code
            for i in range(10)
        ]
        assert answers == [503] * 10, answers
        r = http.get(f"{b.url}/users/{user}/likes")
        assert r.status_code == 503 and "retry" in r.json()["detail"]
        cluster.restart(master)
        cluster.restart(replica)
        cluster.wait_ok()
        deadline = time.monotonic() + 60
        # A 503 may still have stored the like (on the master, not yet on its replica): sent
        # again it is then 200, already there.
        while (r := http.put(f"{b.url}/users/{user}/likes/{papers[20]}")).status_code == 503:
            assert time.monotonic() < deadline, "the API did not recover"
            time.sleep(0.1)
        assert r.status_code in (200, 201), r.text
        likes = http.get(f"{a.url}/users/{user}/likes").json()["paper_ids"]
        assert papers[0] in likes and papers[20] in likes  # acknowledged before, and after


def test_the_layout_keeps_a_users_feedback_and_its_event_in_one_slot(
    cluster: LocalCluster, replicas: list[ApiServer]
) -> None:
    a, _ = replicas
    paper = sample_ids()[0]
    with httpx.Client(headers=HEADERS, timeout=10) as http:
        for user in ("alice", "bob", "carol", "dave"):
            assert http.put(f"{a.url}/users/{user}/likes/{paper}").status_code == 201
    with cluster_client(cluster.seeds, timeout_s=5) as c:
        for user in ("alice", "bob", "carol", "dave"):
            slot = key_slot(keys.likes(user).encode())
            stream = keys.CLUSTER.events(user)
            assert key_slot(stream.encode()) == slot
            events = c.xrange(stream)
            assert [
                (f["user"], f["paper"], f["action"]) for _, f in events if f["user"] == user
            ] == [(user, paper, "like")]
            assert user in c.smembers(keys.CLUSTER.users(user))
        assert sum(int(c.get(k) or 0) for k in keys.CLUSTER.all_feedback_changes()) == 4
