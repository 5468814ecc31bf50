"""Papers: public to read and search; adding them needs the admin token.

``POST /papers`` takes up to ``PAPERREC_MAX_BODY_BYTES`` (10 MB) of JSON, so its body is read
only once the admin token is checked (from the header: a request without it is answered 401
before one byte of the body is read or parsed), and parsed on a worker thread, so that a large
batch does not stop every other request while it is validated.
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from recommender.serving import Engine, Suggestion
from service.deps import (
    AddressLimited,
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


def _inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with its ``$defs`` references put in place, for an OpenAPI request body
    written by hand (the route reads its body itself; see :func:`add_papers`)."""
    defs = schema.get("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return walk(copy.deepcopy(defs[ref.removeprefix("#/$defs/")]))
            return {k: walk(v) for k, v in node.items() if k != "$defs"}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return dict(walk(schema))


def _parse_papers(raw: bytes) -> PapersCreate:
    """The body as papers (on a worker thread): 400 if it is not UTF-8, 422 if it is not the
    JSON of ``PapersCreate``."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            f"the request body is not UTF-8 text (byte {e.start}): send JSON in UTF-8",
        ) from None
    try:
        return PapersCreate.model_validate_json(raw)
    except ValidationError as e:
        # As FastAPI reports a body it parsed itself; without the input (the whole body).
        errors = [
            {k: v for k, v in err.items() if k != "input"} | {"loc": ("body", *err["loc"])}
            for err in e.errors()
        ]
        raise RequestValidationError(errors) from None


@router.post(
    "",
    response_model=PapersCreated,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": _inline_refs(PapersCreate.model_json_schema())}
            },
        }
    },
    responses={
        400: {"model": ErrorPublic, "description": "The body cannot be parsed (not UTF-8)."},
        401: {"model": ErrorPublic, "description": "Missing or unknown token."},
        403: {"model": ErrorPublic, "description": "Not the admin token."},
        413: {"model": ErrorPublic, "description": "Request body too large."},
        422: {"model": ErrorPublic},
    },
)
async def add_papers(
    request: Request, _: AdminDep, models: ModelsDep, settings: SettingsDep
) -> PapersCreated:
    """Add or update papers in bulk (admin). Stored in Redis first, then recommendable at once
    (placed through their content until the next retrain)."""
    # The admin token was checked from the header (AdminDep) before this line reads the body.
    body = await run_in_threadpool(_parse_papers, await request.body())
    if len(body.papers) > settings.max_batch:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"{len(body.papers)} papers in one request; send at most {settings.max_batch} "
            "per request (split the batch)",
        )
    papers = [p.to_paper() for p in body.papers]
    created, updated = await run_in_threadpool(models.add_papers, papers)
    return PapersCreated(created=created, updated=updated)


_PUBLIC: dict[int | str, dict[str, Any]] = {
    429: {"model": ErrorPublic, "description": "Too many requests from this address."}
}


@router.get("", response_model=PaperList, dependencies=[AddressLimited], responses=_PUBLIC)
def search_papers(
    engine: EngineDep,
    q: str = Query(min_length=1, max_length=1000, description="Words to look for."),
    k: K = 10,
    since: Since = None,
) -> PaperList:
    """Text search over titles and abstracts (with ``since``, of papers published from then)."""
    return PaperList(items=scored(engine, engine.search(q, k, since=since)))


# `:path` lets ids such as arXiv's old "hep-th/9901001" through; /similar is matched first.
@router.get(
    "/{paper_id:path}/similar",
    response_model=PaperList,
    dependencies=[AddressLimited],
    responses={**_404, **_PUBLIC},
)
def similar_papers(
    paper_id: PaperIdPath, engine: EngineDep, k: K = 10, since: Since = None
) -> PaperList:
    """Papers most like this one (with ``since``, of papers published from then)."""
    if paper_id not in engine:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"unknown paper {paper_id!r}")
    return PaperList(items=scored(engine, engine.similar(paper_id, k, since=since)))


@router.get(
    "/{paper_id:path}",
    response_model=PaperPublic,
    dependencies=[AddressLimited],
    responses={**_404, **_PUBLIC},
)
def get_paper(paper_id: PaperIdPath, store: StoreDep) -> PaperPublic:
    """One paper."""
    paper = store.get_paper(paper_id)
    if paper is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"unknown paper {paper_id!r}")
    return PaperPublic(**paper.to_dict())
