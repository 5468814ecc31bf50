"""What an operator scrapes at ``GET /metrics``, in the Prometheus text format
(``prometheus-client``).

Counted as they happen (one :class:`Metrics` per app, on ``app.state.metrics``): requests by
method, route template and status, their latency, feedback changes this API stored, rate-limit
refusals, Redis errors, retrains and their durations. Read at each scrape
(:class:`service.routes.metrics.StateCollector`):
the serving model's age and size, the feedback changes it has not seen yet, the Redis memory in
use and its bound, the length of the event stream.

With ``paperrec serve --workers N`` the parent points every worker at one folder
(``PROMETHEUS_MULTIPROC_DIR``, prometheus-client's multi-process mode, which it reads itself), so
that a scrape answered by any worker counts the requests of all of them; the values read at a
scrape come from the worker that answers (they are the same for all: one Redis, one model).
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

__all__ = ["CONTENT_TYPE", "Metrics", "multiprocess_dir"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_RETRAIN_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)


def multiprocess_dir() -> str | None:
    """The folder of prometheus-client's multi-process mode, when the parent set one."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class Metrics:
    """The counters and histograms of one app."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "paperrec_http_requests",
            "HTTP requests answered, by method, route template and status.",
            ["method", "route", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "paperrec_http_request_duration_seconds",
            "Time from a request's start to its last byte sent, by method and route template.",
            ["method", "route"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.feedback = Counter(
            "paperrec_feedback_recorded",
            "Feedback changes this API stored (like, unlike, dislike, undislike).",
            ["action"],
            registry=r,
        )
        self.rate_limited = Counter(
            "paperrec_rate_limited",
            "Requests refused with 429, by limit (user, address).",
            ["limit"],
            registry=r,
        )
        self.redis_errors = Counter(
            "paperrec_redis_errors",
            "Requests that failed on Redis, by kind (unreachable, timeout, full, refused).",
            ["kind"],
            registry=r,
        )
        self.retrains = Counter(
            "paperrec_retrains",
            "Retrains finished in this process, by outcome (succeeded, failed).",
            ["outcome"],
            registry=r,
        )
        self.retrain_seconds = Histogram(
            "paperrec_retrain_duration_seconds",
            "How long retrains took (succeeded or failed).",
            buckets=_RETRAIN_BUCKETS,
            registry=r,
        )

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def observe_retrain(self, succeeded: bool, seconds: float) -> None:
        self.retrains.labels("succeeded" if succeeded else "failed").inc()
        self.retrain_seconds.observe(seconds)

    def render(self, state: Collector) -> bytes:
        """The exposition text: the counted metrics (of every worker in multi-process mode)
        and those ``state`` reads now."""
        counted = self.registry
        if (folder := multiprocess_dir()) is not None:
            counted = CollectorRegistry()
            MultiProcessCollector(counted, path=folder)
        now = CollectorRegistry()
        now.register(state)
        return generate_latest(counted) + generate_latest(now)
