"""What a reader is sent: the Atom feed of a list, and the words that say why a paper is in it.

A feed is the top of a user's list (or a collection's) that this reader has not been served yet:
papers published since the reader's previous fetch first, then the others in the list's order;
each is served once (:func:`service.collections.mark_served`). The digest
(:mod:`service.digest`) says why the same way.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from urllib.parse import quote

from feedgen.feed import FeedGenerator

from recommender.catalog import Paper
from recommender.serving import Engine, Suggestion

__all__ = ["FeedEntry", "new_first", "paper_link", "render_atom", "why"]


def paper_link(paper: Paper, base_url: str) -> str:
    """Where a reader opens the paper: its own URL, else its arXiv page, else its DOI, else the
    service's record of it."""
    if paper.url:
        return paper.url
    if paper.arxiv_id:
        return f"https://arxiv.org/abs/{paper.arxiv_id}"
    if paper.doi:
        return f"https://doi.org/{quote(paper.doi, safe='/')}"
    return f"{base_url.rstrip('/')}/papers/{quote(paper.paper_id, safe='/:')}"


def why(s: Suggestion, engine: Engine) -> str:
    """Why ``s`` is in the list, in words: the rule that put it there, the liked papers that
    explain it, or (a reader with no likes yet) that readers like it."""
    if s.reason:
        return s.reason[0].upper() + s.reason[1:]
    titles = [p.title for b in s.because if (p := engine.paper(b)) is not None]
    if titles:
        return "Because you liked: " + "; ".join(titles)
    return "Popular with readers of this catalog"


def new_first(
    suggestions: Sequence[Suggestion], engine: Engine, since: float | None, k: int
) -> list[tuple[Suggestion, bool]]:
    """The first ``k`` of ``suggestions``, those published on or after the day of ``since``
    (Unix time; None: no previous fetch, nothing comes first) ahead of the others, each kept in
    the list's order; with whether it is new."""
    if since is None:
        return [(s, False) for s in suggestions[:k]]
    day = datetime.fromtimestamp(since, UTC).date()
    new: list[Suggestion] = []
    old: list[Suggestion] = []
    for s in suggestions:
        p = engine.paper(s.paper_id)
        published = p.published_date if p is not None else None
        (new if published is not None and published >= day else old).append(s)
    return [(s, True) for s in new[:k]] + [(s, False) for s in old[: max(0, k - len(new))]]


@dataclass(frozen=True)
class FeedEntry:
    paper: Paper
    why: str
    link: str
    new: bool = False


# What XML 1.0 cannot hold (control characters, lone surrogates, U+FFFE/U+FFFF): a paper's text
# may have any of them, and a feed must still be a document.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _x(text: str) -> str:
    return _NOT_XML.sub("", text)


def _day_time(day: date) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=UTC)


def render_atom(
    *,
    feed_id: str,
    title: str,
    subtitle: str,
    home_url: str,
    entries: Sequence[FeedEntry],
    now: datetime,
) -> bytes:
    """An Atom document of ``entries`` (in order). Each entry: the paper's title, authors,
    date (its ``published`` day; the fetch time when unknown), abstract (the summary), link,
    categories, and why it is there (the content, before the abstract). ``home_url`` must not
    hold a token: it is shown to whoever reads the feed."""
    fg = FeedGenerator()
    fg.id(feed_id)
    fg.title(_x(title))
    fg.subtitle(_x(subtitle))
    fg.author({"name": "paperrec"})
    fg.link(href=home_url, rel="alternate")
    fg.updated(now)
    fg.generator("paperrec")
    for e in entries:
        p = e.paper
        fe = fg.add_entry(order="append")
        fe.id(f"urn:paperrec:paper:{quote(p.paper_id, safe='')}")
        fe.title(_x(p.title) or p.paper_id)
        for a in p.authors:
            if _x(a).strip():
                fe.author({"name": _x(a)})
        day = p.published_date
        fe.published(_day_time(day) if day else now)
        fe.updated(now)
        fe.link(href=_x(e.link), rel="alternate")
        for c in p.categories:
            if _x(c).strip():
                fe.category({"term": _x(c)})
        fe.summary(_x(p.abstract or p.title))
        lead = f"New since your last visit. {e.why}" if e.new else e.why
        fe.content(_x(f"{lead}\n\n{p.abstract}".strip()), type="text")
    return bytes(fg.atom_str(pretty=True))
