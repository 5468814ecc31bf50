"""Reusable request dependencies: shared resources from ``app.state``, authorisation and the
rate limits.

Who may do what:

* papers are public to read (limited per client address);
* a user token (``POST /users/{user_id}/tokens``) of scope ``user`` reads and writes only that
  user's likes, dislikes, recommendations and tokens; one of scope ``feed:read`` only what a
  route opts in to (``scopes=FEED_SCOPES``);
* the admin token may do everything, including acting for any user.

The order of the checks is what makes them cheap and silent: the admin token is compared in the
process; a user token is looked up (a read, no write) before anything of the user the path names
is read, and that only for the token's own user; a request without a valid token is counted
against its client address, one with a valid token against its user (in-process limits,
:mod:`service.limits`).
"""

from __future__ import annotations

import time
from collections.abc import Set
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Query, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AfterValidator

from recommender.catalog import check_paper_id, check_user_id
from recommender.serving import Engine
from service.limits import Limits
from service.model import ModelManager
from service.schemas import MAX_K, PAPER_ID_SCHEMA, USER_ID_SCHEMA, Day
from service.security import USER_SCOPES, hash_token, matches
from service.settings import Settings
from service.store import Access, Store

_bearer = HTTPBearer(auto_error=False, description="A user token or the admin token.")


# Every dependency is ``async def``: FastAPI runs a plain ``def`` dependency on its thread pool, one
# thread hop each, which was most of a request's overhead. Those that talk to Redis use the store's
# asyncio client (one round trip per request, see ``authorize``).


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_store(request: Request) -> Store:
    return request.app.state.store


async def get_models(request: Request) -> ModelManager:
    return request.app.state.models


async def get_engine(models: Annotated[ModelManager, Depends(get_models)]) -> Engine:
    engine = models.engine
    if engine is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "no model is trained yet: add papers (POST /papers or `paperrec import`), "
            "then POST /admin/retrain",
        )
    return engine


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[Store, Depends(get_store)]
ModelsDep = Annotated[ModelManager, Depends(get_models)]
EngineDep = Annotated[Engine, Depends(get_engine)]

UserIdPath = Annotated[
    str,
    Path(
        description="1-128 characters: letters, digits and . _ : @ - (not '.' or '..')",
        examples=["alice"],
        json_schema_extra=USER_ID_SCHEMA,
    ),
    AfterValidator(check_user_id),
]
PaperIdPath = Annotated[
    str,
    Path(
        description="1-128 characters: letters, digits and . _ : / -, in '/'-separated "
        "segments, none empty, '.' or '..', and not ending in '/similar'",
        examples=["sample:nlp-01"],
        json_schema_extra=PAPER_ID_SCHEMA,
    ),
    AfterValidator(check_paper_id),
]
K = Annotated[int, Query(ge=1, le=MAX_K, description=f"How many results (1-{MAX_K}).")]
Since = Annotated[
    Day | None,
    Query(
        description="Only papers published on or after this day (YYYY-MM-DD); papers without a "
        "`published` date are left out. For a feed of what is new since the last visit.",
        examples=["2026-11-01"],
    ),
]


@dataclass(frozen=True)
class Principal:
    """Who sent a request: a user (``user_id``, with the token's ``scope``) or the admin."""

    user_id: str | None
    admin: bool = False
    scope: str | None = None


Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, message, headers={"WWW-Authenticate": "Bearer"}
    )


