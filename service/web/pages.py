"""The pages: suggestions (``/``), search, a paper, the user's library with its import, and
settings; and ``POST /feedback``, the like and dislike buttons of every page.

The pages read and write through the same store and engine as the API routes (no HTTP call to
the API). Each button is a plain form (it works without JavaScript: the answer sends the browser
back to the page); ``static/app.js`` sends it in the background instead and, on the suggestions
page, puts the re-ranked list in place from the answer.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.datastructures import UploadFile

from recommender.catalog import Paper
from recommender.io.library import parse_library
from recommender.io.lines import LoaderError
from recommender.serving import Engine
from service import keys
from service.library import import_library
from service.model import ModelManager
from service.store import Kind, Store
from service.web.auth import SessionDep, form_allowed
from service.web.render import message, page, refused, safe_next, templates, to_signin
from service.web.sessions import Session, visit
from service.web.views import Card, card

router = APIRouter(include_in_schema=False)

#: Suggestions a page shows, and the most it may be asked for.
K = 20
MAX_K = 100
Action = Literal["like", "dislike", "unlike", "undislike"]
_FORMATS = ("auto", "bibtex", "ris", "csl-json", "zotero-csv", "ids")


def _engine(request: Request) -> Engine | None:
    models: ModelManager = request.app.state.models
    return models.engine


def _store(request: Request) -> Store:
    return request.app.state.store


async def _feedback(store: Store, user_id: str) -> tuple[list[str], list[str]]:
    return await store.feedback("likes", user_id), await store.feedback("dislikes", user_id)


def _no_model(request: Request, session: Session | None) -> Response:
    return message(
        request,
        session,
        status.HTTP_503_SERVICE_UNAVAILABLE,
        "No model is trained yet",
        "Add papers (paperrec import, or POST /papers), then retrain "
        "(paperrec train, or POST /admin/retrain).",
    )


async def _suggestion_cards(
    store: Store,
    engine: Engine,
    user_id: str,
    *,
    k: int,
    new_since: date | None,
    only_new: bool,
) -> list[Card]:
    likes, dislikes = await _feedback(store, user_id)
    since = new_since if only_new else None
    suggestions = engine.recommend(likes, dislikes, k, since=since)
    explained = {b for s in suggestions for b in s.because}
    known = {pid: p for pid in explained if (p := engine.paper(pid)) is not None}
    cards = []
    for s in suggestions:
        paper = engine.paper(s.paper_id)
        if paper is not None:
            cards.append(card(paper, because=s.because, papers=known, new_since=new_since))
    return cards


def _visit_day(previous: float | None) -> date | None:
    return None if previous is None else datetime.fromtimestamp(previous, UTC).date()


@router.get("/")
async def suggestions(
    request: Request,
    session: SessionDep,
    k: Annotated[int, Query(ge=1, le=MAX_K)] = K,
    new: bool = False,
) -> Response:
    if session is None:
        return to_signin(request)
    engine = _engine(request)
    if engine is None:
        return _no_model(request, session)
    store = _store(request)
    previous = await visit(store, session.user_id, time.time())
    new_since = _visit_day(previous)
    cards = await _suggestion_cards(
        store, engine, session.user_id, k=k, new_since=new_since, only_new=new
    )
    return page(
        request,
        "suggestions.html",
        session,
        title="Suggestions",
        cards=cards,
        k=k,
        only_new=new and new_since is not None,
        new_since=new_since,
        n_new=sum(c.new for c in cards),
    )


def _state(likes: set[str], dislikes: set[str], paper_id: str) -> str:
    return "like" if paper_id in likes else "dislike" if paper_id in dislikes else ""


@router.post("/feedback")
async def feedback(
    request: Request,
    session: SessionDep,
    paper_id: Annotated[str, Form(min_length=1, max_length=300)],
    action: Annotated[Action, Form()],
    csrf: Annotated[str | None, Form(max_length=100)] = None,
    next: Annotated[str, Form(max_length=2000)] = "/",
    view: Annotated[str, Form(max_length=40)] = "",
    k: Annotated[int, Form(ge=1, le=MAX_K)] = K,
    new: Annotated[bool, Form()] = False,
) -> Response:
    """A like, dislike or undo from a page's button. Without JavaScript: back to ``next``. From
    the page's script (header ``X-Requested-With: fetch``): JSON with the paper's new state and,
    for ``view=suggestions``, the re-ranked list."""
    scripted = request.headers.get("x-requested-with") == "fetch"
    if session is None:
        if scripted:
            return JSONResponse({"detail": "signed out: sign in again"}, status_code=401)
        return to_signin(request)
    if not form_allowed(request, session, csrf):
        if scripted:
            return JSONResponse(
                {"detail": "refused: reload the page and try again"}, status_code=403
            )
        return refused(request)
    store = _store(request)
    metrics = request.app.state.metrics
    kind: Kind = "likes" if action in ("like", "unlike") else "dislikes"
    if action in ("like", "dislike"):
        if not await store.aredis.hexists(store.layout.PAPERS, paper_id):
            if scripted:
                return JSONResponse({"detail": f"unknown paper {paper_id!r}"}, status_code=404)
            return message(
                request, session, 404, "Unknown paper", f"There is no paper {paper_id!r}."
            )
        if await store.add_feedback(kind, session.user_id, paper_id):
            metrics.feedback.labels(action).inc()
    elif await store.remove_feedback(kind, session.user_id, paper_id):
        metrics.feedback.labels(action).inc()
    if not scripted:
        return RedirectResponse(safe_next(next), status_code=status.HTTP_303_SEE_OTHER)
    likes, dislikes = await _feedback(store, session.user_id)
    body: dict[str, Any] = {
        "paper_id": paper_id,
        "state": _state(set(likes), set(dislikes), paper_id),
    }
    engine = _engine(request)
    if view == "suggestions" and engine is not None:
        new_since = _visit_day(await _previous(store, session))
        cards = await _suggestion_cards(
            store,
            engine,
            session.user_id,
            k=k,
            new_since=new_since,
            only_new=new and new_since is not None,
        )
        body["html"] = templates.get_template("_cards.html").render(
            cards=cards,
            csrf=session.csrf,
            here=safe_next(next),
            view="suggestions",
            k=k,
            only_new=new and new_since is not None,
            user=session.user_id,
        )
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


async def _previous(store: Store, session: Session) -> float | None:
    raw = await store.aredis.hget(keys.visits(session.user_id), "previous")
    return None if raw is None else float(raw)


@router.get("/search")
async def search(
    request: Request,
    session: SessionDep,
    q: Annotated[str, Query(max_length=1000)] = "",
) -> Response:
    engine = _engine(request)
    if engine is None:
        return _no_model(request, session)
    cards: list[Card] = []
    if q.strip():
        likes, dislikes = await _feedback(_store(request), session.user_id) if session else ([], [])
        found = engine.search(q, K)
        cards = [
            card(p, likes=frozenset(likes), dislikes=frozenset(dislikes))
            for s in found
            if (p := engine.paper(s.paper_id)) is not None
        ]
    return page(
        request, "search.html", session, title=f"Search: {q}" if q else "Search", q=q, cards=cards
    )


def _links(paper: Paper) -> list[tuple[str, str]]:
    links = []
    if paper.url:
        links.append(("Paper", paper.url))
    if paper.arxiv_id:
        links.append((f"arXiv:{paper.arxiv_id}", f"https://arxiv.org/abs/{paper.arxiv_id}"))
    if paper.doi:
        links.append((f"doi:{paper.doi}", f"https://doi.org/{paper.doi}"))
    return links


@router.get("/paper/{paper_id:path}")
async def paper_page(request: Request, session: SessionDep, paper_id: str) -> Response:
    engine = _engine(request)
    store = _store(request)
    paper = engine.paper(paper_id) if engine is not None else None
    if paper is None:
        paper = await run_in_threadpool(store.get_paper, paper_id)
    if paper is None:
        return message(
            request,
            session,
            404,
            "Unknown paper",
            f"There is no paper {paper_id!r} in the catalog. Try the search.",
        )
    likes, dislikes = await _feedback(store, session.user_id) if session else ([], [])
    fl, fd = frozenset(likes), frozenset(dislikes)
    similar: list[Card] = []
    if engine is not None and paper_id in engine:
        similar = [
            card(p, likes=fl, dislikes=fd)
            for s in engine.similar(paper_id, 6)
            if (p := engine.paper(s.paper_id)) is not None
        ]
    this = card(paper, likes=fl, dislikes=fd)
    return page(
        request,
        "paper.html",
        session,
        title=paper.title,
        paper=paper,
        card=this,
        links=_links(paper),
        similar=similar,
    )


async def _library_cards(store: Store, user_id: str) -> tuple[list[Card], list[Card]]:
    likes, dislikes = await _feedback(store, user_id)
    papers = await run_in_threadpool(store.get_papers, likes + dislikes)
    by_id = {p.paper_id: p for p in papers}
    fl, fd = frozenset(likes), frozenset(dislikes)

    def cards(ids: list[str]) -> list[Card]:
        return [card(by_id.get(pid) or Paper(pid, pid), likes=fl, dislikes=fd) for pid in ids]

    return cards(likes), cards(dislikes)


@router.get("/library")
async def library(request: Request, session: SessionDep) -> Response:
    if session is None:
        return to_signin(request)
    liked, disliked = await _library_cards(_store(request), session.user_id)
    return page(
        request,
        "library.html",
        session,
        title="My library",
        liked=liked,
        disliked=disliked,
        formats=_FORMATS,
    )


@router.post("/library/import")
async def library_import(request: Request, session: SessionDep) -> Response:
    """A library file from the page's form: read and imported by the same code as ``POST
    /users/{user_id}/library``, its report shown with the new suggestions."""
    if session is None:
        return to_signin(request)
    form = await request.form(max_files=1, max_fields=10)
    token = form.get("csrf")
    if not form_allowed(request, session, token if isinstance(token, str) else None):
        return refused(request)
    upload = form.get("file")
    fmt = str(form.get("format") or "auto")
    as_ = str(form.get("as") or "like")
    dry_run = form.get("dry_run") is not None
    problem = None
    if not isinstance(upload, UploadFile) or not upload.filename:
        problem = "Choose a library file to import."
    elif fmt not in _FORMATS:
        problem = f"Unknown format {fmt!r}."
    elif as_ not in ("like", "dislike"):
        problem = f"Import as 'like' or 'dislike', not {as_!r}."
    store = _store(request)
    report = None
    if problem is None:
        assert isinstance(upload, UploadFile)
        data = await upload.read()
        name = upload.filename or "upload"
        if not data.strip():
            problem = f"{name}: the file is empty."
        else:
            try:
                parsed = await run_in_threadpool(parse_library, data, name, fmt)  # type: ignore[arg-type]
            except LoaderError as e:
                problem = f"{e}; nothing was imported."
            else:
                models: ModelManager = request.app.state.models
                report = await run_in_threadpool(
                    import_library,
                    store,
                    parsed,
                    session.user_id,
                    kind="likes" if as_ == "like" else "dislikes",
                    dry_run=dry_run,
                    source="web-library",
                    add_papers=models.add_papers,
                )
    if report is None:
        liked, disliked = await _library_cards(store, session.user_id)
        return page(
            request,
            "library.html",
            session,
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
            title="My library",
            liked=liked,
            disliked=disliked,
            formats=_FORMATS,
            problem=problem,
        )
    engine = _engine(request)
    cards: list[Card] = []
    if engine is not None:
        cards = await _suggestion_cards(
            store, engine, session.user_id, k=5, new_since=None, only_new=False
        )
    titles = {}
    ids = [m.paper_id for m in report.match.matched] + [p.paper_id for _, p in report.match.added]
    for p in await run_in_threadpool(store.get_papers, ids):
        titles[p.paper_id] = p.title
    return page(
        request,
        "import_report.html",
        session,
        title="Library imported",
        report=report,
        match=report.match,
        by=report.match.matched_by(),
        titles=titles,
        cards=cards,
    )


@router.get("/settings")
async def settings_page(request: Request, session: SessionDep) -> Response:
    if session is None:
        return to_signin(request)
    until = datetime.fromtimestamp(session.expires_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
    return page(request, "settings.html", session, title="Settings", until=until)
