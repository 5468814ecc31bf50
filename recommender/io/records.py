"""What every catalog reader shares: the fields a paper record may hold, their checks, and
turning checked records into a :class:`~recommender.catalog.Catalog`.

A reader of a new catalog format parses its own syntax and hands the values to these checks, so
that every format reports a bad value with the same message at its own file and line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from recommender.catalog import Catalog, Paper, check_paper_id, parse_date
from recommender.io.lines import LoaderError, PathLike

__all__ = [
    "FIELDS",
    "REQUIRED",
    "SeenIds",
    "finish",
    "json_object",
    "make_paper",
    "opt_str",
    "paper_id",
    "published",
    "str_list",
    "year",
]

#: The fields of a paper record in this project's own formats (JSON lines, CSV).
FIELDS = (
    "paper_id",
    "title",
    "abstract",
    "authors",
    "year",
    "categories",
    "url",
    "references",
    "published",
    "arxiv_id",
    "doi",
)
REQUIRED = ("paper_id", "title")


def make_paper(path: PathLike, lineno: int | None, fields: dict[str, Any]) -> Paper:
    """A :class:`Paper` of ``fields``; what ``Paper`` refuses is a :class:`LoaderError` here."""
    try:
        return Paper(**fields)
    except (TypeError, ValueError) as e:
        raise LoaderError(path, lineno, str(e)) from None


def finish(path: PathLike, papers: list[Paper]) -> Catalog:
    """The catalog of ``papers``; a file that gave none is an error, not an empty catalog."""
    if not papers:
        raise LoaderError(path, None, "no papers in the file")
    return Catalog(papers)


class SeenIds:
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


def json_object(path: Path, lineno: int, text: str) -> dict[str, Any]:
    """One line of JSON lines, which must be an object."""
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise LoaderError(path, lineno, f"invalid JSON ({e.msg} at column {e.colno})") from None
    if not isinstance(obj, dict):
        raise LoaderError(path, lineno, f"expected a JSON object, got {type(obj).__name__}")
    return obj


def str_list(path: Path, lineno: int, name: str, value: Any) -> tuple[str, ...]:
    """A list of strings (``None``: empty), each stripped, empty ones dropped."""
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise LoaderError(path, lineno, f"field {name!r} must be a list of strings")
    return tuple(v.strip() for v in value if v.strip())


def paper_id(path: Path, lineno: int, value: Any) -> str:
    """A paper id: a string following the id rule (:func:`recommender.catalog.check_paper_id`;
    surrounding blanks dropped), or an integer taken as its decimal text."""
    # Integer ids are common in exported data; they are taken as their decimal text.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str) or not value.strip():
        raise LoaderError(path, lineno, "field 'paper_id' must be a non-empty string")
    try:
        return check_paper_id(value.strip())
    except ValueError as e:
        raise LoaderError(path, lineno, str(e)) from None


def year(path: Path, lineno: int, value: Any) -> int | None:
    """A year: an integer, or ``None`` for unknown."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise LoaderError(path, lineno, f"field 'year' must be an integer, got {value!r}")
    return value


def published(path: Path, lineno: int, value: Any) -> str | None:
    """A ``published`` value as ``YYYY-MM-DD`` (``None`` = unknown); anything else is an error."""
    if value is None:
        return None
    if isinstance(value, str):
        value = value.strip()
    try:
        return parse_date(value, "field 'published'").isoformat()
    except ValueError as e:
        raise LoaderError(path, lineno, str(e)) from None


def opt_str(path: Path, lineno: int, name: str, value: Any) -> str | None:
    """An optional string, stripped (``None`` when absent or blank)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise LoaderError(path, lineno, f"field {name!r} must be a string")
    return value.strip() or None
