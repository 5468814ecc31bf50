"""The Redis store: papers, likes and dislikes, tokens and the feedback event stream.

Every call returns only after Redis answered, so a caller that got no exception knows the write is
stored (with the embedded server's ``appendfsync always``: on disk). Redis errors
(``redis.ConnectionError``/``TimeoutError``) propagate; the API turns them into 503.

Two clients on the same server: what a request does on its own path (check a token, read or change
one user's feedback) is ``async`` and runs on the event loop, in as few round trips as it can (a
recommendation request makes one); bulk work (imports, training, the catalog, tokens) is
synchronous and runs on worker threads or in the command line.

The clients and the embedded server's life are :mod:`service.connection`'s (``open_store``), the
Lua scripts :mod:`service.scripts`'s, and minting tokens :mod:`service.security`'s: this module
is only what is stored, where. It runs past 500 lines on purpose: one module owns all of the
service's storage (papers and their indexes, feedback and its stream, token records, a request's
read), so that no other module touches a key; the index arithmetic is in
:mod:`service.paper_index`.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import redis
import redis.asyncio as aioredis
from redis.exceptions import NoScriptError

from recommender.catalog import Catalog, Paper
from service import keys, paper_index
from service.scripts import ACCESS, ADD_FEEDBACK, REMOVE_FEEDBACK, SHA

__all__ = ["Access", "Action", "Kind", "PapersPut", "Store", "TokenRecord"]

log = logging.getLogger(__name__)

Action = Literal["like", "unlike", "dislike", "undislike"]
Kind = Literal["likes", "dislikes"]

_CHUNK = 1000
#: Entries (chunks of papers) the change stream keeps, about: a process further behind than
#: that re-reads the whole catalog.
_PAPER_CHANGES_KEPT = 10_000
# Adding to one set removes from the other: like <-> dislike.
_OPPOSITE: dict[Kind, Kind] = {"likes": "dislikes", "dislikes": "likes"}
_ADD_ACTION: dict[Kind, Action] = {"likes": "like", "dislikes": "dislike"}
_REMOVE_ACTION: dict[Kind, Action] = {"likes": "unlike", "dislikes": "undislike"}


def _decode(raws: Any) -> list[Paper | None]:
    return [None if r is None else Paper.from_dict(json.loads(r)) for r in raws]


@dataclass(frozen=True)
class PapersPut:
    """What :meth:`Store.put_papers` did."""

    created: int
    updated: int
    #: Ids of the sample papers that left the catalog because real ones came.
    removed: list[str] = field(default_factory=list)


def _set_key(kind: Kind, user_id: str) -> str:
    return keys.likes(user_id) if kind == "likes" else keys.dislikes(user_id)


@dataclass(frozen=True)
class Access:
    """What one round trip at the start of a request found (see :meth:`Store.access`)."""

    #: The user the token belongs to; ``None`` for an unknown token (or when none was looked up).
    user_id: str | None = None
    #: The token's scope (``None`` when none was looked up).
    scope: str | None = None
    #: The token exists but has expired (``user_id`` is then its user).
    expired: bool = False
    likes: list[str] | None = None
    dislikes: list[str] | None = None
    paper_known: bool | None = None
    #: The feed a feed token is bound to (``""``: the user's own; a collection's name), or None.
    feed: str | None = None
    #: The user's own rules and the collection's, as stored (JSON), when read; ``""``: none.
    rules: str = ""
    collection_rules: str = ""
    #: Whether the collection asked for exists, and its papers (when read).
    collection_known: bool | None = None
    members: list[str] | None = None


@dataclass(frozen=True)
class TokenRecord:
    """What is stored of a token, under its hash: whose it is, what it may do, until when.

    Stored as JSON (``user``, ``scope``, ``created``, ``expires``: Unix seconds or null), which the
    access script reads; a record of an older version is the bare user id, read as scope
    ``user`` without expiry (so those tokens keep working)."""

    user_id: str
    scope: str = "user"
    created_at: float | None = None
    expires_at: float | None = None
    #: A feed token's feed: ``""`` the user's own, else a collection's name (None: no feed).
    feed: str | None = None

    def to_json(self) -> str:
        d: dict[str, Any] = {
            "user": self.user_id,
            "scope": self.scope,
            "created": self.created_at,
            "expires": self.expires_at,
        }
        if self.feed is not None:
            d["feed"] = self.feed
        return json.dumps(d, ensure_ascii=False)

    @classmethod
    def from_stored(cls, raw: str) -> TokenRecord:
        if not raw.startswith("{"):
            return cls(raw)  # an older version's record: the user id alone
        d = json.loads(raw)
        return cls(
            d["user"], d.get("scope") or "user", d.get("created"), d.get("expires"), d.get("feed")
        )


class Store:
    """Typed access to the service's data in Redis (layout in :mod:`service.keys`).

    ``client`` serves the synchronous methods, ``aclient`` (same server) the ``async`` ones; a
    store made without ``aclient`` (command-line tools) has only the former."""

    def __init__(
        self,
        client: redis.Redis,
        aclient: aioredis.Redis | None = None,
        *,
        events_max: int = 1_000_000,
        events_retention_s: float = 0.0,
        layout: keys.Layout = keys.SINGLE,
    ) -> None:
        self.redis = client
        #: Where the global keys are: one server's names, or a cluster's (:mod:`service.keys`).
        self.layout = layout
        self._aredis = aclient
        #: The event stream keeps its last ``events_max`` entries, and (``events_retention_s``
        #: > 0) only those of the last that many seconds: trimmed with every event written.
        self.events_max = events_max
        self.events_retention_s = events_retention_s

    @property
    def aredis(self) -> aioredis.Redis:
        if self._aredis is None:
            raise RuntimeError("this store was opened without an async client")
        return self._aredis

    async def aclose(self) -> None:
        if self._aredis is not None:
            await self._aredis.aclose()

    def ping(self) -> bool:
        return bool(self.redis.ping())

    def memory(self) -> dict[str, int]:
        """Redis memory in use and its bound (``maxmemory``, 0: none), and the event stream's
        length."""
        info = self.redis.info("memory")
        return {
            "used": int(info.get("used_memory", 0)),
            "max": int(info.get("maxmemory", 0)),
            "events": int(self.redis.xlen(keys.EVENTS)),
        }

    def server_info(self) -> dict[str, Any]:
        info = self.redis.info("server")
        persistence = self.redis.info("persistence")
        return {
            "redis_version": info.get("redis_version"),
            "aof_enabled": bool(persistence.get("aof_enabled")),
        }

    # ------------------------------------------------------------------ papers
    def put_papers(
        self,
        papers: Iterable[Paper],
        *,
        sample: bool = False,
        progress: Callable[[int], object] | None = None,
    ) -> PapersPut:
        """Add or replace papers. Each chunk is stored with its index entries (arXiv id, DOI,
        title key; :mod:`service.paper_index`) and an entry naming its papers in the change
        stream, in one transaction, so that every API process can pick the papers up
        (:meth:`paper_changes`).

        ``sample``: these are the bundled sample papers, remembered as such. Storing any other
        paper removes the sample papers from the catalog, in the same transaction (a real
        catalog is not to be mixed with invented papers); likes of them stay with their users.
        ``progress`` is called with the number of papers of each chunk once it is stored."""
        self.ensure_paper_index()
        created = total = 0
        removed: list[str] = []
        batch: dict[str, Paper] = {}

        def flush() -> None:
            nonlocal created, total
            n, gone = self._put_chunk(batch, sample=sample)
            created += n
            total += len(batch)
            removed.extend(gone)
            if progress is not None:
                progress(len(batch))

        for p in papers:
            batch[p.paper_id] = p
            if len(batch) >= _CHUNK:
                flush()
                batch = {}
        if batch:
            flush()
        if removed:
            log.info("real papers stored: %d sample papers left the catalog", len(removed))
        return PapersPut(created, total - created, removed)

    def _put_chunk(
        self, batch: dict[str, Paper], *, sample: bool, retire: bool = False
    ) -> tuple[int, list[str]]:
        """Store one chunk (see :meth:`put_papers`); ``(created, sample ids removed)``. With
        ``retire`` the sample papers go even if the chunk is empty."""
        ids = list(batch)
        encoded = {pid: json.dumps(p.to_dict(), ensure_ascii=False) for pid, p in batch.items()}
        # When the new ones entered (papers_added_after), at the clock's full precision: rounded
        # to the millisecond it could lie up to half of one after a moment read once the write
        # was done, and a digest would take the paper for new again after that moment.
        now = time.time()
        with self.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    # What the index update reads cannot change before the MULTI runs.
                    pipe.watch(
                        self.layout.PAPERS, self.layout.SAMPLE_PAPERS, *self.layout.paper_index
                    )
                    old = dict(
                        zip(
                            ids,
                            _decode(pipe.hmget(self.layout.PAPERS, ids) if ids else []),
                            strict=True,
                        )
                    )
                    gone: list[str] = []
                    retired: list[Paper] = []
                    if not sample:
                        samples = {str(x) for x in pipe.smembers(self.layout.SAMPLE_PAPERS)}
                        if samples and (retire or any(pid not in samples for pid in ids)):
                            gone = sorted(samples - set(ids))
                            found = _decode(pipe.hmget(self.layout.PAPERS, gone)) if gone else []
                            retired = [p for p in found if p is not None]
                    update = paper_index.IndexUpdate.compute(
                        pipe, old, batch.values(), retired, layout=self.layout
                    )
                    entered = {pid: now for pid, p in old.items() if p is None}
                    pipe.multi()
                    if encoded:
                        pipe.hset(self.layout.PAPERS, mapping=encoded)  # type: ignore[arg-type]
                    if entered:
                        pipe.zadd(self.layout.PAPERS_ADDED, entered, nx=True)
                    if sample:
                        pipe.sadd(self.layout.SAMPLE_PAPERS, *ids)
                    if gone:
                        pipe.hdel(self.layout.PAPERS, *gone)
                        pipe.zrem(self.layout.PAPERS_ADDED, *gone)
                        pipe.delete(self.layout.SAMPLE_PAPERS)
                    update.apply(pipe)
                    pipe.xadd(
                        self.layout.PAPER_CHANGES,
                        {"ids": json.dumps(ids + gone, ensure_ascii=False)},
                        maxlen=_PAPER_CHANGES_KEPT,
                        approximate=True,
                    )
                    done = pipe.execute()
                    return (int(done[0]) if encoded else 0), gone
                except redis.WatchError:
                    continue  # another writer changed the catalog meanwhile: read again

    def papers_added_after(self, t: float) -> list[str]:
        """Ids of the papers that first entered the catalog after Unix time ``t`` (an update
        of a known paper is not an entry; a paper stored before this was recorded has none)."""
        return [
            str(x) for x in self.redis.zrangebyscore(self.layout.PAPERS_ADDED, f"({t!r}", "+inf")
        ]

    def ensure_paper_index(self) -> None:
        """Build the arXiv id / DOI / title index over the stored papers if this store has none
        yet (a store written before the index existed); a no-op afterwards."""
        if not self.redis.hexists(self.layout.META, paper_index.BUILT):
            paper_index.build(self.redis, self.iter_papers, self.layout)

    def adopt_sample(self, sample_ids: Iterable[str]) -> list[str]:
        """For a store whose sample papers were loaded before they were remembered as such:
        remember those of ``sample_ids`` it holds and, when it also holds other papers (a real
        import came since), remove them now. Once per store; the ids removed."""
        if not self.mark_once("sample-adopted"):
            return []
        present = sorted(self.known_papers(sample_ids))
        if not present or self.count_papers() == len(present):
            if present:
                self.redis.sadd(self.layout.SAMPLE_PAPERS, *present)
            return []
        self.redis.sadd(self.layout.SAMPLE_PAPERS, *present)
        _, removed = self._put_chunk({}, sample=False, retire=True)
        log.info("%d sample papers left the catalog, which holds real papers", len(removed))
        return removed

    # ----------------------------------------------- the index (recommender.library.PaperLookup)
    def by_arxiv(self, arxiv_ids: list[str]) -> dict[str, str]:
        return self._lookup(self.layout.PAPER_BY_ARXIV, arxiv_ids)

    def by_doi(self, dois: list[str]) -> dict[str, str]:
        return self._lookup(self.layout.PAPER_BY_DOI, dois)

    def by_title(self, title_keys: list[str]) -> dict[str, list[str]]:
        return {
            t: json.loads(ids)
            for t, ids in self._lookup(self.layout.PAPER_BY_TITLE, title_keys).items()
        }

    def years(self, paper_ids: list[str]) -> dict[str, int | None]:
        return {p.paper_id: p.year for p in self.get_papers(paper_ids)}

    def known(self, paper_ids: list[str]) -> set[str]:
        return self.known_papers(paper_ids)

    def _lookup(self, hash_key: str, fields: list[str]) -> dict[str, str]:
        self.ensure_paper_index()
        out: dict[str, str] = {}
        for i in range(0, len(fields), _CHUNK):
            chunk = fields[i : i + _CHUNK]
            values: Any = self.redis.hmget(hash_key, chunk)
            out.update({f: v for f, v in zip(chunk, values, strict=True) if v is not None})
        return out

    def last_paper_change(self) -> str:
        """Id of the newest entry of the change stream (``"0-0"`` when there is none): read it
        before the catalog, and :meth:`paper_changes` after it gives what the catalog missed."""
        rows: Any = self.redis.xrevrange(self.layout.PAPER_CHANGES, count=1)
        return str(rows[0][0]) if rows else "0-0"

    def paper_changes(self, after: str) -> tuple[str, list[Paper] | None, list[str]]:
        """``(newest change id, papers added or changed after the change ``after``, ids of
        papers removed since)``, the papers as stored now. ``None`` instead of the papers when
        the stream no longer reaches back to ``after`` (trimmed): the caller must re-read the
        whole catalog (and drop what it holds that is no longer there)."""
        last = self.last_paper_change()
        if last == after:
            return last, [], []
        # ``after`` was an entry (still there unless trimmed) or "0-0", the empty stream.
        if after == "0-0":
            if int(self.redis.xlen(self.layout.PAPER_CHANGES)) >= _PAPER_CHANGES_KEPT:
                return last, None, []
        else:
            first: Any = self.redis.xrange(self.layout.PAPER_CHANGES, count=1)
            if not first or _stream_id(str(first[0][0])) > _stream_id(after):
                return last, None, []
        ids: dict[str, None] = {}
        entries: Any = self.redis.xrange(self.layout.PAPER_CHANGES, min=f"({after}", max=last)
        for _, fields in entries:
            ids.update(dict.fromkeys(json.loads(fields["ids"])))
        papers = self.get_papers(list(ids))
        stored = {p.paper_id for p in papers}
        return last, papers, [pid for pid in ids if pid not in stored]

    def get_papers(self, paper_ids: list[str]) -> list[Paper]:
        """The stored papers among ``paper_ids`` (unknown ids are skipped)."""
        out: list[Paper] = []
        for i in range(0, len(paper_ids), _CHUNK):
            raws: Any = self.redis.hmget(self.layout.PAPERS, paper_ids[i : i + _CHUNK])
            out.extend(p for r in raws if r is not None and (p := _paper(r)) is not None)
        return out

    def get_paper(self, paper_id: str) -> Paper | None:
        raw = self.redis.hget(self.layout.PAPERS, paper_id)
        return None if raw is None else _paper(str(raw))

    def has_paper(self, paper_id: str) -> bool:
        return bool(self.redis.hexists(self.layout.PAPERS, paper_id))

    def known_papers(self, paper_ids: Iterable[str]) -> set[str]:
        """Which of ``paper_ids`` are in the catalog (pipelined, for bulk imports)."""
        ids = list(dict.fromkeys(paper_ids))
        known: set[str] = set()
        for i in range(0, len(ids), _CHUNK):
            chunk = ids[i : i + _CHUNK]
            pipe = self.redis.pipeline(transaction=False)
            for pid in chunk:
                pipe.hexists(self.layout.PAPERS, pid)
            known.update(pid for pid, ok in zip(chunk, pipe.execute(), strict=True) if ok)
        return known

    def count_papers(self) -> int:
        return int(self.redis.hlen(self.layout.PAPERS))

    def iter_paper_ids(self) -> Iterator[str]:
        """The ids of the stored papers, in no order (streamed)."""
        for pid, _ in self.redis.hscan_iter(self.layout.PAPERS, count=_CHUNK):
            yield str(pid)

    def iter_papers(self) -> Iterator[Paper]:
        for _, raw in self.redis.hscan_iter(self.layout.PAPERS, count=_CHUNK):
            paper = _paper(raw)
            if paper is not None:
                yield paper

    def catalog(self) -> Catalog:
        """Every paper, ordered by id (so a catalog read twice has the same rows)."""
        return Catalog(sorted(self.iter_papers(), key=lambda p: p.paper_id))

    # ------------------------------------------------- one request's round trip
    async def access(
        self,
        token_hash: str,
        *,
        scopes: Iterable[str],
        now: float,
        user_id: str | None = None,
        feedback: bool = False,
        paper: str | None = None,
        collection: str | None = None,
        rules: bool = False,
    ) -> Access:
        """Everything a request with a user token needs before it acts, in one round trip that
        writes nothing (:data:`service.scripts.ACCESS`): the token's user and scope, whether it
        expired (by ``now``), and, only when the token is ``user_id``'s own with one of
        ``scopes``, that user's likes and dislikes (``feedback``), whether ``paper`` is in
        the catalog, the ``collection``'s papers and the rules (``rules``: the user's own and
        the collection's). For an unknown or foreign token nothing of ``user_id`` is read."""
        u = user_id or ""
        keys_ = [keys.token(token_hash), keys.likes(u), keys.dislikes(u), self.layout.PAPERS]
        args = [u, "1" if feedback else "0", paper or "", repr(now), " ".join(scopes)]
        if collection is not None or rules:
            keys_ += [keys.rules(u), keys.collections(u), keys.collection(u, collection or "")]
            args += [collection or "", "1" if rules else "0"]
        out: Any = await self._script(ACCESS, keys_, args)
        status = str(out[0])
        if status == "unknown":
            return Access()
        if status == "expired":
            return Access(user_id=str(out[1]), expired=True)
        user, scope, likes, dislikes, known, feed, urules, coll, members, crules = out[1:11]
        read = user == user_id and user_id is not None
        return Access(
            user_id=str(user),
            scope=str(scope),
            likes=sorted(likes) if read and feedback else None,
            dislikes=sorted(dislikes) if read and feedback else None,
            paper_known=None if int(known) < 0 else bool(known),
            feed=str(feed)[1:] if feed else None,
            rules=str(urules),
            collection_rules=str(crules),
            collection_known=bool(coll) if read and collection is not None else None,
            members=sorted(members) if read and collection is not None else None,
        )

    async def admin_access(
        self,
        *,
        feedback_of: str | None = None,
        paper: str | None = None,
        user_id: str | None = None,
        collection: str | None = None,
        rules: bool = False,
    ) -> Access:
        """For the admin (checked without Redis): the likes and dislikes of ``feedback_of``,
        whether ``paper`` is in the catalog, and ``user_id``'s ``collection`` and rules, in one
        pipelined round trip of reads."""
        pipe = self.aredis.pipeline(transaction=False)
        if feedback_of is not None:
            pipe.smembers(keys.likes(feedback_of))
            pipe.smembers(keys.dislikes(feedback_of))
        if paper is not None:
            pipe.hexists(self.layout.PAPERS, paper)
        u = user_id or ""
        if rules:
            pipe.hget(keys.rules(u), "")
            pipe.hget(keys.rules(u), collection or "")
        if collection is not None:
            pipe.hexists(keys.collections(u), collection)
            pipe.smembers(keys.collection(u, collection))
        out = list(await pipe.execute()) if len(pipe) else []
        found: dict[str, Any] = {}
        if feedback_of is not None:
            found["likes"] = sorted(out.pop(0))
            found["dislikes"] = sorted(out.pop(0))
        if paper is not None:
            found["paper_known"] = bool(out.pop(0))
        if rules:
            found["rules"] = out.pop(0) or ""
            crules = out.pop(0) or ""
            found["collection_rules"] = crules if collection is not None else ""
        if collection is not None:
            found["collection_known"] = bool(out.pop(0))
            found["members"] = sorted(out.pop(0)) if found["collection_known"] else []
        return Access(**found)

    # ---------------------------------------------------------------- feedback
    async def add_feedback(
        self, kind: Kind, user_id: str, paper_id: str, *, collection: str | None = None
    ) -> bool:
        """Add ``paper_id`` to the user's likes (or dislikes), removing it from the other set (a
        like that leaves also leaves the user's collections), with the events of what changed,
        atomically. True when it was not there before. With ``collection`` see
        :func:`service.collections.put_paper`."""
        out = await self._script(
            ADD_FEEDBACK,
            self._add_keys(kind, user_id),
            self._add_args(kind, user_id, paper_id, "api", collection),
        )
        return bool(int(out) & 1) if int(out) >= 0 else False

    def _add_keys(self, kind: Kind, user_id: str) -> list[str]:
        """The keys of :data:`ADD_FEEDBACK` for ``kind`` of ``user_id``."""
        return [
            self.layout.users(user_id),
            _set_key(kind, user_id),
            _set_key(_OPPOSITE[kind], user_id),
            self.layout.events(user_id),
            self.layout.feedback_changes(user_id),
            keys.collections(user_id),
        ]

    def _add_args(
        self, kind: Kind, user_id: str, paper_id: str, source: str, collection: str | None
    ) -> list[str]:
        """The arguments of :data:`ADD_FEEDBACK` (``collection``: only with likes)."""
        return [
            user_id,
            paper_id,
            _ADD_ACTION[kind],
            _REMOVE_ACTION[_OPPOSITE[kind]],
            f"{time.time():.6f}",
            source,
            *self._trim_args(),
            keys.collection_prefix(user_id),
            collection or "",
            "1" if _OPPOSITE[kind] == "likes" else "0",
        ]

    def _trim_args(self) -> list[str]:
        """The scripts' trimming arguments: most events kept, oldest stream id kept (0: none)."""
        oldest = "0"
        if self.events_retention_s > 0:
            oldest = str(max(1, int((time.time() - self.events_retention_s) * 1000)))
        return [str(self.events_max), oldest]

    async def remove_feedback(self, kind: Kind, user_id: str, paper_id: str) -> bool:
        """Remove ``paper_id`` from the user's likes (or dislikes), with its event, atomically.
        True when it was there."""
        removed = await self._script(
            REMOVE_FEEDBACK,
            [
                _set_key(kind, user_id),
                self.layout.events(user_id),
                self.layout.feedback_changes(user_id),
                keys.collections(user_id),
            ],
            [
                user_id,
                paper_id,
                _REMOVE_ACTION[kind],
                f"{time.time():.6f}",
                "api",
                *self._trim_args(),
                keys.collection_prefix(user_id),
                "1" if kind == "likes" else "0",
            ],
        )
        return bool(removed)

    async def _script(self, script: str, keys_: list[str], args: list[str]) -> Any:
        """Run a Lua script by its digest, loading it first if the server does not know it
        (new or restarted)."""
        try:
            return await self.aredis.evalsha(SHA[script], len(keys_), *keys_, *args)
        except NoScriptError:
            await self.aredis.script_load(script)
            return await self.aredis.evalsha(SHA[script], len(keys_), *keys_, *args)

    async def feedback(self, kind: Kind, user_id: str) -> list[str]:
        members: set[str] = await self.aredis.smembers(_set_key(kind, user_id))  # type: ignore[assignment]
        return sorted(members)

    def all_feedback(self) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
        """Everyone's ``({user: likes}, {user: dislikes})``, for training."""
        likes: dict[str, list[str]] = {}
        dislikes: dict[str, list[str]] = {}
        users = sorted(self._user_ids())
        size = self._feedback_chunk
        for i in range(0, len(users), size):
            chunk = users[i : i + size]
            pipe = self.redis.pipeline(transaction=False)
            for u in chunk:
                pipe.smembers(keys.likes(u))
                pipe.smembers(keys.dislikes(u))
            out = pipe.execute()
            for j, u in enumerate(chunk):
                if out[2 * j]:
                    likes[u] = sorted(out[2 * j])
                if out[2 * j + 1]:
                    dislikes[u] = sorted(out[2 * j + 1])
        return likes, dislikes

    #: Users whose likes and dislikes one pipeline of :meth:`all_feedback` reads.
    _feedback_chunk = _CHUNK

    def _user_ids(self) -> set[str]:
        """Every user with feedback (the users set)."""
        return set(self.redis.sscan_iter(keys.USERS, count=_CHUNK))

    def digest_subscribers(self) -> set[str]:
        """The ids of the users subscribed to the digest (:mod:`service.digest`)."""
        found: set[str] = set()
        for name in self.layout.all_digest_subscribers():
            members: Any = self.redis.smembers(name)
            found.update(str(m) for m in members)
        return found

    def import_likes(
        self,
        likes: Mapping[str, Iterable[str]],
        *,
        source: str,
        progress: Callable[[int], object] | None = None,
    ) -> int:
        """Bulk-add likes (from a dataset); returns how many were new. Each new like is also
        an event with ``source`` set. ``progress`` is called with the number of users of each
        chunk once it is stored."""
        n = 0
        items = list(likes.items())
        for i in range(0, len(items), _CHUNK):
            chunk = [(u, list(dict.fromkeys(ps))) for u, ps in items[i : i + _CHUNK]]
            chunk = [(u, ps) for u, ps in chunk if ps]
            # Which likes are new: only those are added and become events (re-importing a
            # dataset neither inflates the count nor repeats its events).
            pipe = self.redis.pipeline(transaction=False)
            for u, ps in chunk:
                pipe.smismember(keys.likes(u), ps)
            known = pipe.execute()
            pipe = self.redis.pipeline(transaction=False)
            added: dict[str, int] = {}  # feedback change count key -> new likes counted in it
            for (u, ps), flags in zip(chunk, known, strict=True):
                new = [p for p, seen in zip(ps, flags, strict=True) if not seen]
                if new:
                    count_key = self.layout.feedback_changes(u)
                    added[count_key] = added.get(count_key, 0) + len(new)
                pipe.sadd(self.layout.users(u), u)
                if new:
                    pipe.sadd(keys.likes(u), *new)
                    pipe.srem(keys.dislikes(u), *new)
                    for p in new:
                        self._event(u, p, "like", source=source, pipe=pipe)
                n += len(new)
            for count_key, count in added.items():
                pipe.incrby(count_key, count)
            pipe.execute()
            if progress is not None:
                progress(len(items[i : i + _CHUNK]))
        self._trim_events()
        return n

    def add_feedback_many(
        self,
        kind: Kind,
        user_id: str,
        paper_ids: Iterable[str],
        *,
        source: str,
        collection: str | None = None,
    ) -> list[bool]:
        """Add each of ``paper_ids`` to the user's likes (or dislikes), removing it from the other
        set, with the events of what changed: the same script as one ``PUT``, all of them in one
        transaction (all stored, or none). With ``collection`` (likes only; it must exist, see
        :func:`service.collections.create`) each is also put in that collection. Whether each
        was new to the likes (dislikes), in order."""
        ids = list(dict.fromkeys(paper_ids))
        if not ids:
            return []
        self.redis.script_load(ADD_FEEDBACK)  # EVALSHA inside MULTI cannot load it itself
        keys_ = self._add_keys(kind, user_id)
        pipe = self.redis.pipeline(transaction=True)
        for pid in ids:
            args = self._add_args(kind, user_id, pid, source, collection)
            # not pipe.evalsha: the cluster pipeline refuses that name
            pipe.execute_command("EVALSHA", SHA[ADD_FEEDBACK], len(keys_), *keys_, *args)
        out = [int(x) for x in pipe.execute()]
        if any(x < 0 for x in out):
            raise KeyError(f"user {user_id!r} has no collection {collection!r}")
        return [bool(x & 1) for x in out]

    def _event(
        self,
        user_id: str,
        paper_id: str,
        action: Action,
        *,
        source: str = "api",
        pipe: Any = None,
    ) -> None:
        fields = {
            "user": user_id,
            "paper": paper_id,
            "action": action,
            "time": f"{time.time():.6f}",
            "source": source,
        }
        (pipe or self.redis).xadd(
            self.layout.events(user_id),
            fields,  # type: ignore[arg-type]
            maxlen=self.events_max,
            approximate=False,
        )

    def _trim_events(self) -> None:
        """Apply the age limit to the event stream (the count limit is applied by every XADD)."""
        _, oldest = self._trim_args()
        if oldest != "0":
            self.redis.xtrim(keys.EVENTS, minid=oldest, approximate=False)

    def feedback_changes(self) -> int:
        """How many feedback changes were ever made (likes, dislikes and their removals that
        changed something). A store of an older version starts counting from its events."""
        raw: Any = self.redis.get(keys.FEEDBACK_CHANGES)
        if raw is None:
            try:
                self.redis.set(keys.FEEDBACK_CHANGES, int(self.redis.xlen(keys.EVENTS)), nx=True)
            except redis.ResponseError as e:  # at the memory bound: count from the next start
                log.warning("cannot start the feedback change count: %s", e)
                return 0
            raw = self.redis.get(keys.FEEDBACK_CHANGES)
        return int(raw or 0)

    async def afeedback_changes(self) -> int:
        """:meth:`feedback_changes`, read on the event loop (for /health and /metrics)."""
        raw = await self.aredis.get(keys.FEEDBACK_CHANGES)
        return int(raw or 0)

    def events(self, count: int = 100) -> list[dict[str, str]]:
        """The latest ``count`` feedback events, oldest first, each with its stream ``id``."""
        rows: Any = self.redis.xrevrange(keys.EVENTS, count=count)
        return [{"id": str(i), **f} for i, f in reversed(rows)]

    # ------------------------------------------------------------------ tokens
    def put_token(self, token_hash: str, record: TokenRecord) -> None:
        """Store ``record`` under the token hashing to ``token_hash`` (tokens are minted and
        hashed by :func:`service.security.issue_token`; only the hash is stored). A token with an
        expiry is removed by Redis when it expires."""
        self._forget_gone_tokens(record.user_id)
        pipe = self.redis.pipeline(transaction=True)
        if record.expires_at is not None:
            pipe.set(keys.token(token_hash), record.to_json(), exat=math.ceil(record.expires_at))
        else:
            pipe.set(keys.token(token_hash), record.to_json())
        pipe.sadd(keys.user_tokens(record.user_id), token_hash)
        pipe.execute()

    def tokens_of(self, user_id: str) -> list[tuple[str, TokenRecord]]:
        """``(hash, record)`` of each live token of ``user_id``, oldest first."""
        members: Any = self.redis.smembers(keys.user_tokens(user_id))
        hashes = sorted(str(h) for h in members)
        if not hashes:
            return []
        raws: Any = self.redis.mget([keys.token(h) for h in hashes])
        found = [(h, TokenRecord.from_stored(r)) for h, r in zip(hashes, raws, strict=True) if r]
        # A record of another user under this user's set cannot be made through the store;
        # skipped all the same, so that a listing never shows another user's token.
        mine = [(h, r) for h, r in found if r.user_id == user_id]
        return sorted(mine, key=lambda hr: (hr[1].created_at or 0.0, hr[0]))

    def delete_token(self, user_id: str, token_hash: str) -> bool:
        """Revoke the token ``token_hash`` of ``user_id`` (one of :meth:`tokens_of`): True when
        it was live. One transaction: the record and its entry in the user's set go together."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(keys.token(token_hash))
        pipe.srem(keys.user_tokens(user_id), token_hash)
        deleted, _ = pipe.execute()
        return bool(deleted)

    def _forget_gone_tokens(self, user_id: str) -> None:
        """Drop from ``user_id``'s set the hashes of tokens that expired (Redis removed their
        records): done when a token is written, so that reads stay reads."""
        members: Any = self.redis.smembers(keys.user_tokens(user_id))
        hashes = [str(h) for h in members]
        if not hashes:
            return
        pipe = self.redis.pipeline(transaction=False)
        for h in hashes:
            pipe.exists(keys.token(h))
        gone = [h for h, alive in zip(hashes, pipe.execute(), strict=True) if not alive]
        if gone:
            self.redis.srem(keys.user_tokens(user_id), *gone)

    # -------------------------------------------------------------------- meta
    def mark_once(self, flag: str) -> bool:
        """Set ``flag`` in the meta hash; True only for the first caller."""
        return bool(self.redis.hsetnx(self.layout.META, flag, f"{time.time():.0f}"))

    def wipe(self) -> None:
        """Delete everything in the selected database (tests, ``paperrec reset``)."""
        self.redis.flushdb()


def _paper(raw: str) -> Paper | None:
    """A stored paper; ``None`` (and a warning) for one that an older version stored under an id
    the id rule now refuses (``foo/similar``, an id with a space): the API could never reach it,
    and one such paper must not stop the catalog from loading."""
    try:
        return Paper.from_dict(json.loads(raw))
    except ValueError as e:
        log.warning(
            "skipping a stored paper that breaks the id rule (%s); re-add it under a valid id", e
        )
        return None


def _stream_id(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)
