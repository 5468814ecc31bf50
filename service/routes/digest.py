"""The daily digest's subscription: ``/users/{user_id}/digest`` (the user's token), and the
unsubscribe link every digest carries (its key is the credential: no token needed).

The digest itself is sent by ``paperrec digest`` (:mod:`service.digest`).
"""

from __future__ import annotations

import html
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from service import digest
from service.collection_schemas import DigestPublic, DigestSubscribe
from service.deps import AddressLimited, AuthorizedUser, StoreDep, UserIdPath
from service.schemas import ErrorPublic

router = APIRouter(
    prefix="/users",
    tags=["digest"],
    responses={
        400: {"model": ErrorPublic, "description": "A body that cannot be parsed."},
        401: {"model": ErrorPublic, "description": "Missing or unknown token."},
        403: {"model": ErrorPublic, "description": "The token belongs to another user."},
    },
)


def _public(user_id: str, sub: digest.Subscription | None) -> DigestPublic:
    if sub is None:
        return DigestPublic(user_id=user_id, subscribed=False, last_sent_at=None)
    return DigestPublic(
        user_id=user_id,
        subscribed=True,
        email=sub.email,
        collections=sub.collections,
        last_sent_at=sub.last_sent_at,
    )


@router.put("/{user_id}/digest", response_model=DigestPublic)
def subscribe(user_id: AuthorizedUser, body: DigestSubscribe, store: StoreDep) -> DigestPublic:
    """Subscribe to the daily digest (or change its address or collections)."""
    return _public(user_id, digest.subscribe(store, user_id, body.email, body.collections))


@router.get("/{user_id}/digest", response_model=DigestPublic)
def get_subscription(user_id: AuthorizedUser, store: StoreDep) -> DigestPublic:
    """Whether the user is subscribed, where to, and when the last digest went."""
    return _public(user_id, digest.subscription(store, user_id))


@router.delete(
    "/{user_id}/digest",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={404: {"model": ErrorPublic, "description": "Not subscribed."}},
)
def delete_subscription(user_id: AuthorizedUser, store: StoreDep) -> Response:
    """Unsubscribe."""
    if not digest.unsubscribe(store, user_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"user {user_id!r} is not subscribed")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


UnsubscribeKey = Annotated[
    str, Query(min_length=1, max_length=100, description="The key in the digest's link.")
]


async def _unsubscribe(user_id: str, key: str, store: StoreDep) -> HTMLResponse:
    done = await run_in_threadpool(digest.unsubscribe, store, user_id, key)
    who = html.escape(user_id)
    if done:
        return HTMLResponse(
            f"<!doctype html><title>Unsubscribed</title><p>{who} will get no more digests.</p>"
        )
    return HTMLResponse(
        "<!doctype html><title>Not unsubscribed</title><p>This link is not (or no longer) "
        f"valid for {who}'s digest: nothing changed.</p>",
        status_code=status.HTTP_404_NOT_FOUND,
    )


_PAGES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/html": {}}, "description": "Unsubscribed (a page)."},
    404: {"content": {"text/html": {}}, "description": "A key that is not the subscription's."},
    429: {"model": ErrorPublic, "description": "Rate limit of the client address reached."},
}


@router.get("/{user_id}/digest/unsubscribe", responses=_PAGES, dependencies=[AddressLimited])
async def unsubscribe_link(
    user_id: UserIdPath, key: UnsubscribeKey, store: StoreDep
) -> HTMLResponse:
    """The digest's unsubscribe link: ends the subscription (404 page for a wrong key)."""
    return await _unsubscribe(user_id, key, store)


@router.post("/{user_id}/digest/unsubscribe", responses=_PAGES, dependencies=[AddressLimited])
async def unsubscribe_one_click(
    user_id: UserIdPath, key: UnsubscribeKey, store: StoreDep
) -> HTMLResponse:
    """One-click unsubscribe (RFC 8058: what mail programs send for List-Unsubscribe-Post)."""
    return await _unsubscribe(user_id, key, store)
