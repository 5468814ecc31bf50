"""A user's collections, their papers and recommendations, and the rules of a list.

A collection is a named subset of the user's likes; its recommendations rank from its papers
only, while everything the user liked or disliked stays out of the list (dislikes count
everywhere). Putting a paper in a collection likes it in the same atomic write; an unlike or a
dislike takes it out of every collection. Rules (``/rules``) are the user's own (applied to every
list of theirs) or a collection's (added to the user's for that collection).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response, status

from recommender.rules import Rules
from service import collections
from service.collection_schemas import (
    CollectionInfoPublic,
    CollectionList,
    CollectionName,
    CollectionPaperChanged,
    CollectionPublic,
    CollectionRecommendations,
    RulesBody,
    RulesPublic,
)
from service.deps import (
    AuthorizedUser,
    Credentials,
    EngineDep,
    K,
    PaperIdPath,
    Since,
    StoreDep,
    UserFeedback,
    UserIdPath,
    authorize,
)
from service.schemas import ErrorPublic, Recommendation
from service.slates import Diversity, Explore, suggest

router = APIRouter(
    prefix="/users",
    tags=["collections"],
    responses={
        400: {"model": ErrorPublic, "description": "A body that cannot be parsed."},
        401: {"model": ErrorPublic, "description": "Missing or unknown token."},
        403: {"model": ErrorPublic, "description": "The token belongs to another user."},
        429: {"model": ErrorPublic, "description": "Rate limit of the user reached."},
    },
)
_NO_COLLECTION: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorPublic, "description": "No such collection."}
}


def _unknown(user_id: str, name: str) -> HTTPException:
    return HTTPException(
        status.HTTP_404_NOT_FOUND,
        f"user {user_id!r} has no collection {name!r}: create it with "
        f"PUT /users/{user_id}/collections/{name}",
    )


@router.get("/{user_id}/collections", response_model=CollectionList)
async def list_collections(user_id: AuthorizedUser, store: StoreDep) -> CollectionList:
    """The user's collections, with how many papers each holds."""
    found = await collections.list_collections(store, user_id)
    return CollectionList(
        user_id=user_id,
        collections=[
            CollectionInfoPublic(name=c.name, size=c.size, created_at=c.created_at) for c in found
        ],
    )


@router.put(
    "/{user_id}/collections/{name}",
    response_model=CollectionPublic,
    responses={
        201: {"model": CollectionPublic, "description": "Created."},
        409: {"model": ErrorPublic, "description": "The user has the most collections."},
    },
)
async def create_collection(
    user_id: AuthorizedUser, name: CollectionName, store: StoreDep, response: Response
) -> CollectionPublic:
    """Create an empty collection (201); 200 with its papers when it exists (idempotent)."""
    try:
        created = await collections.create(store, user_id, name)
    except OverflowError as e:
        raise HTTPException(status.HTTP_409_CONFLICT, f"{e}; delete one first") from None
    if created:
        response.status_code = status.HTTP_201_CREATED
    papers = await collections.members(store, user_id, name)
    return CollectionPublic(user_id=user_id, name=name, paper_ids=papers or [], created=created)


@router.get(
    "/{user_id}/collections/{name}", response_model=CollectionPublic, responses=_NO_COLLECTION
)
async def get_collection(
    user_id: AuthorizedUser, name: CollectionName, store: StoreDep
) -> CollectionPublic:
    """The collection's papers."""
    papers = await collections.members(store, user_id, name)
    if papers is None:
        raise _unknown(user_id, name)
    return CollectionPublic(user_id=user_id, name=name, paper_ids=papers, created=False)


@router.delete(
    "/{user_id}/collections/{name}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=_NO_COLLECTION,
)
async def delete_collection(
    user_id: AuthorizedUser, name: CollectionName, store: StoreDep
) -> Response:
    """Delete the collection and its rules; its papers stay liked."""
    if not await collections.delete(store, user_id, name):
        raise _unknown(user_id, name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put(
    "/{user_id}/collections/{name}/papers/{paper_id:path}",
    response_model=CollectionPaperChanged,
    responses={
        201: {"model": CollectionPaperChanged, "description": "Put in the collection now."},
        404: {"model": ErrorPublic, "description": "Unknown paper or collection."},
    },
)
async def put_paper(
    request: Request,
    user_id: UserIdPath,
    name: CollectionName,
    paper_id: PaperIdPath,
    credentials: Credentials,
    store: StoreDep,
    response: Response,
) -> CollectionPaperChanged:
    """Put a paper in the collection, liking it (and removing a dislike of it) in the same
    atomic write: 201 when it is new in the collection, 200 when it was there."""
    _, access = await authorize(request, credentials, user_id=user_id, paper=paper_id)
    if not access.paper_known:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"unknown paper {paper_id!r}: add it with POST /papers first"
        )
    try:
        liked, put = await collections.put_paper(store, user_id, name, paper_id)
    except KeyError:
        raise _unknown(user_id, name) from None
    if put:
        response.status_code = status.HTTP_201_CREATED
    if liked:
        request.app.state.metrics.feedback.labels("like").inc()
    return CollectionPaperChanged(
        user_id=user_id, collection=name, paper_id=paper_id, created=put, liked=liked
    )


