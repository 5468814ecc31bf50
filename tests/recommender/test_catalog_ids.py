"""The one id rule (``check_paper_id``/``check_user_id``): ids the API can reach, whatever entry
they come through, and its regular expression (what pydantic and the OpenAPI document use) saying
the same as the rule in words."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from recommender.catalog import (
    MAX_ID_LENGTH,
    PAPER_ID_PATTERN,
    USER_ID_PATTERN,
    Paper,
    check_paper_id,
    check_user_id,
)

VALID_PAPER_IDS = [
    "p1",
    "hep-th/9901001",
    "math.GT/0309136",
    "arxiv:2101.00001",
    "doi:10.1000/xyz",
    "citeulike-a:123",
    "similar",  # a whole id may be the word; only a last segment after a '/' is a route
    "a/similarity",
    "a/Similar",
    "...",
    ".hidden/x",
    "a/..b",
    "x" * MAX_ID_LENGTH,
]
INVALID_PAPER_IDS = {
    "foo/similar": "names a route",
    "a/b/similar": "names a route",
    ".": "rewritten by HTTP clients",
    "..": "rewritten by HTTP clients",
    "a/../b": "rewritten by HTTP clients",
    "a/./b": "rewritten by HTTP clients",
    "/a": "empty path segment",
    "a/": "empty path segment",
    "a//b": "empty path segment",
    "a b": "letters, digits",
    "a}": "letters, digits",
    "a%2Fb": "letters, digits",
    "a\n": "letters, digits",
    "": "letters, digits",
    "x" * (MAX_ID_LENGTH + 1): "letters, digits",
}


@pytest.mark.parametrize("paper_id", VALID_PAPER_IDS)
def test_valid_paper_ids(paper_id: str) -> None:
    assert check_paper_id(paper_id) == paper_id
    assert Paper(paper_id, "T").paper_id == paper_id


@pytest.mark.parametrize(("paper_id", "why"), INVALID_PAPER_IDS.items())
def test_invalid_paper_ids_say_why(paper_id: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        check_paper_id(paper_id)
    with pytest.raises(ValueError, match="invalid paper id"):
        Paper(paper_id, "T")


def test_references_follow_the_rule_too() -> None:
    with pytest.raises(ValueError, match="references: invalid paper id 'a b'"):
        Paper("p1", "T", references=("p2", "a b"))


def test_user_ids() -> None:
    for ok in ("alice", "a@b.example", "citeulike-a:user5", "..."):
        assert check_user_id(ok) == ok
    for bad in (".", "..", "a/b", "a b", "", "u" * (MAX_ID_LENGTH + 1), None):
        with pytest.raises(ValueError, match="invalid user id"):
            check_user_id(bad)


def _by_the_words(value: str) -> bool:
    """The rule as docs/API.md states it, written out apart from the regex."""
    if not 0 < len(value) <= MAX_ID_LENGTH or re.search(r"[^A-Za-z0-9._:/-]", value):
        return False
    segments = value.split("/")
    if any(s in ("", ".", "..") for s in segments):
        return False
    return not (len(segments) > 1 and segments[-1] == "similar")


# Strings over the alphabet and a few characters outside it, biased towards the hard cases.
_pieces = st.sampled_from(["/", ".", "..", "similar", "a", "Z", "9", "_", ":", "-", " ", "%"])


@given(st.lists(_pieces, max_size=12).map("".join))
def test_the_pattern_is_the_rule_in_words(value: str) -> None:
    assert (re.fullmatch(PAPER_ID_PATTERN, value) is not None and len(value) <= 128) == (
        _by_the_words(value)
    )
    try:
        check_paper_id(value)
        accepted = True
    except ValueError:
        accepted = False
    assert accepted == _by_the_words(value)


@given(st.lists(st.sampled_from([".", "..", "a", "@", "/", " "]), max_size=6).map("".join))
def test_the_user_pattern_is_the_rule_in_words(value: str) -> None:
    by_words = bool(re.fullmatch(r"[A-Za-z0-9._:@-]{1,128}", value)) and value not in (".", "..")
    assert (re.fullmatch(USER_ID_PATTERN, value) is not None) == by_words
