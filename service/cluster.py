"""The service on a Redis Cluster (``PAPERREC_REDIS_CLUSTER=host:port,...``).

The clients are redis-py's own cluster clients (``redis.cluster.RedisCluster`` for the store's
synchronous work, ``redis.asyncio.cluster.RedisCluster`` for a request's), which follow the
cluster's slot map, its redirections and its failovers. The store is :class:`ClusterStore`: the
one-server :class:`service.store.Store` on the cluster layout of :mod:`service.keys` (catalog
under ``{catalog}``, users set, event stream and change count per hash slot), plus what differs:

* **reads of every shard**: everyone's feedback (training), the event listing, the change count,
  the digest's subscribers and the stream's trimming read all 16,384 slots' shards, pipelined
  (one round trip per master);
* **a request's read** (:meth:`ClusterStore.access`): the token record, then (only for the
  token's own user with an accepted scope) the user's likes and dislikes, collection and rules
  and the paper, in two round trips, since the token, the user and the catalog live in
  different slots. As on one server, an unknown or foreign
  token costs the same whichever user the path names (one round trip, nothing of the user read);
* **durability**: Redis replicates asynchronously, so a master that dies may take writes it had
  acknowledged with it. A write the store makes by script (a like, a dislike or their removal,
  a paper put in a collection, a collection created, rules set: :data:`REPLICATED`) is followed
  by ``WAIT <n> <ms>`` on the same connection, and answered only once ``n`` replicas hold it
  (``PAPERREC_REDIS_WAIT_REPLICAS``, 1 by default here); otherwise :class:`NotReplicatedError`, which the API answers 503 (the
  write may be kept or lost: sending it again is safe, every write is idempotent).

A cluster that cannot serve a slot (its master failed and no replica took over yet) answers
``CLUSTERDOWN``, or its node does not answer at all: both reach the API as 503 (never a 2xx),
and requests succeed again by themselves once a replica was promoted.
"""

from __future__ import annotations

import heapq
import logging
import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis
import redis.asyncio.cluster as aiocluster
import redis.cluster
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialBackoff
from redis.crc import REDIS_CLUSTER_HASH_SLOTS
from redis.exceptions import NoScriptError
from redis.retry import Retry
from starlette.requests import Request
from starlette.responses import JSONResponse

from service import keys
from service.scripts import ADD_FEEDBACK, CREATE_COLLECTION, REMOVE_FEEDBACK, SET_RULES, SHA
from service.settings import Settings
from service.store import Access, Store, TokenRecord

__all__ = [
    "ClusterStore",
    "REPLICATED",
    "NotReplicatedError",
    "async_cluster_client",
    "cluster_client",
    "open_cluster_store",
    "seed_nodes",
]

log = logging.getLogger(__name__)

#: Keys read per pipeline when every slot's shard is read.
_SHARD_CHUNK = 2048
#: Retries of a command that met a dead connection or a moved slot: enough to follow one
#: failover's redirections, few enough that a slot without a master shows as 503 within about a
#: second instead of holding requests.
_RETRIES = 3
_ERRORS = (redis.ConnectionError, redis.TimeoutError, redis.exceptions.ClusterDownError)


#: The scripts whose writes wait for the replicas (every script but the read-only ACCESS).
REPLICATED = frozenset({ADD_FEEDBACK, REMOVE_FEEDBACK, CREATE_COLLECTION, SET_RULES})


class NotReplicatedError(redis.exceptions.ClusterError):
    """A write reached its master but not the replicas asked for within the wait."""


def seed_nodes(spec: str) -> list[tuple[str, int]]:
    """``"host:port,host:port"`` -> ``[(host, port), ...]`` (the settings checked the form)."""
    out: list[tuple[str, int]] = []
    for part in spec.split(","):
        host, _, port = part.strip().rpartition(":")
        out.append((host, int(port)))
    return out


def cluster_client(spec: str, *, timeout_s: float = 1.0) -> redis.cluster.RedisCluster:
    """A synchronous client of the cluster seeded by ``spec``, answering ``str``."""
    return redis.cluster.RedisCluster(
        startup_nodes=[redis.cluster.ClusterNode(h, p) for h, p in seed_nodes(spec)],
        decode_responses=True,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry=Retry(ExponentialBackoff(cap=0.25, base=0.05), _RETRIES),
    )


