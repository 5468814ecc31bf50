"""A user's collections of likes, their rules and their feeds' memory, in Redis.

A collection is a named subset of the user's likes (a like may be in several; "all likes" is the
user's main list, as before). Its papers stay consistent with the likes in the feedback scripts
themselves (:mod:`service.scripts`): putting a paper in a collection likes it in the same atomic
write, and a like that leaves (unlike, dislike) leaves every collection with it. Rules
(:mod:`recommender.rules`) are stored per user (``""``) and per collection. A feed token
remembers the papers it was served (bounded, :data:`service.keys.FEED_SERVED_KEPT`) so that a feed
never repeats one.

Keys are :mod:`service.keys`'s, the connection and scripts the store's: this module is what is
stored for these features, beside :mod:`service.store`.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import Any

from recommender.rules import Rules
from service import keys
from service.scripts import ADD_FEEDBACK, CREATE_COLLECTION, SET_RULES
from service.store import Store

__all__ = [
    "MAX_COLLECTIONS",
    "NAME_PATTERN",
    "CollectionInfo",
    "check_name",
    "create",
    "create_sync",
    "delete",
    "exists_sync",
    "forget_feed",
    "list_collections",
    "mark_served",
    "members",
    "parse_rules",
    "put_paper",
    "read_rules",
    "remove_paper",
    "served",
    "set_rules",
]

#: A collection's name: 1-64 letters, digits and ``. _ -``, starting with a letter or digit.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
_NAME = re.compile(NAME_PATTERN)
#: Most collections one user may have.
MAX_COLLECTIONS = 100
#: A feed token's memory is dropped after this long without a fetch.
FEED_STATE_TTL_S = 365 * 86400


def check_name(name: str) -> str:
    """``name`` if it is a valid collection name, else ``ValueError`` saying the rule."""
    if not _NAME.match(name):
        raise ValueError(
            f"collection name {name!r}: 1-64 letters, digits and . _ -, starting with a letter "
            "or digit"
        )
    return name


@dataclass(frozen=True)
class CollectionInfo:
    name: str
    created_at: float | None
    size: int


def parse_rules(raw: str) -> Rules:
    """Stored rules (JSON; ``""``: none)."""
    return Rules.from_dict(json.loads(raw)) if raw else Rules()


async def list_collections(store: Store, user_id: str) -> list[CollectionInfo]:
    """The user's collections by name, with their sizes."""
    raw: Any = await store.aredis.hgetall(keys.collections(user_id))
    names = sorted(raw)
    pipe = store.aredis.pipeline(transaction=False)
    for n in names:
        pipe.scard(keys.collection(user_id, n))
    sizes = await pipe.execute() if names else []
    return [
        CollectionInfo(n, json.loads(raw[n]).get("created"), int(size))
        for n, size in zip(names, sizes, strict=True)
    ]


def _record() -> str:
    return json.dumps({"created": round(time.time(), 3)})


async def create(store: Store, user_id: str, name: str) -> bool:
    """Create the collection (empty); True when it is new, False when it was there.
    ``OverflowError`` when the user has :data:`MAX_COLLECTIONS` already."""
    out = int(
        await store._script(
            CREATE_COLLECTION,
            [keys.collections(user_id)],
            [name, _record(), str(MAX_COLLECTIONS)],
        )
    )
    if out < 0:
        raise OverflowError(f"user {user_id!r} has {MAX_COLLECTIONS} collections, the most")
    return out == 1


def create_sync(store: Store, user_id: str, name: str) -> bool:
    """:func:`create` for the command line and worker threads (the synchronous client)."""
    out = int(
        store.redis.eval(
            CREATE_COLLECTION,
            1,
            keys.collections(user_id),
            name,
            _record(),
            str(MAX_COLLECTIONS),
        )
    )
    if out < 0:
        raise OverflowError(f"user {user_id!r} has {MAX_COLLECTIONS} collections, the most")
    return out == 1


def exists_sync(store: Store, user_id: str, name: str) -> bool:
    return bool(store.redis.hexists(keys.collections(user_id), name))


