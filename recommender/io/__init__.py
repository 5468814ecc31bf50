"""Readers and writers of files in general formats: the project's I/O in one place.

Every reader reads a path the caller gives. A file that cannot be read as its format says raises
:class:`LoaderError`, whose message names the file, the 1-based line and the problem, e.g.
``papers.jsonl:7: missing required field 'title'``. Files ending in ``.gz`` are read through gzip.

One module per kind of file, each standing on :mod:`~recommender.io.lines` (errors, line
reading) and, for catalogs, :mod:`~recommender.io.records` (the checks of a paper record):

* :mod:`~recommender.io.catalog` -- JSON lines and CSV catalogs, and :func:`read_catalog`, which
  picks the reader of a file (a new catalog format is one more module and one more entry there);
* :mod:`~recommender.io.arxiv` -- the arXiv metadata snapshot;
* :mod:`~recommender.io.feeds` -- arXiv's RSS and Atom listings (a file or a URL), a catalog;
* :mod:`~recommender.io.library` -- a researcher's reference library as entries
  (:mod:`~recommender.io.entries`), read leniently (a bad entry is skipped and named), and
  :func:`read_library`, which picks the reader:
  :mod:`~recommender.io.bibtex`, :mod:`~recommender.io.ris`, :mod:`~recommender.io.csl_json`,
  :mod:`~recommender.io.zotero_csv`, :mod:`~recommender.io.idlist` (one arXiv id or DOI a line);
* :mod:`~recommender.io.interactions` -- ``users.dat`` and ``user,paper`` likes, bag of words;
* :mod:`~recommender.io.files` -- :func:`write_atomic`, the one way files are written.

Datasets built from these files (CiteULike) live in :mod:`recommender.datasets`.
"""

from recommender.io.arxiv import read_arxiv_snapshot
from recommender.io.catalog import CatalogFormat, read_catalog, read_csv, read_jsonl
from recommender.io.feeds import read_feed
from recommender.io.files import OWNER_ONLY, READABLE_BY_ALL, write_atomic
from recommender.io.interactions import read_bag_of_words, read_likes, read_user_items
from recommender.io.library import LibraryFormat, parse_library, read_library
from recommender.io.lines import LoaderError

__all__ = [
    "OWNER_ONLY",
    "READABLE_BY_ALL",
    "CatalogFormat",
    "LibraryFormat",
    "LoaderError",
    "read_arxiv_snapshot",
    "read_bag_of_words",
    "read_catalog",
    "parse_library",
    "read_csv",
    "read_feed",
    "read_jsonl",
    "read_library",
    "read_likes",
    "read_user_items",
    "write_atomic",
]