def async_cluster_client(spec: str, *, timeout_s: float = 1.0) -> aiocluster.RedisCluster:
    """The ``asyncio`` twin of :func:`cluster_client` (connects on its first command)."""
    return aiocluster.RedisCluster(
        startup_nodes=[aiocluster.ClusterNode(h, p) for h, p in seed_nodes(spec)],
        decode_responses=True,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry=AsyncRetry(ExponentialBackoff(cap=0.25, base=0.05), _RETRIES),
    )


class ClusterStore(Store):
    """:class:`Store` on a Redis Cluster (see the module's docstring)."""

    def __init__(
        self,
        client: redis.cluster.RedisCluster,
        aclient: aiocluster.RedisCluster | None = None,
        *,
        events_max: int = 1_000_000,
        events_retention_s: float = 0.0,
        wait_replicas: int = 1,
        wait_timeout_ms: int = 1000,
    ) -> None:
        # The stream is one per slot: each keeps its share of the events kept in all.
        per_slot = max(1, math.ceil(events_max / REDIS_CLUSTER_HASH_SLOTS))
        super().__init__(
            client,  # type: ignore[arg-type]  # the cluster client answers as one server's
            aclient,  # type: ignore[arg-type]
            events_max=per_slot,
            events_retention_s=events_retention_s,
            layout=keys.CLUSTER,
        )
        self.cluster = client
        self.acluster = aclient
        self.events_max_total = events_max
        self.wait_replicas = wait_replicas
        self.wait_timeout_ms = wait_timeout_ms

    @property
    def _acluster(self) -> aiocluster.RedisCluster:
        if self.acluster is None:
            raise RuntimeError("this store was opened without an async client")
        return self.acluster

    # ------------------------------------------------------------- every shard
    def _each(self, command: str, names: list[str], *args: Any) -> Iterator[tuple[str, Any]]:
        """``(key, answer)`` of ``command key *args`` for each of ``names``, pipelined."""
        for i in range(0, len(names), _SHARD_CHUNK):
            chunk = names[i : i + _SHARD_CHUNK]
            pipe = self.redis.pipeline(transaction=False)
            for name in chunk:
                pipe.execute_command(command, name, *args)
            yield from zip(chunk, pipe.execute(), strict=True)

    def memory(self) -> dict[str, int]:
        used = peak = 0
        for node in self.cluster.get_primaries():
            info = self.cluster.info("memory", target_nodes=node)
            used += int(info.get("used_memory", 0))
            peak += int(info.get("maxmemory", 0))
        events = sum(int(n) for _, n in self._each("XLEN", self.layout.all_events()))
        return {"used": used, "max": peak, "events": events}

    def server_info(self) -> dict[str, Any]:
        node = self.cluster.get_primaries()[0]
        info = self.cluster.info("server", target_nodes=node)
        persistence = self.cluster.info("persistence", target_nodes=node)
        return {
            "redis_version": info.get("redis_version"),
            "aof_enabled": bool(persistence.get("aof_enabled")),
            "cluster_masters": len(self.cluster.get_primaries()),
        }

    #: Users whose likes and dislikes one pipeline of :meth:`all_feedback` reads (the cluster's
    #: pipeline splits it per node).
    _feedback_chunk = _SHARD_CHUNK

    def _user_ids(self) -> set[str]:
        """Every user with feedback: the users set of every slot's shard."""
        users: set[str] = set()
        for _, members in self._each("SMEMBERS", self.layout.all_users()):
            users.update(members)
        return users

    def digest_subscribers(self) -> set[str]:
        found: set[str] = set()
        for _, members in self._each("SMEMBERS", self.layout.all_digest_subscribers()):
            found.update(str(m) for m in members)
        return found

    def events(self, count: int = 100) -> list[dict[str, str]]:
        newest: list[tuple[tuple[int, int], str, dict[str, str]]] = []
        for _, rows in self._each("XREVRANGE", self.layout.all_events(), "+", "-", "COUNT", count):
            for entry_id, fields in rows or []:
                ms, _, seq = str(entry_id).partition("-")
                newest.append(((int(ms), int(seq or 0)), str(entry_id), _fields(fields)))
        top = heapq.nlargest(count, newest, key=lambda e: e[0])
        return [{"id": i, **f} for _, i, f in reversed(top)]

    def _trim_events(self) -> None:
        _, oldest = self._trim_args()
        if oldest != "0":
            for _ in self._each("XTRIM", self.layout.all_events(), "MINID", oldest):
                pass

    def feedback_changes(self) -> int:
        return sum(int(v or 0) for _, v in self._each("GET", self.layout.all_feedback_changes()))

    async def afeedback_changes(self) -> int:
        total = 0
        names = self.layout.all_feedback_changes()
        for i in range(0, len(names), _SHARD_CHUNK):
            pipe = self.aredis.pipeline(transaction=False)
            for name in names[i : i + _SHARD_CHUNK]:
                pipe.get(name)
            total += sum(int(v or 0) for v in await pipe.execute())
        return total

    # ------------------------------------------------- one request's round trips
    async def access(
        self,
        token_hash: str,
        *,
        scopes: Any,
        now: float,
        user_id: str | None = None,
        feedback: bool = False,
        paper: str | None = None,
        collection: str | None = None,
        rules: bool = False,
    ) -> Access:
        raw = await self.aredis.get(keys.token(token_hash))
        if raw is None:
            return Access()
        try:
            record = TokenRecord.from_stored(str(raw))
        except (ValueError, KeyError, TypeError):
            return Access()  # as the script: an unreadable record is no token
        if record.expires_at is not None and record.expires_at <= now:
            return Access(user_id=record.user_id, expired=True)
        accepted = record.scope in set(scopes)
        if not (accepted and user_id is not None and record.user_id == user_id):
            return Access(user_id=record.user_id, scope=record.scope, feed=record.feed)
        # The user's keys share one slot; the paper is the catalog's (another slot, another
        # node perhaps): the pipeline sends each node its reads, in one round trip.
        pipe = self.aredis.pipeline(transaction=False)
        if feedback:
            pipe.smembers(keys.likes(user_id))
            pipe.smembers(keys.dislikes(user_id))
        if paper:
            pipe.hexists(self.layout.PAPERS, paper)
        if rules:
            pipe.hget(keys.rules(user_id), "")
        if collection is not None:
            pipe.hget(keys.collections(user_id), collection)
            pipe.smembers(keys.collection(user_id, collection))
            if rules:
                pipe.hget(keys.rules(user_id), collection)
        out = list(await pipe.execute()) if len(pipe) else []
        likes = sorted(out.pop(0)) if feedback else None
        dislikes = sorted(out.pop(0)) if feedback else None
        known = bool(out.pop(0)) if paper else None
        user_rules = str(out.pop(0) or "") if rules else ""
        coll_known: bool | None = None
        members: list[str] | None = None
        coll_rules = ""
        if collection is not None:
            coll_known = bool(out.pop(0))
            found = out.pop(0)
            members = sorted(found) if coll_known else []
            if rules:
                raw_rules = out.pop(0)
                coll_rules = str(raw_rules or "") if coll_known else ""
        return Access(
            user_id=record.user_id,
            scope=record.scope,
            likes=likes,
            dislikes=dislikes,
            paper_known=known,
            feed=record.feed,
            rules=user_rules,
            collection_rules=coll_rules,
            collection_known=coll_known,
            members=members,
        )

    # ------------------------------------------------------------------ tokens
    def put_token(self, token_hash: str, record: TokenRecord) -> None:
        # The record (its own slot) and the user's set (the user's slot) cannot share a
        # transaction: the set first, so that a live record is always listed under its user (a
        # listed hash without a record is dropped by the next write, as an expired one is).
        self._forget_gone_tokens(record.user_id)
        self.redis.sadd(keys.user_tokens(record.user_id), token_hash)
        expiry = None if record.expires_at is None else math.ceil(record.expires_at)
        self.redis.set(keys.token(token_hash), record.to_json(), exat=expiry)

    def tokens_of(self, user_id: str) -> list[tuple[str, TokenRecord]]:
        members: Any = self.redis.smembers(keys.user_tokens(user_id))
        hashes = sorted(str(h) for h in members)
        found: list[tuple[str, TokenRecord]] = []
        for h, raw in self._each("GET", [keys.token(h) for h in hashes]):  # a slot each
            if raw:
                found.append((h.rsplit(":", 1)[1], TokenRecord.from_stored(str(raw))))
        mine = [(h, r) for h, r in found if r.user_id == user_id]
        return sorted(mine, key=lambda hr: (hr[1].created_at or 0.0, hr[0]))

    def delete_token(self, user_id: str, token_hash: str) -> bool:
        # The record first: once it is gone the token is revoked, whatever happens next.
        deleted = self.redis.delete(keys.token(token_hash))
        self.redis.srem(keys.user_tokens(user_id), token_hash)
        return bool(deleted)

    # -------------------------------------------------------- replicated writes
    async def _script(self, script: str, keys_: list[str], args: list[str]) -> Any:
        if script in REPLICATED:
            return await self._replicated(script, keys_, args)
        return await super()._script(script, keys_, args)

    async def _replicated(self, script: str, keys_: list[str], args: list[str]) -> Any:
        """Run ``script`` and, when replicas are asked for, ``WAIT`` for them on the same
        connection (a WAIT counts the writes of its own connection only)."""
        if self.wait_replicas <= 0:
            return await super()._script(script, keys_, args)
        # The slot map is read on the client's first command: a write may be that command.
        node = (await self._acluster.initialize()).get_node_from_key(keys_[0])
        for attempt in (1, 2):
            pipe = self.aredis.pipeline(transaction=False)
            pipe.execute_command("EVALSHA", SHA[script], len(keys_), *keys_, *args)
            pipe.execute_command(
                "WAIT", self.wait_replicas, self.wait_timeout_ms, target_nodes=node
            )
            result, acked = await pipe.execute(raise_on_error=False)
            if isinstance(result, NoScriptError) and attempt == 1:
                await self.aredis.script_load(script)
                continue
            if isinstance(result, Exception):
                raise result
            if isinstance(acked, Exception):
                # The write ran (a MOVED took it to the slot's new master), but the WAIT was
                # refused: in a failover its node can be back as a replica ("WAIT cannot be used
                # with replica instances") or gone. Whether a replica holds the write is unknown.
                raise NotReplicatedError(f"the write's replication is unconfirmed: {acked}")
            if self._acluster.get_node_from_key(keys_[0]) is not node:
                # The slot moved (a failover) while the write ran: the WAIT asked another node.
                raise NotReplicatedError("the user's slot moved during the write")
            if int(acked) < self.wait_replicas:
                raise NotReplicatedError(
                    f"the write reached {int(acked)} of {self.wait_replicas} replicas "
                    f"within {self.wait_timeout_ms} ms"
                )
            return result
        raise NotReplicatedError("the script could not be loaded")  # pragma: no cover


