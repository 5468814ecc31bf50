"""A researcher's reference library as entries, and :func:`read_library`, which picks the reader.

A library file (a BibTeX file, a Zotero or Mendeley export, a list of arXiv ids) is read into
:class:`LibraryEntry` values: what each entry says about its paper (title, abstract, authors,
year, arXiv id, DOI), and where it is in the file (line, key). Unlike a catalog, a library is read
leniently: an entry that cannot be used (a BibTeX block that does not parse, a RIS record without
its end, a line that is neither an arXiv id nor a DOI) is a :class:`Skipped` with its line or key
and the reason, and the rest is read. Only a file that is not of its format at all, or cannot be
read, raises :class:`~recommender.io.lines.LoaderError`.

The entry types are :mod:`~recommender.io.entries`'s (re-exported here). One module per format,
each a :data:`Parser` of the file's text:

* :mod:`~recommender.io.bibtex` -- BibTeX (``bibtexparser``), LaTeX turned into plain text;
* :mod:`~recommender.io.ris` -- RIS, what Zotero, Mendeley and EndNote export (``rispy``);
* :mod:`~recommender.io.csl_json` -- CSL-JSON, plain or Zotero's "Better CSL JSON";
* :mod:`~recommender.io.zotero_csv` -- Zotero's CSV export;
* :mod:`~recommender.io.idlist` -- one arXiv id or DOI a line.

Matching the entries against a catalog is :mod:`recommender.library`'s.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path
from typing import Literal

from recommender.io import bibtex, csl_json, idlist, ris, zotero_csv
from recommender.io.entries import (
    LibraryEntry,
    LibraryFile,
    Parser,
    Skipped,
    decode,
    parse_year,
)
from recommender.io.lines import UNREADABLE, LoaderError, PathLike

__all__ = [
    "FORMATS",
    "PARSERS",
    "LibraryEntry",
    "LibraryFile",
    "LibraryFormat",
    "Parser",
    "Skipped",
    "decode",
    "detect_format",
    "parse_library",
    "parse_year",
    "read_library",
]

LibraryFormat = Literal["auto", "bibtex", "ris", "csl-json", "zotero-csv", "ids"]


#: The reader of each format.
PARSERS: dict[str, Parser] = {
    "bibtex": bibtex.parse_bibtex,
    "ris": ris.parse_ris,
    "csl-json": csl_json.parse_csl_json,
    "zotero-csv": zotero_csv.parse_zotero_csv,
    "ids": idlist.parse_id_list,
}


#: The formats :func:`read_library` takes besides ``"auto"``.
FORMATS = ("bibtex", "ris", "csl-json", "zotero-csv", "ids")

_SUFFIXES = {
    ".bib": "bibtex",
    ".bibtex": "bibtex",
    ".ris": "ris",
    ".json": "csl-json",
    ".csljson": "csl-json",
    ".csv": "zotero-csv",
    ".txt": "ids",
    ".list": "ids",
}
_RIS_START = re.compile(r"^TY  - ", re.MULTILINE)


def detect_format(name: str, text: str) -> str:
    """The format of a library file from its name's suffix (``.bib``, ``.ris``, ``.json``,
    ``.csv``, ``.txt``) or, failing that, from how its text begins."""
    suffixes = [s.lower() for s in Path(name).suffixes if s.lower() != ".gz"]
    if suffixes and suffixes[-1] in _SUFFIXES:
        return _SUFFIXES[suffixes[-1]]
    start = text.lstrip()
    if start.startswith("@") or re.search(r"^\s*@\w+\s*[{(]", text, re.MULTILINE):
        return "bibtex"
    if _RIS_START.search(text):
        return "ris"
    if start.startswith(("[", "{")):
        return "csl-json"
    first = start.split("\n", 1)[0]
    if '"Item Type"' in first or "Item Type," in first:
        return "zotero-csv"
    return "ids"


def parse_library(data: bytes, name: str, fmt: LibraryFormat = "auto") -> LibraryFile:
    """The entries of a library file's bytes (``name`` is used in messages and, with ``fmt``
    ``"auto"``, for its suffix). A format name that is not known raises ``ValueError``."""
    text = decode(data, name)
    chosen = detect_format(name, text) if fmt == "auto" else fmt
    if chosen not in PARSERS:
        raise ValueError(f"unknown library format {fmt!r}; known: auto, {', '.join(FORMATS)}")
    if not text.strip():
        raise LoaderError(name, None, "the file is empty: export the library again")
    return PARSERS[chosen](text, name)


def read_library(path: PathLike, fmt: LibraryFormat = "auto") -> LibraryFile:
    """The entries of the library file at ``path`` (``.gz`` read through gzip)."""
    p = Path(path)
    if not p.is_file():
        raise LoaderError(p, None, "no such file: check the path")
    try:
        data = gzip.decompress(p.read_bytes()) if p.suffix == ".gz" else p.read_bytes()
    except UNREADABLE as e:
        raise LoaderError(p, None, f"cannot read the file ({e})") from None
    return parse_library(data, str(p), fmt)
