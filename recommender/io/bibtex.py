"""BibTeX library files, parsed by ``bibtexparser`` (2.x), LaTeX turned into plain text.

Accents and commands (``Schr{\\"o}dinger``, ``\\'Ecole``, ``\\emph{this}``) become plain text
through ``bibtexparser``'s LaTeX decoding (``pylatexenc``); case-protecting braces go with it.
``@string`` macros are resolved. The arXiv id is taken from ``eprint`` (with ``archivePrefix`` or
``eprinttype`` arXiv, or when it looks like one), an ``arxiv`` field, an arXiv DOI or URL, or a
journal of the form ``arXiv preprint arXiv:2101.00001``; the DOI from ``doi`` or a doi.org URL.
A block that does not parse, or a key used twice, is skipped with its line; the rest is read.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager

import bibtexparser
from bibtexparser import middlewares as mw
from bibtexparser.model import DuplicateBlockKeyBlock, Entry, ParsingFailedBlock

from recommender.identifiers import find_arxiv_id, find_doi
from recommender.io.entries import LibraryEntry, LibraryFile, Skipped, parse_year
from recommender.io.lines import LoaderError, clean

__all__ = ["parse_bibtex"]

_ARXIV_MENTION = re.compile(r"arxiv:\s*(\S+)", re.IGNORECASE)
_MENTIONS = ("journal", "note", "howpublished")


@contextmanager
def _quiet() -> Iterator[None]:
    """bibtexparser logs every block it cannot parse; this reader reports them as skipped
    entries instead, so its log stays out of the console for the time of a parse."""
    loggers = [logging.getLogger(n) for n in ("bibtexparser", "bibtexparser.splitter")]
    before = [lg.disabled for lg in loggers]
    for lg in loggers:
        lg.disabled = True
    try:
        yield
    finally:
        for lg, was in zip(loggers, before, strict=True):
            lg.disabled = was


def _text(entry: Entry, *names: str) -> str:
    for name in names:
        f = entry.fields_dict.get(name) or entry.fields_dict.get(name.upper())
        if f is None:
            # Field names are case-insensitive in BibTeX.
            f = next((x for x in entry.fields if x.key.lower() == name), None)
        if f is not None and isinstance(f.value, str) and f.value.strip():
            return clean(f.value.replace("{", "").replace("}", ""))
    return ""


def _authors(entry: Entry) -> tuple[str, ...]:
    f = next((x for x in entry.fields if x.key.lower() == "author"), None)
    if f is None:
        return ()
    names = f.value if isinstance(f.value, list) else [f.value]
    out = []
    for n in names:
        if not isinstance(n, mw.NameParts):
            out.append(clean(str(n).replace("{", "").replace("}", "")))
            continue
        out.append(clean(" ".join([*n.first, *n.von, *n.last, *n.jr])))
    return tuple(a for a in out if a)


def _entry(entry: Entry) -> LibraryEntry:
    eprint = _text(entry, "eprint")
    prefix = _text(entry, "archiveprefix", "eprinttype").lower()
    url = _text(entry, "url") or None
    doi_field = _text(entry, "doi")
    # "arXiv preprint arXiv:2101.00001" in the journal (Google Scholar's BibTeX) or a note.
    mention = _ARXIV_MENTION.search(" ".join(_text(entry, n) for n in _MENTIONS))
    arxiv = find_arxiv_id(
        eprint if prefix in ("", "arxiv") else None,
        _text(entry, "arxiv", "arxivid"),
        doi_field,
        url,
        mention.group(1) if mention else None,
    )
    return LibraryEntry(
        line=_line(entry.start_line),
        key=entry.key,
        title=_text(entry, "title"),
        abstract=_text(entry, "abstract"),
        authors=_authors(entry),
        year=parse_year(_text(entry, "year", "date")),
        arxiv_id=arxiv,
        doi=find_doi(doi_field, url),
        url=url,
    )


def _line(start_line: int | None) -> int | None:
    """bibtexparser counts lines from 0."""
    return None if start_line is None else start_line + 1


def _block_key(raw: str) -> str | None:
    m = re.match(r"\s*@\w+\s*[{(]\s*([^,\s]+)\s*,", raw)
    return m.group(1) if m else None


def parse_bibtex(text: str, name: str) -> LibraryFile:
    """The entries of a BibTeX file's ``text`` (``name`` for messages)."""
    with _quiet():
        library = bibtexparser.parse_string(
            text,
            append_middleware=[
                mw.LatexDecodingMiddleware(),
                mw.SeparateCoAuthors(),
                mw.SplitNameParts(),
            ],
        )
    out = LibraryFile(path=name, format="bibtex")
    for block in library.failed_blocks:
        line = _line(block.start_line)
        if isinstance(block, DuplicateBlockKeyBlock):
            first_line = _line(block.previous_block.start_line)
            out.skipped.append(
                Skipped(
                    line,
                    block.key,
                    f"the key {block.key!r} is used twice (first on line {first_line}): "
                    "give one of the entries another key",
                )
            )
        elif isinstance(block, ParsingFailedBlock):
            why = clean(str(getattr(block.error, "abort_reason", "") or block.error))
            out.skipped.append(
                Skipped(
                    line,
                    _block_key(block.raw or ""),
                    "the entry does not parse as BibTeX"
                    + (f" ({why})" if why else " (an unclosed brace or a missing comma?)"),
                )
            )
    for entry in library.entries:
        e = _entry(entry)
        if not (e.title or e.arxiv_id or e.doi):
            out.skipped.append(Skipped(e.line, e.key, "no title, arXiv id or DOI"))
        else:
            out.entries.append(e)
    if not out.read:
        raise LoaderError(name, None, "no BibTeX entries (@article{...}) in the file")
    out.skipped.sort(key=lambda s: s.line or 0)
    return out
