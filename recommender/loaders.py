"""Readers of catalogs and interaction files, and of the CiteULike research datasets.

Every function reads a path the caller gives. A file that cannot be read as its format says raises
:class:`LoaderError`, whose message names the file, the 1-based line and the problem, e.g.
``papers.jsonl:7: missing required field 'title'``.

Formats
-------
* **JSON lines** (:func:`read_jsonl`): one paper object per line with ``paper_id`` and ``title``
  (required), ``abstract``, ``authors`` (list), ``year`` (int), ``categories`` (list), ``url``,
  ``references`` (list of paper ids linked by citation), ``published`` (the date the paper
  appeared, a ``YYYY-MM-DD`` string; it sets ``year`` when that is absent).
  Unknown fields are an error, not ignored: a misspelt ``abstact`` would otherwise silently drop
  every abstract. Blank lines are skipped.
* **CSV** (:func:`read_csv`): a header row naming at least ``paper_id`` and ``title`` from the same
  set of fields; ``authors``, ``categories`` and ``references`` separated by ``;``; an empty
  ``year`` or ``published`` is unknown.
* **arXiv metadata snapshot** (:func:`read_arxiv_snapshot`): JSON lines as Kaggle's arXiv dataset
  publishes them; fields other than the ones used are ignored there, since the snapshot has many.
  ``published`` is the date of version 1.
* **User-items** (:func:`read_user_items`): ``<count> <item> <item> ...``, line *i* = user *i*.
* **Bag of words** (:func:`read_bag_of_words`): ``<n> wordid:count ...``, line *i* = paper *i*.

Files ending in ``.gz`` are read through gzip.

CiteULike
---------
:func:`load_citeulike` and :func:`load_split` read the citeulike-a and citeulike-t folders described
in the project's DATASETS.md (each folder's ``PROVENANCE.txt`` names the public source of every
file). **Tags leak test information** (they were assigned by the users whose held-out papers are in
the test files), so they are returned apart in :attr:`CiteULike.tags` and never put into the
catalog text a content model reads. Citation links (``citations.dat``) are paper metadata, set as
each paper's ``references``.
"""

from __future__ import annotations

import csv
import gzip
import json
import logging
import os
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import IO, Any, Literal, cast

import numpy as np
import scipy.sparse as sp

from recommender.catalog import Catalog, Paper, parse_date

__all__ = [
    "DATASETS",
    "DEFAULT_DATA_DIR",
    "CiteULike",
    "LoaderError",
    "load_citeulike",
    "load_split",
    "read_arxiv_snapshot",
    "read_bag_of_words",
    "read_catalog",
    "read_csv",
    "read_jsonl",
    "read_likes",
    "read_user_items",
]

log = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]

#: Names of the CiteULike datasets :func:`load_citeulike` reads.
DATASETS = ("citeulike-a", "citeulike-t")

#: Where the datasets lie in a checkout of this project (``../shared/datasets`` next to the repo).
#: Callers pass their own folder when the data lives elsewhere.
DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "datasets"

_FIELDS = (
    "paper_id",
    "title",
    "abstract",
    "authors",
    "year",
    "categories",
    "url",
    "references",
    "published",
)
_REQUIRED = ("paper_id", "title")
_WS = re.compile(r"\s+")


class LoaderError(ValueError):
    """A data file that is missing or does not follow its format.

    ``path`` and ``line`` (1-based, ``None`` when the problem is the whole file) say where;
    ``problem`` says what.
    """

    def __init__(self, path: PathLike, line: int | None, problem: str) -> None:
        self.path = str(path)
        self.line = line
        self.problem = problem
        where = self.path if line is None else f"{self.path}:{line}"
        super().__init__(f"{where}: {problem}")


# --------------------------------------------------------------------------- low-level reading
def _open_binary(path: Path) -> IO[bytes]:
    if not path.is_file():
        raise LoaderError(path, None, "no such file")
    if path.suffix == ".gz":
        return cast(IO[bytes], gzip.open(path, "rb"))
    return path.open("rb")


def _open_text(path: Path) -> IO[str]:
    """Text for the csv module: UTF-8 (BOM dropped), line ends left to the reader."""
    if not path.is_file():
        raise LoaderError(path, None, "no such file")
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8-sig", newline="")
    return path.open(encoding="utf-8-sig", newline="")