async def delete(store: Store, user_id: str, name: str) -> bool:
    """Delete the collection, its rules and its previous list (its papers stay liked); True
    when it existed."""
    pipe = store.aredis.pipeline(transaction=True)
    pipe.hdel(keys.collections(user_id), name)
    pipe.delete(keys.collection(user_id, name))
    pipe.hdel(keys.rules(user_id), name)
    pipe.delete(keys.previous_list(user_id, name))
    existed, *_ = await pipe.execute()
    return bool(existed)


async def members(store: Store, user_id: str, name: str) -> list[str] | None:
    """The collection's papers, or None when there is no such collection."""
    pipe = store.aredis.pipeline(transaction=False)
    pipe.hexists(keys.collections(user_id), name)
    pipe.smembers(keys.collection(user_id, name))
    known, papers = await pipe.execute()
    return sorted(papers) if known else None


async def put_paper(store: Store, user_id: str, name: str, paper_id: str) -> tuple[bool, bool]:
    """Like ``paper_id`` (removing a dislike of it) and put it in the collection, in one atomic
    write (the like script). ``(liked now, put in now)``; ``KeyError`` when there is no such
    collection (nothing is stored then)."""
    out = int(
        await store._script(
            ADD_FEEDBACK,
            store._add_keys("likes", user_id),
            store._add_args("likes", user_id, paper_id, "api", name),
        )
    )
    if out < 0:
        raise KeyError(name)
    return bool(out & 1), bool(out & 2)


async def remove_paper(store: Store, user_id: str, name: str, paper_id: str) -> bool:
    """Take ``paper_id`` out of the collection (it stays liked); True when it was in it."""
    removed: Any = await store.aredis.srem(keys.collection(user_id, name), paper_id)
    return bool(removed)


async def read_rules(store: Store, user_id: str, name: str = "") -> str | None:
    """The stored rules (JSON) of the user (``name`` ``""``) or of a collection; ``""`` none;
    None when there is no such collection."""
    pipe = store.aredis.pipeline(transaction=False)
    pipe.hget(keys.rules(user_id), name)
    pipe.hexists(keys.collections(user_id), name)
    raw, known = await pipe.execute()
    if name and not known:
        return None
    return str(raw or "")


async def set_rules(store: Store, user_id: str, rules: Rules | None, name: str = "") -> bool:
    """Store (None: remove) the rules of the user (``name`` ``""``) or of a collection; False
    when there is no such collection."""
    raw = json.dumps(rules.to_dict(), ensure_ascii=False) if rules else ""
    out = await store._script(
        SET_RULES, [keys.rules(user_id), keys.collections(user_id)], [name, raw]
    )
    return bool(out)


# ------------------------------------------------------------------ a feed reader's memory
async def served(store: Store, user_id: str, token_id: str) -> tuple[set[str], float | None]:
    """The papers the feed token ``token_id`` was served, and when it fetched last (None:
    never)."""
    pipe = store.aredis.pipeline(transaction=False)
    pipe.zrange(keys.feed_served(user_id, token_id), 0, -1)
    pipe.hget(keys.feed_fetched(user_id), token_id)
    papers, last = await pipe.execute()
    return set(papers), None if last is None else float(last)


async def mark_served(
    store: Store, user_id: str, token_id: str, paper_ids: list[str], now: float
) -> None:
    """Remember that ``token_id`` was served ``paper_ids`` at ``now`` (its newest
    :data:`service.keys.FEED_SERVED_KEPT` papers are kept), and that it fetched then."""
    key = keys.feed_served(user_id, token_id)
    pipe = store.aredis.pipeline(transaction=True)
    if paper_ids:
        pipe.zadd(key, dict.fromkeys(paper_ids, now), nx=True)
        pipe.zremrangebyrank(key, 0, -keys.FEED_SERVED_KEPT - 1)
        pipe.expire(key, FEED_STATE_TTL_S)
    pipe.hset(keys.feed_fetched(user_id), token_id, repr(now))
    pipe.expire(keys.feed_fetched(user_id), FEED_STATE_TTL_S)
    await pipe.execute()


def forget_feed(store: Store, user_id: str, token_id: str) -> None:
    """Drop what a revoked feed token was served."""
    pipe = store.redis.pipeline(transaction=True)
    pipe.delete(keys.feed_served(user_id, token_id))
    pipe.hdel(keys.feed_fetched(user_id), token_id)
    pipe.execute()
