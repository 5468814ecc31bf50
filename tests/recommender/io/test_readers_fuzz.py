"""The catalog and interaction loaders fed malformed files (hypothesis): they either return a
result or raise :class:`LoaderError`, never another exception."""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from recommender.catalog import Paper
from recommender.io import (
    LoaderError,
    read_arxiv_snapshot,
    read_bag_of_words,
    read_csv,
    read_jsonl,
    read_user_items,
)

FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None
)

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
PAPER_FIELDS = [f.name for f in dataclasses.fields(Paper)]  # what a catalog file may hold
ARXIV_FIELDS = [
    "id",
    "title",
    "abstract",
    "authors",
    "authors_parsed",
    "categories",
    "update_date",
    "versions",
]


def _objects(fields: list[str]) -> st.SearchStrategy[str]:
    """A JSON line: an object with some of the expected fields (any values) and maybe others."""
    keys = st.sampled_from(fields) | st.text(max_size=8)
    obj = st.dictionaries(keys, JSON_VALUES, max_size=len(fields) + 1)
    return obj.map(lambda o: json.dumps(o)) | JSON_VALUES.map(json.dumps) | st.text(max_size=40)


def _file(lines: st.SearchStrategy[str]) -> st.SearchStrategy[bytes]:
    text = st.lists(lines, max_size=5).map(lambda ls: "\n".join(ls).encode("utf-8"))
    return text | st.binary(max_size=200)


CSV_CELL = st.text(max_size=12) | st.sampled_from(['"', '""', ",", ";", "\r", "\x00", "2024"])
CSV_LINES = st.lists(
    st.sampled_from([",".join(PAPER_FIELDS), "paper_id,title", "paper_id,title,year"])
    | st.lists(CSV_CELL, max_size=8).map(",".join),
    max_size=5,
).map(lambda ls: "\n".join(ls).encode("utf-8"))
COUNT_LINES = st.lists(
    st.lists(
        st.integers(-2, 12).map(str) | st.sampled_from(["x", "3:1", "1:0", "2:-1", ":", "1e3"]),
        max_size=6,
    ).map(" ".join),
    max_size=5,
).map(lambda ls: "\n".join(ls).encode("utf-8"))


def _check(loader: Callable[[Path], Any], content: bytes, suffix: str) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"input{suffix}"
        if suffix.endswith(".gz") and content[:1] == b"g":
            content = gzip.compress(content[1:])  # sometimes a real gzip of the junk
        path.write_bytes(content)
        with contextlib.suppress(LoaderError):  # anything else fails the test
            loader(path)


SUFFIX = st.sampled_from(["", ".gz"])

# Found by the fuzz tests below (reported to the lead; the fix belongs in recommender/io/lines.py):
# a ``.gz`` file that is not gzip raises gzip.BadGzipFile, one cut short raises EOFError.
NOT_GZIP = b"\x00"
CUT_GZIP = gzip.compress(b'{"paper_id": "a", "title": "b"}\n')[:-10]
LOADERS: dict[str, Callable[[Path], Any]] = {
    "jsonl": read_jsonl,
    "csv": read_csv,
    "arxiv": read_arxiv_snapshot,
    "user_items": read_user_items,
    "bag_of_words": lambda p: read_bag_of_words(p, 10),
}


@pytest.mark.parametrize("content", [NOT_GZIP, CUT_GZIP], ids=["not-gzip", "cut-gzip"])
@pytest.mark.parametrize("name", LOADERS)
def test_broken_gzip_files_raise_loader_error(tmp_path: Path, name: str, content: bytes) -> None:
    path = tmp_path / f"input.{name}.gz"
    path.write_bytes(content)
    with pytest.raises(LoaderError):
        LOADERS[name](path)


@FUZZ
@given(content=_file(_objects(PAPER_FIELDS)), suffix=SUFFIX)
@example(content=NOT_GZIP, suffix=".gz")
def test_read_jsonl_raises_only_loader_error(content: bytes, suffix: str) -> None:
    _check(read_jsonl, content, ".jsonl" + suffix)


@FUZZ
@given(content=CSV_LINES | st.binary(max_size=200), suffix=SUFFIX)
def test_read_csv_raises_only_loader_error(content: bytes, suffix: str) -> None:
    _check(read_csv, content, ".csv" + suffix)


@FUZZ
@given(content=_file(_objects(ARXIV_FIELDS)), suffix=SUFFIX)
def test_read_arxiv_snapshot_raises_only_loader_error(content: bytes, suffix: str) -> None:
    _check(read_arxiv_snapshot, content, ".json" + suffix)


@FUZZ
@given(content=COUNT_LINES | st.binary(max_size=200), n=st.none() | st.integers(0, 10))
def test_read_user_items_raises_only_loader_error(content: bytes, n: int | None) -> None:
    _check(lambda p: read_user_items(p, n), content, ".dat")


@FUZZ
@given(content=COUNT_LINES | st.binary(max_size=200), n=st.integers(0, 10))
def test_read_bag_of_words_raises_only_loader_error(content: bytes, n: int) -> None:
    _check(lambda p: read_bag_of_words(p, n), content, ".dat")
