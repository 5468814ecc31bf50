"""Interaction files (users.dat lines, bag of words): valid files give known matrices; each
malformed one gives a LoaderError naming the file, the line and the problem, written next to its
assertion so the test shows what is wrong with it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from recommender.io import (
    LoaderError,
    read_bag_of_words,
    read_user_items,
)

DATA = Path(__file__).parent / "data"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


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
