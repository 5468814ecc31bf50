"""``read_likes``: the two likes-file forms that ``paperrec import-likes`` reads."""

from __future__ import annotations

import pytest

from recommender.io import LoaderError, read_likes


def test_users_dat_lines_are_users_in_order(tmp_path):
    f = tmp_path / "users.dat"
    f.write_text("2 3 0\n0\n1 7\n")
    assert read_likes(f, user_prefix="a:", paper_prefix="a:") == {
        "a:user0": ["a:0", "a:3"],
        "a:user2": ["a:7"],
    }


def test_csv_pairs_with_header_and_duplicates(tmp_path):
    f = tmp_path / "likes.csv"
    f.write_text("user,paper\nalice,p1\nbob,p2\nalice,p3\nalice,p1\n")
    assert read_likes(f) == {"alice": ["p1", "p3"], "bob": ["p2"]}


def test_csv_line_without_two_fields_names_its_line(tmp_path):
    f = tmp_path / "likes.csv"
    f.write_text("alice,p1\nbob\n")
    with pytest.raises(LoaderError, match=":2"):
        read_likes(f)
