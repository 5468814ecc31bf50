"""The import commands of ``paperrec``: ``import`` (papers, CiteULike), ``import-likes`` and
``import-library``, with progress bars on a terminal.

Each reads its whole file before it writes anything, so a file that cannot be read changes
nothing; a bad file raises :class:`~recommender.io.lines.LoaderError` and a usage problem
:class:`CommandError`, both turned into one line (``error: FILE:LINE: ...``, exit 2) by
:func:`service.cli.main`.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tqdm import tqdm

    from service.settings import Settings
    from service.store import Kind, Store

__all__ = ["CommandError", "cmd_import", "cmd_import_library", "cmd_import_likes", "progress"]


class CommandError(Exception):
    """A command that cannot do what it was asked, with what to do instead (one line)."""


@contextmanager
def progress(desc: str, total: int | None, unit: str = "") -> Iterator[tqdm]:
    """A progress bar on the terminal (stderr); none when stderr is not a terminal (a log, a
    pipe), so logs get no bar lines. With ``total`` ``None`` (work that cannot be counted, such
    as reading a file) it only says what is being done."""
    from tqdm import tqdm

    fmt = None if total is not None else "{desc} ..."
    # Every update is drawn (mininterval 0): they come a chunk of a thousand at a time.
    with tqdm(
        total=total,
        desc=desc,
        unit=unit,
        disable=None,
        leave=False,
        bar_format=fmt,
        mininterval=0,
    ) as bar:
        yield bar


def _open(settings: Settings) -> Any:
    from service.connection import open_store

    return open_store(settings)


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    from recommender.datasets import default_data_dir
    from recommender.datasets.citeulike import load_citeulike, prefixed_records
    from recommender.io import read_catalog

    if args.source == "papers":
        if not args.path:
            raise CommandError(
                "paperrec import papers: name the FILE (or URL of an arXiv feed) to read"
            )
        with progress(f"reading {args.path}", None):
            papers = list(read_catalog(args.path, args.format))
        likes: dict[str, list[str]] = {}
    else:
        folder = args.path or settings.datasets_dir or default_data_dir()
        with progress(f"reading {args.source}", None):
            data = load_citeulike(args.source, folder)
        papers, likes = prefixed_records(data, likes=args.likes)
    with _open(settings) as store:
        with progress("papers", len(papers), " papers") as bar:
            put = store.put_papers(papers, progress=bar.update)
        print(
            f"papers: {put.created} new, {put.updated} updated ({store.count_papers()} in the store)"
        )
        if put.removed:
            print(f"the {len(put.removed)} sample papers left the catalog (real papers came)")
        if likes:
            with progress("likes", len(likes), " users") as bar:
                n = store.import_likes(likes, source=args.source, progress=bar.update)
            print(f"likes: {n} from {len(likes)} users")
    print(
        "A serving API recommends the new papers within PAPERREC_PAPERS_POLL_S seconds (by "
        "their content); a retrain (`paperrec train` or POST /admin/retrain) folds the likes in."
    )
    return 0


def _prefix_hint(store: Store, unknown: list[str]) -> tuple[str, int, int] | None:
    """``(prefix, matched, tried)``: the prefix of stored paper ids (``citeulike-a:``) that turns
    most of a sample of ``unknown`` into stored ids, if any does."""
    prefixes: set[str] = set()
    for i, pid in enumerate(store.iter_paper_ids()):
        if ":" in pid:
            prefixes.add(pid.rsplit(":", 1)[0] + ":")
        if i >= 2000:
            break
    tried = unknown[:200]
    best: tuple[str, int, int] | None = None
    for prefix in sorted(prefixes):
        n = len(store.known_papers(prefix + pid for pid in tried))
        if n and (best is None or n > best[1]):
            best = (prefix, n, len(tried))
    return best


def _looks_like_id_list(path: str) -> bool:
    """Whether the first line of ``path`` is an arXiv id or a DOI (a library, not likes)."""
    from recommender.identifiers import find_arxiv_id, find_doi

    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            first = next((line.strip() for line in fh if line.strip()), "")
    except OSError:
        return False
    word = first.split()[0] if first else ""
    return bool(word) and (find_arxiv_id(word) is not None or find_doi(word) is not None)


def cmd_import_likes(args: argparse.Namespace, settings: Settings) -> int:
    from recommender.io import read_likes
    from recommender.io.lines import LoaderError

    with progress(f"reading {args.file}", None):
        try:
            likes = read_likes(
                args.file, user_prefix=args.user_prefix, paper_prefix=args.paper_prefix
            )
        except LoaderError as e:
            if _looks_like_id_list(args.file):
                raise CommandError(
                    f"{e}: the file looks like a list of arXiv ids or DOIs, which is one "
                    f"user's library: paperrec import-library {args.file} --user USER"
                ) from None
            raise
    named = [p for ps in likes.values() for p in ps]
    with _open(settings) as store:
        known = store.known_papers(named)
        unknown = [p for p in dict.fromkeys(named) if p not in known]
        hint = _prefix_hint(store, unknown) if unknown else None
        advice = (
            f"with --paper-prefix {args.paper_prefix}{hint[0]} {hint[1]} of {hint[2]} checked "
            f"would be: run again with --paper-prefix {args.paper_prefix}{hint[0]}"
            if hint
            else "import the papers first (paperrec import papers FILE), then the likes again"
        )
        if named and not known:
            raise CommandError(
                f"{args.file}: none of the {len(unknown)} papers it names is in the store "
                f"(e.g. {unknown[0]!r}), nothing was imported; {advice}"
            )
        likes = {u: kept for u, ps in likes.items() if (kept := [p for p in ps if p in known])}
        with progress("likes", len(likes), " users") as bar:
            n = store.import_likes(likes, source=args.source, progress=bar.update)
    skipped = sum(p not in known for p in named)
    print(f"likes: {n} from {len(likes)} users; {skipped} skipped (paper not in the store)")
    if skipped:
        print(advice)
    return 0


def cmd_import_library(args: argparse.Namespace, settings: Settings) -> int:
    from recommender.catalog import check_user_id
    from recommender.io import read_library
    from service.collections import check_name
    from service.collections import create_sync as create_collection
    from service.collections import exists_sync as collection_exists
    from service.library import import_library

    try:
        check_user_id(args.user)
    except ValueError as e:
        raise CommandError(str(e)) from None
    with progress(f"reading {args.file}", None):
        library = read_library(args.file, args.format)
    kind: Kind = "likes" if args.as_ == "like" else "dislikes"
    collection = getattr(args, "collection", None)
    if collection is not None and kind != "likes":
        raise CommandError("--collection: only likes go in a collection, not --as dislike")
    with _open(settings) as store, progress("matching and storing", None):
        if collection is not None and not collection_exists(store, args.user, collection):
            if args.dry_run:
                raise CommandError(f"user {args.user!r} has no collection {collection!r}")
            create_collection(store, args.user, check_name(collection))
        report = import_library(
            store,
            library,
            args.user,
            kind=kind,
            dry_run=args.dry_run,
            source="library",
            collection=collection,
        )
    for line in report.lines():
        print(line)
    if not args.dry_run and (report.match.added or report.new_feedback):
        print(
            f"A serving API takes the new papers in within PAPERREC_PAPERS_POLL_S seconds; "
            f"{args.user}'s next recommendations already follow the {kind} (no retrain needed)."
        )
    return 0
