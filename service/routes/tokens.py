"""A user's bearer tokens: issued by the admin, listed and revoked by the admin or the user.

Only a token's hash is stored; a token is named by the start of its hash (``token_id``), which
reveals nothing of it. A token has a scope (``user``, or ``feed:read`` for a feed reader) and
may expire; a revoked or expired token is refused at once, by every API process.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Response, status

from service import security
from service.collections import forget_feed
from service.deps import AdminDep, AuthorizedUser, StoreDep, UserIdPath
from service.schemas import ErrorPublic, TokenCreate, TokenInfo, TokenList, TokenPublic

router = APIRouter(
    prefix="/users",
    tags=["tokens"],
    responses={
        401: {"model": ErrorPublic, "description": "Missing, unknown or expired token."},
        403: {"model": ErrorPublic, "description": "Not the admin or the user's own token."},
        429: {"model": ErrorPublic, "description": "Rate limit reached."},
    },
)

TokenIdPath = Annotated[
    str,
    Path(
        pattern=f"^[0-9a-f]{{{security.TOKEN_ID_DIGITS}}}$",
        description="The token_id given when the token was issued, or by GET .../tokens.",
    ),
]


@router.post(
    "/{user_id}/tokens",
    response_model=TokenPublic,
    status_code=status.HTTP_201_CREATED,
    responses={400: {"model": ErrorPublic, "description": "The body cannot be parsed."}},
)
def issue_token(
    user_id: UserIdPath, _: AdminDep, store: StoreDep, body: TokenCreate | None = None
) -> TokenPublic:
    """Issue a bearer token for the user (admin), of scope ``user`` unless the body says
    ``feed:read``, valid until revoked or for ``expires_in_s`` seconds. The token is shown once:
    only its hash is stored."""
    body = body or TokenCreate(scope="user", expires_in_s=None)
    issued = security.issue_token(store, user_id, scope=body.scope, expires_in_s=body.expires_in_s)
    r = issued.record
    return TokenPublic(
        user_id=user_id,
        token=issued.token,
        token_id=issued.token_id,
        scope=r.scope,
        created_at=r.created_at,
        expires_at=r.expires_at,
        feed=r.feed,
    )


@router.get("/{user_id}/tokens", response_model=TokenList)
def list_tokens(user_id: AuthorizedUser, store: StoreDep) -> TokenList:
    """The user's live tokens (never the tokens themselves): the admin, or the user."""
    return TokenList(
        user_id=user_id,
        tokens=[
            TokenInfo(
                token_id=security.token_id(h),
                scope=r.scope,
                created_at=r.created_at,
                expires_at=r.expires_at,
                feed=r.feed,
            )
            for h, r in store.tokens_of(user_id)
        ],
    )


@router.delete(
    "/{user_id}/tokens/{token_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={404: {"model": ErrorPublic, "description": "No such live token of the user."}},
)
def revoke_token(user_id: AuthorizedUser, token_id: TokenIdPath, store: StoreDep) -> Response:
    """Revoke one of the user's tokens (the admin, or the user, also the token in use): refused
    from the next request on, by every API process."""
    for digest, _record in store.tokens_of(user_id):
        if security.token_id(digest) == token_id and store.delete_token(user_id, digest):
            forget_feed(store, user_id, token_id)  # what a feed token was served goes with it
            return Response(status_code=status.HTTP_204_NO_CONTENT)
    raise HTTPException(
        status.HTTP_404_NOT_FOUND, f"user {user_id!r} has no live token {token_id!r}"
    )
