"""Catalogs in this project's own formats, and :func:`read_catalog`, which picks the reader.

* **JSON lines** (:func:`read_jsonl`): one paper object per line with ``paper_id`` and ``title``
  (required), ``abstract``, ``authors`` (list), ``year`` (int), ``categories`` (list), ``url``,
  ``references`` (list of paper ids linked by citation), ``published`` (the date the paper
  appeared, a ``YYYY-MM-DD`` string; it sets ``year`` when that is absent), ``arxiv_id`` and
  ``doi`` (any common spelling; stored without version, prefix or resolver URL).
  Unknown fields are an error, not ignored: a misspelt ``abstact`` would otherwise silently drop
  every abstract. Blank lines are skipped.
* **CSV** (:func:`read_csv`): a header row naming at least ``paper_id`` and ``title`` from the same
  set of fields; ``authors``, ``categories`` and ``references`` separated by ``;``; an empty
  ``year`` or ``published`` is unknown.

Other formats have a module of their own (:mod:`recommender.io.arxiv`, the metadata snapshot;
:mod:`recommender.io.feeds`, arXiv's RSS and Atom listings, also from a URL); a new one is one
more module and one more entry of :data:`READERS`.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from recommender.catalog import Catalog, Paper
from recommender.io import records
from recommender.io.arxiv import read_arxiv_snapshot
from recommender.io.feeds import is_url, read_feed
from recommender.io.lines import UNREADABLE, LoaderError, PathLike, clean, open_text, read_lines

__all__ = ["READERS", "CatalogFormat", "read_catalog", "read_csv", "read_jsonl"]


# ------------------------------------------------------------------------------- JSON lines
def read_jsonl(path: PathLike) -> Catalog:
    """A catalog from a JSON-lines file of papers (see the module docstring for the fields).

    Blank lines are skipped; unknown fields, wrong types, a missing ``paper_id`` or ``title``, a
    ``published`` that is not a ``YYYY-MM-DD`` date and a ``paper_id`` given twice raise
    :class:`LoaderError`.
    """
    path = Path(path)
    papers: list[Paper] = []
    seen = records.SeenIds(path)
    for lineno, text in read_lines(path):
        if not text.strip():
            continue
        obj = records.json_object(path, lineno, text)
        unknown = sorted(set(obj) - set(records.FIELDS))
        if unknown:
            raise LoaderError(
                path,
                lineno,
                f"unknown field(s) {', '.join(map(repr, unknown))}; "
                f"known: {', '.join(records.FIELDS)}",
            )
        for name in records.REQUIRED:
            if obj.get(name) is None:
                raise LoaderError(path, lineno, f"missing required field {name!r}")
        paper_id = records.paper_id(path, lineno, obj["paper_id"])
        seen.check(paper_id, lineno)
        title = obj["title"]
        if not isinstance(title, str) or not title.strip():
            raise LoaderError(path, lineno, "field 'title' must be a non-empty string")
        papers.append(
            records.make_paper(
                path,
                lineno,
                {
                    "paper_id": paper_id,
                    "title": clean(title),
                    "abstract": clean(
                        records.opt_str(path, lineno, "abstract", obj.get("abstract")) or ""
                    ),
                    "authors": records.str_list(path, lineno, "authors", obj.get("authors")),
                    "year": records.year(path, lineno, obj.get("year")),
                    "categories": records.str_list(
                        path, lineno, "categories", obj.get("categories")
                    ),
                    "url": records.opt_str(path, lineno, "url", obj.get("url")),
                    "references": records.str_list(
                        path, lineno, "references", obj.get("references")
                    ),
                    "published": records.published(path, lineno, obj.get("published")),
                    "arxiv_id": records.opt_str(path, lineno, "arxiv_id", obj.get("arxiv_id")),
                    "doi": records.opt_str(path, lineno, "doi", obj.get("doi")),
                },
            )
        )
    return records.finish(path, papers)


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
    with open_text(path) as text:
        reader = csv.reader(text, strict=True)
        try:
            return _read_csv_rows(path, reader)
        except UnicodeDecodeError as e:
            raise LoaderError(path, reader.line_num + 1, f"not UTF-8 text ({e.reason})") from None
        except csv.Error as e:
            raise LoaderError(path, reader.line_num, f"malformed CSV ({e})") from None
        except UNREADABLE as e:
            raise LoaderError(path, reader.line_num + 1, f"cannot read the file ({e})") from None


def _read_csv_rows(path: Path, reader: Any) -> Catalog:
    header: list[str] | None = None
    header_line = 0
    start = 1
    papers: list[Paper] = []
    seen = records.SeenIds(path)
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
        for name in records.REQUIRED:
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
            records.make_paper(
                path,
                lineno,
                {
                    "paper_id": rec["paper_id"],
                    "title": clean(rec["title"]),
                    "abstract": clean(rec.get("abstract", "")),
                    "authors": _split_list(rec.get("authors", "")),
                    "year": year,
                    "categories": _split_list(rec.get("categories", "")),
                    "url": rec.get("url") or None,
                    "references": _split_list(rec.get("references", "")),
                    "published": records.published(path, lineno, rec.get("published") or None),
                    "arxiv_id": rec.get("arxiv_id") or None,
                    "doi": rec.get("doi") or None,
                },
            )
        )
    if header is None:
        raise LoaderError(path, None, "empty file: expected a header row")
    return records.finish(path, papers)


def _check_header(path: Path, lineno: int, header: list[str]) -> None:
    missing = [f for f in records.REQUIRED if f not in header]
    if missing:
        raise LoaderError(
            path,
            lineno,
            f"header lacks required column(s) {', '.join(map(repr, missing))}: the first row "
            f"of a catalog CSV names its columns, at least paper_id and title (a reference "
            "library exported from Zotero is imported with paperrec import-library)",
        )
    unknown = [c for c in header if c not in records.FIELDS]
    if unknown:
        raise LoaderError(
            path,
            lineno,
            f"unknown column(s) {', '.join(map(repr, unknown))}; "
            f"known: {', '.join(records.FIELDS)}",
        )
    repeated = sorted({c for c in header if header.count(c) > 1})
    if repeated:
        raise LoaderError(path, lineno, f"repeated column(s) {', '.join(map(repr, repeated))}")


# ------------------------------------------------------------------------------ dispatch
CatalogFormat = Literal["auto", "jsonl", "csv", "arxiv", "feed"]

#: The reader of each catalog format, by the name :func:`read_catalog` takes.
READERS: dict[str, Callable[[PathLike], Catalog]] = {
    "jsonl": read_jsonl,
    "csv": read_csv,
    "arxiv": read_arxiv_snapshot,
    "feed": read_feed,
}


def read_catalog(path: PathLike, fmt: CatalogFormat = "auto") -> Catalog:
    """Read a catalog in format ``fmt``; ``"auto"`` decides from the suffix (``.csv``,
    ``.jsonl``/``.json``/``.ndjson``, ``.xml``/``.rss``/``.atom``, optionally ``.gz``) and, for
    JSON lines, from the first record's fields (``paper_id`` = this project's format, ``id`` =
    the arXiv snapshot); an http(s) URL is fetched as an arXiv feed."""
    if is_url(path):
        if fmt not in ("auto", "feed"):
            raise ValueError(f"a URL is read as an arXiv feed, not as {fmt!r}")
        return read_feed(str(path))
    path = Path(path)
    name: str = _detect(path) if fmt == "auto" else fmt
    reader = READERS.get(name)
    if reader is None:
        raise ValueError(f"unknown catalog format {fmt!r}; known: auto, {', '.join(READERS)}")
    return reader(path)


def _detect(path: Path) -> Literal["jsonl", "csv", "arxiv", "feed"]:
    suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    suffix = suffixes[-1] if suffixes else ""
    if suffix == ".csv":
        return "csv"
    if suffix in (".xml", ".rss", ".atom"):
        return "feed"
    for lineno, text in read_lines(path):
        if not text.strip():
            continue
        if text.lstrip().startswith("<"):
            return "feed"
        if text.lstrip().startswith("{"):
            obj = records.json_object(path, lineno, text)
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
        path,
        None,
        "cannot tell the catalog format: give the format (--format jsonl, csv, arxiv or feed)",
    )
