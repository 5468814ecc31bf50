"""Papers and the mapping between paper ids and matrix rows.

Everything inside the library works in row numbers of a users x papers matrix; real paper ids are
translated here, at the edge.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import date
from typing import Any

import numpy as np

from recommender import identifiers

__all__ = ["Catalog", "Paper", "IdMap", "parse_date"]


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
        if not isinstance(self.paper_id, str) or not self.paper_id.strip():
            raise ValueError("paper_id must be a non-empty string")
        if not isinstance(self.title, str) or not self.title.strip():
            raise ValueError(f"paper {self.paper_id!r}: title must be a non-empty string")
        # Accept lists from JSON and store tuples so papers stay hashable and immutable.
        object.__setattr__(self, "authors", tuple(self.authors))
        object.__setattr__(self, "categories", tuple(self.categories))
        object.__setattr__(self, "references", tuple(self.references))
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
            return np.fromiter((self._rows[i] for i in ids if i in self._rows), dtype=np.int64)
        return np.fromiter((self._rows[i] for i in ids), dtype=np.int64)

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
