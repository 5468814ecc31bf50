"""The web page for researchers: sign-in, suggestions, search, a paper, the user's library and
settings, server-rendered (Jinja2) on the same store and engine as the API; and ``/docs`` and
``/redoc`` served without a CDN. :func:`install` adds all of it to an app."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from service.web import pages, signin
from service.web.docs import install_docs
from service.web.render import HERE

__all__ = ["install"]


def install(app: FastAPI) -> None:
    """Add the pages, their static files, the admin's sign-in link routes and the offline API
    documentation to ``app`` (made with ``docs_url=None, redoc_url=None``)."""
    install_docs(app)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(signin.api)
    app.include_router(signin.router)
    app.include_router(pages.router)
