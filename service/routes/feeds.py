"""Atom feeds of a user's list and of each collection, read with a feed token.

``POST /users/{user_id}/feeds`` (the user or the admin) makes a ``feed:read`` token bound to one
feed and answers the URL to give a feed reader, the token in its query string (readers cannot
send headers). That token reads that feed and nothing else: every other route answers it 403,
and a feed answers 403 to a user token (which must never sit in a reader's stored URL) and to a
feed token of another feed; an unknown, expired or revoked token is 401. Revoke it with
``DELETE /users/{user_id}/tokens/{token_id}``. The access log never shows query strings.

Each fetch serves the reader (the token) the papers of the top ``PAPERREC_FEED_DEPTH`` of the list
that it was not served before, at most ``PAPERREC_FEED_SIZE``, those published since its previous
fetch first; the admin token previews a feed without marking anything served.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response, status

from service import collections, feeds, security
from service.collection_schemas import CollectionName, FeedTokenCreate, FeedTokenPublic
from service.deps import (
    AuthorizedUser,
    Credentials,
    EngineDep,
    SettingsDep,
    StoreDep,
    UserIdPath,
    authorize,
)
from service.schemas import ErrorPublic
from service.settings import Settings

router = APIRouter(
    prefix="/users",
    tags=["feeds"],
    responses={429: {"model": ErrorPublic, "description": "Rate limit reached."}},
)

FeedTokenQuery = Annotated[
    str | None,
    Query(
        alias="token",
        max_length=512,
        description="The feed token (POST /users/{user_id}/feeds); or send it as a bearer token.",
    ),
]
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorPublic, "description": "Missing, unknown, expired or revoked token."},
    403: {
        "model": ErrorPublic,
        "description": "Not a feed token (a user token), or the feed token of another feed.",
    },
    404: {"model": ErrorPublic, "description": "No such collection."},
}
_ATOM: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/atom+xml": {}}, "description": "An Atom feed."}
}


def base_url(request: Request, settings: Settings) -> str:
    return (settings.public_url or str(request.base_url)).rstrip("/")


def feed_path(user_id: str, collection: str | None) -> str:
    if collection is None:
        return f"/users/{user_id}/feed.atom"
    return f"/users/{user_id}/collections/{collection}/feed.atom"


def _feed_name(feed: str) -> str:
    return f"collection {feed!r}'s feed" if feed else "the user's own feed"


@router.post(
    "/{user_id}/feeds",
    response_model=FeedTokenPublic,
    status_code=status.HTTP_201_CREATED,
    responses={
        400: {"model": ErrorPublic, "description": "A body that cannot be parsed."},
        401: {"model": ErrorPublic, "description": "Missing or unknown token."},
        403: {"model": ErrorPublic, "description": "Not the user's own token (nor the admin)."},
        404: {"model": ErrorPublic, "description": "No such collection."},
    },
)
def create_feed(
    request: Request,
    user_id: AuthorizedUser,
    store: StoreDep,
    settings: SettingsDep,
    body: FeedTokenCreate | None = None,
) -> FeedTokenPublic:
    """A read-only feed token for the user's feed (or a collection's) and the feed's URL with
    it: what to paste into a feed reader. Only the token's hash is stored."""
    body = body or FeedTokenCreate(collection=None, expires_in_s=None)
    name = body.collection
    if name is not None and not collections.exists_sync(store, user_id, name):
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"user {user_id!r} has no collection {name!r}"
        )
    issued = security.issue_token(
        store,
        user_id,
        scope=security.FEED_READ,
        expires_in_s=body.expires_in_s,
        feed=name or "",
    )
    url = f"{base_url(request, settings)}{feed_path(user_id, name)}?token={issued.token}"
    return FeedTokenPublic(
        user_id=user_id,
        collection=name,
        token=issued.token,
        token_id=issued.token_id,
        expires_at=issued.record.expires_at,
        feed_url=url,
    )


async def _feed(
    request: Request,
    user_id: str,
    name: str | None,
    token: str | None,
    credentials: Credentials,
    engine: EngineDep,
    store: StoreDep,
    settings: Settings,
) -> Response:
    principal, access = await authorize(
        request,
        credentials,
        user_id=user_id,
        feedback=True,
        collection=name,
        rules=True,
        scopes=security.FEED_ONLY,
        token=token,
    )
    wanted = name or ""
    if not principal.admin and (access.feed or "") != wanted:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"this feed token reads {_feed_name(access.feed or '')}, not {_feed_name(wanted)}",
        )
    if name is not None and not access.collection_known:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"user {user_id!r} has no collection {name!r}"
        )
    rules = collections.parse_rules(access.rules)
    if name is not None:
        rules = rules.then(collections.parse_rules(access.collection_rules))
    likes = access.likes or []
    reader = None
    if not principal.admin:
        presented = token or (credentials.credentials.strip() if credentials else "")
        reader = security.token_id(security.hash_token(presented))
    served, last = await collections.served(store, user_id, reader) if reader else (set(), None)
    suggestions = engine.recommend(
        access.members or [] if name is not None else likes,
        access.dislikes or [],
        settings.feed_depth,
        rules=rules,
        exclude=[*likes, *served],
    )
    chosen = feeds.new_first(suggestions, engine, last, settings.feed_size)
    now = time.time()
    if reader is not None:
        await collections.mark_served(store, user_id, reader, [s.paper_id for s, _ in chosen], now)
    base = base_url(request, settings)
    entries = [
        feeds.FeedEntry(paper, feeds.why(s, engine), feeds.paper_link(paper, base), new)
        for s, new in chosen
        if (paper := engine.paper(s.paper_id)) is not None
    ]
    what = f"collection {name}" if name is not None else "all likes"
    xml = feeds.render_atom(
        feed_id=f"urn:paperrec:feed:{user_id}:{wanted}",
        title=f"paperrec: papers for {user_id} ({what})",
        subtitle="Suggestions from your likes; each paper once, new ones first.",
        home_url=f"{base}{feed_path(user_id, name)}",
        entries=entries,
        now=datetime.fromtimestamp(now, UTC),
    )
    return Response(xml, media_type="application/atom+xml")


@router.get("/{user_id}/feed.atom", response_class=Response, responses={**_ERRORS, **_ATOM})
async def user_feed(
    request: Request,
    user_id: UserIdPath,
    credentials: Credentials,
    engine: EngineDep,
    store: StoreDep,
    settings: SettingsDep,
    token: FeedTokenQuery = None,
) -> Response:
    """The Atom feed of the user's list (all likes), read with its feed token."""
    return await _feed(request, user_id, None, token, credentials, engine, store, settings)


@router.get(
    "/{user_id}/collections/{name}/feed.atom",
    response_class=Response,
    responses={**_ERRORS, **_ATOM},
)
async def collection_feed(
    request: Request,
    user_id: UserIdPath,
    name: CollectionName,
    credentials: Credentials,
    engine: EngineDep,
    store: StoreDep,
    settings: SettingsDep,
    token: FeedTokenQuery = None,
) -> Response:
    """The Atom feed of one collection, read with that collection's feed token."""
    return await _feed(request, user_id, name, token, credentials, engine, store, settings)
