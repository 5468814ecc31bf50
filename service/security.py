"""Bearer tokens: minting and hashing them, issuing user tokens with a scope and an optional
expiry, the admin token and comparisons in constant time.

User tokens live hashed in Redis (:func:`issue_token`, :meth:`service.store.Store.put_token`),
each with a record of its user, scope and expiry (:class:`service.store.TokenRecord`).

Scopes: ``user`` (what a user token always could: read and write that user's likes and
dislikes, read their recommendations, list and revoke their tokens) and ``feed:read`` (read a
feed and nothing else: for a feed reader that should not hold the user's full power). A route
accepts ``user`` unless it says otherwise (``scopes=`` of :func:`service.deps.authorize`); a
feed route opts in with ``scopes=FEED_SCOPES``.
The admin token comes from ``PAPERREC_ADMIN_TOKEN`` or, when that is unset, from
``<data_dir>/admin_token``, generated on first start with mode 0600 so that a new user can read
it and nobody else can.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from service.redis_server import private_dir
from service.settings import Settings, admin_token_weakness
from service.store import Store, TokenRecord

__all__ = [
    "FEED_ONLY",
    "FEED_READ",
    "FEED_SCOPES",
    "SCOPES",
    "USER",
    "USER_SCOPES",
    "AdminTokenError",
    "IssuedToken",
    "RedactQueryStrings",
    "admin_token",
    "hash_token",
    "issue_token",
    "matches",
    "new_token",
    "redact_access_log",
    "token_id",
]

#: The scope of a full user token, and the read-a-feed-only scope.
USER = "user"
FEED_READ = "feed:read"
SCOPES = (USER, FEED_READ)
#: What a route accepts: every user route by default; feed routes opt in to the narrower scope.
USER_SCOPES = frozenset({USER})
FEED_SCOPES = frozenset({USER, FEED_READ})
#: What the feed routes accept: a feed token only. A user token, which may change the user's
#: likes, is refused there, so that it is never put in a URL that a feed reader stores, syncs
#: and logs.
FEED_ONLY = frozenset({FEED_READ})
#: Hex digits of a token's hash that name it (``DELETE /users/{u}/tokens/{token_id}``): the
#: hash is what is stored and reveals nothing of the token, and 64 bits name one of a user's few
#: tokens without doubt.
TOKEN_ID_DIGITS = 16

log = logging.getLogger(__name__)


def new_token() -> str:
    """A fresh bearer token: 32 random bytes, URL-safe base64."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """What is stored of a token: its sha256 hex digest."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_id(token_hash: str) -> str:
    """The name of a token in listings and revocations: the start of its hash."""
    return token_hash[:TOKEN_ID_DIGITS]


@dataclass(frozen=True)
class IssuedToken:
    token: str
    token_id: str
    record: TokenRecord


def issue_token(
    store: Store,
    user_id: str,
    *,
    scope: str = USER,
    expires_in_s: float | None = None,
    feed: str | None = None,
) -> IssuedToken:
    """A new bearer token for ``user_id`` with ``scope``, valid for ``expires_in_s`` seconds
    (None: until revoked); only its hash is stored. A ``feed:read`` token reads one ``feed``:
    ``""`` (or None) the user's own, else the collection of that name."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}; known: {', '.join(SCOPES)}")
    if feed is not None and scope != FEED_READ:
        raise ValueError(f"only a {FEED_READ} token reads a feed")
    token = new_token()
    now = time.time()
    expires = None if expires_in_s is None else now + expires_in_s
    record = TokenRecord(
        user_id,
        scope,
        created_at=round(now, 3),
        expires_at=expires,
        feed=(feed or "") if scope == FEED_READ else None,
    )
    digest = hash_token(token)
    store.put_token(digest, record)
    return IssuedToken(token, token_id(digest), record)


class AdminTokenError(RuntimeError):
    """The admin token file exists but cannot be used."""


def admin_token(settings: Settings) -> tuple[str, bool]:
    """The admin token and whether it was created just now (then it is also in the file)."""
    if settings.admin_token is not None and settings.admin_token.get_secret_value():
        return settings.admin_token.get_secret_value(), False
    path = settings.admin_token_path
    private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_existing(path), False
    token = new_token()
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    log.info("generated an admin token, stored in %s (mode 0600)", path)
    return token, True


def _read_existing(path: Path) -> str:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        log.warning("%s is readable by others (mode %o): chmod 600 it", path, mode)
    token = path.read_text().strip()
    if not token:
        raise AdminTokenError(f"{path} is empty: delete it to generate a new admin token")
    if (why := admin_token_weakness(token)) is not None:
        raise AdminTokenError(f"{path}: {why} (or delete the file to have one generated)")
    return token


def matches(presented: str, expected_hash: str) -> bool:
    """Whether ``presented`` hashes to ``expected_hash``, compared in constant time."""
    return hmac.compare_digest(hash_token(presented), expected_hash)


class RedactQueryStrings(logging.Filter):
    """Cut the query string out of log records' arguments (``/path?a=b`` -> ``/path?<redacted>``).

    Tokens travel only in the Authorization header, which no log shows; but a client may still
    put one in a query string (``?access_token=...``), and uvicorn's access log prints the path
    with its query string."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_redact(a) if isinstance(a, str) else a for a in record.args)
        return True


def _redact(text: str) -> str:
    path, sep, _query = text.partition("?")
    return f"{path}?<redacted>" if sep and path.startswith("/") else text


def redact_access_log(logger_name: str = "uvicorn.access") -> None:
    """Install :class:`RedactQueryStrings` on the access logger (once)."""
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, RedactQueryStrings) for f in logger.filters):
        logger.addFilter(RedactQueryStrings())
