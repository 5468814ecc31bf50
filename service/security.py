"""Bearer tokens: minting and hashing them, issuing user tokens, the admin token and comparisons
in constant time.

User tokens live hashed in Redis (:func:`issue_token`, :meth:`service.store.Store.put_token`).
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
from pathlib import Path

from service.settings import Settings
from service.store import Store

__all__ = [
    "AdminTokenError",
    "RedactQueryStrings",
    "admin_token",
    "hash_token",
    "issue_token",
    "matches",
    "new_token",
    "redact_access_log",
]

log = logging.getLogger(__name__)


def new_token() -> str:
    """A fresh bearer token: 32 random bytes, URL-safe base64."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """What is stored of a token: its sha256 hex digest."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_token(store: Store, user_id: str) -> str:
    """A new bearer token for ``user_id``; only its hash is stored."""
    token = new_token()
    store.put_token(hash_token(token), user_id)
    return token


class AdminTokenError(RuntimeError):
    """The admin token file exists but cannot be used."""


def admin_token(settings: Settings) -> tuple[str, bool]:
    """The admin token and whether it was created just now (then it is also in the file)."""
    if settings.admin_token is not None and settings.admin_token.get_secret_value():
        return settings.admin_token.get_secret_value(), False
    path = settings.admin_token_path
    path.parent.mkdir(parents=True, exist_ok=True)
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
