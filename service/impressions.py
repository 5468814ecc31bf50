"""What the service has shown each user: papers shown too often without a reaction stop being
shown, and a list never repeats the previous one unless nothing else is left.

Per user, under the user's hash tag (:mod:`service.keys`): how many times each paper was shown
(a hash), when each was last shown (a sorted set that bounds both to the
``PAPERREC_IMPRESSIONS_KEPT`` most recent papers) and the previous list of each of the user's
lists (the main list, each collection's). Shows are counted over all of a user's lists: a paper
the user likes or dislikes leaves every list anyway, and one shown
``PAPERREC_IMPRESSIONS_MAX_SHOWS`` times without a reaction, in any of them, is hidden from all
until it falls out of the kept window. A list avoids only its own previous list.

Reads write nothing durable (docs/SECURITY.md): a list would otherwise cost an append to the
append-only file and, with ``appendfsync always``, an fsync. So a list's impressions are kept in
the API process and written every ``PAPERREC_IMPRESSIONS_FLUSH_S`` (one pipeline for every user
shown something since, one fsync), and the process lays its unwritten impressions over what it
reads, so its own next list already knows them. The trade-off: a crash loses at most that
interval of impressions (a paper may be shown once more than N times, a list may repeat once),
and with several API processes (``--workers``) one process sees another's impressions only
after that interval. ``PAPERREC_IMPRESSIONS_FLUSH_S=0`` writes them in the request instead.

On a Redis Cluster each list is still one script on one user's slot; a flush's pipeline sends
every node the scripts of its users (the cluster's pipeline runs scripts by name, so a node that
does not know the script yet, new or promoted, is given it and asked again), and only the lists
that were not written are kept for the next flush.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
import redis.asyncio.cluster as aiocluster
from redis.exceptions import NoScriptError

from service import keys
from service.settings import Settings
from service.store import Store

__all__ = ["Impressions", "Seen", "open_impressions"]

log = logging.getLogger(__name__)

# One list shown to one user: counts up, last-shown time set, the window trimmed (the papers
# falling out lose their count too), the previous list replaced. One user's keys only.
# KEYS: counts (hash), last shown (sorted set), previous list (string).
# ARGV: now (ms), papers kept, the list as JSON, then the list's paper ids.
RECORD = """
for i = 4, #ARGV do
  redis.call('HINCRBY', KEYS[1], ARGV[i], 1)
  redis.call('ZADD', KEYS[2], ARGV[1], ARGV[i])
end
local over = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[2])
if over > 0 then
  local old = redis.call('ZRANGE', KEYS[2], 0, over - 1)
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, over - 1)
  redis.call('HDEL', KEYS[1], unpack(old))
