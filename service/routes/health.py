"""``GET /health``: is Redis reachable, does a model serve, is it stale.

Anyone may ask, and gets the status alone: ``ok``, ``stale`` (the model has not seen much of the
feedback: retrain), ``degraded`` (no model yet) or ``unavailable`` (503: Redis does not answer),
with the model's version and age. The admin token adds the internals an operator needs (Redis
details, the counts, the last failures with their errors and paths), which nobody else sees: no
data directory, socket path or exception text goes to an anonymous caller.
"""

from __future__ import annotations

from typing import Any, Literal

import redis
from fastapi import APIRouter, Request, status
from fastapi.responses import JSONResponse

from service.deps import AddressLimited, ModelsDep, StoreDep, is_admin
from service.schemas import ErrorPublic, HealthPublic

router = APIRouter(tags=["health"])


@router.get(
    "/health",
    response_model=HealthPublic,
    responses={
        429: {"model": ErrorPublic, "description": "Too many requests from this address."},
        503: {"model": ErrorPublic, "description": "Redis is unreachable."},
    },
    dependencies=[AddressLimited],
)
def health(request: Request, store: StoreDep, models: ModelsDep) -> HealthPublic | JSONResponse:
    """Redis and model status; the admin token adds the details. 503 when Redis does not
    answer (the body still says what works)."""
    admin = is_admin(request)
    try:
        store.ping()
        changes = store.feedback_changes()
        details: dict[str, Any] = (
            {"papers": store.count_papers(), **store.server_info(), **store.memory()}
            if admin
            else {}
        )
    except (redis.ConnectionError, redis.TimeoutError) as e:
        request.app.state.metrics.redis_errors.labels(
            "timeout" if isinstance(e, redis.TimeoutError) else "unreachable"
        ).inc()
        body: dict[str, Any] = {
            "detail": "Redis is unreachable; meanwhile writes, likes, recommendations and user "
            "tokens fail with 503; search and similar papers are served from the model in "
            "memory" + (f" ({e}; check that it runs and REDIS_URL)" if admin else ""),
            "status": "unavailable",
            "redis": {"ok": False, **({"error": str(e)} if admin else {})},
            "model": _model_view(models.freshness(0), admin=admin, known=False),
        }
        if admin:
            body.update(models.status())
            body["model"] = {**body["model"], **models.status()["model"]}
        return JSONResponse(body, status_code=status.HTTP_503_SERVICE_UNAVAILABLE)
    fresh = models.freshness(changes)
    state: Literal["ok", "stale", "degraded"] = (
        "degraded" if fresh["status"] != "ready" else ("stale" if fresh["stale"] else "ok")
    )
    out = HealthPublic(
        status=state,
        redis={"ok": True, **details},
        model=_model_view(fresh, admin=admin),
    )
    if admin:
        full = models.status()
        out.model = {**full["model"], **out.model}
        out.retrain = full["retrain"]
        out.last_failed_retrain = full["last_failed_retrain"]
        out.last_failed_load = full["last_failed_load"]
    return out


def _model_view(fresh: dict[str, Any], *, admin: bool, known: bool = True) -> dict[str, Any]:
    """What anyone may know of the serving model; the counts for the admin only."""
    public = ("status", "version", "trained_at", "age_s") + (("stale",) if known else ())
    view = {k: fresh[k] for k in public if k in fresh}
    if admin and known:
        view.update(
            {k: fresh[k] for k in ("n_papers", "n_feedback", "unseen_feedback") if k in fresh}
        )
    return view
