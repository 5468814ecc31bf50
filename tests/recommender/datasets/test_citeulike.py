"""The CiteULike datasets: tiny folders written by the tests give known catalogs, likes and splits;
a missing file points to where the data comes from; the real folders (when ../shared holds them)
have their published sizes; the default data folder exists only beside a checkout."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from recommender.datasets import DataDirUnknown, default_data_dir
from recommender.datasets.citeulike import load_citeulike, load_split, prefixed_records
from recommender.io import (
    LoaderError,
)


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
    # The whole bag of words is the paper's text (what the service's featurizer reads).
    assert [p.abstract for p in d.catalog] == [
        "energy energy energy folding protein",
        "protein protein",
        "",
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
