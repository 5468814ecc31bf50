"""Admin: retraining the model in the background."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Response, status

from service.deps import AdminDep, ModelsDep
from service.schemas import ErrorPublic, RetrainPublic

router = APIRouter(
    prefix="/admin",
    tags=["admin"],
    responses={401: {"model": ErrorPublic}, 403: {"model": ErrorPublic}},
)


@router.post("/retrain", response_model=RetrainPublic, status_code=status.HTTP_202_ACCEPTED)
def start_retrain(_: AdminDep, models: ModelsDep, response: Response) -> RetrainPublic:
    """Retrain on the whole catalog and all feedback in a background thread; the new model
    replaces the old one when it is ready (the old one serves meanwhile, and stays if the
    retrain fails). While a retrain runs, this returns that one instead of starting another."""
    job, _started = models.start_retrain()
    response.headers["Location"] = "/admin/retrain"
    return RetrainPublic(**job.to_dict())


@router.get("/retrain", response_model=RetrainPublic, responses={404: {"model": ErrorPublic}})
def retrain_status(_: AdminDep, models: ModelsDep) -> RetrainPublic:
    """The current or last retrain of this process."""
    if models.job is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no retrain has run in this process yet")
    return RetrainPublic(**models.job.to_dict())
