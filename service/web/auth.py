"""Who is signed in to the web page, and the checks on every form that changes something.

A page request carries the session cookie (HttpOnly, SameSite=Lax, Secure over https); the API
never accepts it (API routes read only the Authorization header), so a cookie can do nothing
but what the page's own routes do. Every state-changing form is a POST that must pass two
checks against cross-site requests: its ``Origin`` (or, without one, ``Referer``) is this
site, and it carries the session's CSRF token (field ``csrf`` or header ``X-CSRF-Token``).
The sign-in forms, sent before there is a session, pass the origin check.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request

from service.store import Store
from service.web.sessions import Session, read_session, same_secret

__all__ = ["COOKIE", "SessionDep", "cookie_settings", "current_session", "form_allowed"]

COOKIE = "paperrec_session"


async def current_session(request: Request) -> Session | None:
    """The request's live session, or None; counted against the user's rate limit (or the
    client address's without one), as API requests are."""
    store: Store = request.app.state.store
    session = await read_session(store, request.cookies.get(COOKIE))
    limits = request.app.state.limits
    if session is None:
        limits.check_address(request)
    else:
        limits.check_user(session.user_id)
    return session


SessionDep = Annotated[Session | None, Depends(current_session)]


def same_origin(request: Request) -> bool:
    """Whether the request comes from a page of this site: its ``Origin`` header, else its
    ``Referer``, names this scheme, host and port. A request with neither (not a browser's
    form) passes; the CSRF token is what stops it then."""
    source = request.headers.get("origin") or request.headers.get("referer")
    if source is None:
        return True
    parts = urlsplit(source)
    return (parts.scheme, parts.netloc) == (request.url.scheme, request.url.netloc)


def form_allowed(request: Request, session: Session | None, token: str | None) -> bool:
    """Whether a state-changing form may act: from this site and, with a session, carrying
    its CSRF token."""
    if not same_origin(request):
        return False
    if session is None:
        return True
    presented = token or request.headers.get("x-csrf-token")
    return same_secret(presented, session.csrf)


def cookie_settings(request: Request) -> dict[str, object]:
    """The session cookie's attributes: unreadable from scripts, not sent by other sites'
    forms, only over https when the page is served over https."""
    return {
        "httponly": True,
        "samesite": "lax",
        "secure": request.url.scheme == "https",
        "path": "/",
    }
