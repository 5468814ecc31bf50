"""``GET /metrics``: the service's metrics in the Prometheus text format (:mod:`service.metrics`).

Scraped with a bearer token: ``PAPERREC_METRICS_TOKEN`` (a secret for the scraper alone) or the
admin token. A Prometheus scrape job::

    - job_name: paperrec
      authorization: {credentials_file: /etc/prometheus/paperrec-token}
      static_configs: [{targets: ["127.0.0.1:8000"]}]
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response, status
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from service.deps import ModelsDep, StoreDep, bearer_token, is_admin
from service.metrics import CONTENT_TYPE
from service.model import ModelManager
from service.schemas import ErrorPublic
from service.security import hash_token
from service.store import Store

router = APIRouter(tags=["operations"])


class StateCollector(Collector):
    """Gauges read at each scrape: the serving model and what it has not seen, Redis memory."""

    def __init__(self, models: ModelManager, store: Store) -> None:
        self.models = models
        self.store = store

    def collect(self) -> Iterator[Any]:
        view = self.models.freshness(self.store.feedback_changes())
        ready = GaugeMetricFamily("paperrec_model_ready", "1 while a model serves.")
        ready.add_metric([], 1.0 if view["status"] == "ready" else 0.0)
        yield ready
        if view["status"] == "ready":
            for name, key, text in (
                ("paperrec_model_age_seconds", "age_s", "Seconds since the model was trained."),
                ("paperrec_model_papers", "n_papers", "Papers the model serves."),
                (
                    "paperrec_model_trained_feedback",
                    "n_feedback",
                    "Likes and dislikes the serving model was trained on.",
                ),
                (
                    "paperrec_model_unseen_feedback_changes",
                    "unseen_feedback",
                    "Feedback changes made since the serving model was trained (a retrain "
                    "folds them in).",
                ),
            ):
                g = GaugeMetricFamily(name, text)
                g.add_metric([], float(view.get(key) or 0.0))
                yield g
            stale = GaugeMetricFamily(
                "paperrec_model_stale", "1 when /health calls the model stale."
            )
            stale.add_metric([], 1.0 if view["stale"] else 0.0)
            yield stale
            yield from self._ranking_cache()
        memory = self.store.memory()
        for name, key, text in (
            ("paperrec_redis_used_memory_bytes", "used", "Memory Redis uses."),
            (
                "paperrec_redis_maxmemory_bytes",
                "max",
                "Redis's memory bound (0: none); at the bound writes are refused with 507.",
            ),
            ("paperrec_events_in_stream", "events", "Entries of the paperrec:events stream."),
        ):
            g = GaugeMetricFamily(name, text)
            g.add_metric([], float(memory[key]))
            yield g
        changes = GaugeMetricFamily(
            "paperrec_feedback_changes",
            "Feedback changes ever stored, by every process and import (the count the "
            "unseen feedback is computed from).",
        )
        changes.add_metric([], float(self.store.feedback_changes()))
        yield changes
        scraped = GaugeMetricFamily("paperrec_scrape_time_seconds", "Unix time of this scrape.")
        scraped.add_metric([], time.time())
        yield scraped

    def _ranking_cache(self) -> Iterator[Any]:
        """The serving engine's ranking cache (PAPERREC_RANKING_CACHE) in this process, since
        that engine was installed; nothing when it is off."""
        engine = self.models.engine
        cache = engine.ranking_cache if engine is not None else None
        if cache is None:
            return
        for name, value, text in (
            (
                "paperrec_ranking_cache_hits",
                cache.hits,
                "Greedy lists this process filtered from a kept ranking (serving engine only).",
            ),
            (
                "paperrec_ranking_cache_misses",
                cache.misses,
                "Greedy lists this process scored the catalog for (serving engine only).",
            ),
            ("paperrec_ranking_cache_entries", len(cache), "Rankings kept by this process."),
        ):
            g = GaugeMetricFamily(name, text)
            g.add_metric([], float(value))
            yield g


def _may_scrape(request: Request) -> bool:
    if is_admin(request):
        return True
    secret = request.app.state.settings.metrics_token
    token = bearer_token(request)
    if secret is None or token is None:
        return False
    return hmac.compare_digest(hash_token(token), hash_token(secret.get_secret_value()))


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {"content": {CONTENT_TYPE: {}}, "description": "Prometheus text format."},
        401: {"model": ErrorPublic, "description": "No metrics token or admin token."},
        429: {"model": ErrorPublic, "description": "Too many requests from this address."},
        503: {"model": ErrorPublic, "description": "Redis is unreachable."},
    },
)
def metrics(request: Request, models: ModelsDep, store: StoreDep) -> Response:
    """Request counts and latency by route and status, feedback recorded, the model's age and
    the feedback it has not seen, retrains, Redis errors and memory."""
    if not _may_scrape(request):
        request.app.state.limits.check_address(request)
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "send 'Authorization: Bearer <PAPERREC_METRICS_TOKEN or the admin token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    text = request.app.state.metrics.render(StateCollector(models, store))
    return Response(text, media_type=CONTENT_TYPE)
