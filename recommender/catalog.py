"""Papers and the mapping between paper ids and matrix rows.

Everything inside the library works in row numbers of a users x papers matrix; real paper ids are
translated here, at the edge.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import date
from typing import Any

import numpy as np

from recommender import identifiers

__all__ = [
    "MAX_ID_LENGTH",
    "PAPER_ID_PATTERN",
    "USER_ID_PATTERN",
    "Catalog",
    "IdMap",
    "Paper",
    "check_paper_id",
    "check_user_id",
    "parse_date",
]

# ------------------------------------------------------------------------------- the id rule
#: Most characters in an id.
MAX_ID_LENGTH = 128
_PAPER_CHARS = "A-Za-z0-9._:-"  # of one segment; segments are joined by "/"
_USER_CHARS = "A-Za-z0-9._:@-"
#: Routes that end in a word after the paper id (``GET /papers/{paper_id}/similar``): an id
#: ending in ``/<word>`` would be taken for that route.
ROUTE_SUFFIXES = ("similar",)
_DOT_SEGMENTS = (".", "..")


def _segment(chars: str, first: str = "") -> str:
    """A regex of one path segment over ``chars`` that is not ``.`` or ``..`` (which clients
    resolve away); ``first``: the characters the segment may start with (default: any)."""
    no_dot = chars.replace(".", "")
    first = first or chars
    options = [f"[{first.replace('.', '')}][{chars}]*"]
    if "." in first:
        options += [rf"\.[{no_dot}][{chars}]*", rf"\.\.[{chars}]+"]
    return "(?:" + "|".join(options) + ")"


def _segment_other_than(chars: str, word: str) -> str:
    """A regex of one segment (as :func:`_segment`) that is not exactly ``word``, written
    without look-ahead, so that pydantic's regex engine and JSON Schema tools read it: a proper
    prefix of the word, the word followed by more, or a string leaving it at some character."""
    anything = f"[{chars}]*"
    options = [_segment(chars, first=_without(chars, word[0]))]
    for i in range(1, len(word)):
        options.append(f"{word[:i]}[{_without(chars, word[i])}]{anything}")
    options += [word[:i] for i in range(1, len(word))]
    options.append(f"{word}[{chars}]+")
    return "(?:" + "|".join(options) + ")"


def _without(chars: str, c: str) -> str:
    """A character class body of ``chars`` less the letter ``c`` (ranges split around it)."""
    out = chars
    for lo, hi in (("a", "z"), ("A", "Z"), ("0", "9")):
        if lo <= c <= hi:
            left = f"{lo}-{chr(ord(c) - 1)}" if c > lo else ""
            right = f"{chr(ord(c) + 1)}-{hi}" if c < hi else ""
            out = out.replace(f"{lo}-{hi}", left + right)
    return out


def _last_segment(chars: str) -> str:
    last = _segment(chars)
    for word in ROUTE_SUFFIXES:
        last = _segment_other_than(chars, word)
    return last


#: The paper id rule as one regular expression (with :data:`MAX_ID_LENGTH` beside it): segments
#: of letters, digits and ``. _ : -`` joined by ``/`` (for ids such as arXiv's
#: ``hep-th/9901001`` or ``doi:10.1000/xyz``), none empty, none ``.`` or ``..``, and a last
#: segment that is not a route's word (``foo/similar``) when there are several. No look-ahead:
#: pydantic and the OpenAPI document use the same text.
PAPER_ID_PATTERN = (
    f"^(?:{_segment(_PAPER_CHARS)}|(?:{_segment(_PAPER_CHARS)}/)+{_last_segment(_PAPER_CHARS)})$"
)
#: User ids: one segment of letters, digits and ``. _ : @ -`` (no ``/``: a user id sits in the
#: middle of URL paths), not ``.`` or ``..``.
USER_ID_PATTERN = f"^{_segment(_USER_CHARS)}$"
_PAPER_ID = re.compile(PAPER_ID_PATTERN)
_USER_ID = re.compile(USER_ID_PATTERN)


def check_paper_id(value: object) -> str:
    """``value`` if it is a valid paper id (:data:`PAPER_ID_PATTERN`, at most
    :data:`MAX_ID_LENGTH` characters), else a ``ValueError`` saying why.

    Ids travel in URL paths (``/papers/{paper_id}``, ``/users/{u}/likes/{paper_id}``), so
    besides its alphabet an id may not hold what a route or a client would change: an empty
    segment (a leading or trailing ``/``, or ``//``), a segment ``.`` or ``..`` (clients resolve
    them away before sending), or a last segment that names a route (``foo/similar``). Every
    entry (the API, the command line, the file readers, :class:`Paper`) applies this one rule."""
    if isinstance(value, str) and 0 < len(value) <= MAX_ID_LENGTH and _PAPER_ID.fullmatch(value):
        return value
    raise ValueError(f"invalid paper id {value!r}: {_paper_id_problem(value)}")


def _paper_id_problem(value: object) -> str:
    """Why ``value`` breaks the paper id rule, in words."""
    alphabet = f"1-{MAX_ID_LENGTH} characters of letters, digits and . _ : / -"
    if not isinstance(value, str) or not 0 < len(value) <= MAX_ID_LENGTH:
        return alphabet
    if re.search(f"[^/{_PAPER_CHARS}]", value):
        return alphabet
    segments = value.split("/")
    if "" in segments:
        return "no leading, trailing or double '/' (an empty path segment)"
    if any(s in _DOT_SEGMENTS for s in segments):
        return "a '.' or '..' segment is rewritten by HTTP clients"
    return (
        f"it may not end in '/{segments[-1]}', which names a route "
        "(GET /papers/{paper_id}/similar)"
    )


def check_user_id(value: object) -> str:
    """``value`` if it is a valid user id (:data:`USER_ID_PATTERN`, at most
    :data:`MAX_ID_LENGTH` characters), else a ``ValueError`` saying why."""
    if isinstance(value, str) and 0 < len(value) <= MAX_ID_LENGTH and _USER_ID.fullmatch(value):
        return value
    if isinstance(value, str) and value in _DOT_SEGMENTS:
        raise ValueError(f"invalid user id {value!r}: '.' and '..' are rewritten by HTTP clients")
    raise ValueError(
        f"invalid user id {value!r}: 1-{MAX_ID_LENGTH} characters of letters, digits and . _ : @ -"
    )


def parse_date(value: object, what: str = "date") -> date:
    """``value`` (a ``YYYY-MM-DD`` string) as a date; a ``ValueError`` naming ``what`` otherwise."""
    if isinstance(value, str) and len(value) == 10 and value[4] == "-" and value[7] == "-":
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError(f"{what} must be a date written YYYY-MM-DD, got {value!r}")


@dataclass(frozen=True, slots=True)
class Paper:
    """One paper. ``paper_id`` and ``title`` are required; everything else is optional."""

    paper_id: str
    title: str
    abstract: str = ""
    authors: tuple[str, ...] = ()
    year: int | None = None
    categories: tuple[str, ...] = ()
    url: str | None = None
    #: Ids of papers this one is linked to by citation (either direction); optional content.
    references: tuple[str, ...] = ()
    #: The date the paper appeared, ``YYYY-MM-DD`` (for "papers since" feeds); sets ``year``
    #: when that is not given (the two may differ: a preprint appears before its journal year).
    published: str | None = None
    #: The paper's arXiv id, without version (``2101.00001``, ``hep-th/9901001``); any spelling
    #: of it is accepted (``arXiv:2101.00001v2``, an abs URL) and stored in that normal form.
    arxiv_id: str | None = None
    #: The paper's DOI, in lower case, without ``doi:`` or a resolver URL (given either way).
    doi: str | None = None

    def __post_init__(self) -> None:
        check_paper_id(self.paper_id)
        if not isinstance(self.title, str) or not self.title.strip():
            raise ValueError(f"paper {self.paper_id!r}: title must be a non-empty string")
        # Accept lists from JSON and store tuples so papers stay hashable and immutable.
        object.__setattr__(self, "authors", tuple(self.authors))
        object.__setattr__(self, "categories", tuple(self.categories))
        object.__setattr__(self, "references", tuple(self.references))
        for ref in self.references:
            try:
                check_paper_id(ref)
            except ValueError as e:
                raise ValueError(f"paper {self.paper_id!r}: references: {e}") from None
        if self.published is not None:
            day = parse_date(self.published, f"paper {self.paper_id!r}: published")
            if self.year is None:
                object.__setattr__(self, "year", day.year)
        # Stored in one normal form so that the same paper from two sources is one paper.
        for name, normal in (("arxiv_id", identifiers.arxiv_id), ("doi", identifiers.doi)):
            value = getattr(self, name)
            if value is not None:
                if not isinstance(value, str):
                    raise ValueError(f"paper {self.paper_id!r}: {name} must be a string")
                try:
                    object.__setattr__(self, name, normal(value))
                except ValueError as e:
                    raise ValueError(f"paper {self.paper_id!r}: {name}: {e}") from None

    @property
    def published_date(self) -> date | None:
        """``published`` as a date (``None`` when unknown)."""
        return None if self.published is None else date.fromisoformat(self.published)

    @property
    def text(self) -> str:
        """The text content features are built from: title and abstract."""
        return f"{self.title}. {self.abstract}" if self.abstract else self.title

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["authors"] = list(self.authors)
        d["categories"] = list(self.categories)
        d["references"] = list(self.references)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Paper:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown paper field(s): {', '.join(sorted(unknown))}")
        return cls(**d)


@dataclass
class IdMap:
    """A stable, append-only mapping between external ids and 0-based rows."""

    ids: list[str] = field(default_factory=list)
    _rows: dict[str, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._rows = {}
        for row, id_ in enumerate(self.ids):
            if id_ in self._rows:
                raise ValueError(f"duplicate id {id_!r} at rows {self._rows[id_]} and {row}")
            self._rows[id_] = row

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, id_: object) -> bool:
        return id_ in self._rows

    def row(self, id_: str) -> int:
        """Row of ``id_``; ``KeyError`` if unknown."""
        return self._rows[id_]

    def rows(self, ids: Iterable[str], *, skip_unknown: bool = False) -> np.ndarray:
        """Rows of several ids, as an int64 array (unknown ids skipped or raising ``KeyError``)."""
        if skip_unknown:
            # One dict lookup per id (a request maps a few hundred: likes, hidden, previous).
            get = self._rows.get
            found = np.array([get(i, -1) for i in ids], dtype=np.int64)
            return found[found >= 0]
        return np.array([self._rows[i] for i in ids], dtype=np.int64)

    def add(self, id_: str) -> int:
        """Row of ``id_``, appending it if new."""
        row = self._rows.get(id_)
        if row is None:
            row = len(self.ids)
            self.ids.append(id_)
            self._rows[id_] = row
        return row


class Catalog:
    """An ordered collection of papers: row ``i`` of every feature and interaction matrix is
    ``catalog[i]``. Adding a paper whose id exists replaces it in place (same row)."""

    def __init__(self, papers: Iterable[Paper] = ()) -> None:
        self._papers: list[Paper] = []
        self.ids = IdMap()
        self.extend(papers)

    def __len__(self) -> int:
        return len(self._papers)

    def __iter__(self) -> Iterator[Paper]:
        return iter(self._papers)

    def __getitem__(self, row: int) -> Paper:
        return self._papers[row]

    def __contains__(self, paper_id: object) -> bool:
        return paper_id in self.ids

    def get(self, paper_id: str) -> Paper | None:
        if paper_id not in self.ids:
            return None
        return self._papers[self.ids.row(paper_id)]

    def row(self, paper_id: str) -> int:
        return self.ids.row(paper_id)

    def add(self, paper: Paper) -> tuple[int, bool]:
        """Add or replace ``paper``; returns ``(row, created)``."""
        created = paper.paper_id not in self.ids
        row = self.ids.add(paper.paper_id)
        if created:
            self._papers.append(paper)
        else:
            self._papers[row] = paper
        return row, created

    def extend(self, papers: Iterable[Paper]) -> list[int]:
        return [self.add(p)[0] for p in papers]

    @property
    def paper_ids(self) -> list[str]:
        return list(self.ids.ids)

    def texts(self, rows: Sequence[int] | None = None) -> list[str]:
        """Title + abstract of each paper (all, or the given rows)."""
        papers = self._papers if rows is None else [self._papers[r] for r in rows]
        return [p.text for p in papers]