end
redis.call('SET', KEYS[3], ARGV[3])
return over
"""


#: One list shown and not written yet: ``(time ms, papers, collection)`` ("" = the main list).
Shown = tuple[int, list[str], str]


@dataclass
class Seen:
    """What a user was shown: times shown per paper (within the kept window) and the previous
    list."""

    counts: dict[str, int] = field(default_factory=dict)
    previous: list[str] = field(default_factory=list)

    def hidden(self, max_shows: int) -> list[str]:
        """Papers shown at least ``max_shows`` times (none when ``max_shows`` is 0)."""
        if max_shows <= 0:
            return []
        return [p for p, n in self.counts.items() if n >= max_shows]


class Impressions:
    """Impressions of one API process: read from Redis, recorded in memory, written in batches."""

    def __init__(
        self,
        client: aioredis.Redis | aiocluster.RedisCluster,
        *,
        kept: int,
        max_shows: int,
        flush_s: float,
    ) -> None:
        self.redis = client
        self.kept = kept
        self.max_shows = max_shows
        self.flush_s = flush_s
        #: Lists shown and not written yet, per user, oldest first.
        self._pending: dict[str, list[Shown]] = {}
        self._script = client.register_script(RECORD)
        self._cluster = isinstance(client, aiocluster.RedisCluster)

    async def seen(self, user_id: str, collection: str = "") -> Seen:
        """What ``user_id`` was shown (in all their lists), and the previous list of the main
        list or of ``collection``, as stored with this process's unwritten lists over it."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(keys.impression_counts(user_id))
            pipe.get(keys.previous_list(user_id, collection))
            raw_counts, raw_previous = await pipe.execute()
        counts = {p: int(n) for p, n in raw_counts.items()}
        previous = json.loads(raw_previous) if raw_previous else []
        for _, papers, shown_in in self._pending.get(user_id, ()):
            for p in papers:
                counts[p] = counts.get(p, 0) + 1
            if shown_in == collection:
                previous = papers
        return Seen(counts, previous)

    async def record(self, user_id: str, papers: Sequence[str], collection: str = "") -> None:
        """Remember that ``papers`` were shown to ``user_id`` now, in the main list or in
        ``collection``'s (written at the next flush, or at once when the flush interval is 0).
        An empty list changes nothing."""
        if not papers:
            return
        entry = (int(time.time() * 1000), list(papers), collection)
        if self.flush_s <= 0:
            await self._write(self.redis, user_id, *entry)
            return
        self._pending.setdefault(user_id, []).append(entry)

    def _keys_args(
        self, user_id: str, at: int, papers: list[str], collection: str
    ) -> tuple[list[str], list[Any]]:
        return (
            [
                keys.impression_counts(user_id),
                keys.impression_times(user_id),
                keys.previous_list(user_id, collection),
            ],
            [at, self.kept, json.dumps(papers), *papers],
        )

    async def _write(
        self, client: object, user_id: str, at: int, papers: list[str], collection: str
    ) -> None:
        keys_, args = self._keys_args(user_id, at, papers, collection)
        await self._script(keys=keys_, args=args, client=client)  # type: ignore[arg-type]

    async def flush(self) -> int:
        """Write every unwritten list in one pipeline; returns how many. On a Redis error they
        are kept for the next flush."""
        if not self._pending:
            return 0
        pending, self._pending = self._pending, {}
        if self._cluster:
            return await self._flush_cluster(pending)
        n = 0
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for user_id, entries in pending.items():
                    for at, papers, collection in entries:
                        await self._write(pipe, user_id, at, papers, collection)
                        n += 1
                await pipe.execute()
        except Exception:
            # Put them back in front of whatever came since; the next flush tries again.
            for user_id, entries in pending.items():
                self._pending[user_id] = entries + self._pending.get(user_id, [])
            raise
        return n

    async def _flush_cluster(self, pending: dict[str, list[Shown]]) -> int:
        """:meth:`flush` on a Redis Cluster: a list written is not written again; those that
        were not are kept (in front of what came since) and the first error raised."""
        todo = [(u, *entry) for u, entries in pending.items() for entry in entries]
        written = 0
        error: Exception | None = None
        for attempt in (1, 2):
            pipe = self.redis.pipeline(transaction=False)
            for user_id, at, papers, collection in todo:
                keys_, args = self._keys_args(user_id, at, papers, collection)
                # Not pipe.evalsha: the cluster's pipeline refuses that name.
                pipe.execute_command("EVALSHA", self._script.sha, len(keys_), *keys_, *args)
            try:
                results = await pipe.execute(raise_on_error=False)
            except Exception as e:  # no node answered: nothing is known to be written
                error = e
                break
            failed = [e for e, r in zip(todo, results, strict=True) if isinstance(r, Exception)]
            errors = [r for r in results if isinstance(r, Exception)]
            written += len(todo) - len(failed)
            todo = failed
            if not errors:
                return written
            error = errors[0]
            if attempt == 2 or not all(isinstance(e, NoScriptError) for e in errors):
                break
            await self.redis.script_load(RECORD)  # on every master; then the failed ones again
        again: dict[str, list[Shown]] = {}
        for user_id, at, papers, collection in todo:
            again.setdefault(user_id, []).append((at, papers, collection))
        for user_id, entries in again.items():
            self._pending[user_id] = entries + self._pending.get(user_id, [])
        assert error is not None
        raise error

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Flush every ``flush_s`` while the app runs, and once more when it stops."""
        task = asyncio.create_task(self._loop()) if self.flush_s > 0 else None
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            try:
                await self.flush()
            except Exception as e:  # shutting down: say what was lost, do not mask the exit
                log.warning("impressions not written at shutdown: %s", e)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.flush_s)
            try:
                await self.flush()
            except Exception as e:  # Redis away: keep them, try again next time
                log.warning("impressions not written (kept for the next try): %s", e)


def open_impressions(settings: Settings, store: Store) -> Impressions | None:
    """The app's impressions, or ``None`` when ``PAPERREC_IMPRESSIONS`` is off."""
    if not settings.impressions:
        return None
    return Impressions(
        store.aredis,
        kept=settings.impressions_kept,
        max_shows=settings.impressions_max_shows,
        flush_s=settings.impressions_flush_s,
    )
