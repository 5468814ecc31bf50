"""Loaders: valid files give known catalogs and matrices; each malformed file gives a LoaderError
naming the file, the line and the problem. The valid inputs are in tests/data; each malformed one
is written next to its assertion so the test shows what is wrong with it."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from recommender.datasets import DataDirUnknown, default_data_dir
from recommender.datasets.citeulike import load_citeulike, load_split, prefixed_records
from recommender.io import (
    LoaderError,
    read_arxiv_snapshot,
    read_bag_of_words,
    read_catalog,
    read_csv,
    read_jsonl,
    read_user_items,
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


# --------------------------------------------------------------------- user-items, words
def test_read_user_items_valid() -> None:
    m = read_user_items(DATA / "users.dat", n_items=6)
    assert isinstance(m, sp.csr_matrix)
    assert m.dtype == np.float32
    assert m.shape == (4, 6)  # the empty line and the "0" line are users with nothing
    expected = np.zeros((4, 6), dtype=np.float32)
    expected[0, [0, 2, 4]] = 1
    expected[3, 3] = 1
    np.testing.assert_array_equal(m.toarray(), expected)
    # Without n_items: one column past the largest id.
    assert read_user_items(DATA / "users.dat").shape == (4, 5)


@pytest.mark.parametrize(
    ("text", "n_items", "line", "problem"),
    [
        ("2 0 1\n3 0 1\n", None, 2, "count says 3 but the line has 2 ids"),
        ("1 0\n2 4 5\n", 5, 2, "item id 5 out of range: there are 5"),
        ("1 -1\n", None, 1, "item id -1 is negative"),
        ("2 1 1\n", None, 1, "item id 1 listed twice"),
        ("x 1\n", None, 1, "count 'x' is not an integer"),
        ("1 0\n1 1.5\n", None, 2, "item id '1.5' is not an integer"),
    ],
)
def test_read_user_items_malformed(
    tmp_path: Path, text: str, n_items: int | None, line: int, problem: str
) -> None:
    path = write(tmp_path, "users.dat", text)
    with pytest.raises(LoaderError) as err:
        read_user_items(path, n_items=n_items)
    assert str(err.value) == f"{path}:{line}: {problem}"


def test_read_user_items_empty_file(tmp_path: Path) -> None:
    m = read_user_items(write(tmp_path, "users.dat", ""), n_items=3)
    assert m.shape == (0, 3)


def test_read_bag_of_words() -> None:
    m = read_bag_of_words(DATA / "mult.dat", n_words=4)
    assert m.dtype == np.float32
    np.testing.assert_array_equal(
        m.toarray(), np.array([[3, 0, 1, 0], [0, 0, 0, 0], [0, 1, 2, 5]], dtype=np.float32)
    )


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        ("1 0:1\n2 0:1\n", 2, "count says 2 but the line has 1 ids"),
        ("1 4:1\n", 1, "word id 4 out of range: there are 4"),
        ("1 2\n", 1, "expected wordid:count, got '2'"),
        ("1 2:0\n", 1, "word count 0 is not positive"),
        ("1 2:x\n", 1, "word count 'x' is not an integer"),
        ("2 1:1 1:2\n", 1, "word id 1 listed twice"),
    ],
)
def test_read_bag_of_words_malformed(tmp_path: Path, text: str, line: int, problem: str) -> None:
    path = write(tmp_path, "mult.dat", text)
    with pytest.raises(LoaderError) as err:
        read_bag_of_words(path, n_words=4)
    assert str(err.value) == f"{path}:{line}: {problem}"


# ------------------------------------------------------------- CiteULike, tiny invented copy
def make_tiny_citeulike(root: Path) -> Path:
    """Two invented datasets in the real layout, small enough to check every value."""
    a = root / "citeulike-a"
    (a / "partial-text").mkdir(parents=True)
    (a / "splits-cvae").mkdir()
    (a / "titles.txt").write_text("First  invented title\nSecond title\nThird title\n")
    (a / "users.dat").write_text("2 0 2\n1 1\n")
    (a / "tags.dat").write_text("alpha\nbeta\ngamma\n")
    (a / "item-tag.dat").write_text("2 2 0\n0\n1 1\n")
    (a / "citations.dat").write_text("1 2\n0\n")  # paper 0 -> 2; the file stops before paper 2
    (a / "partial-text" / "raw-data-first1929.csv").write_text(
        '"doc.id","title","citeulike.id","raw.title","raw.abstract"\n'
        '0,"third title",7,"Third title","An {A}bstract\nfor the third."\n'
    )
    (a / "partial-text" / "subset1929_docid_to_item_index.csv").write_text(
        "subset_doc_id,citeulike_id,citeulike_a_item_index_0based,title\n0,7,2,Third title\n"
    )
    (a / "splits-cvae" / "cf-train-1-users.dat").write_text("1 0\n1 1\n")
    (a / "splits-cvae" / "cf-test-1-users.dat").write_text("1 2\n0 \n")
    (a / "splits-cvae" / "cf-train-10-users.dat").write_text("1 0\n1 1\n")
    (a / "splits-cvae" / "cf-test-10-users.dat").write_text("1 0\n0\n")  # user 0 in both

    t = root / "citeulike-t"
    t.mkdir()
    (t / "vocabulary.dat").write_text("protein\nfolding\nenergy\nmuseum\n")
    # item 0: energy x3, protein x1, folding x1 (folding is rarer than protein: 1 doc vs 2)
    (t / "mult.dat").write_text("3 0:1 1:1 2:3\n1 0:2\n0\n")
    (t / "users.dat").write_text("1 2\n2 0 1\n")
    (t / "tags.dat").write_text("bio\nempty-tag\nphysics\n")
    (t / "tag-item.dat").write_text("2 1 0\n0\n1 0\n")  # tag-major: tag -> items
    return root


def test_load_citeulike_a_tiny(tmp_path: Path) -> None:
    d = load_citeulike("citeulike-a", make_tiny_citeulike(tmp_path))
    assert d.name == "citeulike-a"
    assert [p.paper_id for p in d.catalog] == ["0", "1", "2"]
    assert d.catalog[0].title == "First invented title"
    assert d.catalog[0].abstract == ""
    assert d.catalog[2].abstract == "An Abstract for the third."
    np.testing.assert_array_equal(d.likes.toarray(), [[1, 0, 1], [0, 1, 0]])
    assert d.tags == [["alpha", "gamma"], [], ["beta"]]
    # Tags leak test information: they never reach the text content features are built from.
    assert not any(tag in text for tags in d.tags for tag in tags for text in d.catalog.texts())
    assert d.counts is None and d.vocabulary is None
    assert (d.n_users, d.n_items) == (2, 3)
    assert [p.references for p in d.catalog] == [("2",), (), ()]


def test_load_citeulike_t_tiny(tmp_path: Path) -> None:
    d = load_citeulike("citeulike-t", make_tiny_citeulike(tmp_path))
    assert d.vocabulary == ["protein", "folding", "energy", "museum"]
    assert d.counts is not None
    np.testing.assert_array_equal(d.counts.toarray(), [[1, 1, 3, 0], [2, 0, 0, 0], [0, 0, 0, 0]])
    assert [p.title for p in d.catalog] == [
        "citeulike-t #0: energy folding protein",
        "citeulike-t #1: protein",
        "citeulike-t #2: (no words)",
    ]
    assert d.tags == [["bio", "physics"], ["bio"], []]
    assert d.likes.shape == (2, 3)


def test_load_split_tiny(tmp_path: Path) -> None:
    root = make_tiny_citeulike(tmp_path)
    train, test = load_split("citeulike-a", 1, root)
    assert train.shape == test.shape == (2, 3)
    np.testing.assert_array_equal(test.toarray(), [[0, 0, 1], [0, 0, 0]])
    with pytest.raises(LoaderError, match=r"cf-test-10-users\.dat:1: user 0 has item 0 in both"):
        load_split("citeulike-a", 10, root)


def test_load_citeulike_accepts_the_dataset_folder_itself(tmp_path: Path) -> None:
    root = make_tiny_citeulike(tmp_path)
    assert load_citeulike("citeulike-t", root / "citeulike-t").n_items == 3


def test_load_citeulike_missing_file_points_to_provenance(tmp_path: Path) -> None:
    root = make_tiny_citeulike(tmp_path)
    (root / "citeulike-t" / "mult.dat").unlink()
    with pytest.raises(LoaderError, match=r"mult\.dat: missing file.*PROVENANCE\.txt"):
        load_citeulike("citeulike-t", root)
    with pytest.raises(LoaderError, match="no citeulike-a folder.*PROVENANCE.txt"):
        load_citeulike("citeulike-a", tmp_path / "elsewhere")
    with pytest.raises(ValueError, match="unknown dataset"):
        load_citeulike("movielens", root)


def test_citeulike_a_without_partial_text_has_titles_only(tmp_path: Path) -> None:
    root = make_tiny_citeulike(tmp_path)
    shutil.rmtree(root / "citeulike-a" / "partial-text")
    d = load_citeulike("citeulike-a", root)
    assert [p.abstract for p in d.catalog] == ["", "", ""]


def test_prefixed_records_name_the_dataset_in_every_id(tmp_path: Path) -> None:
    """What `paperrec import citeulike-a` stores: ids that say which dataset they come from,
    citation links included, and only users with likes."""
    root = make_tiny_citeulike(tmp_path)
    (root / "citeulike-a" / "users.dat").write_text("2 0 2\n0\n1 1\n")  # user 1 has none
    d = load_citeulike("citeulike-a", root)
    papers, likes = prefixed_records(d)
    assert [p.paper_id for p in papers] == ["citeulike-a:0", "citeulike-a:1", "citeulike-a:2"]
    assert papers[0].references == ("citeulike-a:2",)
    assert papers[2].abstract == d.catalog[2].abstract
    assert likes == {
        "citeulike-a:user0": ["citeulike-a:0", "citeulike-a:2"],
        "citeulike-a:user2": ["citeulike-a:1"],
    }
    assert prefixed_records(d, likes=False) == (papers, {})


def test_default_data_dir_is_beside_a_checkout_and_unknown_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import recommender.datasets as datasets

    checkout = tmp_path / "work" / "repo"
    (checkout / "recommender").mkdir(parents=True)
    (checkout / "pyproject.toml").write_text('[project]\nname = "paperrec"\n')
    monkeypatch.setattr(datasets, "_PACKAGE", checkout / "recommender")
    assert default_data_dir() == tmp_path / "work" / "shared" / "datasets"
    # Installed: the package sits in site-packages, beside no pyproject.toml (or another's).
    for other in ("", '[project]\nname = "someone-else"\n', "not toml ["):
        site = tmp_path / f"site{len(other)}"
        (site / "recommender").mkdir(parents=True)
        if other:
            (site / "pyproject.toml").write_text(other)
        monkeypatch.setattr(datasets, "_PACKAGE", site / "recommender")
        with pytest.raises(DataDirUnknown, match="--data-dir DIR.*PAPERREC_DATASETS_DIR"):
            default_data_dir()
        # Naming the folder needs no default; the unknown default is said only when needed.
        assert load_citeulike("citeulike-a", make_tiny_citeulike(site)).n_items == 3
        with pytest.raises(DataDirUnknown):
            load_citeulike("citeulike-a")
        with pytest.raises(ValueError, match="unknown dataset"):
            load_citeulike("movielens")


# ------------------------------------------------------------------- CiteULike, real data
DEFAULT_DATA_DIR = default_data_dir()  # the tests run from a checkout
REAL = pytest.mark.skipif(
    not (DEFAULT_DATA_DIR / "citeulike-a").is_dir(),
    reason=f"CiteULike data not found at {DEFAULT_DATA_DIR} (see DATASETS.md for the sources)",
)


@pytest.fixture(scope="module")
def real_a():
    return load_citeulike("citeulike-a", DEFAULT_DATA_DIR)


@pytest.fixture(scope="module")
def real_t():
    return load_citeulike("citeulike-t", DEFAULT_DATA_DIR)


@REAL
def test_real_citeulike_a(real_a) -> None:
    assert (real_a.n_users, real_a.n_items, real_a.likes.nnz) == (5551, 16980, 204986)
    assert len(real_a.catalog) == 16980
    assert real_a.catalog[0].title == "The metabolic world of Escherichia coli is not small"
    assert real_a.catalog[0].abstract.startswith("To elucidate the organizational")
    assert sum(1 for p in real_a.catalog if p.abstract) == 1929
    assert len(real_a.tags) == 16980
    assert real_a.counts is None
    # citations.dat: 16,979 lines, 89,418 links (paper metadata kept as references)
    assert sum(len(p.references) for p in real_a.catalog) == 89418


@REAL
def test_real_citeulike_t(real_t) -> None:
    assert (real_t.n_users, real_t.n_items, real_t.likes.nnz) == (7947, 25975, 134860)
    assert real_t.counts is not None and real_t.counts.shape == (25975, 20000)
    assert real_t.vocabulary is not None and len(real_t.vocabulary) == 20000
    assert real_t.catalog[12].title.startswith("citeulike-t #12: ")
    # 25,584 papers have at least one like (PROVENANCE.txt).
    assert int((real_t.likes.getnnz(axis=0) > 0).sum()) == 25584
    assert sum(1 for tags in real_t.tags if tags) > 0


@REAL
def test_real_split_a_p10(real_a) -> None:
    train, test = load_split("citeulike-a", 10, DEFAULT_DATA_DIR)
    assert train.shape == test.shape == (5551, 16980)
    assert test.nnz == 149476
    assert int((test.getnnz(axis=1) == 0).sum()) == 412
    assert ((train + test) != real_a.likes).nnz == 0  # the split partitions users.dat


@REAL
def test_real_split_t_p1(real_t) -> None:
    train, test = load_split("citeulike-t", 1, DEFAULT_DATA_DIR)
    assert train.shape == (7947, 25975)
    assert (train.getnnz(axis=1) == 1).all()
    assert ((train + test) != real_t.likes).nnz == 0


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
