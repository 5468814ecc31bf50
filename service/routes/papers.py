"""Papers: public to read and search; adding them needs the admin token."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Query, status

from recommender.serving import Engine, Suggestion
from service.deps import (
    AdminDep,
    EngineDep,
    K,
    ModelsDep,
    PaperIdPath,
    SettingsDep,
    Since,
    StoreDep,
)
from service.schemas import (
    ErrorPublic,
    PaperList,
    PaperPublic,
    PapersCreate,
    PapersCreated,
    ScoredPaper,
)

router = APIRouter(prefix="/papers", tags=["papers"])

_404: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorPublic, "description": "Unknown paper."}
}


def scored(engine: Engine, suggestions: list[Suggestion]) -> list[ScoredPaper]:
    return [ScoredPaper.of(s.paper_id, s.score, engine.paper(s.paper_id)) for s in suggestions]


@router.post(
    "",
    response_model=PapersCreated,
    responses={
        400: {"model": ErrorPublic, "description": "The body cannot be parsed (not UTF-8)."},
        401: {"model": ErrorPublic, "description": "Missing or unknown token."},
        403: {"model": ErrorPublic, "description": "Not the admin token."},
        413: {"model": ErrorPublic, "description": "Request body too large."},
        422: {"model": ErrorPublic},
    },
)
def add_papers(
    body: PapersCreate, _: AdminDep, models: ModelsDep, settings: SettingsDep
) -> PapersCreated:
    """Add or update papers in bulk (admin). Stored in Redis first, then recommendable at once
    (placed through their content until the next retrain)."""
    if len(body.papers) > settings.max_batch:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"{len(body.papers)} papers in one request; send at most {settings.max_batch} "
            "per request (split the batch)",
        )
    created, updated = models.add_papers([p.to_paper() for p in body.papers])
    return PapersCreated(created=created, updated=updated)


@router.get("", response_model=PaperList)
def search_papers(
    engine: EngineDep,
    q: str = Query(min_length=1, max_length=1000, description="Words to look for."),
    k: K = 10,
    since: Since = None,
) -> PaperList:
    """Text search over titles and abstracts (with ``since``, of papers published from then)."""
    return PaperList(items=scored(engine, engine.search(q, k, since=since)))


# `:path` lets ids such as arXiv's old "hep-th/9901001" through; /similar is matched first.
@router.get("/{paper_id:path}/similar", response_model=PaperList, responses=_404)
def similar_papers(
    paper_id: PaperIdPath, engine: EngineDep, k: K = 10, since: Since = None
) -> PaperList:
    """Papers most like this one (with ``since``, of papers published from then)."""
    if paper_id not in engine:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"unknown paper {paper_id!r}")
    return PaperList(items=scored(engine, engine.similar(paper_id, k, since=since)))


@router.get("/{paper_id:path}", response_model=PaperPublic, responses=_404)
def get_paper(paper_id: PaperIdPath, store: StoreDep) -> PaperPublic:
    """One paper."""
    paper = store.get_paper(paper_id)
    if paper is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"unknown paper {paper_id!r}")
    return PaperPublic(**paper.to_dict())