def _presented_token(request: Request, credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None:
        header = request.headers.get("authorization")
        if header:
            raise _unauthorized("malformed Authorization header: send 'Bearer <token>'")
        raise _unauthorized(
            "missing bearer token: send 'Authorization: Bearer <token>' "
            "(an admin issues user tokens with POST /users/{user_id}/tokens)"
        )
    token = credentials.credentials.strip()
    if not token or len(token) > 512:
        raise _unauthorized("malformed bearer token")
    return token


def bearer_token(request: Request) -> str | None:
    """The bearer token of the request's Authorization header, read from the header itself
    (so that a route using it declares no security scheme), or None."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def is_admin(request: Request) -> bool:
    """Whether the request carries the admin token (compared in the process, in constant
    time)."""
    token = bearer_token(request)
    return token is not None and matches(token, request.app.state.admin_token_hash)


async def authorize(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None,
    *,
    user_id: str | None = None,
    feedback: bool = False,
    paper: str | None = None,
    scopes: Set[str] = USER_SCOPES,
    collection: str | None = None,
    rules: bool = False,
    token: str | None = None,
) -> tuple[Principal, Access]:
    """Check the request's token (401) and its rate limit (429; the admin is exempt) and, with
    ``user_id``, that it may act for that user with one of ``scopes`` (403) — in one Redis round
    trip that writes nothing and, for the token's own user only, also reads their likes and
    dislikes (``feedback``), whether ``paper`` exists, the ``collection``'s papers and the
    ``rules``. ``token``: the token when it came another way than the header (a feed URL)."""
    state = request.app.state
    limits: Limits = state.limits
    store: Store = state.store
    try:
        token = token or _presented_token(request, credentials)
    except HTTPException:
        limits.check_address(request)  # anonymous: counted per address (429 before the 401)
        raise
    if matches(token, state.admin_token_hash):
        access = await store.admin_access(
            feedback_of=user_id if feedback else None,
            paper=paper,
            user_id=user_id,
            collection=collection,
            rules=rules,
        )
        return Principal(user_id=None, admin=True), access
    access = await store.access(
        hash_token(token),
        scopes=scopes,
        now=time.time(),
        user_id=user_id,
        feedback=feedback,
        paper=paper,
        collection=collection,
        rules=rules,
    )
    if access.user_id is None or access.expired:
        limits.check_address(request)
        if access.expired:
            raise _unauthorized("this token has expired: ask an admin for a new one")
        raise _unauthorized("unknown token: ask an admin for a new one")
    limits.check_user(access.user_id)
    principal = Principal(user_id=access.user_id, scope=access.scope)
    if access.scope not in scopes:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"this token's scope {access.scope!r} does not allow this request (it needs "
            f"{' or '.join(sorted(repr(s) for s in scopes))})",
        )
    if user_id is not None and principal.user_id != user_id:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"this token belongs to user {principal.user_id!r}; it cannot act for {user_id!r}",
        )
    return principal, access


async def limit_by_address(request: Request) -> None:
    """Public routes: count the request against its client address (429 over the limit); no
    token is looked up for them, and the admin is exempt."""
    if not is_admin(request):
        request.app.state.limits.check_address(request)


async def get_principal(request: Request, credentials: Credentials) -> Principal:
    return (await authorize(request, credentials))[0]


PrincipalDep = Annotated[Principal, Depends(get_principal)]


async def require_admin(principal: PrincipalDep) -> Principal:
    if not principal.admin:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this needs the admin token")
    return principal


async def authorized_user(request: Request, user_id: UserIdPath, credentials: Credentials) -> str:
    """The ``user_id`` of the path, once the token may act for that user."""
    await authorize(request, credentials, user_id=user_id)
    return user_id


@dataclass(frozen=True)
class UserFeedback:
    """The user of the path (the token may act for them) with their likes and dislikes."""

    user_id: str
    likes: list[str]
    dislikes: list[str]
    #: The user's own rules as stored (JSON; ``""``: none), :func:`service.collections.parse_rules`.
    rules: str = ""


async def user_feedback(
    request: Request, user_id: UserIdPath, credentials: Credentials
) -> UserFeedback:
    _, access = await authorize(request, credentials, user_id=user_id, feedback=True, rules=True)
    return UserFeedback(user_id, access.likes or [], access.dislikes or [], access.rules)


AdminDep = Annotated[Principal, Depends(require_admin)]
AddressLimited = Depends(limit_by_address)
AuthorizedUser = Annotated[str, Depends(authorized_user)]
UserFeedbackDep = Annotated[UserFeedback, Depends(user_feedback)]
