"""Rate limits that live in the API process: a request's limit costs no Redis write.

The limiter used to keep its token buckets in Redis, so every authenticated request wrote its
bucket, and with ``appendfsync always`` every read waited for an fsync (and requests with
unknown tokens wrote too). Here the buckets are a dictionary in each API process: nothing of a
read reaches the append-only file, and checking a limit costs a microsecond.

The price: with ``--workers N`` each process holds its own buckets, so a client that spreads its
requests over every process gets up to N times the limit (a keep-alive client stays on one
process). Buckets start full after a restart. Both are documented in docs/SECURITY.md.

Two kinds of bucket: one per **user** (whatever number of tokens they hold, so N tokens no
longer give N times the limit) and one per **client address** for requests without a valid
token (public routes, and requests whose token is missing, unknown or expired), so that
unauthenticated traffic is limited before it costs anything more.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from fastapi import HTTPException, Request, status

from service.metrics import Metrics
from service.settings import Settings

__all__ = ["Limits", "TokenBuckets"]

#: Keys (users, addresses) each limiter remembers at most; the least recently seen is forgotten
#: first (and starts again with a full bucket), so memory stays bounded whatever the traffic.
MAX_KEYS = 100_000


class TokenBuckets:
    """Token buckets by key: ``rate`` tokens a second up to ``burst``; a request takes one.

    ``rate`` 0 turns the limit off. Thread-safe (sync routes run on worker threads)."""

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        max_keys: int = MAX_KEYS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """Take one token of ``key``'s bucket: 0.0 when the request may go ahead, else the
        seconds until it may (nothing is taken then)."""
        if self.rate <= 0:
            return 0.0
        now = self._clock()
        with self._lock:
            tokens, then = self._buckets.pop(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - then) * self.rate)
            wait = 0.0
            if tokens >= 1.0:
                tokens -= 1.0
            else:
                wait = (1.0 - tokens) / self.rate
            self._buckets[key] = (tokens, now)  # most recently seen last
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        return wait

    def __len__(self) -> int:
        return len(self._buckets)


def client_address(request: Request) -> str:
    """The client's address as uvicorn saw it (behind a proxy listed in
    ``PAPERREC_FORWARDED_ALLOW_IPS``: the address it forwarded)."""
    return request.client.host if request.client is not None else "unknown"


class Limits:
    """The per-user and per-address limits of one API process (on ``app.state.limits``)."""

    def __init__(self, settings: Settings, metrics: Metrics | None = None) -> None:
        self.settings = settings
        self.metrics = metrics
        self.users = TokenBuckets(settings.rate_limit_per_s, settings.rate_limit_burst)
        self.addresses = TokenBuckets(
            settings.address_rate_limit_per_s, settings.address_rate_limit_burst
        )

    def check_user(self, user_id: str) -> None:
        """Count one request of ``user_id``; 429 with ``Retry-After`` over the limit."""
        wait = self.users.take(user_id)
        if wait > 0:
            self._count("user")
            s = self.settings
            raise _too_many(
                f"rate limit of user {user_id!r} reached ({s.rate_limit_per_s:g} requests/s, "
                f"bursts of {s.rate_limit_burst}, all of the user's tokens together)",
                wait,
            )

    def check_address(self, request: Request) -> None:
        """Count one request without a valid token from the request's client address; 429
        over the limit."""
        wait = self.addresses.take(client_address(request))
        if wait > 0:
            self._count("address")
            s = self.settings
            raise _too_many(
                "too many requests without a valid token from this address "
                f"({s.address_rate_limit_per_s:g} requests/s, bursts of "
                f"{s.address_rate_limit_burst})",
                wait,
            )

    def _count(self, limit: str) -> None:
        if self.metrics is not None:
            self.metrics.rate_limited.labels(limit).inc()


def _too_many(what: str, wait_s: float) -> HTTPException:
    wait = max(1, math.ceil(wait_s))
    return HTTPException(
        status.HTTP_429_TOO_MANY_REQUESTS,
        f"{what}: retry after {wait} s",
        headers={"Retry-After": str(wait)},
    )
