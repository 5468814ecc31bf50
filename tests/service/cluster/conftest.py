"""Fixtures of the Redis Cluster tests: a real cluster on loopback (3 masters, 3 replicas of the
system's ``redis-server`` 7, in a temporary folder) for the session, wiped before every test, and
the service's settings pointed at it (``PAPERREC_REDIS_CLUSTER``).

Here ``make_settings`` (and so ``client``) give an app on the cluster, so the API tests imported
into this folder (:mod:`cluster_reuse`) run against it; a test that reads the one-server key
layout directly (it asks for ``redis_url``) is skipped here, saying so, and one that never
reaches the cluster (it starts its own Redis) is deselected, since it ran outside this folder."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.cluster
from service_conftest import ADMIN

from bench.redis_cluster import LocalCluster, redis_server_binary
from service.cluster import cluster_client
from service.settings import Settings

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reused_elsewhere = [
        item
        for item in items
        if Path(str(item.fspath)).resolve().parent == HERE
        and "__test_" in item.name
        and "cluster" not in getattr(item, "fixturenames", ())
    ]
    if reused_elsewhere:
        config.hook.pytest_deselected(items=reused_elsewhere)
        gone = set(map(id, reused_elsewhere))
        items[:] = [item for item in items if id(item) not in gone]


#: What the failover tests measured (acknowledged likes lost, failover time), printed at the end
#: of the run whatever the outcome: the loss without WAIT is reported, not hidden.
FAILOVER_REPORT: list[str] = []


@pytest.fixture
def failover_report() -> list[str]:
    return FAILOVER_REPORT


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if FAILOVER_REPORT:
        terminalreporter.section("Redis Cluster failover (tests/service/cluster)")
        for line in FAILOVER_REPORT:
            terminalreporter.line(line)


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    if redis_server_binary() is None:
        pytest.skip(
            "Redis Cluster tests need redis-server 7 and redis-cli on PATH "
            "(Debian: apt-get install redis-server; .ci/run installs it)"
        )
    cluster = LocalCluster(tmp_path_factory.mktemp("cluster")).start()
    yield cluster
    cluster.stop()


def wipe(cluster: LocalCluster) -> None:
    cluster.wait_ok()
    with cluster_client(cluster.seeds, timeout_s=5) as c:
        c.flushall(target_nodes=redis.cluster.RedisCluster.PRIMARIES)


@pytest.fixture
def cluster(redis_cluster: LocalCluster) -> Iterator[LocalCluster]:
    """The session's cluster, every node up and wiped, before the test and after it."""
    wipe(redis_cluster)
    yield redis_cluster
    for node in redis_cluster.nodes:
        if not node.alive():
            redis_cluster.restart(node)
    wipe(redis_cluster)


@pytest.fixture
def redis_url() -> str:
    pytest.skip("reads the one-server key layout directly (service.keys.SINGLE)")


@pytest.fixture
def make_settings(tmp_path: Path, cluster: LocalCluster) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        if overrides.get("redis_url"):
            pytest.skip("runs on a Redis server of its own, not on the cluster")
        values: dict[str, Any] = {
            "data_dir": tmp_path / "data",
            "redis_cluster": cluster.seeds,
            "model": "hybrid",
            "admin_token": ADMIN,
            "model_poll_s": 0,
            # A loaded CI machine can take longer than the 500 ms default for a replica's ack.
            "redis_timeout_s": 5.0,
            "redis_wait_timeout_ms": 3000,
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    return make