#: What a broken or truncated compressed file raises while it is read.
_UNREADABLE = (OSError, EOFError, zlib.error)


def _reading(path: Path, fh: IO[bytes]) -> Iterator[bytes]:
    """The raw lines of ``fh``; a file that breaks off or is not what its suffix says (a ``.gz``
    that is not gzip) is a :class:`LoaderError` at the line where reading failed."""
    done = 0
    try:
        for raw in fh:
            yield raw
            done += 1
    except _UNREADABLE as e:
        raise LoaderError(path, done + 1, f"cannot read the file ({e})") from None


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """``(line number, text without the line end)`` for every line, decoded as UTF-8 (a BOM on
    the first line is dropped). Streams, so a multi-gigabyte snapshot is never held whole."""
    with _open_binary(path) as fh:
        for lineno, raw in enumerate(_reading(path, fh), start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise LoaderError(path, lineno, f"not UTF-8 text ({e.reason})") from None
            if lineno == 1:
                text = text.removeprefix("\ufeff")
            yield lineno, text.rstrip("\r\n")


def _clean(text: str) -> str:
    """Collapse runs of whitespace (newlines included) into single spaces."""
    return _WS.sub(" ", text).strip()


def _paper(path: Path, lineno: int, fields: dict[str, Any]) -> Paper:
    try:
        return Paper(**fields)
    except (TypeError, ValueError) as e:
        raise LoaderError(path, lineno, str(e)) from None


def _finish(path: Path, papers: list[Paper]) -> Catalog:
    if not papers:
        raise LoaderError(path, None, "no papers in the file")
    return Catalog(papers)


class _Seen:
    """Detects a paper id given twice and names both lines."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lines: dict[str, int] = {}

    def check(self, paper_id: str, lineno: int) -> None:
        first = self.lines.setdefault(paper_id, lineno)
        if first != lineno:
            raise LoaderError(
                self.path, lineno, f"duplicate paper_id {paper_id!r} (first on line {first})"
            )


# ------------------------------------------------------------------------------- JSON lines
def _json_object(path: Path, lineno: int, text: str) -> dict[str, Any]:
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise LoaderError(path, lineno, f"invalid JSON ({e.msg} at column {e.colno})") from None
    if not isinstance(obj, dict):
        raise LoaderError(path, lineno, f"expected a JSON object, got {type(obj).__name__}")
    return obj


def _str_list(path: Path, lineno: int, name: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise LoaderError(path, lineno, f"field {name!r} must be a list of strings")
    return tuple(v.strip() for v in value if v.strip())


def _paper_id(path: Path, lineno: int, value: Any) -> str:
    # Integer ids are common in exported data; they are taken as their decimal text.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str) or not value.strip():
        raise LoaderError(path, lineno, "field 'paper_id' must be a non-empty string")
    return value.strip()


def _year(path: Path, lineno: int, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise LoaderError(path, lineno, f"field 'year' must be an integer, got {value!r}")
    return value


def _published(path: Path, lineno: int, value: Any) -> str | None:
    """A ``published`` value as ``YYYY-MM-DD`` (``None`` = unknown); anything else is an error."""
    if value is None:
        return None
    if isinstance(value, str):
        value = value.strip()
    try:
        return parse_date(value, "field 'published'").isoformat()
    except ValueError as e:
        raise LoaderError(path, lineno, str(e)) from None


def _opt_str(path: Path, lineno: int, name: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise LoaderError(path, lineno, f"field {name!r} must be a string")
    return value.strip() or None


def read_jsonl(path: PathLike) -> Catalog:
    """A catalog from a JSON-lines file of papers (see the module docstring for the fields).

    Blank lines are skipped; unknown fields, wrong types, a missing ``paper_id`` or ``title``, a
    ``published`` that is not a ``YYYY-MM-DD`` date and a ``paper_id`` given twice raise
    :class:`LoaderError`.
    """
    path = Path(path)
    papers: list[Paper] = []
    seen = _Seen(path)
    for lineno, text in _lines(path):
        if not text.strip():
            continue
        obj = _json_object(path, lineno, text)
        unknown = sorted(set(obj) - set(_FIELDS))
        if unknown:
            raise LoaderError(
                path,
                lineno,
                f"unknown field(s) {', '.join(map(repr, unknown))}; known: {', '.join(_FIELDS)}",
            )
        for name in _REQUIRED:
            if obj.get(name) is None:
                raise LoaderError(path, lineno, f"missing required field {name!r}")
        paper_id = _paper_id(path, lineno, obj["paper_id"])
        seen.check(paper_id, lineno)
        title = obj["title"]
        if not isinstance(title, str) or not title.strip():
            raise LoaderError(path, lineno, "field 'title' must be a non-empty string")
        papers.append(
            _paper(
                path,
                lineno,
                {
                    "paper_id": paper_id,
                    "title": _clean(title),
                    "abstract": _clean(
                        _opt_str(path, lineno, "abstract", obj.get("abstract")) or ""
                    ),
                    "authors": _str_list(path, lineno, "authors", obj.get("authors")),
                    "year": _year(path, lineno, obj.get("year")),
                    "categories": _str_list(path, lineno, "categories", obj.get("categories")),
                    "url": _opt_str(path, lineno, "url", obj.get("url")),
                    "references": _str_list(path, lineno, "references", obj.get("references")),
                    "published": _published(path, lineno, obj.get("published")),
                },
            )
        )
    return _finish(path, papers)


# ------------------------------------------------------------------------------------- CSV
def _split_list(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(";") if v.strip())


def read_csv(path: PathLike) -> Catalog:
    """A catalog from a CSV file with a header row.

    The header names at least ``paper_id`` and ``title``, and only fields of :class:`Paper`
    (unknown or repeated columns are an error). ``authors``, ``categories`` and ``references`` are
    ``;``-separated; ``published`` is a ``YYYY-MM-DD`` date that sets ``year`` when that is empty;
    an empty ``year`` or ``published`` is unknown. Line numbers in errors are those of the file,
    so a quoted field spanning lines is reported at the line where its record starts.
    """
    path = Path(path)
    with _open_text(path) as text:
        reader = csv.reader(text, strict=True)
        try:
            return _read_csv_rows(path, reader)
        except UnicodeDecodeError as e:
            raise LoaderError(path, reader.line_num + 1, f"not UTF-8 text ({e.reason})") from None
        except csv.Error as e:
            raise LoaderError(path, reader.line_num, f"malformed CSV ({e})") from None
        except _UNREADABLE as e:
            raise LoaderError(path, reader.line_num + 1, f"cannot read the file ({e})") from None


def _read_csv_rows(path: Path, reader: Any) -> Catalog:
    header: list[str] | None = None
    header_line = 0
    start = 1
    papers: list[Paper] = []
    seen = _Seen(path)
    for row in reader:
        lineno, start = start, reader.line_num + 1
        if not any(cell.strip() for cell in row):
            continue
        if header is None:
            header, header_line = [c.strip() for c in row], lineno
            _check_header(path, lineno, header)
            continue
        if len(row) != len(header):
            raise LoaderError(
                path,
                lineno,
                f"{len(row)} fields, but the header (line {header_line}) has {len(header)}",
            )
        rec = dict(zip(header, (c.strip() for c in row), strict=True))
        for name in _REQUIRED:
            if not rec[name]:
                raise LoaderError(path, lineno, f"empty required field {name!r}")
        seen.check(rec["paper_id"], lineno)
        year: int | None = None
        if rec.get("year"):
            try:
                year = int(rec["year"])
            except ValueError:
                raise LoaderError(
                    path, lineno, f"field 'year' must be an integer, got {rec['year']!r}"
                ) from None
        papers.append(
            _paper(
                path,
                lineno,
                {
                    "paper_id": rec["paper_id"],
                    "title": _clean(rec["title"]),
                    "abstract": _clean(rec.get("abstract", "")),
                    "authors": _split_list(rec.get("authors", "")),
                    "year": year,
                    "categories": _split_list(rec.get("categories", "")),
                    "url": rec.get("url") or None,
                    "references": _split_list(rec.get("references", "")),
                    "published": _published(path, lineno, rec.get("published") or None),
                },
            )
        )
    if header is None:
        raise LoaderError(path, None, "empty file: expected a header row")
    return _finish(path, papers)


def _check_header(path: Path, lineno: int, header: list[str]) -> None:
    missing = [f for f in _REQUIRED if f not in header]
    if missing:
        raise LoaderError(
            path, lineno, f"header lacks required column(s) {', '.join(map(repr, missing))}"
        )
    unknown = [c for c in header if c not in _FIELDS]
    if unknown:
        raise LoaderError(
            path,
            lineno,
            f"unknown column(s) {', '.join(map(repr, unknown))}; known: {', '.join(_FIELDS)}",
        )
    repeated = sorted({c for c in header if header.count(c) > 1})
    if repeated:
        raise LoaderError(path, lineno, f"repeated column(s) {', '.join(map(repr, repeated))}")


# ------------------------------------------------------------------------ arXiv snapshot
_ARXIV_ABS = "https://arxiv.org/abs/"
_AUTHOR_SPLIT = re.compile(r",\s*(?:and\s+)?|\s+and\s+")


def _arxiv_authors(path: Path, lineno: int, obj: dict[str, Any]) -> tuple[str, ...]:
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
            name = _clean(" ".join(p for p in (first, last, suffix) if p.strip()))
            if name:
                names.append(name)
        return tuple(names)
    authors = obj.get("authors")
    if authors is None:
        return ()
    if not isinstance(authors, str):
        raise LoaderError(path, lineno, "field 'authors' must be a string")
    return tuple(a for a in (_clean(p) for p in _AUTHOR_SPLIT.split(_clean(authors))) if a)


_YEAR = re.compile(r"\b(\d{4})\b")


def _arxiv_published(obj: dict[str, Any]) -> str | None:
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


def _arxiv_year(path: Path, lineno: int, obj: dict[str, Any], published: str | None) -> int | None:
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
    seen = _Seen(path)
    for lineno, text in _lines(path):
        if limit is not None and len(papers) >= limit:
            break
        if not text.strip():
            continue
        obj = _json_object(path, lineno, text)
        for name in ("id", "title"):
            if obj.get(name) is None:
                raise LoaderError(path, lineno, f"missing required field {name!r}")
        paper_id = _paper_id(path, lineno, obj["id"])
        seen.check(paper_id, lineno)
        title = _clean(str(obj["title"]))
        if not title:
            raise LoaderError(path, lineno, "field 'title' is empty")
        categories = obj.get("categories") or ""
        if not isinstance(categories, str):
            raise LoaderError(path, lineno, "field 'categories' must be a space-separated string")
        published = _arxiv_published(obj)
        papers.append(
            _paper(
                path,
                lineno,
                {
                    "paper_id": paper_id,
                    "title": title,
                    "abstract": _clean(
                        _opt_str(path, lineno, "abstract", obj.get("abstract")) or ""
                    ),
                    "authors": _arxiv_authors(path, lineno, obj),
                    "year": _arxiv_year(path, lineno, obj, published),
                    "categories": tuple(categories.split()),
                    "url": _ARXIV_ABS + paper_id,
                    "published": published,
                },
            )
        )
    return _finish(path, papers)


# ------------------------------------------------------------------------------ dispatch
CatalogFormat = Literal["auto", "jsonl", "csv", "arxiv"]


def read_catalog(path: PathLike, fmt: CatalogFormat = "auto") -> Catalog:
    """Read a catalog in format ``fmt``; ``"auto"`` decides from the suffix (``.csv``,
    ``.jsonl``/``.json``/``.ndjson``, optionally ``.gz``) and, for JSON lines, from the first
    record's fields (``paper_id`` = this project's format, ``id`` = the arXiv snapshot)."""
    path = Path(path)
    if fmt == "auto":
        fmt = _detect(path)
    if fmt == "jsonl":
        return read_jsonl(path)
    if fmt == "csv":
        return read_csv(path)
    if fmt == "arxiv":
        return read_arxiv_snapshot(path)
    raise ValueError(f"unknown catalog format {fmt!r}; known: auto, jsonl, csv, arxiv")


def _detect(path: Path) -> Literal["jsonl", "csv", "arxiv"]:
    suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    suffix = suffixes[-1] if suffixes else ""
    if suffix == ".csv":
        return "csv"
    for lineno, text in _lines(path):
        if not text.strip():
            continue
        if text.lstrip().startswith("{"):
            obj = _json_object(path, lineno, text)
            if "paper_id" in obj:
                return "jsonl"
            if "id" in obj:
                return "arxiv"
            raise LoaderError(
                path,
                lineno,
                "cannot tell the format: a JSON record with neither 'paper_id' nor 'id'",
            )
        if suffix in (".jsonl", ".json", ".ndjson"):
            raise LoaderError(path, lineno, "expected a JSON object on each line")
        if "paper_id" in text:
            return "csv"
        break
    raise LoaderError(
        path, None, "cannot tell the catalog format: give fmt='jsonl', 'csv' or 'arxiv'"
    )


# ------------------------------------------------------------------- interaction matrices
def read_user_items(path: PathLike, n_items: int | None = None) -> sp.csr_matrix:
    """A ``users x items`` float32 CSR matrix of ones from ``<count> <item> <item> ...`` lines.

    Line *i* is user *i*; an empty line or a count of 0 is a user with no items, an empty file no
    users. The count must equal the number of ids; ids are non-negative integers, each at most
    once per line and, when ``n_items`` is given, below it (the matrix then has ``n_items``
    columns, otherwise one more than the largest id).
    """
    path = Path(path)
    indptr = [0]
    chunks: list[np.ndarray] = []
    nnz = 0
    for lineno, text in _lines(path):
        ids = _count_prefixed(path, lineno, text.split(), "item")
        _check_ids(path, lineno, ids, n_items, "item")
        chunks.append(ids)
        nnz += ids.size
        indptr.append(nnz)
    indices = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int64)
    n_cols = n_items if n_items is not None else (int(indices.max()) + 1 if indices.size else 0)
    m = sp.csr_matrix(
        (np.ones(nnz, dtype=np.float32), indices.astype(np.int32), np.asarray(indptr, np.int64)),
        shape=(len(indptr) - 1, n_cols),
    )
    m.sort_indices()
    return m


def read_likes(
    path: PathLike, *, user_prefix: str = "", paper_prefix: str = ""
) -> dict[str, list[str]]:
    """``{user_id: [paper_id, ...]}`` from a likes file, in either of two forms.

    * ``users.dat`` (CiteULike): line *i* is ``<count> <item> <item> ...``, user *i*; ids become
      ``<user_prefix>user<i>`` and ``<paper_prefix><item>``.
    * CSV ``user,paper`` per line (a ``user,paper`` header is skipped); ids are taken as written,
      with the prefixes put in front.

    The form is told by the first non-empty line: a comma means CSV.
    """
    path = Path(path)
    out: dict[str, list[str]] = {}
    rows = iter(_lines(path))
    first = next(((n, t) for n, t in rows if t.strip()), None)
    if first is None:
        return out
    if "," not in first[1]:
        m = read_user_items(path)
        for u in range(m.shape[0]):
            cols = m.indices[m.indptr[u] : m.indptr[u + 1]]
            if cols.size:
                out[f"{user_prefix}user{u}"] = [f"{paper_prefix}{c}" for c in cols.tolist()]
        return out
    for lineno, text in [first, *rows]:
        if not text.strip():
            continue
        parts = [x.strip() for x in text.split(",")]
        if len(parts) != 2 or not all(parts):
            raise LoaderError(path, lineno, f"expected 'user,paper', got {text.strip()!r}")
        if lineno == first[0] and parts == ["user", "paper"]:
            continue
        papers = out.setdefault(f"{user_prefix}{parts[0]}", [])
        papers.append(f"{paper_prefix}{parts[1]}")
    return {u: list(dict.fromkeys(ps)) for u, ps in out.items()}


def _count_prefixed(path: Path, lineno: int, parts: list[str], what: str) -> np.ndarray:
    if not parts:
        return np.zeros(0, dtype=np.int64)
    try:
        count = int(parts[0])
    except ValueError:
        raise LoaderError(path, lineno, f"count {parts[0]!r} is not an integer") from None
    if count != len(parts) - 1:
        raise LoaderError(path, lineno, f"count says {count} but the line has {len(parts) - 1} ids")
    return np.asarray(_ints(path, lineno, parts[1:], f"{what} id"), dtype=np.int64)


def _ints(path: Path, lineno: int, parts: list[str], what: str) -> list[int]:
    out = []
    for p in parts:
        try:
            out.append(int(p))
        except ValueError:
            raise LoaderError(path, lineno, f"{what} {p!r} is not an integer") from None
    return out


def _check_ids(path: Path, lineno: int, ids: np.ndarray, n: int | None, what: str) -> None:
    if not ids.size:
        return
    if ids.min() < 0:
        raise LoaderError(path, lineno, f"{what} id {int(ids.min())} is negative")
    if n is not None and ids.max() >= n:
        raise LoaderError(path, lineno, f"{what} id {int(ids.max())} out of range: there are {n}")
    if np.unique(ids).size != ids.size:
        u, c = np.unique(ids, return_counts=True)
        raise LoaderError(path, lineno, f"{what} id {int(u[c > 1][0])} listed twice")


def read_bag_of_words(path: PathLike, n_words: int) -> sp.csr_matrix:
    """A ``papers x n_words`` float32 CSR matrix of word counts from ``<n> wordid:count ...``
    lines (line *i* = paper *i*, the citeulike-t ``mult.dat`` form). ``n`` must equal the number
    of pairs; word ids are below ``n_words`` and appear once per line; counts are positive."""
    path = Path(path)
    indptr = [0]
    cols: list[np.ndarray] = []
    vals: list[np.ndarray] = []
    nnz = 0
    for lineno, text in _lines(path):
        parts = text.split()
        pairs = [p.partition(":") for p in parts[1:]]
        if any(sep != ":" for _, sep, _ in pairs):
            bad = next(p for p in parts[1:] if ":" not in p)
            raise LoaderError(path, lineno, f"expected wordid:count, got {bad!r}")
        ids = _count_prefixed(path, lineno, parts[:1] + [w for w, _, _ in pairs], "word")
        _check_ids(path, lineno, ids, n_words, "word")
        counts = np.asarray(_ints(path, lineno, [c for _, _, c in pairs], "word count"), np.int64)
        if counts.size and counts.min() <= 0:
            raise LoaderError(path, lineno, f"word count {int(counts.min())} is not positive")
        cols.append(ids)
        vals.append(counts)
        nnz += ids.size
        indptr.append(nnz)
    m = sp.csr_matrix(
        (
            np.concatenate(vals).astype(np.float32) if vals else np.zeros(0, np.float32),
            np.concatenate(cols).astype(np.int32) if cols else np.zeros(0, np.int32),
            np.asarray(indptr, np.int64),
        ),
        shape=(len(indptr) - 1, n_words),
    )
    m.sort_indices()
    return m


# ------------------------------------------------------------------------------- CiteULike
@dataclass
class CiteULike:
    """One CiteULike dataset, rows and columns in the dataset's own item order.

    ``catalog[i]`` is item *i* (``paper_id`` = ``str(i)``); ``likes`` is ``users x items``;
    ``counts`` (``items x words``) and ``vocabulary`` are the bag of words of citeulike-t
    (``None`` for citeulike-a); ``tags[i]`` are the tag names of item *i*. Tags leak test
    information: keep them out of features compared with the published results.
    """

    name: str
    catalog: Catalog
    likes: sp.csr_matrix
    tags: list[list[str]]
    counts: sp.csr_matrix | None = None
    vocabulary: list[str] | None = None

    @property
    def n_users(self) -> int:
        return int(self.likes.shape[0])

    @property
    def n_items(self) -> int:
        return int(self.likes.shape[1])


def _dataset_dir(name: str, data_dir: PathLike) -> Path:
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    base = Path(data_dir)
    folder = base / name
    if not folder.is_dir() and base.name == name and base.is_dir():
        folder = base  # the caller named the dataset folder itself
    if not folder.is_dir():
        raise LoaderError(
            folder,
            None,
            f"no {name} folder here; the data can be downloaded from the public sources "
            f"listed in its PROVENANCE.txt (see DATASETS.md)",
        )
    return folder


def _need(folder: Path, rel: str) -> Path:
    path = folder / rel
    if not path.is_file():
        raise LoaderError(
            path,
            None,
            f"missing file; it can be downloaded from the public source named in "
            f"{folder / 'PROVENANCE.txt'}",
        )
    return path


def _read_names(path: Path) -> list[str]:
    return [text.strip() for _, text in _lines(path)]


def _count_lines(path: Path) -> int:
    data = path.read_bytes()
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


def _n_items(name: str, folder: Path) -> int:
    return _count_lines(_need(folder, "titles.txt" if name == "citeulike-a" else "mult.dat"))


def load_citeulike(name: str, data_dir: PathLike = DEFAULT_DATA_DIR) -> CiteULike:
    """Load ``"citeulike-a"`` or ``"citeulike-t"`` from ``data_dir`` (the folder holding the
    dataset folders, or the dataset folder itself).

    citeulike-a: titles from ``titles.txt``; abstracts for the 1,929 items of
    ``partial-text/raw-data-first1929.csv`` (mapped to item indices through
    ``subset1929_docid_to_item_index.csv``; skipped with a warning when those files are absent);
    tags from ``item-tag.dat``.

    citeulike-t has no titles or raw text: its content is ``counts`` (``mult.dat`` over
    ``vocabulary.dat``), and each paper's catalog title is made from its most frequent words and
    says so, e.g. ``"citeulike-t #12: protein folding energy"``. Tags come from ``tag-item.dat``.

    A missing file raises :class:`LoaderError` naming it and where the data comes from.
    """
    folder = _dataset_dir(name, data_dir)
    if name == "citeulike-a":
        titles = _read_names(_need(folder, "titles.txt"))
        abstracts = _citeulike_a_abstracts(folder, len(titles))
        papers = [
            Paper(
                paper_id=str(i),
                title=_clean(t) or f"citeulike-a #{i}",
                abstract=abstracts.get(i, ""),
            )
            for i, t in enumerate(titles)
        ]
        n_items = len(papers)
        tag_names = _read_names(_need(folder, "tags.dat"))
        item_tags = read_user_items(_need(folder, "item-tag.dat"), n_items=len(tag_names))
        if item_tags.shape[0] != n_items:
            raise LoaderError(
                folder / "item-tag.dat",
                None,
                f"{item_tags.shape[0]} items, titles.txt has {n_items}",
            )
        counts = vocabulary = None
    else:
        vocabulary = _read_names(_need(folder, "vocabulary.dat"))
        counts = read_bag_of_words(_need(folder, "mult.dat"), n_words=len(vocabulary))
        n_items = counts.shape[0]
        papers = _word_titles(name, counts, vocabulary)
        tag_names = _read_names(_need(folder, "tags.dat"))
        tag_items = read_user_items(_need(folder, "tag-item.dat"), n_items=n_items)
        if tag_items.shape[0] != len(tag_names):
            raise LoaderError(
                folder / "tag-item.dat",
                None,
                f"{tag_items.shape[0]} tags, tags.dat has {len(tag_names)}",
            )
        item_tags = sp.csr_matrix(tag_items.T)
    item_tags.sort_indices()
    tags = [
        [tag_names[t] for t in item_tags.indices[item_tags.indptr[i] : item_tags.indptr[i + 1]]]
        for i in range(n_items)
    ]
    papers = _with_citations(papers, folder / "citations.dat")
    likes = read_user_items(_need(folder, "users.dat"), n_items=n_items)
    log.info("%s: %d users, %d papers, %d likes", name, likes.shape[0], n_items, likes.nnz)
    return CiteULike(
        name=name,
        catalog=Catalog(papers),
        likes=likes,
        tags=tags,
        counts=counts,
        vocabulary=vocabulary,
    )


_BIBTEX_BRACES = re.compile(r"[{}]")


def _citeulike_a_abstracts(folder: Path, n_items: int) -> dict[int, str]:
    raw_path = folder / "partial-text" / "raw-data-first1929.csv"
    map_path = folder / "partial-text" / "subset1929_docid_to_item_index.csv"
    if not (raw_path.is_file() and map_path.is_file()):
        log.warning("%s: no partial-text abstracts found; titles only", folder)
        return {}
    doc_to_item: dict[str, int] = {}
    for lineno, rec in _csv_records(map_path, ("subset_doc_id", "citeulike_a_item_index_0based")):
        item = _int_field(map_path, lineno, rec["citeulike_a_item_index_0based"])
        if not 0 <= item < n_items:
            raise LoaderError(
                map_path, lineno, f"item index {item} out of range: there are {n_items}"
            )
        doc_to_item[rec["subset_doc_id"].strip()] = item
    abstracts: dict[int, str] = {}
    for lineno, rec in _csv_records(raw_path, ("doc.id", "raw.abstract")):
        item_or_none = doc_to_item.get(rec["doc.id"].strip())
        if item_or_none is None:
            raise LoaderError(
                raw_path, lineno, f"doc.id {rec['doc.id']!r} is not in {map_path.name}"
            )
        # The abstracts carry BibTeX case protection ("{C}onvergent"): drop the braces.
        text = _clean(_BIBTEX_BRACES.sub("", rec["raw.abstract"]))
        if text:
            abstracts[item_or_none] = text
    return abstracts


def _csv_records(path: Path, need: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str]]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in need if c not in (reader.fieldnames or [])]
        if missing:
            raise LoaderError(path, 1, f"header lacks column(s) {', '.join(map(repr, missing))}")
        start = 2
        for rec in reader:
            lineno, start = start, reader.line_num + 1
            if None in rec or any(rec[c] is None for c in need):
                raise LoaderError(path, lineno, "wrong number of fields")
            yield lineno, rec


def _int_field(path: Path, lineno: int, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise LoaderError(path, lineno, f"{value!r} is not an integer") from None


def _with_citations(papers: list[Paper], path: Path) -> list[Paper]:
    """Papers with their citation links (``citations.dat``: per paper, ``<count> <item> ...``)
    as ``references``. Citations are paper metadata, not user data: no test information. The
    file may stop before the last papers (citeulike-a lists 16,979 of 16,980): those have none."""
    if not path.is_file():
        log.warning("%s not found: papers get no citation links", path)
        return papers
    links = read_user_items(path, n_items=len(papers))
    if links.shape[0] > len(papers):
        raise LoaderError(path, len(papers) + 1, f"more lines than the {len(papers)} papers")
    out = list(papers)
    for i in range(links.shape[0]):
        refs = links.indices[links.indptr[i] : links.indptr[i + 1]]
        if refs.size:
            out[i] = replace(papers[i], references=tuple(papers[j].paper_id for j in refs))
    return out


def _word_titles(
    name: str, counts: sp.csr_matrix, vocabulary: list[str], n_words: int = 5
) -> list[Paper]:
    """Papers titled from their most frequent words (ties: the rarer word in the corpus first,
    then the lower word id), since citeulike-t publishes no titles."""
    df = np.bincount(counts.indices, minlength=counts.shape[1])
    papers = []
    for i in range(counts.shape[0]):
        lo, hi = counts.indptr[i], counts.indptr[i + 1]
        cols, vals = counts.indices[lo:hi], counts.data[lo:hi]
        order = np.lexsort((cols, df[cols], -vals))[:n_words]
        words = " ".join(vocabulary[c] for c in cols[order]) or "(no words)"
        papers.append(Paper(paper_id=str(i), title=f"{name} #{i}: {words}"))
    return papers


def load_split(
    name: str, p: int, data_dir: PathLike = DEFAULT_DATA_DIR
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """The published ``(train, test)`` ``users x items`` matrices of ``name`` for P = ``p``
    (``splits-cvae/cf-{train,test}-{p}-users.dat``). Both have the dataset's number of items and
    the same users; a user with a paper in both raises :class:`LoaderError`."""
    folder = _dataset_dir(name, data_dir)
    n_items = _n_items(name, folder)
    train_path = _need(folder, f"splits-cvae/cf-train-{p}-users.dat")
    test_path = _need(folder, f"splits-cvae/cf-test-{p}-users.dat")
    train = read_user_items(train_path, n_items=n_items)
    test = read_user_items(test_path, n_items=n_items)
    if train.shape[0] != test.shape[0]:
        raise LoaderError(
            test_path, None, f"{test.shape[0]} users, but {train_path.name} has {train.shape[0]}"
        )
    both = train.multiply(test).tocsr()
    both.eliminate_zeros()
    if both.nnz:
        user = int(np.flatnonzero(np.diff(both.indptr))[0])
        item = int(both.indices[both.indptr[user]])
        raise LoaderError(
            test_path, user + 1, f"user {user} has item {item} in both train and test"
        )
    return train, test
