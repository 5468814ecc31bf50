"""CSL-JSON library files: plain CSL-JSON (Zotero's, Mendeley's, citeproc's) and Zotero's
"Better CSL JSON" (Better BibTeX), parsed by the standard library's ``json``.

The file is a JSON array of items (an object with an ``items`` array is taken too). Each item's
``title``, ``abstract``, ``author`` (``family``/``given`` or ``literal``), ``issued`` (``date-parts``,
a ``raw`` or ``literal`` date, or Better CSL JSON's date string), ``DOI``, ``URL`` and the arXiv id
(``number`` or ``archive_location`` of an arXiv preprint, an arXiv URL or DOI, ``note``) are read.
JSON has no line numbers worth showing per item, so an item is named by its ``citation-key`` or
``id`` (or its place in the array) when it is skipped.
"""

from __future__ import annotations

import json
import re
from typing import Any

from recommender.identifiers import find_arxiv_id, find_doi
from recommender.io.entries import LibraryEntry, LibraryFile, Skipped, parse_year
from recommender.io.lines import LoaderError, clean

__all__ = ["parse_csl_json"]

_ARXIV_MENTION = re.compile(r"arxiv:\s*(\S+)", re.IGNORECASE)


def _str(item: dict[str, Any], *names: str) -> str:
    for name in names:
        value = item.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if isinstance(value, str) and value.strip():
            return clean(value)
    return ""


def _authors(item: dict[str, Any]) -> tuple[str, ...]:
    people = item.get("author")
    if not isinstance(people, list):
        return ()
    out = []
    for p in people:
        if isinstance(p, dict):
            name = _str(p, "literal") or clean(f"{_str(p, 'given')} {_str(p, 'family')}")
            if name:
                out.append(name)
        elif isinstance(p, str) and p.strip():
            out.append(clean(p))
    return tuple(out)


def _year(item: dict[str, Any]) -> int | None:
    issued = item.get("issued")
    if isinstance(issued, dict):
        parts = issued.get("date-parts")
        if isinstance(parts, list) and parts and isinstance(parts[0], list) and parts[0]:
            return parse_year(parts[0][0])
        return parse_year(issued.get("raw") or issued.get("literal"))
    return parse_year(issued or item.get("year"))


def _entry(item: dict[str, Any], key: str | None) -> LibraryEntry:
    doi_field = _str(item, "DOI", "doi")
    url = _str(item, "URL", "url") or None
    mention = _ARXIV_MENTION.search(_str(item, "note"))
    return LibraryEntry(
        key=key,
        title=_str(item, "title"),
        abstract=_str(item, "abstract"),
        authors=_authors(item),
        year=_year(item),
        arxiv_id=find_arxiv_id(
            _str(item, "arxiv", "arXiv"),
            _str(item, "number", "archive_location"),
            doi_field,
            url,
            mention.group(1) if mention else None,
        ),
        doi=find_doi(doi_field, url),
        url=url,
    )


def parse_csl_json(text: str, name: str) -> LibraryFile:
    """The entries of a CSL-JSON file's ``text`` (``name`` for messages)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise LoaderError(
            name, e.lineno, f"invalid JSON ({e.msg} at column {e.colno}): not a CSL-JSON file"
        ) from None
    if isinstance(data, dict) and isinstance(data.get("items"), list):
        data = data["items"]
    if not isinstance(data, list):
        raise LoaderError(
            name, None, f"expected a JSON array of CSL items, got a {type(data).__name__}"
        )
    out = LibraryFile(path=name, format="csl-json")
    for i, item in enumerate(data, start=1):
        if not isinstance(item, dict):
            out.skipped.append(
                Skipped(None, f"#{i}", f"item {i} is a {type(item).__name__}, not an object")
            )
            continue
        key = _str(item, "citation-key", "citation_key", "id") or f"#{i}"
        entry = _entry(item, key)
        if not (entry.title or entry.arxiv_id or entry.doi):
            out.skipped.append(Skipped(None, key, "no title, arXiv id or DOI"))
        else:
            out.entries.append(entry)
    if not out.read:
        raise LoaderError(name, None, "no CSL items in the file (an empty array)")
    return out
