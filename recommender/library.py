"""A researcher's library matched against a catalog: which entries are papers it has, which are
new papers, which cannot be used and why.

Pure functions over a :class:`PaperLookup`, the catalog's index by arXiv id, DOI and title key
(the service's Redis store is one; :class:`CatalogIndex` is one in memory, over a
:class:`~recommender.catalog.Catalog`). Each entry is matched by its arXiv id (versions dropped),
then its DOI (case-insensitive), then its title key (:func:`recommender.identifiers.title_key`:
accents, case, punctuation, braces and spacing ignored); several papers with that title are
told apart by the entry's year, and when that does not leave exactly one the entry is reported as
ambiguous, never guessed. An entry that matches nothing becomes a new paper from the file's own
title, abstract, authors, year and ids (id: :func:`~recommender.identifiers.generated_paper_id`),
so it counts as content for the user even when the catalog never had it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from recommender.catalog import Catalog, Paper, check_paper_id
from recommender.identifiers import generated_paper_id, title_key
from recommender.io.entries import LibraryEntry, LibraryFile, Skipped

__all__ = [
    "CatalogIndex",
    "LibraryMatch",
    "MatchKey",
    "Matched",
    "PaperLookup",
    "match_library",
    "paper_keys",
]

MatchKey = Literal["arxiv", "doi", "title"]


def paper_keys(paper: Paper) -> tuple[str | None, str | None, str]:
    """``(arXiv id, DOI, title key)`` a catalog is indexed by for ``paper``."""
    return paper.arxiv_id, paper.doi, title_key(paper.title)


class PaperLookup(Protocol):
    """A catalog's index: paper ids by arXiv id, DOI and title key, asked many at a time."""

    def by_arxiv(self, arxiv_ids: list[str]) -> dict[str, str]:
        """``{arXiv id: paper id}`` of the ids some paper has."""
        ...

    def by_doi(self, dois: list[str]) -> dict[str, str]:
        """``{DOI: paper id}`` of the DOIs some paper has."""
        ...

    def by_title(self, keys: list[str]) -> dict[str, list[str]]:
        """``{title key: [paper id, ...]}`` of the keys some paper has."""
        ...

    def years(self, paper_ids: list[str]) -> dict[str, int | None]:
        """Each paper's year (for telling papers of one title apart)."""
        ...

    def known(self, paper_ids: list[str]) -> set[str]:
        """Which of ``paper_ids`` are papers of the catalog."""
        ...


class CatalogIndex:
    """A :class:`PaperLookup` over a catalog in memory."""

    def __init__(self, catalog: Catalog | Iterable[Paper]) -> None:
        self.arxiv: dict[str, str] = {}
        self.doi: dict[str, str] = {}
        self.title: dict[str, list[str]] = {}
        self._years: dict[str, int | None] = {}
        for p in catalog:
            arxiv, doi, key = paper_keys(p)
            if arxiv:
                self.arxiv.setdefault(arxiv, p.paper_id)
            if doi:
                self.doi.setdefault(doi, p.paper_id)
            if key:
                self.title.setdefault(key, []).append(p.paper_id)
            self._years[p.paper_id] = p.year

    def by_arxiv(self, arxiv_ids: list[str]) -> dict[str, str]:
        return {a: self.arxiv[a] for a in arxiv_ids if a in self.arxiv}

    def by_doi(self, dois: list[str]) -> dict[str, str]:
        return {d: self.doi[d] for d in dois if d in self.doi}

    def by_title(self, keys: list[str]) -> dict[str, list[str]]:
        return {k: list(self.title[k]) for k in keys if k in self.title}

    def years(self, paper_ids: list[str]) -> dict[str, int | None]:
        return {p: self._years.get(p) for p in paper_ids}

    def known(self, paper_ids: list[str]) -> set[str]:
        return {p for p in paper_ids if p in self._years}


@dataclass(frozen=True)
class Matched:
    """An entry found in the catalog: the paper it is, and by which key."""

    entry: LibraryEntry
    paper_id: str
    by: MatchKey


@dataclass
class LibraryMatch:
    """The outcome of matching a library file: what :func:`match_library` found for every entry.

    ``matched`` and ``added`` (new papers, with the entry each came from) hold one entry per
    paper; ``skipped`` holds the file's own skipped entries and those matching could not use
    (ambiguous titles, ids the catalog lacks without a title to add them by, the same paper
    twice), in file order."""

    path: str
    format: str
    read: int
    matched: list[Matched] = field(default_factory=list)
    added: list[tuple[LibraryEntry, Paper]] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    @property
    def paper_ids(self) -> list[str]:
        """The papers of the library, matched and new, in file order."""
        found = [(m.entry, m.paper_id) for m in self.matched]
        found += [(e, p.paper_id) for e, p in self.added]
        found.sort(key=lambda x: x[0].line or 0)
        return list(dict.fromkeys(pid for _, pid in found))

    @property
    def new_papers(self) -> list[Paper]:
        return [p for _, p in self.added]

    def matched_by(self) -> dict[MatchKey, int]:
        """How many entries each key matched: ``{"arxiv": n, "doi": n, "title": n}``."""
        counts: dict[MatchKey, int] = {"arxiv": 0, "doi": 0, "title": 0}
        for m in self.matched:
            counts[m.by] += 1
        return counts

    def to_dict(self) -> dict[str, Any]:
        """The report as plain data (what the API answers and the command line prints)."""
        return {
            "file": self.path,
            "format": self.format,
            "read": self.read,
            "matched": len(self.matched),
            "matched_by": self.matched_by(),
            "added": len(self.added),
            "skipped": len(self.skipped),
            "matches": [
                {"entry": m.entry.where, "paper_id": m.paper_id, "by": m.by} for m in self.matched
            ],
            "new_papers": [{"entry": e.where, "paper_id": p.paper_id} for e, p in self.added],
            "skipped_entries": [{"entry": s.where, "reason": s.reason} for s in self.skipped],
        }


