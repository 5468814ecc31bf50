"""arXiv listing feeds as a catalog: the RSS of a day's new papers and Atom (the arXiv API's
answers), parsed by ``feedparser``, from a saved file or fetched from a URL.

Each item becomes a paper with the arXiv id as its ``paper_id`` (the same id the arXiv metadata
snapshot gives it, so a paper taken in twice is one paper), its ``arxiv_id``, title, abstract
(the RSS's ``Announce Type: ... Abstract:`` preamble dropped), authors, categories, the abs
page as ``url``, the DOI when the feed gives one, and ``published`` (the item's date), so that a
``since`` feed of recommendations shows the day's papers. An item without an arXiv id in its link
or id, or without a title, is an error naming it (a catalog is taken whole or not at all).

:func:`fetch` reads a URL with a timeout and a size limit.
"""

from __future__ import annotations

import re
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import feedparser

from recommender.catalog import Catalog, Paper
from recommender.identifiers import find_arxiv_id, find_doi
from recommender.io import records
from recommender.io.lines import LoaderError, PathLike, clean

__all__ = ["FETCH_MAX_BYTES", "FETCH_TIMEOUT_S", "fetch", "is_url", "parse_feed", "read_feed"]

#: How long :func:`fetch` waits for a server, and the most it reads.
FETCH_TIMEOUT_S = 30.0
FETCH_MAX_BYTES = 50_000_000

_ANNOUNCE = re.compile(r"^\s*arXiv:\S+\s+Announce Type:\s*\S+\s*(?:Abstract:\s*)?", re.I)
_OLD_TITLE_TAIL = re.compile(r"\s*\(arXiv:[^)]*\)\s*$")
_AUTHOR_SPLIT = re.compile(r",\s*(?:and\s+)?|\s+and\s+")
_TAGS = re.compile(r"<[^>]+>")


def is_url(path: PathLike) -> bool:
    """Whether ``path`` names an http(s) URL rather than a file."""
    return str(path).lower().startswith(("http://", "https://"))


def fetch(
    url: str, *, timeout_s: float = FETCH_TIMEOUT_S, max_bytes: int = FETCH_MAX_BYTES
) -> bytes:
    """The body at ``url``; a :class:`LoaderError` naming the URL when the server does not
    answer within ``timeout_s``, answers with an error, or sends more than ``max_bytes``."""
    request = urllib.request.Request(url, headers={"User-Agent": "paperrec"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            length = response.headers.get("Content-Length")
            if length and length.isdigit() and int(length) > max_bytes:
                raise LoaderError(url, None, f"larger than {max_bytes} bytes ({length})")
            data = response.read(max_bytes + 1)
    except urllib.error.HTTPError as e:
        raise LoaderError(url, None, f"the server answered {e.code} {e.reason}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise LoaderError(url, None, f"cannot fetch it ({reason}): check the URL") from None
    if len(data) > max_bytes:
        raise LoaderError(url, None, f"larger than {max_bytes} bytes: save it and import the file")
    return data


def _authors(item: Any) -> tuple[str, ...]:
    names: list[str] = []
    for a in item.get("authors") or []:
        name = a.get("name") if isinstance(a, dict) else None
        if name:
            # arXiv's RSS puts every author into one dc:creator: "A, B and C".
            names += [clean(p) for p in _AUTHOR_SPLIT.split(clean(name)) if clean(p)]
    if not names and item.get("author"):
        names = [clean(p) for p in _AUTHOR_SPLIT.split(clean(item["author"])) if clean(p)]
    return tuple(names)


def _published(item: Any) -> str | None:
    parsed = item.get("published_parsed") or item.get("updated_parsed")
    return time.strftime("%Y-%m-%d", parsed) if parsed else None


def parse_feed(data: bytes, name: str) -> Catalog:
    """The papers of an arXiv RSS or Atom feed's bytes (``name`` for messages)."""
    feed = feedparser.parse(data)
    if not feed.entries:
        exc = feed.get("bozo_exception")
        line = exc.getLineNumber() if hasattr(exc, "getLineNumber") else None
        why = f" ({clean(str(exc))})" if exc else ""
        raise LoaderError(name, line, f"not an RSS or Atom feed with items{why}")
    papers: list[Paper] = []
    seen: dict[str, int] = {}
    for n, item in enumerate(feed.entries, start=1):
        title = _OLD_TITLE_TAIL.sub("", clean(item.get("title", "")))
        label = f"item {n}" + (f" ({title[:50]!r})" if title else "")
        arxiv = find_arxiv_id(item.get("link"), item.get("id"), item.get("arxiv_doi"))
        if arxiv is None:
            raise LoaderError(
                name, None, f"{label} has no arXiv id in its link or id: not an arXiv feed?"
            )
        if not title:
            raise LoaderError(name, None, f"item {n} ({arxiv}) has no title")
        if arxiv in seen:
            raise LoaderError(name, None, f"{label}: {arxiv} is also item {seen[arxiv]}")
        seen[arxiv] = n
        abstract = clean(_TAGS.sub(" ", item.get("summary", "")))
        papers.append(
            records.make_paper(
                name,
                None,
                {
                    "paper_id": arxiv,
                    "title": title,
                    "abstract": _ANNOUNCE.sub("", abstract),
                    "authors": _authors(item),
                    "categories": tuple(t["term"] for t in item.get("tags") or [] if t.get("term")),
                    "url": f"https://arxiv.org/abs/{arxiv}",
                    "published": _published(item),
                    "arxiv_id": arxiv,
                    "doi": find_doi(item.get("arxiv_doi")),
                },
            )
        )
    return records.finish(name, papers)


def read_feed(path: PathLike) -> Catalog:
    """The papers of an arXiv feed saved at ``path``, or fetched when ``path`` is a URL."""
    if is_url(path):
        return parse_feed(fetch(str(path)), str(path))
    p = Path(path)
    if not p.is_file():
        raise LoaderError(p, None, "no such file: check the path")
    return parse_feed(p.read_bytes(), str(p))
