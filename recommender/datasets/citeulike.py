"""The CiteULike research datasets citeulike-a and citeulike-t, read in place from their folders.

The folders are described in the project's DATASETS.md (each folder's ``PROVENANCE.txt`` names the
public source of every file); the files are read by the general readers of :mod:`recommender.io`.
:func:`load_citeulike` gives a dataset's papers, likes and tags, :func:`load_split` a published
train/test split, :func:`published_rows` the published results on those splits, and
:func:`prefixed_records` the papers and likes under ids that name the dataset, for a store.

**Tags leak test information** (they were assigned by the users whose held-out papers are in the
test files), so they are returned apart in :attr:`CiteULike.tags` and never put into the catalog
text a content model reads. Citation links (``citations.dat``) are paper metadata, set as each
paper's ``references``.
"""

from __future__ import annotations

import csv
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from recommender.catalog import Catalog, Paper
from recommender.datasets import default_data_dir
from recommender.io.interactions import read_bag_of_words, read_user_items
from recommender.io.lines import LoaderError, PathLike, clean, read_lines

__all__ = [
    "DATASETS",
    "RECALL_CUTOFFS",
    "CiteULike",
    "load_citeulike",
    "load_split",
    "prefixed_records",
    "published_rows",
]

log = logging.getLogger(__name__)

#: The CiteULike datasets with published splits, in table order.
DATASETS = ("citeulike-a", "citeulike-t")
#: The cut-offs M of the published recall@M curves (DATASETS.md, "The published protocol");
#: ranked lists are as long as the largest.
RECALL_CUTOFFS = (50, 100, 150, 200, 250, 300)
_PUBLISHED_TSV = Path(
    "citeulike-a", "published-results", "ferraridacrema_TOIS_appendix_tables15-18.tsv"
)


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


def _dataset_dir(name: str, data_dir: PathLike | None) -> Path:
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    base = Path(data_dir) if data_dir is not None else default_data_dir()
    folder = base / name
    if not folder.is_dir() and base.name == name and base.is_dir():
        folder = base  # the caller named the dataset folder itself
    if not folder.is_dir():
        raise LoaderError(
            folder,
            None,
            f"no {name} folder here: check --data-dir (or PAPERREC_DATASETS_DIR); the data can "
            f"be downloaded from the public sources listed in its PROVENANCE.txt (DATASETS.md)",
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
    return [text.strip() for _, text in read_lines(path)]


def _count_lines(path: Path) -> int:
    data = path.read_bytes()
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


def _n_items(name: str, folder: Path) -> int:
    return _count_lines(_need(folder, "titles.txt" if name == "citeulike-a" else "mult.dat"))


def load_citeulike(name: str, data_dir: PathLike | None = None) -> CiteULike:
    """Load ``"citeulike-a"`` or ``"citeulike-t"`` from ``data_dir`` (the folder holding the
    dataset folders, or the dataset folder itself; ``None``: :func:`default_data_dir`).

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
                title=clean(t) or f"citeulike-a #{i}",
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
        text = clean(_BIBTEX_BRACES.sub("", rec["raw.abstract"]))
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
    then the lower word id), since citeulike-t publishes no titles, and with their whole bag of
    words as the abstract (each word as often as it is counted, most frequent first): the text
    is what the service's featurizer reads, so a catalog imported into the service has the
    content the experiments give the models (TF-IDF of the counts), not five title words."""
    df = np.bincount(counts.indices, minlength=counts.shape[1])
    papers = []
    for i in range(counts.shape[0]):
        lo, hi = counts.indptr[i], counts.indptr[i + 1]
        cols, vals = counts.indices[lo:hi], counts.data[lo:hi]
        order = np.lexsort((cols, df[cols], -vals))
        words = " ".join(vocabulary[c] for c in cols[order[:n_words]]) or "(no words)"
        bag = " ".join(
            " ".join([vocabulary[c]] * int(v))
            for c, v in zip(cols[order], vals[order], strict=True)
        )
        papers.append(Paper(paper_id=str(i), title=f"{name} #{i}: {words}", abstract=bag))
    return papers


def load_split(
    name: str, p: int, data_dir: PathLike | None = None
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """The published ``(train, test)`` ``users x items`` matrices of ``name`` for P = ``p``
    (``splits-cvae/cf-{train,test}-{p}-users.dat`` in ``data_dir``, as for
    :func:`load_citeulike`). Both have the dataset's number of items and
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


def published_rows(name: str, p: int, data_dir: PathLike | None = None) -> list[dict[str, Any]]:
    """The published rows (Ferrari Dacrema et al., TOIS appendix) for one dataset and split, read
    from the data directory at run time: ``[{"method": ..., "recall@50": ..., ...}]``. An empty list
    when the file is absent."""
    path = (Path(data_dir) if data_dir is not None else default_data_dir()) / _PUBLISHED_TSV
    if not path.is_file():
        log.warning("published results not found at %s", path)
        return []
    rows = []
    with path.open(newline="", encoding="utf-8") as fh:
        for rec in csv.DictReader(fh, delimiter="\t"):
            if rec.get("dataset") != name or rec.get("setting") != f"P={p}":
                continue
            row: dict[str, Any] = {"method": rec["method"]}
            for m in RECALL_CUTOFFS:
                row[f"recall@{m}"] = float(rec[f"REC@{m}"])
            rows.append(row)
    return rows


def prefixed_records(
    data: CiteULike, *, likes: bool = True
) -> tuple[list[Paper], dict[str, list[str]]]:
    """``(papers, likes)`` of a loaded dataset under ids that name it, so that two datasets (and
    papers from elsewhere) can share one store: paper *i* becomes ``<name>:<i>`` (its references
    too), user *u* ``<name>:user<u>``. ``likes`` maps each user with a like to their papers; it
    is empty when ``likes`` is false."""
    # Dataset ids are row numbers; prefix them so two datasets can share one store.
    papers = [
        replace(
            p,
            paper_id=f"{data.name}:{p.paper_id}",
            references=tuple(f"{data.name}:{r}" for r in p.references),
        )
        for p in data.catalog
    ]
    by_user: dict[str, list[str]] = {}
    if likes:
        m = data.likes.tocsr()
        for u in range(m.shape[0]):
            cols = m.indices[m.indptr[u] : m.indptr[u + 1]]
            if len(cols):
                by_user[f"{data.name}:user{u}"] = [papers[c].paper_id for c in cols]
    return papers, by_user
