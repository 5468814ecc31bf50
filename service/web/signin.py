"""Signing in to the web page and out of it, and the admin's routes for sign-in links.

* ``GET /login?link=SECRET`` (a link from ``paperrec login-link USER``) shows whom it signs in and
  a button; the button's ``POST /login`` uses the link up and sets the session cookie. (Opening
  the link alone uses nothing, so a mail scanner that fetches links cannot spend it.)
* ``GET /signin`` / ``POST /signin``: sign in by pasting a user API token (scope ``user``).
* ``POST /signout`` ends this session; ``POST /settings/signout-everywhere`` all of the user's.
* ``POST /users/{user_id}/login-link`` (admin): a sign-in link as JSON;
  ``DELETE /users/{user_id}/sessions`` (admin): end all of a user's sessions.
"""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Form, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field

from service.deps import AdminDep, SettingsDep, StoreDep, UserIdPath
from service.schemas import ErrorPublic
from service.security import USER_SCOPES, hash_token, matches
from service.store import Store
from service.web.auth import COOKIE, SessionDep, cookie_settings, form_allowed
from service.web.render import message, page, refused, safe_next
from service.web.sessions import (
    consume_login_link,
    create_session,
    end_session,
    end_sessions_of,
    make_login_link,
    peek_login_link,
)

router = APIRouter(include_in_schema=False)
api = APIRouter(
    prefix="/users",
    tags=["web page"],
    responses={
        401: {"model": ErrorPublic, "description": "Missing or unknown token."},
        403: {"model": ErrorPublic, "description": "Not the admin token."},
    },
)

DAY_S = 86_400.0


async def _signed_in(request: Request, store: Store, user_id: str, next_: str) -> Response:
    settings = request.app.state.settings
    ttl = settings.session_days * DAY_S
    cookie, _ = await create_session(store, user_id, ttl_s=ttl)
    response = RedirectResponse(safe_next(next_), status_code=status.HTTP_303_SEE_OTHER)
    response.set_cookie(COOKIE, cookie, max_age=int(ttl), **cookie_settings(request))  # type: ignore[arg-type]
    return response


@router.get("/login")
async def login_link_page(request: Request, store: StoreDep, link: str = "") -> Response:
    secret = link
    user_id = await peek_login_link(store, secret)
    if user_id is None:
        return _link_unusable(request)
    return page(request, "login.html", None, title="Sign in", link_user=user_id, secret=secret)


def _link_unusable(request: Request) -> Response:
    return message(
        request,
        None,
        status.HTTP_410_GONE,
        "This sign-in link cannot be used",
        "It was used already, or it has expired, or it was never made. Ask for a new "
        "one (an admin runs: paperrec login-link USER), or sign in with an API token.",
        show_signin=True,
    )


@router.post("/login")
async def login_with_link(
    request: Request, store: StoreDep, secret: Annotated[str, Form(max_length=128)]
) -> Response:
    if not form_allowed(request, None, None):
        return refused(request)
    user_id = await consume_login_link(store, secret)
    if user_id is None:
        return _link_unusable(request)
    return await _signed_in(request, store, user_id, "/")


@router.get("/signin")
async def signin_page(request: Request, session: SessionDep, next: str = "/") -> Response:
    return page(request, "signin.html", session, title="Sign in", next=safe_next(next))


@router.post("/signin")
async def signin_with_token(
    request: Request,
    store: StoreDep,
    token: Annotated[str, Form(max_length=512)],
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    if not form_allowed(request, None, None):
        return refused(request)
    token = token.strip()
    problem = None
    if matches(token, request.app.state.admin_token_hash):
        problem = (
            "That is the admin token, which cannot sign in to the page. Sign in as a user: "
            "paste their token, or use a link from: paperrec login-link USER"
        )
    else:
        access = await store.access(hash_token(token), scopes=USER_SCOPES, now=time.time())
        if access.user_id is None:
            problem = "Unknown token. Check that it was pasted whole, or ask an admin for one."
        elif access.expired:
            problem = "This token has expired. Ask an admin for a new one."
        elif access.scope not in USER_SCOPES:
            problem = (
                f"This token's scope is {access.scope!r}, which only reads a feed; signing in "
                "needs a token of scope 'user'."
            )
        else:
            return await _signed_in(request, store, access.user_id, next)
    return page(
        request,
        "signin.html",
        None,
        status_code=status.HTTP_401_UNAUTHORIZED,
        title="Sign in",
        next=safe_next(next),
        problem=problem,
    )


@router.post("/signout")
async def signout(
    request: Request,
    session: SessionDep,
    store: StoreDep,
    csrf: Annotated[str | None, Form(max_length=100)] = None,
) -> Response:
    if session is not None:
        if not form_allowed(request, session, csrf):
            return refused(request)
        await end_session(store, session)
    response = RedirectResponse("/signin?signed_out=1", status_code=status.HTTP_303_SEE_OTHER)
    response.delete_cookie(COOKIE, **cookie_settings(request))  # type: ignore[arg-type]
    return response


@router.post("/settings/signout-everywhere")
async def signout_everywhere(
    request: Request,
    session: SessionDep,
    store: StoreDep,
    csrf: Annotated[str | None, Form(max_length=100)] = None,
) -> Response:
    if session is None:
        return RedirectResponse("/signin", status_code=status.HTTP_303_SEE_OTHER)
    if not form_allowed(request, session, csrf):
        return refused(request)
    await end_sessions_of(store, session.user_id)
    response = RedirectResponse("/signin?signed_out=1", status_code=status.HTTP_303_SEE_OTHER)
    response.delete_cookie(COOKIE, **cookie_settings(request))  # type: ignore[arg-type]
    return response


# ------------------------------------------------------------------------- the admin's API
class LoginLinkPublic(BaseModel):
    user_id: str
    url: str = Field(description="Open it in a browser to sign in; it works once.")
    expires_at: float = Field(description="Unix seconds after which the link no longer works.")


class SessionsEnded(BaseModel):
    user_id: str
    ended: int = Field(description="How many live sessions were ended.")


@api.post("/{user_id}/login-link", response_model=LoginLinkPublic, status_code=201)
async def create_login_link(
    request: Request, user_id: UserIdPath, _: AdminDep, store: StoreDep, settings: SettingsDep
) -> LoginLinkPublic:
    """A one-time sign-in link to the web page for the user (admin), valid
    ``PAPERREC_LOGIN_LINK_MINUTES``; send it to them. Opening it signs them in."""
    link = await run_in_threadpool(
        make_login_link, store, user_id, ttl_s=settings.login_link_minutes * 60
    )
    return LoginLinkPublic(
        user_id=user_id, url=link.url(str(request.base_url)), expires_at=link.expires_at
    )


@api.delete("/{user_id}/sessions", response_model=SessionsEnded)
async def end_user_sessions(user_id: UserIdPath, _: AdminDep, store: StoreDep) -> SessionsEnded:
    """Sign the user out of the web page everywhere (admin): every session ends at once."""
    return SessionsEnded(user_id=user_id, ended=await end_sessions_of(store, user_id))
