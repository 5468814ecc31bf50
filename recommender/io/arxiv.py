"""The arXiv metadata snapshot: JSON lines as Kaggle's arXiv dataset publishes them.

Fields other than the ones used are ignored here (unlike this project's own JSON lines), since
the snapshot has many. ``published`` is the date of version 1.
"""

from __future__ import annotations

import re
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

from recommender.catalog import Catalog, Paper
from recommender.identifiers import find_arxiv_id, find_doi
from recommender.io import records
from recommender.io.lines import LoaderError, PathLike, clean, read_lines

__all__ = ["ARXIV_ABS", "read_arxiv_snapshot"]

#: A paper's abstract page is this followed by its arXiv id.
ARXIV_ABS = "https://arxiv.org/abs/"
_AUTHOR_SPLIT = re.compile(r",\s*(?:and\s+)?|\s+and\s+")
_YEAR = re.compile(r"\b(\d{4})\b")


def _authors(path: Path, lineno: int, obj: dict[str, Any]) -> tuple[str, ...]:
    parsed = obj.get("authors_parsed")
    if isinstance(parsed, list) and parsed:
        # [[last, first, suffix], ...]: more reliable than splitting the display string.
        names = []
        for entry in parsed:
            if not isinstance(entry, list) or not all(isinstance(p, str) for p in entry):
                raise LoaderError(path, lineno, "field 'authors_parsed' must be a list of lists")
            last = entry[0] if entry else ""
            first = entry[1] if len(entry) > 1 else ""
            suffix = entry[2] if len(entry) > 2 else ""
            name = clean(" ".join(p for p in (first, last, suffix) if p.strip()))
            if name:
                names.append(name)
        return tuple(names)
    authors = obj.get("authors")
    if authors is None:
        return ()
    if not isinstance(authors, str):
        raise LoaderError(path, lineno, "field 'authors' must be a string")
    return tuple(a for a in (clean(p) for p in _AUTHOR_SPLIT.split(clean(authors))) if a)


def _published(obj: dict[str, Any]) -> str | None:
    """The date of version 1 (``versions[0]["created"]``, RFC 2822 such as ``"Mon, 2 Apr 2007
    19:18:42 GMT"``) as ``YYYY-MM-DD``; ``None`` when there is none or it cannot be parsed."""
    versions = obj.get("versions")
    if not (isinstance(versions, list) and versions and isinstance(versions[0], dict)):
        return None
    created = versions[0].get("created")
    if not isinstance(created, str):
        return None
    try:
        return parsedate_to_datetime(created).date().isoformat()
    except (ValueError, TypeError, OverflowError):
        return None


def _year(path: Path, lineno: int, obj: dict[str, Any], published: str | None) -> int | None:
    # The date of version 1 says when the paper appeared; update_date only when it last changed,
    # so it is the fallback.
    if published is not None:
        return int(published[:4])
    versions = obj.get("versions")
    if isinstance(versions, list) and versions and isinstance(versions[0], dict):
        m = _YEAR.search(str(versions[0].get("created", "")))
        if m:
            return int(m.group(1))
    date = obj.get("update_date")
    if date is None:
        return None
    m = re.fullmatch(r"(\d{4})-\d{2}-\d{2}", str(date).strip())
    if not m:
        raise LoaderError(path, lineno, f"field 'update_date' must be YYYY-MM-DD, got {date!r}")
    return int(m.group(1))


def read_arxiv_snapshot(path: PathLike, limit: int | None = None) -> Catalog:
    """A catalog from the arXiv metadata snapshot (JSON lines with ``id``, ``title``,
    ``abstract``, ``authors`` as one string ``"A, B and C"`` or ``authors_parsed``,
    ``categories`` space-separated, ``update_date`` ``YYYY-MM-DD``, ``versions``).

    Whitespace in titles and abstracts is collapsed; ``published`` is the date of the first
    version (``None`` when there is no parseable one: ``update_date`` says when the paper last
    changed, not when it appeared); ``year`` is the year of the first version (``update_date``
    when there are no versions); ``url`` is the paper's abs page. Reads at most ``limit`` papers.
    """
    path = Path(path)
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be positive, got {limit}")
    papers: list[Paper] = []
    seen = records.SeenIds(path)
    for lineno, text in read_lines(path):
        if limit is not None and len(papers) >= limit:
            break
        if not text.strip():
            continue
        obj = records.json_object(path, lineno, text)
        for name in ("id", "title"):
            if obj.get(name) is None:
                raise LoaderError(path, lineno, f"missing required field {name!r}")
        paper_id = records.paper_id(path, lineno, obj["id"])
        seen.check(paper_id, lineno)
        title = clean(str(obj["title"]))
        if not title:
            raise LoaderError(path, lineno, "field 'title' is empty")
        categories = obj.get("categories") or ""
        if not isinstance(categories, str):
            raise LoaderError(path, lineno, "field 'categories' must be a space-separated string")
        published = _published(obj)
        papers.append(
            records.make_paper(
                path,
                lineno,
                {
                    "paper_id": paper_id,
                    "title": title,
                    "abstract": clean(
                        records.opt_str(path, lineno, "abstract", obj.get("abstract")) or ""
                    ),
                    "authors": _authors(path, lineno, obj),
                    "year": _year(path, lineno, obj, published),
                    "categories": tuple(categories.split()),
                    "url": ARXIV_ABS + paper_id,
                    "published": published,
                    "arxiv_id": find_arxiv_id(paper_id),
                    "doi": find_doi(*str(obj.get("doi") or "").split()),
                },
            )
        )
    return records.finish(path, papers)