def _fields(raw: Any) -> dict[str, str]:
    if isinstance(raw, dict):
        return {str(k): str(v) for k, v in raw.items()}
    it = iter(raw)
    return {str(k): str(v) for k, v in zip(it, it, strict=False)}


@contextmanager
def open_cluster_store(settings: Settings) -> Iterator[ClusterStore]:
    """A :class:`ClusterStore` on the cluster of ``settings.redis_cluster``."""
    assert settings.redis_cluster
    wait = settings.redis_wait_replicas
    client = cluster_client(settings.redis_cluster, timeout_s=settings.redis_timeout_s)
    try:
        aclient = async_cluster_client(settings.redis_cluster, timeout_s=settings.redis_timeout_s)
        store = ClusterStore(
            client,
            aclient,
            events_max=settings.events_max,
            events_retention_s=settings.events_retention_days * 86400,
            wait_replicas=1 if wait is None else wait,
            # The WAIT must answer before the socket times out, or it reads as a hung server.
            wait_timeout_ms=min(
                settings.redis_wait_timeout_ms, int(settings.redis_timeout_s * 800)
            ),
        )
        store.ping()
        log.info(
            "Redis Cluster of %d masters; scripted writes wait for %d replica(s)",
            len(client.get_primaries()),
            store.wait_replicas,
        )
        yield store
    finally:
        client.close()


