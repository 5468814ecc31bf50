"""The Redis connections: clients that retry briefly, and a store opened on the configured
server or on the embedded one, whose life (start, supervision, stop) is tied to the store's.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from service.redis_server import EmbeddedRedis
from service.settings import Settings
from service.store import Store

__all__ = ["async_redis_client", "open_store", "redis_client"]

#: Retries of a command whose connection failed: one is enough to reconnect after a Redis
#: restart (the pooled connection fails at once, the retry opens a new one). No more: against a
#: hung Redis every attempt waits out the timeout (connecting included), and the old three
#: attempts of 5 s held a like for 15 s.
_RETRIES = 1


def _retry_settings() -> dict[str, Any]:
    # Timeouts are not retried: the command may still run, and a retried XADD would be a
    # duplicate event. Connection errors are (every write here but XADD is idempotent).
    return {"backoff": ExponentialBackoff(cap=0.1, base=0.01), "retries": _RETRIES}


def redis_client(url: str, *, timeout_s: float = 1.0) -> redis.Redis:
    """A client for ``url`` (redis://, rediss://, unix://) answering ``str``.

    Reconnects by itself: a pooled connection that a restarted server closed fails once and the
    command is retried on a new one (:data:`_RETRIES`). It retries little and briefly, so an
    unreachable server shows as 503 within a fraction of a second, and a hung one (stopped, or a
    disk that does not return) within twice ``timeout_s`` at most, instead of holding requests;
    redis-py's own default (10 retries, backoff up to 1 s, also on timeouts) would hold each
    request for seconds."""
    return redis.Redis.from_url(
        url,
        decode_responses=True,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry=Retry(**_retry_settings(), supported_errors=(redis.ConnectionError,)),
        health_check_interval=30,
    )


def async_redis_client(url: str, *, timeout_s: float = 1.0) -> aioredis.Redis:
    """The ``asyncio`` twin of :func:`redis_client` (same answers, timeouts and retries)."""
    return aioredis.Redis.from_url(
        url,
        decode_responses=True,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry=AsyncRetry(**_retry_settings(), supported_errors=(redis.ConnectionError,)),
        health_check_interval=30,
    )


@contextmanager
def open_store(settings: Settings) -> Iterator[Store]:
    """A :class:`Store` on ``settings.redis_url``, or on the embedded server of
    ``settings.data_dir`` (started if no other process runs it, restarted if it dies, and stopped
    on exit). With ``settings.redis_cluster``, a :class:`service.cluster.ClusterStore` on that
    Redis Cluster instead (it takes precedence)."""
    if settings.redis_cluster:
        from service.cluster import open_cluster_store

        with open_cluster_store(settings) as cluster_store:
            yield cluster_store
        return
    server: EmbeddedRedis | None = None
    if settings.redis_url:
        url = settings.redis_url
    else:
        server = EmbeddedRedis(
            settings.data_dir,
            appendfsync=settings.redis_appendfsync,
            maxmemory=settings.redis_maxmemory,
        ).start()
        server.supervise()  # a crashed server comes back by itself, with its append-only file
        url = server.url
    try:
        client = redis_client(url, timeout_s=settings.redis_timeout_s)
        # Connects lazily, on the event loop of its first command (the API's).
        aclient = async_redis_client(url, timeout_s=settings.redis_timeout_s)
        try:
            store = Store(
                client,
                aclient,
                events_max=settings.events_max,
                events_retention_s=settings.events_retention_days * 86400,
            )
            store.ping()
            store.feedback_changes()  # starts the count on a store of an older version
            yield store
        finally:
            client.close()
    finally:
        if server is not None:
            server.stop()
