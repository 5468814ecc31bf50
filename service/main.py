"""The app factory and its lifespan: Redis, the admin token and the model are set up here and
kept on ``app.state``; nothing shared lives in a module global."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, nullcontext
from typing import Any

import redis
from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from threadpoolctl import threadpool_limits

from service import web
from service.cluster import on_cluster_error
from service.connection import open_store
from service.impressions import open_impressions
from service.limits import Limits
from service.metrics import Metrics
from service.middleware import BodyLimit, RequestMetrics, too_large
from service.model import ModelManager
from service.routes import (
    admin,
    collections,
    digest,
    feeds,
    health,
    library,
    metrics,
    papers,
    tokens,
    users,
)
from service.sample import sample_papers
from service.schemas import ErrorPublic
from service.security import admin_token, hash_token, redact_access_log
from service.settings import Settings

__all__ = ["create_app"]

log = logging.getLogger(__name__)

DESCRIPTION = """\
Paper recommendations for researchers. Like papers, get suggestions that follow every like at once.

* Papers are public to read and search; adding them needs the admin token.
* A user token (issued by an admin: `POST /users/{user_id}/tokens`) reads and writes only that
  user's likes, dislikes and recommendations; a `feed:read` token only reads a feed. Send it as
  `Authorization: Bearer <token>`. Tokens may expire and can be revoked
  (`DELETE /users/{user_id}/tokens/{token_id}`).