async def on_cluster_error(request: Request, exc: Exception) -> JSONResponse:
    """503 for a cluster that cannot serve the request now (no master for a slot, a write no
    replica confirmed): never a 2xx for what may not be kept. A command the cluster refuses for
    its keys (two slots in one script) is the service's fault: 500."""
    if "same slot" in str(exc) or isinstance(exc, redis.exceptions.ClusterCrossSlotError):
        log.error("Redis Cluster refused %s %s: %s", request.method, request.url.path, exc)
        request.app.state.metrics.redis_errors.labels("refused").inc()
        return JSONResponse(
            {"detail": "the database refused the request (see the service's log)"},
            status_code=500,
        )
    log.error("Redis Cluster unavailable during %s %s: %s", request.method, request.url.path, exc)
    request.app.state.metrics.redis_errors.labels("unreachable").inc()
    return JSONResponse(
        {"detail": f"{describe(exc)}; retry in a moment"},
        status_code=503,
        headers={"Retry-After": "1"},
    )


def describe(exc: Exception) -> str:
    """What a cluster error means for a request, in words."""
    if isinstance(exc, NotReplicatedError):
        return (
            f"the change reached the database but no replica confirmed it in time ({exc}), so "
            "it could still be lost; sending the same request again is safe (it is idempotent)"
        )
    return (
        "part of the database (a Redis Cluster slot) has no master at the moment, as during a "
        "failover; sending the same request again is safe (it is idempotent)"
    )
