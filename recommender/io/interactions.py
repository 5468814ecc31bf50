"""Who liked what, and papers as word counts: interaction and bag-of-words files.

* **User-items** (:func:`read_user_items`): ``<count> <item> <item> ...``, line *i* = user *i*
  (CiteULike's ``users.dat`` and split files; also its per-paper ``citations.dat`` and
  ``item-tag.dat``, which share the form).
* **Likes** (:func:`read_likes`): a ``users.dat`` or a CSV of ``user,paper`` lines, as real ids.
* **Bag of words** (:func:`read_bag_of_words`): ``<n> wordid:count ...``, line *i* = paper *i*.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.sparse as sp

from recommender.catalog import check_paper_id, check_user_id
from recommender.io.lines import LoaderError, PathLike, read_lines

__all__ = ["read_bag_of_words", "read_likes", "read_user_items"]


def read_user_items(path: PathLike, n_items: int | None = None) -> sp.csr_matrix:
    """A ``users x items`` float32 CSR matrix of ones from ``<count> <item> <item> ...`` lines.

    Line *i* is user *i*; an empty line or a count of 0 is a user with no items, an empty file no
    users. The count must equal the number of ids; ids are non-negative integers, each at most
    once per line and, when ``n_items`` is given, below it (the matrix then has ``n_items``
    columns, otherwise one more than the largest id).
    """
    path = Path(path)
    indptr = [0]
    chunks: list[np.ndarray] = []
    nnz = 0
    for lineno, text in read_lines(path):
        ids = _count_prefixed(path, lineno, text.split(), "item")
        _check_ids(path, lineno, ids, n_items, "item")
        chunks.append(ids)
        nnz += ids.size
        indptr.append(nnz)
    indices = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int64)
    n_cols = n_items if n_items is not None else (int(indices.max()) + 1 if indices.size else 0)
    m = sp.csr_matrix(
        (np.ones(nnz, dtype=np.float32), indices.astype(np.int32), np.asarray(indptr, np.int64)),
        shape=(len(indptr) - 1, n_cols),
    )
    m.sort_indices()
    return m


def read_likes(
    path: PathLike, *, user_prefix: str = "", paper_prefix: str = ""
) -> dict[str, list[str]]:
    """``{user_id: [paper_id, ...]}`` from a likes file, in either of two forms.

    * ``users.dat`` (CiteULike): line *i* is ``<count> <item> <item> ...``, user *i*; ids become
      ``<user_prefix>user<i>`` and ``<paper_prefix><item>``.
    * CSV ``user,paper`` per line (a ``user,paper`` header is skipped); ids are taken as written,
      with the prefixes put in front.

    The form is told by the first non-empty line: a comma means CSV. Every id, prefixes
    included, follows the id rule (:func:`recommender.catalog.check_paper_id` and
    ``check_user_id``): one the API could not reach is an error at its line, not a like stored
    out of reach.
    """
    path = Path(path)
    out: dict[str, list[str]] = {}
    rows = iter(read_lines(path))
    first = next(((n, t) for n, t in rows if t.strip()), None)
    if first is None:
        return out
    if "," not in first[1]:
        m = read_user_items(path)
        for u in range(m.shape[0]):
            cols = m.indices[m.indptr[u] : m.indptr[u + 1]]
            if cols.size:
                out[f"{user_prefix}user{u}"] = [f"{paper_prefix}{c}" for c in cols.tolist()]
        if out:  # every id has the form of the first: checking one checks the prefixes
            user, papers = next(iter(out.items()))
            _check_ids_rule(path, None, user, papers[0])
        return out
    for lineno, text in [first, *rows]:
        if not text.strip():
            continue
        parts = [x.strip() for x in text.split(",")]
        if len(parts) != 2 or not all(parts):
            raise LoaderError(path, lineno, f"expected 'user,paper', got {text.strip()!r}")
        if lineno == first[0] and parts == ["user", "paper"]:
            continue
        user, paper = f"{user_prefix}{parts[0]}", f"{paper_prefix}{parts[1]}"
        _check_ids_rule(path, lineno, user, paper)
        out.setdefault(user, []).append(paper)
    return {u: list(dict.fromkeys(ps)) for u, ps in out.items()}


def _check_ids_rule(path: Path, lineno: int | None, user: str, paper: str) -> None:
    try:
        check_user_id(user)
        check_paper_id(paper)
    except ValueError as e:
        raise LoaderError(path, lineno, str(e)) from None


def _count_prefixed(path: Path, lineno: int, parts: list[str], what: str) -> np.ndarray:
    if not parts:
        return np.zeros(0, dtype=np.int64)
    try:
        count = int(parts[0])
    except ValueError:
        raise LoaderError(path, lineno, f"count {parts[0]!r} is not an integer") from None
    if count != len(parts) - 1:
        raise LoaderError(path, lineno, f"count says {count} but the line has {len(parts) - 1} ids")
    return np.asarray(_ints(path, lineno, parts[1:], f"{what} id"), dtype=np.int64)


def _ints(path: Path, lineno: int, parts: list[str], what: str) -> list[int]:
    out = []
    for p in parts:
        try:
            out.append(int(p))
        except ValueError:
            raise LoaderError(path, lineno, f"{what} {p!r} is not an integer") from None
    return out


def _check_ids(path: Path, lineno: int, ids: np.ndarray, n: int | None, what: str) -> None:
    if not ids.size:
        return
    if ids.min() < 0:
        raise LoaderError(path, lineno, f"{what} id {int(ids.min())} is negative")
    if n is not None and ids.max() >= n:
        raise LoaderError(path, lineno, f"{what} id {int(ids.max())} out of range: there are {n}")
    if np.unique(ids).size != ids.size:
        u, c = np.unique(ids, return_counts=True)
        raise LoaderError(path, lineno, f"{what} id {int(u[c > 1][0])} listed twice")


def read_bag_of_words(path: PathLike, n_words: int) -> sp.csr_matrix:
    """A ``papers x n_words`` float32 CSR matrix of word counts from ``<n> wordid:count ...``
    lines (line *i* = paper *i*, the citeulike-t ``mult.dat`` form). ``n`` must equal the number
    of pairs; word ids are below ``n_words`` and appear once per line; counts are positive."""
    path = Path(path)
    indptr = [0]
    cols: list[np.ndarray] = []
    vals: list[np.ndarray] = []
    nnz = 0
    for lineno, text in read_lines(path):
        parts = text.split()
        pairs = [p.partition(":") for p in parts[1:]]
        if any(sep != ":" for _, sep, _ in pairs):
            bad = next(p for p in parts[1:] if ":" not in p)
            raise LoaderError(path, lineno, f"expected wordid:count, got {bad!r}")
        ids = _count_prefixed(path, lineno, parts[:1] + [w for w, _, _ in pairs], "word")
        _check_ids(path, lineno, ids, n_words, "word")
        counts = np.asarray(_ints(path, lineno, [c for _, _, c in pairs], "word count"), np.int64)
        if counts.size and counts.min() <= 0:
            raise LoaderError(path, lineno, f"word count {int(counts.min())} is not positive")
        cols.append(ids)
        vals.append(counts)
        nnz += ids.size
        indptr.append(nnz)
    m = sp.csr_matrix(
        (
            np.concatenate(vals).astype(np.float32) if vals else np.zeros(0, np.float32),
            np.concatenate(cols).astype(np.int32) if cols else np.zeros(0, np.int32),
            np.asarray(indptr, np.int64),
        ),
        shape=(len(indptr) - 1, n_words),
    )
    m.sort_indices()
    return m
