"""A plain list of papers: one arXiv id or DOI a line.

arXiv ids in either style (``2101.00001``, ``hep-th/9901001``), with or without a version,
``arXiv:`` before them, or as an arxiv.org abs/pdf URL; DOIs bare, with ``doi:`` or as a
doi.org URL. Blank lines and lines starting with ``#`` are skipped; anything after the id on its
line (a title, a comment) is ignored. A line that holds neither is skipped and reported.
"""

from __future__ import annotations

from recommender.identifiers import find_arxiv_id, find_doi
from recommender.io.entries import LibraryEntry, LibraryFile, Skipped

__all__ = ["parse_id_list"]


def parse_id_list(text: str, name: str) -> LibraryFile:
    """The entries of a text with one arXiv id or DOI a line (``name`` for messages)."""
    out = LibraryFile(path=name, format="ids")
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        first = line.split()[0].rstrip(",;")
        arxiv = find_arxiv_id(first)
        doi = None if arxiv else find_doi(first)
        if arxiv is None and doi is None:
            shown = line if len(line) <= 60 else line[:57] + "..."
            out.skipped.append(
                Skipped(
                    lineno,
                    None,
                    f"{shown!r} is neither an arXiv id (2101.00001, hep-th/9901001, "
                    "arXiv:..., an arxiv.org URL) nor a DOI (10.xxxx/..., a doi.org URL)",
                )
            )
            continue
        out.entries.append(LibraryEntry(line=lineno, arxiv_id=arxiv, doi=doi))
    return out