def _valid_id(paper_id: str) -> bool:
    try:
        check_paper_id(paper_id)
    except ValueError:
        return False
    return True


def _new_paper(entry: LibraryEntry) -> Paper:
    pid = generated_paper_id(
        arxiv=entry.arxiv_id, doi_=entry.doi, title=entry.title, year=entry.year, valid=_valid_id
    )
    url = entry.url or (f"https://arxiv.org/abs/{entry.arxiv_id}" if entry.arxiv_id else None)
    return Paper(
        paper_id=pid,
        title=entry.title,
        abstract=entry.abstract,
        authors=entry.authors,
        year=entry.year,
        url=url,
        arxiv_id=entry.arxiv_id,
        doi=entry.doi,
    )


def _by_title(
    entry: LibraryEntry, candidates: list[str], years: Mapping[str, int | None]
) -> tuple[str | None, str | None]:
    """``(paper id, None)`` of the one paper ``entry`` is by title, or ``(None, why not)``."""
    if len(candidates) == 1:
        return candidates[0], None
    same_year = [c for c in candidates if entry.year is not None and years.get(c) == entry.year]
    if len(same_year) == 1:
        return same_year[0], None
    shown = ", ".join(candidates[:5]) + (", ..." if len(candidates) > 5 else "")
    return None, (
        f"the title matches {len(candidates)} papers ({shown})"
        + ("" if entry.year is None else f", {len(same_year) or 'none'} of them from {entry.year}")
        + ": add the entry's DOI or arXiv id to say which"
    )


def _key_of_id(paper_id: str) -> MatchKey:
    """Which key a generated paper id was made from."""
    if paper_id.startswith("doi:"):
        return "doi"
    return "title" if paper_id.startswith("ref:") else "arxiv"


def match_library(library: LibraryFile, lookup: PaperLookup) -> LibraryMatch:
    """Match every entry of ``library`` against the catalog behind ``lookup`` (see the module
    docstring). Reads the index in three batched questions and the years of ambiguous titles;
    writes nothing."""
    entries = library.entries
    arxiv = lookup.by_arxiv(sorted({e.arxiv_id for e in entries if e.arxiv_id}))
    doi = lookup.by_doi(sorted({e.doi for e in entries if e.doi}))
    keys = {title_key(e.title) for e in entries if e.title} - {""}
    titles = lookup.by_title(sorted(keys))
    ambiguous = sorted({p for ids in titles.values() if len(ids) > 1 for p in ids})
    years = lookup.years(ambiguous) if ambiguous else {}

    out = LibraryMatch(library.path, library.format, library.read, skipped=list(library.skipped))
    new: list[tuple[LibraryEntry, Paper]] = []
    first: dict[str, LibraryEntry] = {}  # paper id -> the entry that brought it

    def once(entry: LibraryEntry, paper_id: str) -> bool:
        seen = first.setdefault(paper_id, entry)
        if seen is entry:
            return True
        out.skipped.append(
            Skipped(entry.line, entry.key, f"the same paper as {seen.where} ({paper_id})")
        )
        return False

    for e in entries:
        key = title_key(e.title) if e.title else ""
        found: tuple[str, MatchKey] | None = None
        if e.arxiv_id and e.arxiv_id in arxiv:
            found = arxiv[e.arxiv_id], "arxiv"
        elif e.doi and e.doi in doi:
            found = doi[e.doi], "doi"
        elif key in titles:
            pid, why = _by_title(e, titles[key], years)
            if pid is None:
                out.skipped.append(Skipped(e.line, e.key, str(why)))
                continue
            found = pid, "title"
        if found is not None:
            if once(e, found[0]):
                out.matched.append(Matched(e, found[0], found[1]))
            continue
        if not e.title:
            what = f"arXiv id {e.arxiv_id}" if e.arxiv_id else f"DOI {e.doi}"
            out.skipped.append(
                Skipped(
                    e.line,
                    e.key,
                    f"no paper in the catalog has the {what}, and the entry has no title to add "
                    "it with: import the paper first (an arXiv listing, a catalog file) or give "
                    "a BibTeX, RIS or CSL-JSON entry with its title",
                )
            )
            continue
        new.append((e, _new_paper(e)))
    # A new paper's id may already be a paper's (one stored before its arXiv id or DOI was
    # indexed, or imported under that id from an arXiv listing): that paper is the entry's.
    existing = lookup.known(sorted({p.paper_id for _, p in new})) if new else set()
    for e, paper in new:
        if paper.paper_id in existing:
            if once(e, paper.paper_id):
                out.matched.append(Matched(e, paper.paper_id, _key_of_id(paper.paper_id)))
        elif once(e, paper.paper_id):
            out.added.append((e, paper))
    out.matched.sort(key=lambda m: m.entry.line or 0)
    out.skipped.sort(key=lambda s: s.line or 0)
    return out
