"""Catalog readers (JSON lines, CSV, arXiv snapshot, format detection): valid files (in
tests/recommender/io/data) give known catalogs; each malformed file gives a LoaderError naming the
file, the line and the problem, written next to its assertion so the test shows what is wrong."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest

from recommender.io import (
    LoaderError,
    read_arxiv_snapshot,
    read_catalog,
    read_csv,
    read_jsonl,
)

DATA = Path(__file__).parent / "data"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------------------------ JSON lines
def test_read_jsonl_valid() -> None:
    cat = read_jsonl(DATA / "papers.jsonl")
    assert cat.paper_ids == ["p1", "p2", "3"]
    p1 = cat.get("p1")
    assert p1 is not None
    assert p1.title == "Gradient descent on toy lattices"  # whitespace and newline collapsed
    assert p1.abstract == "We study a made-up lattice."
    assert p1.authors == ("Ada Example", "Bo Sample")
    assert p1.year == 2021
    assert p1.categories == ("cs.LG",)
    assert p1.url == "https://example.org/p1"
    p3 = cat[2]
    assert (p3.abstract, p3.authors, p3.year, p3.url) == ("", (), None, None)
    assert p3.categories == ("q-bio.PE", "stat.AP")


@pytest.mark.parametrize(
    ("lines", "line", "problem"),
    [
        (['{"paper_id": "a"}'], 1, "missing required field 'title'"),
        (
            ['{"paper_id": "a", "title": "T"}', '{"title": "U"}'],
            2,
            "missing required field 'paper_id'",
        ),
        (
            ['{"paper_id": "a", "title": "T"}', "", '{"paper_id": "b", "title": "U",}'],
            3,
            "invalid JSON",
        ),
        (['{"paper_id": "a", "title": "T", "abstact": "x"}'], 1, "unknown field(s) 'abstact'"),
        (['{"paper_id": "a", "title": "T", "year": "2020"}'], 1, "field 'year' must be an integer"),
        (['{"paper_id": "a", "title": "T", "authors": "A, B"}'], 1, "'authors' must be a list"),
        (['{"paper_id": "a", "title": "   "}'], 1, "'title' must be a non-empty string"),
        (['["paper_id", "a"]'], 1, "expected a JSON object"),
    ],
)
def test_read_jsonl_malformed(tmp_path: Path, lines: list[str], line: int, problem: str) -> None:
    path = write(tmp_path, "papers.jsonl", "\n".join(lines) + "\n")
    with pytest.raises(LoaderError) as err:
        read_jsonl(path)
    assert str(err.value).startswith(f"{path}:{line}: ")
    assert problem in str(err.value)
    assert err.value.line == line


def test_read_jsonl_published_sets_year(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "papers.jsonl",
        '{"paper_id": "a", "title": "T", "published": "2024-03-01"}\n'
        '{"paper_id": "b", "title": "U", "year": 2023, "published": "2023-12-31"}\n'
        '{"paper_id": "c", "title": "V", "published": null}\n'
        '{"paper_id": "d", "title": "W"}\n',
    )
    a, b, c, d = read_jsonl(path)
    assert (a.published, a.year) == ("2024-03-01", 2024)  # year filled from published
    assert (b.published, b.year) == ("2023-12-31", 2023)
    assert (c.published, c.year) == (None, None)
    assert (d.published, d.year) == (None, None)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ('"2024-3-1"', "field 'published' must be a date written YYYY-MM-DD, got '2024-3-1'"),
        ('"2024-02-30"', "field 'published' must be a date written YYYY-MM-DD, got '2024-02-30'"),
        ("20240301", "field 'published' must be a date written YYYY-MM-DD, got 20240301"),
    ],
)
def test_read_jsonl_bad_published(tmp_path: Path, value: str, problem: str) -> None:
    path = write(
        tmp_path,
        "papers.jsonl",
        '{"paper_id": "a", "title": "T"}\n'
        f'{{"paper_id": "b", "title": "U", "published": {value}}}\n',
    )
    with pytest.raises(LoaderError) as err:
        read_jsonl(path)
    assert str(err.value) == f"{path}:2: {problem}"


def test_read_jsonl_duplicate_id_names_both_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "papers.jsonl",
        '{"paper_id": "a", "title": "T"}\n{"paper_id": "b", "title": "U"}\n'
        '{"paper_id": "a", "title": "V"}\n',
    )
    with pytest.raises(
        LoaderError, match=r"papers\.jsonl:3: duplicate paper_id 'a' \(first on line 1\)"
    ):
        read_jsonl(path)


def test_read_jsonl_empty_file(tmp_path: Path) -> None:
    path = write(tmp_path, "papers.jsonl", "\n  \n")
    with pytest.raises(LoaderError, match="no papers"):
        read_jsonl(path)


def test_read_jsonl_not_utf8_names_line(tmp_path: Path) -> None:
    path = tmp_path / "papers.jsonl"
    path.write_bytes(b'{"paper_id": "a", "title": "T"}\n{"paper_id": "b", "title": "\xff"}\n')
    with pytest.raises(LoaderError, match=r"papers\.jsonl:2: not UTF-8"):
        read_jsonl(path)


def test_missing_file_is_a_loader_error(tmp_path: Path) -> None:
    with pytest.raises(LoaderError, match="no such file"):
        read_jsonl(tmp_path / "nope.jsonl")


# ------------------------------------------------------------------------------------- CSV
def test_read_csv_valid() -> None:
    cat = read_csv(DATA / "papers.csv")
    assert cat.paper_ids == ["p1", "p2", "p3"]
    assert cat[0].authors == ("Ada Example", "Bo Sample")
    assert cat[0].year == 2021
    assert cat[1].title == "Counting imaginary beetles, again"
    assert cat[1].abstract == "A quoted abstract that spans two lines."
    assert (cat[1].authors, cat[1].year, cat[1].url) == ((), None, None)
    assert cat[2].categories == ("q-bio.PE", "stat.AP")


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        ("paper_id,name\na,T\n", 1, "header lacks required column(s) 'title'"),
        ("paper_id,title,abstact\na,T,x\n", 1, "unknown column(s) 'abstact'"),
        ("paper_id,title,title\na,T,U\n", 1, "repeated column(s) 'title'"),
        ("paper_id,title\na,T\nb\n", 3, "1 fields, but the header (line 1) has 2"),
        ("paper_id,title\na,T\nb,\n", 3, "empty required field 'title'"),
        ("paper_id,title,year\na,T,20x0\n", 2, "field 'year' must be an integer"),
        ('paper_id,title\na,"T\nstill T"\na,U\n', 4, "duplicate paper_id 'a' (first on line 2)"),
    ],
)
def test_read_csv_malformed(tmp_path: Path, text: str, line: int, problem: str) -> None:
    path = write(tmp_path, "papers.csv", text)
    with pytest.raises(LoaderError) as err:
        read_csv(path)
    assert str(err.value).startswith(f"{path}:{line}: ")
    assert problem in str(err.value)


def test_read_csv_published_column(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "papers.csv",
        "paper_id,title,year,published\na,T,,2024-03-01\nb,U,2020,\nc,V,2019, 2019-07-04 \n",
    )
    a, b, c = read_csv(path)
    assert (a.published, a.year) == ("2024-03-01", 2024)
    assert (b.published, b.year) == (None, 2020)  # empty = unknown
    assert (c.published, c.year) == ("2019-07-04", 2019)
    bad = write(tmp_path, "bad.csv", "paper_id,title,published\na,T,2024-03-01\nb,U,1/3/2024\n")
    with pytest.raises(LoaderError) as err:
        read_csv(bad)
    assert str(err.value) == (
        f"{bad}:3: field 'published' must be a date written YYYY-MM-DD, got '1/3/2024'"
    )


def test_read_csv_empty_file(tmp_path: Path) -> None:
    with pytest.raises(LoaderError, match="expected a header row"):
        read_csv(write(tmp_path, "papers.csv", ""))
    with pytest.raises(LoaderError, match="no papers"):
        read_csv(write(tmp_path, "papers.csv", "paper_id,title\n"))


# ------------------------------------------------------------------------------ arXiv
def test_read_arxiv_snapshot() -> None:
    cat = read_arxiv_snapshot(DATA / "arxiv_snapshot.jsonl")
    assert cat.paper_ids == ["2101.00001", "math/0406001", "2202.00002"]
    a, b, c = cat
    assert a.title == "A fictional study of imaginary graphs"
    assert a.abstract == "We invent a graph. Then we stop."
    # authors_parsed wins over the display string and keeps the suffix.
    assert a.authors == ("Ada Example", "Bo Sample", "Cy Person Jr")
    assert a.categories == ("cs.LG", "stat.ML")
    assert a.year == 2021  # first version, not the update
    assert a.url == "https://arxiv.org/abs/2101.00001"
    assert b.authors == ("Dee Writer", "Eve Author")
    assert b.year == 2008  # no versions: update_date
    assert b.url == "https://arxiv.org/abs/math/0406001"
    assert c.authors == ("Solo Author",)
    assert c.abstract == ""


def test_read_arxiv_snapshot_published_is_the_first_version(tmp_path: Path) -> None:
    cat = read_arxiv_snapshot(DATA / "arxiv_snapshot.jsonl")
    assert cat[0].published == "2021-01-01"  # v1, not v2 or update_date (2021-05-03)
    assert cat[1].published is None  # no versions: update_date is not when it appeared
    path = write(
        tmp_path,
        "snap.jsonl",
        '{"id": "0704.0001", "title": "T", "update_date": "2008-11-13", "versions": ['
        '{"version": "v1", "created": "Mon, 2 Apr 2007 19:18:42 GMT"},'
        '{"version": "v2", "created": "Tue, 24 Jul 2007 20:10:27 GMT"}]}\n'
        '{"id": "2", "title": "U", "update_date": "2008-11-13"}\n'
        '{"id": "3", "title": "V", "versions": [{"version": "v1", "created": "sometime"}]}\n'
        '{"id": "4", "title": "W", "versions": []}\n',
    )
    a, b, c, d = read_arxiv_snapshot(path)
    assert (a.published, a.year) == ("2007-04-02", 2007)
    assert (b.published, b.year) == (None, 2008)  # year still falls back to update_date
    assert (c.published, c.year) == (None, None)  # an unparseable v1 date is unknown
    assert (d.published, d.year) == (None, None)


def test_arxiv_authors_string_forms(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "snap.jsonl",
        '{"id": "1", "title": "T", "authors": "A One, B Two, and C Three"}\n'
        '{"id": "2", "title": "T", "authors": "A One and B Two"}\n',
    )
    cat = read_arxiv_snapshot(path)
    assert cat[0].authors == ("A One", "B Two", "C Three")
    assert cat[1].authors == ("A One", "B Two")


def test_read_arxiv_snapshot_limit_and_errors(tmp_path: Path) -> None:
    assert read_arxiv_snapshot(DATA / "arxiv_snapshot.jsonl", limit=2).paper_ids == [
        "2101.00001",
        "math/0406001",
    ]
    path = write(tmp_path, "snap.jsonl", '{"id": "1", "title": "T"}\n{"id": "2"}\n')
    with pytest.raises(LoaderError, match=r"snap\.jsonl:2: missing required field 'title'"):
        read_arxiv_snapshot(path)
    path = write(tmp_path, "snap.jsonl", '{"id": "1", "title": "T", "update_date": "May 2020"}\n')
    with pytest.raises(LoaderError, match=r"snap\.jsonl:1: field 'update_date' must be YYYY-MM-DD"):
        read_arxiv_snapshot(path)


# ------------------------------------------------------------------------------ dispatch
def test_read_catalog_detects_format(tmp_path: Path) -> None:
    assert read_catalog(DATA / "papers.csv").paper_ids == ["p1", "p2", "p3"]
    assert read_catalog(DATA / "papers.jsonl").paper_ids == ["p1", "p2", "3"]
    assert read_catalog(DATA / "arxiv_snapshot.jsonl")[0].url == "https://arxiv.org/abs/2101.00001"
    # By content when the suffix says nothing, and through gzip.
    plain = tmp_path / "catalog.txt"
    shutil.copy(DATA / "papers.csv", plain)
    assert read_catalog(plain).paper_ids == ["p1", "p2", "p3"]
    gz = tmp_path / "snapshot.json.gz"
    gz.write_bytes(gzip.compress((DATA / "arxiv_snapshot.jsonl").read_bytes()))
    assert len(read_catalog(gz)) == 3
    # An explicit format overrides the guess.
    assert read_catalog(DATA / "papers.jsonl", fmt="jsonl").paper_ids == ["p1", "p2", "3"]


def test_read_catalog_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(LoaderError, match="cannot tell the catalog format"):
        read_catalog(write(tmp_path, "notes.txt", "just some words\n"))
    with pytest.raises(LoaderError, match=r"x\.jsonl:1: cannot tell the format"):
        read_catalog(write(tmp_path, "x.jsonl", '{"name": "a"}\n'))
    with pytest.raises(ValueError, match="unknown catalog format"):
        read_catalog(DATA / "papers.csv", fmt="xml")  # type: ignore[arg-type]


def test_references_read_from_jsonl_and_csv(tmp_path: Path) -> None:
    j = tmp_path / "p.jsonl"
    j.write_text('{"paper_id": "a", "title": "A", "references": ["b", "c"]}\n')
    assert read_jsonl(j)[0].references == ("b", "c")
    j.write_text('{"paper_id": "a", "title": "A", "references": "b"}\n')
    with pytest.raises(LoaderError, match=r"p.jsonl:1: .*references"):
        read_jsonl(j)
    c = tmp_path / "p.csv"
    c.write_text("paper_id,title,references\na,A,b; c\n")
    assert read_csv(c)[0].references == ("b", "c")
