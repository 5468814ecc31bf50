"""Sign-in to the web page: one-time sign-in links and session cookies, both kept in Redis the
way tokens are (only the sha256 of each secret is stored; keys in :mod:`service.keys`).

This module talks to Redis itself rather than through :class:`service.store.Store`, which owns
the catalog and the feedback: sessions are the page's own data, and keeping them here keeps the
store (shared by every part of the service) unchanged. It uses the store's two clients.

* A **sign-in link** (``paperrec login-link USER`` or ``POST /users/{user_id}/login-link``)
  holds a secret valid for ``PAPERREC_LOGIN_LINK_MINUTES``; it is taken (``GETDEL``) when it is
  used, so a second use finds nothing.
* A **session** is a random cookie value; its record names the user and carries the session's
  CSRF token (sent back with every form that changes something). It expires with the cookie
  (``PAPERREC_SESSION_DAYS``); signing out deletes it, and a user's sessions can all be ended.

On one Redis server a session's record and its entry in the user's set are written and removed
in one transaction; on a Redis Cluster they are in two hash slots (:mod:`service.keys`), so the
entry is written first and the record removed first: a live session is always listed.
"""

from __future__ import annotations

import hmac
import json
import math
import secrets
import time
from dataclasses import dataclass
from typing import Any

from service import keys
from service.security import hash_token, new_token
from service.store import Store

__all__ = [
    "LoginLink",
    "Session",
    "consume_login_link",
    "create_session",
    "end_session",
    "end_sessions_of",
    "make_login_link",
    "peek_login_link",
    "read_session",
    "same_secret",
    "visit",
]


@dataclass(frozen=True)
class LoginLink:
    """A sign-in link just made: its secret (shown once) and until when it works."""

    secret: str
    user_id: str
    expires_at: float

    def url(self, base_url: str) -> str:
        # In the query string, which the access log never prints (service.security).
        return f"{base_url.rstrip('/')}/login?link={self.secret}"


@dataclass(frozen=True)
class Session:
    """A signed-in browser: whose it is, its CSRF token and the hash naming it in Redis."""

    session_hash: str
    user_id: str
    csrf: str
    expires_at: float


def make_login_link(store: Store, user_id: str, *, ttl_s: float) -> LoginLink:
    """A new one-time sign-in link for ``user_id``, valid ``ttl_s`` seconds (synchronous: the
    command line and the admin route on a worker thread)."""
    secret = new_token()
    now = time.time()
    expires = now + ttl_s
    record = json.dumps({"user": user_id, "created": round(now, 3), "expires": expires})
    store.redis.set(keys.login_link(hash_token(secret)), record, exat=math.ceil(expires))
    return LoginLink(secret, user_id, expires)


def _link_user(raw: Any, now: float) -> str | None:
    if raw is None:
        return None
    record = json.loads(raw)
    # Redis removes the key at its expiry (whole seconds); the record's own time is exact.
    return None if record["expires"] <= now else str(record["user"])


async def peek_login_link(store: Store, secret: str) -> str | None:
    """The user a sign-in link would sign in, without using it up; None when it is unknown,
    used or expired."""
    if not _plausible(secret):
        return None
    raw = await store.aredis.get(keys.login_link(hash_token(secret)))
    return _link_user(raw, time.time())


async def consume_login_link(store: Store, secret: str) -> str | None:
    """Use a sign-in link up (atomically: of two uses at once, one wins) and return its user;
    None when it is unknown, already used or expired."""
    if not _plausible(secret):
        return None
    raw = await store.aredis.getdel(keys.login_link(hash_token(secret)))
    return _link_user(raw, time.time())


def _plausible(secret: str) -> bool:
    return 0 < len(secret) <= 128


