"""Zotero's CSV export (File > Export Library... > CSV), read by the standard ``csv`` module.

Columns used: ``Title`` (required), ``Key``, ``Abstract Note``, ``Author`` (``Last, First`` names
separated by ``;``), ``Publication Year`` (or ``Date``), ``DOI``, ``Url``, and ``Extra``, where
Zotero keeps an arXiv id (``arXiv: 2101.00001``); the arXiv id also comes from an arXiv URL, DOI
or ``Archive Location``. Other columns are ignored. A row without a title or an id, or with the
wrong number of fields, is skipped with its line.
"""

from __future__ import annotations

import csv
import io
import re

from recommender.identifiers import find_arxiv_id, find_doi
from recommender.io.entries import LibraryEntry, LibraryFile, Skipped, parse_year
from recommender.io.lines import LoaderError, clean

__all__ = ["parse_zotero_csv"]

_ARXIV_MENTION = re.compile(r"arxiv:\s*(\S+)", re.IGNORECASE)


def _name(author: str) -> str:
    last, sep, first = author.partition(",")
    return clean(f"{first} {last}") if sep and first.strip() else clean(author)


def parse_zotero_csv(text: str, name: str) -> LibraryFile:
    """The entries of a Zotero CSV export's ``text`` (``name`` for messages)."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    out = LibraryFile(path=name, format="zotero-csv")
    header: list[str] | None = None
    start = 1
    try:
        for row in reader:
            lineno, start = start, reader.line_num + 1
            if not any(c.strip() for c in row):
                continue
            if header is None:
                header = [c.strip() for c in row]
                if "Title" not in header:
                    raise LoaderError(
                        name,
                        lineno,
                        "the header has no 'Title' column: not a Zotero CSV export (export "
                        "again as CSV, or give --format)",
                    )
                continue
            if len(row) != len(header):
                out.skipped.append(
                    Skipped(lineno, None, f"{len(row)} fields, the header has {len(header)}")
                )
                continue
            rec = dict(zip(header, row, strict=True))
            doi_field, url = rec.get("DOI", ""), rec.get("Url", "") or None
            mention = _ARXIV_MENTION.search(rec.get("Extra", ""))
            authors = [a for a in rec.get("Author", "").split(";") if a.strip()]
            e = LibraryEntry(
                line=lineno,
                key=rec.get("Key", "").strip() or None,
                title=clean(rec.get("Title", "")),
                abstract=clean(rec.get("Abstract Note", "")),
                authors=tuple(_name(a) for a in authors),
                year=parse_year(rec.get("Publication Year") or rec.get("Date")),
                arxiv_id=find_arxiv_id(
                    mention.group(1) if mention else None,
                    doi_field,
                    url,
                    rec.get("Archive Location"),
                ),
                doi=find_doi(doi_field, url),
                url=url,
            )
            if not (e.title or e.arxiv_id or e.doi):
                out.skipped.append(Skipped(e.line, e.key, "no title, arXiv id or DOI"))
            else:
                out.entries.append(e)
    except csv.Error as e:
        raise LoaderError(name, reader.line_num, f"malformed CSV ({e})") from None
    if header is None:
        raise LoaderError(name, None, "empty file: expected Zotero's header row")
    return out