@router.delete(
    "/{user_id}/collections/{name}/papers/{paper_id:path}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={404: {"model": ErrorPublic, "description": "The paper is not in the collection."}},
)
async def remove_paper(
    user_id: AuthorizedUser, name: CollectionName, paper_id: PaperIdPath, store: StoreDep
) -> Response:
    """Take a paper out of the collection; it stays liked (unlike it to remove it everywhere)."""
    if not await collections.remove_paper(store, user_id, name, paper_id):
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"paper {paper_id!r} is not in collection {name!r} of user {user_id!r}",
        )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{user_id}/collections/{name}/recommendations",
    response_model=CollectionRecommendations,
    responses=_NO_COLLECTION,
)
async def collection_recommendations(
    request: Request,
    user_id: UserIdPath,
    name: CollectionName,
    credentials: Credentials,
    engine: EngineDep,
    k: K = 10,
    since: Since = None,
    explore: Explore = None,
    diversity: Diversity = None,
) -> Response:
    """Top-``k`` papers for the collection: ranked from its papers only, the user's dislikes
    counting as everywhere; nothing the user liked or disliked is in it. ``because``: the
    collection's papers that most explain each; ``since``, ``explore``, ``diversity`` and
    impressions as in the main list (shows counted over all the user's lists; the collection's
    own previous list avoided); the user's rules and the collection's applied (``reason`` says
    when a rule put a paper there)."""
    # One round trip: the token, the likes and dislikes, the collection and the rules.
    _, access = await authorize(
        request, credentials, user_id=user_id, feedback=True, collection=name, rules=True
    )
    if not access.collection_known:
        raise _unknown(user_id, name)
    rules = collections.parse_rules(access.rules).then(
        collections.parse_rules(access.collection_rules)
    )
    user = UserFeedback(user_id, access.members or [], access.dislikes or [])
    suggestions = await suggest(
        request,
        user,
        engine,
        k,
        since,
        explore,
        diversity,
        rules=rules,
        exclude=access.likes or [],
        collection=name,
    )
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
    body = CollectionRecommendations(
        user_id=user_id,
        collection=name,
        model_version=engine.version,
        rules=RulesBody(**rules.to_dict()),
        items=items,
    )
    return Response(body.model_dump_json(), media_type="application/json")


# ----------------------------------------------------------------------------------- rules
def _rules_of(body: RulesBody) -> Rules:
    try:
        return Rules.from_dict(body.model_dump())
    except ValueError as e:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"rules: {e}") from None


def _public(user_id: str, rules: Rules, name: str) -> RulesPublic:
    return RulesPublic(user_id=user_id, collection=name or None, **rules.to_dict())


async def _get_rules(user_id: str, name: str, store: StoreDep) -> RulesPublic:
    raw = await collections.read_rules(store, user_id, name)
    if raw is None:
        raise _unknown(user_id, name)
    return _public(user_id, collections.parse_rules(raw), name)


async def _put_rules(user_id: str, name: str, body: RulesBody, store: StoreDep) -> RulesPublic:
    rules = _rules_of(body)
    if not await collections.set_rules(store, user_id, rules, name):
        raise _unknown(user_id, name)
    return _public(user_id, rules, name)


async def _delete_rules(user_id: str, name: str, store: StoreDep) -> Response:
    if not await collections.set_rules(store, user_id, None, name):
        raise _unknown(user_id, name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{user_id}/rules", response_model=RulesPublic)
async def get_user_rules(user_id: AuthorizedUser, store: StoreDep) -> RulesPublic:
    """The user's own rules (applied to each of their lists); empty when none are set."""
    return await _get_rules(user_id, "", store)


@router.put("/{user_id}/rules", response_model=RulesPublic)
async def put_user_rules(user_id: AuthorizedUser, body: RulesBody, store: StoreDep) -> RulesPublic:
    """Replace the user's own rules (every field not given is empty)."""
    return await _put_rules(user_id, "", body, store)


@router.delete("/{user_id}/rules", status_code=status.HTTP_204_NO_CONTENT)
async def delete_user_rules(user_id: AuthorizedUser, store: StoreDep) -> Response:
    """Remove the user's own rules (idempotent)."""
    return await _delete_rules(user_id, "", store)


@router.get(
    "/{user_id}/collections/{name}/rules", response_model=RulesPublic, responses=_NO_COLLECTION
)
async def get_collection_rules(
    user_id: AuthorizedUser, name: CollectionName, store: StoreDep
) -> RulesPublic:
    """The collection's own rules (the user's are applied with them)."""
    return await _get_rules(user_id, name, store)


@router.put(
    "/{user_id}/collections/{name}/rules", response_model=RulesPublic, responses=_NO_COLLECTION
)
async def put_collection_rules(
    user_id: AuthorizedUser, name: CollectionName, body: RulesBody, store: StoreDep
) -> RulesPublic:
    """Replace the collection's rules."""
    return await _put_rules(user_id, name, body, store)


@router.delete(
    "/{user_id}/collections/{name}/rules",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=_NO_COLLECTION,
)
async def delete_collection_rules(
    user_id: AuthorizedUser, name: CollectionName, store: StoreDep
) -> Response:
    """Remove the collection's rules (idempotent while the collection exists)."""
    return await _delete_rules(user_id, name, store)
