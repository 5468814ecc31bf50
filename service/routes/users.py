"""A user's likes, dislikes and recommendations (their tokens: :mod:`service.routes.tokens`).

Likes and dislikes live in Redis and are read at request time, so a like changes the very next
recommendations (the model folds the user in from the likes it is given). Liking a paper removes a
dislike of it and vice versa, in one transaction.

``PUT .../likes/{paper_id}``: 201 when the like is new, 200 when it was there already (idempotent).
``DELETE .../likes/{paper_id}``: 204 when removed, 404 when the user had not liked the paper, so a
client learns that its view was stale. The same holds for ``/dislikes/``.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response, status

from service.collections import parse_rules
from service.deps import (
    AuthorizedUser,
    Credentials,
    EngineDep,
    K,
    PaperIdPath,
    Since,
    StoreDep,
    UserFeedbackDep,
    UserIdPath,
    authorize,
)
from service.schemas import (
    ErrorPublic,
    FeedbackChanged,
    FeedbackPublic,
    Recommendation,
    RecommendationsPublic,
)
from service.slates import Diversity, Explore, suggest
from service.store import Kind

router = APIRouter(
    prefix="/users",
    tags=["users"],
    responses={
        401: {"model": ErrorPublic, "description": "Missing or unknown token."},
        403: {"model": ErrorPublic, "description": "The token belongs to another user."},
        429: {"model": ErrorPublic, "description": "Rate limit of the user reached."},
    },
)

_VERB = {"likes": "liked", "dislikes": "disliked"}


def _add_feedback_routes(kind: Kind) -> None:
    singular = kind[:-1]

    @router.put(
        f"/{{user_id}}/{kind}/{{paper_id:path}}",
        response_model=FeedbackChanged,
        status_code=status.HTTP_200_OK,
        name=f"add_{singular}",
        summary=f"Add a {singular}",
        responses={
            201: {"model": FeedbackChanged, "description": f"New {singular}."},
            404: {"model": ErrorPublic, "description": "Unknown paper."},
        },
    )
    async def add(
        request: Request,
        user_id: UserIdPath,
        paper_id: PaperIdPath,
        credentials: Credentials,
        store: StoreDep,
        response: Response,
    ) -> FeedbackChanged:
        # One round trip checks the token and the paper; then the change itself.
        _, access = await authorize(request, credentials, user_id=user_id, paper=paper_id)
        if not access.paper_known:
            raise HTTPException(
                status.HTTP_404_NOT_FOUND,
                f"unknown paper {paper_id!r}: add it with POST /papers first",
            )
        created = await store.add_feedback(kind, user_id, paper_id)
        if created:
            response.status_code = status.HTTP_201_CREATED
            request.app.state.metrics.feedback.labels(singular).inc()
        return FeedbackChanged(user_id=user_id, paper_id=paper_id, created=created)

    @router.delete(
        f"/{{user_id}}/{kind}/{{paper_id:path}}",
        status_code=status.HTTP_204_NO_CONTENT,
        name=f"remove_{singular}",
        summary=f"Remove a {singular}",
        responses={404: {"model": ErrorPublic, "description": f"The paper was not {_VERB[kind]}."}},
    )
    async def remove(
        request: Request, user_id: AuthorizedUser, paper_id: PaperIdPath, store: StoreDep
    ) -> Response:
        if not await store.remove_feedback(kind, user_id, paper_id):
            raise HTTPException(
                status.HTTP_404_NOT_FOUND,
                f"user {user_id!r} has not {_VERB[kind]} paper {paper_id!r}",
            )
        request.app.state.metrics.feedback.labels(f"un{singular}").inc()
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @router.get(
        f"/{{user_id}}/{kind}",
        response_model=FeedbackPublic,
        name=f"list_{kind}",
        summary=f"List {kind}",
    )
    async def list_(user_id: AuthorizedUser, store: StoreDep) -> FeedbackPublic:
        return FeedbackPublic(user_id=user_id, paper_ids=await store.feedback(kind, user_id))


_add_feedback_routes("likes")
_add_feedback_routes("dislikes")


@router.get("/{user_id}/recommendations", response_model=RecommendationsPublic)
async def recommendations(
    request: Request,
    user: UserFeedbackDep,
    engine: EngineDep,
    k: K = 10,
    since: Since = None,
    explore: Explore = None,
    diversity: Diversity = None,
) -> Response:
    """Top-``k`` papers for the user, from their likes and dislikes as they are now (a user
    with no likes gets the model's cold-start list). Papers the user liked or disliked are left
    out; ``because`` lists the liked papers that most explain each suggestion. With ``since``,
    only papers published on or after that day, ranked as in the full list. ``explore`` and
    ``diversity`` choose how the list is filled (service/slates.py); a list never repeats the
    previous one while others are left, and papers shown too often without a reaction are
    left out (service/impressions.py)."""
    # Scored on the event loop: about half a millisecond of numpy, less than a thread hop costs.
    rules = parse_rules(user.rules)  # the user's own (PUT /users/{id}/rules)
    suggestions = await suggest(request, user, engine, k, since, explore, diversity, rules=rules)
    items = [
        Recommendation.of(
            s.paper_id,
            s.score,
            engine.paper(s.paper_id),
            because=list(s.because),
            reason=s.reason or ("explore" if s.explored else None),
        )
        for s in suggestions
    ]
    body = RecommendationsPublic(user_id=user.user_id, model_version=engine.version, items=items)
    # Validated once by the model above and serialised by pydantic directly (FastAPI would
    # validate the returned model again against response_model, which documents the answer).
    return Response(body.model_dump_json(), media_type="application/json")