async def create_session(store: Store, user_id: str, *, ttl_s: float) -> tuple[str, Session]:
    """A new session of ``user_id``: ``(cookie value, session)``; only the value's hash is
    stored."""
    cookie = new_token()
    digest = hash_token(cookie)
    now = time.time()
    session = Session(digest, user_id, secrets.token_urlsafe(24), now + ttl_s)
    record = json.dumps(
        {"user": user_id, "csrf": session.csrf, "created": round(now, 3), "expires": now + ttl_s}
    )
    expires = math.ceil(now + ttl_s)
    if store.layout.cluster:
        # The record (its own slot) and the user's set (the user's slot) cannot share a
        # transaction on a cluster: the set first, so that a live session is always listed under
        # its user (signing out everywhere finds it; a listed hash without a record is nothing).
        await store.aredis.sadd(keys.user_sessions(user_id), digest)
        await store.aredis.set(keys.session(digest), record, exat=expires)
        return cookie, session
    pipe = store.aredis.pipeline(transaction=True)
    pipe.set(keys.session(digest), record, exat=expires)
    pipe.sadd(keys.user_sessions(user_id), digest)
    await pipe.execute()
    return cookie, session


async def read_session(store: Store, cookie: str | None) -> Session | None:
    """The live session of a cookie value, or None (no cookie, unknown, ended or expired)."""
    if not cookie or len(cookie) > 128:
        return None
    digest = hash_token(cookie)
    raw = await store.aredis.get(keys.session(digest))
    if raw is None:
        return None
    record = json.loads(raw)
    if record["expires"] <= time.time():
        return None
    return Session(digest, str(record["user"]), str(record["csrf"]), float(record["expires"]))


async def end_session(store: Store, session: Session) -> None:
    """Sign out: the session is gone at once, for every API process."""
    if store.layout.cluster:
        # Two slots on a cluster: the record first, once it is gone the session is over.
        await store.aredis.delete(keys.session(session.session_hash))
        await store.aredis.srem(keys.user_sessions(session.user_id), session.session_hash)
        return
    pipe = store.aredis.pipeline(transaction=True)
    pipe.delete(keys.session(session.session_hash))
    pipe.srem(keys.user_sessions(session.user_id), session.session_hash)
    await pipe.execute()


async def end_sessions_of(store: Store, user_id: str) -> int:
    """End every session of ``user_id`` (sign out everywhere); how many were live."""
    members: Any = await store.aredis.smembers(keys.user_sessions(user_id))
    hashes = sorted(str(h) for h in members)
    if not hashes:
        return 0
    if store.layout.cluster:
        # Each record is in its own slot: all of them deleted (the pipeline sends each node its
        # part) before their hashes leave the user's set, so that a record a failure left behind
        # stays listed and is ended by the next try; a session made meanwhile stays listed.
        pipe = store.aredis.pipeline(transaction=False)
        for h in hashes:
            pipe.delete(keys.session(h))
        deleted = await pipe.execute()
        await store.aredis.srem(keys.user_sessions(user_id), *hashes)
        return sum(int(x) for x in deleted)
    pipe = store.aredis.pipeline(transaction=False)
    for h in hashes:
        pipe.delete(keys.session(h))
    pipe.delete(keys.user_sessions(user_id))
    deleted = await pipe.execute()
    return sum(int(x) for x in deleted[:-1])


def same_secret(presented: str | None, expected: str) -> bool:
    """Whether a form's CSRF token is the session's (constant time)."""
    return presented is not None and hmac.compare_digest(presented.encode(), expected.encode())


#: A visit to the suggestions page this long after the previous page view starts a new visit.
NEW_VISIT_S = 3600.0


async def visit(store: Store, user_id: str, now: float) -> float | None:
    """Record a view of the suggestions page and return when the user's previous visit was
    (Unix seconds; None on a first visit): what "new since my last visit" counts from."""
    key = keys.visits(user_id)
    seen_raw, previous_raw = await store.aredis.hmget(key, ["seen", "previous"])
    seen = None if seen_raw is None else float(seen_raw)
    previous = None if previous_raw is None else float(previous_raw)
    if seen is not None and now - seen >= NEW_VISIT_S:
        previous = seen
    fields: dict[Any, Any] = {"seen": repr(now)}
    if previous is not None:
        fields["previous"] = repr(previous)
    await store.aredis.hset(key, mapping=fields)
    return previous
