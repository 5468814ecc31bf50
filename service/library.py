"""A researcher's library file becoming their likes (or dislikes): what ``paperrec
import-library`` and ``POST /users/{user_id}/library`` both run.

The file is read whole and matched against the catalog's index before anything is written
(:func:`recommender.library.match_library`), so a file that cannot be read changes nothing. Then
the new papers are stored (durable first, recommendable at once through the ``add_papers`` the
caller passes: the API's model manager, or the store for the command line, whose papers a
serving API takes in from the change stream), and the feedback is stored in one transaction, each
paper by the same script as a ``PUT``. Importing the same file again changes nothing: its entries
now match the papers the first import added, and their likes are there.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from recommender.catalog import Paper
from recommender.io.library import LibraryFile
from recommender.library import LibraryMatch, match_library
from service.collections import exists_sync
from service.store import Kind, Store

__all__ = ["LibraryImport", "import_library"]


@dataclass
class LibraryImport:
    """The report of one import: the match, and what became of the feedback."""

    user_id: str
    kind: Kind
    match: LibraryMatch
    dry_run: bool
    #: Papers that became the user's likes (or dislikes) now, and those that already were.
    new_feedback: int = 0
    already: int = 0
    #: The collection the likes were also put in (None: none).
    collection: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "as": self.kind[:-1],
            "dry_run": self.dry_run,
            **self.match.to_dict(),
            "new_feedback": self.new_feedback,
            "already": self.already,
            "collection": self.collection,
        }

    def lines(self) -> list[str]:
        """The report as the command line prints it."""
        m = self.match
        by = m.matched_by()
        verb = "would be" if self.dry_run else "were"
        out = [
            f"{m.path}: {m.read} entries read ({m.format})",
            f"  matched in the catalog: {len(m.matched)} "
            f"(by arXiv id {by['arxiv']}, by DOI {by['doi']}, by title {by['title']})",
            f"  added as new papers:    {len(m.added)}",
            f"  skipped:                {len(m.skipped)}",
        ]
        out += [f"    {m.path}: {s.where}: {s.reason}" for s in m.skipped]
        what = self.kind
        if self.dry_run:
            out.append(
                f"dry run: nothing stored; {len(m.paper_ids)} papers {verb} {self.user_id}'s {what}"
            )
        else:
            out.append(
                f"{what} of {self.user_id}: {self.new_feedback} new, {self.already} already there"
            )
        return out


def import_library(
    store: Store,
    library: LibraryFile,
    user_id: str,
    *,
    kind: Kind = "likes",
    dry_run: bool = False,
    source: str = "library",
    add_papers: Callable[[Sequence[Paper]], object] | None = None,
    collection: str | None = None,
) -> LibraryImport:
    """Match ``library`` against the store's catalog and, unless ``dry_run``, store its new
    papers (through ``add_papers``, default :meth:`Store.put_papers`) and make every paper of it
    one of ``user_id``'s ``kind`` (events with ``source``), also put in ``collection`` (likes
    only; ``KeyError`` before anything is stored when the user has no such collection)."""
    if collection is not None:
        if kind != "likes":
            raise ValueError("only likes go in a collection (not dislikes)")
        if not exists_sync(store, user_id, collection):
            raise KeyError(collection)
    match = match_library(library, store)
    report = LibraryImport(user_id, kind, match, dry_run, collection=collection)
    if dry_run:
        return report
    if match.new_papers:
        (add_papers or store.put_papers)(match.new_papers)
    flags = store.add_feedback_many(
        kind, user_id, match.paper_ids, source=source, collection=collection
    )
    report.new_feedback = sum(flags)
    report.already = len(flags) - report.new_feedback
    return report
