"""The page templates (Jinja2 through FastAPI's ``Jinja2Templates``) and what every page is
given: who is signed in and the session's CSRF token for its forms."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from service.web.sessions import Session

__all__ = ["message", "page", "refused", "safe_next", "to_signin"]

HERE = Path(__file__).resolve().parent
PAGE_CSP = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
templates = Jinja2Templates(directory=HERE / "templates")
# Paper ids hold '/' and ':': links quote them (keeping '/', which the paper route takes).
templates.env.filters["pid"] = lambda pid: quote(str(pid), safe="/:")


def page(
    request: Request,
    name: str,
    session: Session | None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """Render template ``name`` with ``context``, the session and its CSRF token."""
    context.setdefault("title", "paperrec")
    response = templates.TemplateResponse(
        request,
        name,
        {
            "session": session,
            "user": session.user_id if session else None,
            "csrf": session.csrf if session else "",
            "here": _here(request),
            **context,
        },
        status_code=status_code,
    )
    # Pages show a user's data: no shared cache keeps them, and no other site frames them.
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    # The page's own files only: no inline script, nothing from another site.
    response.headers["Content-Security-Policy"] = PAGE_CSP
    return response


def _here(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def safe_next(target: str | None, default: str = "/") -> str:
    """A place on this site to go back to after a form (never another site: ``//host`` or a
    scheme are refused)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


def to_signin(request: Request) -> RedirectResponse:
    """Off to the sign-in page, coming back here afterwards."""
    return RedirectResponse(f"/signin?next={quote(_here(request), safe='')}", status_code=303)


def message(
    request: Request,
    session: Session | None,
    status_code: int,
    heading: str,
    text: str,
    **context: Any,
) -> HTMLResponse:
    """A page that only says something (an error, mostly)."""
    return page(
        request,
        "message.html",
        session,
        status_code=status_code,
        title=heading,
        heading=heading,
        message=text,
        **context,
    )


def refused(request: Request) -> HTMLResponse:
    """The answer to a form that failed the cross-site checks (403)."""
    return message(
        request,
        None,
        403,
        "This form was refused",
        "It came from another site, or from a page older than your sign-in. Reload the page "
        "and send it again.",
    )
