"""``GET /health``: is Redis reachable, which model serves, how did the last retrain go."""

from __future__ import annotations

import redis
from fastapi import APIRouter, status
from fastapi.responses import JSONResponse

from service.deps import AddressLimited, ModelsDep, StoreDep
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
def health(store: StoreDep, models: ModelsDep) -> HealthPublic | JSONResponse:
    """Redis and model status. 503 when Redis does not answer (the body still says why)."""
    state = models.status()
    try:
        store.ping()
        info = store.server_info()
        n_papers = store.count_papers()
    except (redis.ConnectionError, redis.TimeoutError) as e:
        return JSONResponse(
            {
                "detail": f"Redis is unreachable ({e}); check that it runs and REDIS_URL. "
                "Meanwhile writes, likes, recommendations and user tokens fail with 503; "
                "search and similar papers are served from the model in memory.",
                "status": "unavailable",
                "redis": {"ok": False, "error": str(e)},
                **state,
            },
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        )
    ok = state["model"]["status"] == "ready"
    return HealthPublic(
        status="ok" if ok else "degraded",
        redis={"ok": True, "papers": n_papers, **info},
        **state,
    )