* Ids: 1-128 characters of letters, digits and `. _ : -` (paper ids may also hold `/`, user ids `@`).
* Every error is JSON `{"detail": "<what went wrong and what to do>"}`.
"""


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    # numpy scoring inside a threaded server collapses with multi-threaded BLAS.
    threadpool_limits(limits=1)
    redact_access_log()
    models: ModelManager | None = None
    with open_store(settings) as store:
        try:
            token, _created = admin_token(settings)
            app.state.admin_token_hash = hash_token(token)
            if settings.seed_sample:
                # A store whose sample papers came before they were remembered as such.
                store.adopt_sample(p.paper_id for p in sample_papers())
            if settings.seed_sample and store.count_papers() == 0:
                n = store.put_papers(sample_papers(), sample=True).created
                log.info(
                    "empty catalog: loaded %d sample papers (they leave the catalog once real "
                    "papers are imported; PAPERREC_SEED_SAMPLE=false starts without them)",
                    n,
                )
            models = ModelManager(settings, store, app.state.metrics)
            models.startup()
            models.start_watching()
            app.state.store = store
            app.state.models = models
            impressions = open_impressions(settings, store)
            app.state.impressions = impressions
            async with impressions.running() if impressions else nullcontext():
                yield
        finally:
            if models is not None:
                models.shutdown()
            await store.aclose()


def _validation_message(errors: Any) -> str:
    parts = []
    for e in errors:
        if e.get("type") == "json_invalid":
            at = tuple(e.get("loc", ()))
            why = e.get("ctx", {}).get("error", "")
            # FastAPI's own parse names the character; pydantic's says where in its message.
            where = f"character {at[-1]}: " if len(at) > 1 else ""
            parts.append(f"the request body is not valid JSON ({where}{why})")
            continue
        loc = ".".join(str(x) for x in e.get("loc", ()) if x != "body") or "body"
        parts.append(f"{loc}: {e.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse(
        {"detail": _validation_message(exc.errors())},
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
    )


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail
    if exc.status_code == status.HTTP_413_CONTENT_TOO_LARGE:
        detail = too_large(request.app.state.settings.max_body_bytes)

    return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=exc.headers)


async def _on_redis_down(request: Request, exc: Exception) -> JSONResponse:
    log.error("Redis unreachable during %s %s: %s", request.method, request.url.path, exc)
    hung = isinstance(exc, redis.TimeoutError)
    request.app.state.metrics.redis_errors.labels("timeout" if hung else "unreachable").inc()
    state = "did not answer in time" if hung else "is unreachable"
    if request.method in ("GET", "HEAD"):
        what = (
            f"this read needs the database (Redis), which {state}; "
            "search and similar papers still work (from the model in memory)"
        )
    else:
        # A write that was sent may have been carried out although no answer came (a hung or
        # dying server): the outcome is unknown, and every write here may be sent again.
        what = (
            f"the database (Redis) {state}, so whether this change was stored is unknown; "
            "sending the same request again is safe (it is idempotent)"
        )
    return JSONResponse(
        {"detail": f"{what}; retry in a moment (operators: check the Redis server and REDIS_URL)"},
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Retry-After": "5"},
    )


def _from_a_closed_redis_connection(exc: Exception) -> bool:
    """A write on a Redis connection that its server closed (a node killed or failed over),
    which redis-py's asyncio client lets through as something else than
    ``redis.ConnectionError``, raised inside redis-py's code: the event loop's own error (uvloop:
    ``RuntimeError: unable to perform operation on <TCPTransport closed=True ...>; the handler
    is closed``), or, when another request on the same connection already dropped it, its
    stream writer gone (``AttributeError: 'NoneType' object has no attribute 'writelines'``,
    seen once in the cluster's failover test)."""
    if isinstance(exc, AttributeError):
        if not str(exc).startswith("'NoneType' object has no attribute"):
            return False
    elif "closed" not in str(exc):
        return False
    tb = exc.__traceback__
    while tb is not None:
        if f"{os.sep}redis{os.sep}" in tb.tb_frame.f_code.co_filename:
            return True
        tb = tb.tb_next
    return False


async def _on_closed_connection(request: Request, exc: Exception) -> JSONResponse:
    if not _from_a_closed_redis_connection(exc):
        raise exc  # anything else stays a 500, logged with its traceback, as before
    return await _on_redis_down(request, redis.ConnectionError(str(exc)))


def _is_oom(exc: Exception) -> bool:
    # Plain commands raise OutOfMemoryError; a script's refused write and a transaction that
    # could not be queued come back as other ResponseErrors carrying Redis's OOM message.
    return isinstance(exc, redis.exceptions.OutOfMemoryError) or "OOM command not allowed" in str(
        exc
    )


async def _on_redis_error(request: Request, exc: Exception) -> JSONResponse:
    request.app.state.metrics.redis_errors.labels("full" if _is_oom(exc) else "refused").inc()
    if _is_oom(exc):
        log.error(
            "Redis is at its memory bound (maxmemory): refused %s %s",
            request.method,
            request.url.path,
        )
        return JSONResponse(
            {
                "detail": "the database is full (Redis reached its memory bound, maxmemory): "
                "nothing was stored; reads still work. Operators: raise PAPERREC_REDIS_MAXMEMORY "
                "(or the external Redis's maxmemory), or lower PAPERREC_EVENTS_MAX"
            },
            status_code=status.HTTP_507_INSUFFICIENT_STORAGE,
        )
    log.error("Redis refused %s %s: %s", request.method, request.url.path, exc)
    return JSONResponse(
        {"detail": "the database refused the request (see the service's log)"},
        status_code=status.HTTP_500_INTERNAL_SERVER_ERROR,
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    """A new app; ``settings`` default to the environment's."""
    settings = settings or Settings()
    app = FastAPI(
        title="paperrec",
        summary="Paper recommendation engine",
        description=DESCRIPTION,
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # /docs and /redoc come from service.web, with no CDN
        redoc_url=None,
        # Every error, validation errors included, is {"detail": "<text>"} (see the handlers).
        responses={422: {"model": ErrorPublic, "description": "Invalid input."}},
    )
    app.state.settings = settings
    app.state.metrics = Metrics()
    app.state.limits = Limits(settings, app.state.metrics)
    app.add_middleware(
        BodyLimit, max_bytes=settings.max_body_bytes, timeout_s=settings.client_body_timeout_s
    )
    app.add_middleware(RequestMetrics, metrics=app.state.metrics)  # outermost: sees every answer
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(redis.ConnectionError, _on_redis_down)
    app.add_exception_handler(redis.TimeoutError, _on_redis_down)
    app.add_exception_handler(redis.ResponseError, _on_redis_error)
    app.add_exception_handler(RuntimeError, _on_closed_connection)  # a closed connection: 503
    app.add_exception_handler(AttributeError, _on_closed_connection)  # its writer gone: 503
    # A Redis Cluster slot without a master (CLUSTERDOWN), or a write no replica confirmed: 503.
    app.add_exception_handler(redis.exceptions.ClusterError, on_cluster_error)
    app.add_exception_handler(redis.exceptions.RedisClusterException, on_cluster_error)
    for module in (
        health,
        metrics,
        papers,
        users,
        collections,
        feeds,
        digest,
        library,
        tokens,
        admin,
    ):
        app.include_router(module.router)
    web.install(app)  # the web page for researchers, and the API docs served offline
    return app
