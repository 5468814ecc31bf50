"""RIS library files (what Zotero, Mendeley and EndNote export), parsed by ``rispy``.

The file is cut into records at their ``TY  -`` lines so that each record keeps its line number
and a broken one is skipped alone: a record without its ``ER  -`` end, or with neither a title nor
an id, is reported at its first line and the others are read. Each record's tags are read by
``rispy``: title (``TI``/``T1``), abstract (``AB``/``N2``), authors (``AU``/``A1``), year
(``PY``/``Y1``/``DA``), DOI (``DO``), URLs (``UR``); the arXiv id comes from an arXiv URL or DOI
or a note (``N1``) such as ``arXiv:2101.00001``.
"""

from __future__ import annotations

import re
from typing import Any

import rispy

from recommender.identifiers import find_arxiv_id, find_doi
from recommender.io.entries import LibraryEntry, LibraryFile, Skipped, parse_year
from recommender.io.lines import LoaderError, clean

__all__ = ["parse_ris"]

_START = re.compile(r"^TY  - ")
_END = re.compile(r"^ER  -")
_ARXIV_MENTION = re.compile(r"arxiv:\s*(\S+)", re.IGNORECASE)


def _first(record: dict[str, Any], *names: str) -> str:
    for name in names:
        value = record.get(name)
        if isinstance(value, list):
            value = next((v for v in value if isinstance(v, str) and v.strip()), None)
        if isinstance(value, str) and value.strip():
            return clean(value)
    return ""


def _all(record: dict[str, Any], *names: str) -> list[str]:
    out: list[str] = []
    for name in names:
        value = record.get(name)
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list):
            out += [clean(v) for v in value if isinstance(v, str) and v.strip()]
    return out


def _name(author: str) -> str:
    """``"Smith, Jane"`` as ``"Jane Smith"`` (RIS writes the family name first)."""
    last, sep, first = author.partition(",")
    return clean(f"{first} {last}") if sep and first.strip() else clean(author)


def _entry(line: int, record: dict[str, Any]) -> LibraryEntry:
    urls = _all(record, "urls", "url", "link_to_pdf")
    doi_field = _first(record, "doi")
    notes = " ".join(_all(record, "notes", "note", "research_notes", "custom1"))
    mention = _ARXIV_MENTION.search(notes)
    return LibraryEntry(
        line=line,
        key=_first(record, "id") or None,
        title=_first(record, "title", "primary_title", "translated_title"),
        abstract=_first(record, "abstract", "notes_abstract"),
        authors=tuple(_name(a) for a in _all(record, "authors", "first_authors")),
        year=parse_year(_first(record, "year", "publication_year", "date")),
        arxiv_id=find_arxiv_id(doi_field, *urls, mention.group(1) if mention else None),
        doi=find_doi(doi_field, *urls),
        url=urls[0] if urls else None,
    )


def parse_ris(text: str, name: str) -> LibraryFile:
    """The entries of a RIS file's ``text`` (``name`` for messages)."""
    out = LibraryFile(path=name, format="ris")
    lines = text.splitlines()
    records: list[tuple[int, list[str], bool]] = []  # (first line, lines, ended)
    current: list[str] | None = None
    start = 0
    for i, line in enumerate(lines, start=1):
        if _START.match(line):
            if current is not None:
                records.append((start, current, False))
            current, start = [line], i
        elif current is not None:
            current.append(line)
            if _END.match(line):
                records.append((start, current, True))
                current = None
    if current is not None:
        records.append((start, current, False))
    if not records:
        raise LoaderError(name, None, "no RIS records (lines 'TY  - ...' to 'ER  - ') in the file")
    for first, record_lines, ended in records:
        if not ended:
            out.skipped.append(
                Skipped(first, None, "the record has no 'ER  - ' line closing it before the next")
            )
            continue
        # The end line written the one way rispy takes it ("ER  - "; exports vary).
        parsed = rispy.loads("\n".join([*record_lines[:-1], "ER  - "]) + "\n")
        if not parsed:
            out.skipped.append(Skipped(first, None, "the record does not parse as RIS"))
            continue
        e = _entry(first, parsed[0])
        if not (e.title or e.arxiv_id or e.doi):
            out.skipped.append(Skipped(e.line, e.key, "no title (TI), arXiv id or DOI (DO)"))
        else:
            out.entries.append(e)
    return out
