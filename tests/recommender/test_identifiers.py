"""`recommender.identifiers`: every spelling of an arXiv id, a DOI and a title comes out the same,
and what is not one is refused with a message."""

from __future__ import annotations

import pytest

from recommender.catalog import Paper
from recommender.identifiers import (
    arxiv_id,
    doi,
    find_arxiv_id,
    find_doi,
    generated_paper_id,
    title_key,
)


@pytest.mark.parametrize(
    "spelling",
    [
        "2101.00001",
        "2101.00001v3",
        "arXiv:2101.00001",
        "ARXIV: 2101.00001v12",
        "https://arxiv.org/abs/2101.00001v2",
        "http://arxiv.org/pdf/2101.00001.pdf",
        "https://arxiv.org/pdf/2101.00001v1",
        "arxiv.org/abs/2101.00001/",
        "10.48550/arXiv.2101.00001",
    ],
)
def test_new_style_arxiv_ids_in_every_spelling(spelling: str) -> None:
    assert arxiv_id(spelling) == "2101.00001"


@pytest.mark.parametrize(
    "spelling, normal",
    [
        ("hep-th/9901001", "hep-th/9901001"),
        ("hep-th/9901001v2", "hep-th/9901001"),
        ("arXiv:HEP-TH/9901001", "hep-th/9901001"),
        ("math.AG/0101001", "math/0101001"),  # the subject class is not part of the id
        ("https://arxiv.org/abs/cond-mat/0501234v1", "cond-mat/0501234"),
        ("0704.0001", "0704.0001"),  # four digits after the dot until 2014
    ],
)
def test_old_style_arxiv_ids(spelling: str, normal: str) -> None:
    assert arxiv_id(spelling) == normal


@pytest.mark.parametrize(
    "bad", ["", "2101.001", "21010.00001", "arXiv:", "hep-th/99", "x/1234567v"]
)
def test_what_is_not_an_arxiv_id_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="is not an arXiv id"):
        arxiv_id(bad)


@pytest.mark.parametrize(
    "spelling",
    [
        "10.1000/ABC.def",
        "10.1000/abc.def",
        "doi:10.1000/ABC.DEF",
        "DOI: 10.1000/abc.def",
        "https://doi.org/10.1000/abc.DEF",
        "http://dx.doi.org/10.1000%2Fabc.def",
    ],
)
def test_dois_are_case_insensitive_and_lose_their_prefix(spelling: str) -> None:
    assert doi(spelling) == "10.1000/abc.def"


def test_a_doi_is_found_in_text_without_the_sentence_around_it() -> None:
    assert (
        find_doi("see https://doi.org/10.1145/3292500.3330919, then") == "10.1145/3292500.3330919"
    )
    assert find_doi(None, "", "no doi here") is None
    with pytest.raises(ValueError, match="is not a DOI"):
        doi("11.1000/abc")
    assert find_arxiv_id(None, "junk", "arXiv:1706.03762v5") == "1706.03762"


def test_title_keys_ignore_accents_case_punctuation_braces_and_spacing() -> None:
    a = title_key("The {B}ayesian  Approach: Schrödinger's Équations!")
    b = title_key("the bayesian approach -- schrodingers equations")
    assert a == b == "the bayesian approach schrodingers equations"
    assert title_key("Graphs") != title_key("Graph")
    assert title_key("?!") == ""


def test_papers_store_their_ids_in_normal_form_and_refuse_others() -> None:
    p = Paper("x", "T", arxiv_id="arXiv:2101.00001v3", doi="https://doi.org/10.1000/ABC")
    assert (p.arxiv_id, p.doi) == ("2101.00001", "10.1000/abc")
    assert Paper.from_dict(p.to_dict()) == p
    with pytest.raises(ValueError, match="paper 'x': arxiv_id: 'nope' is not an arXiv id"):
        Paper("x", "T", arxiv_id="nope")


def test_generated_ids_come_from_the_arxiv_id_then_the_doi_then_a_hash() -> None:
    assert generated_paper_id(arxiv="2101.00001", doi_="10.1/x", title="T", year=1) == "2101.00001"
    assert (
        generated_paper_id(arxiv=None, doi_="10.1000/abc", title="T", year=1) == "doi:10.1000/abc"
    )
    odd = generated_paper_id(arxiv=None, doi_="10.1000/a(b)<c>", title="T", year=1)
    assert odd.startswith("ref:") and odd == generated_paper_id(
        arxiv=None, doi_="10.1000/a(b)<c>", title="Other", year=2
    )
    one = generated_paper_id(arxiv=None, doi_=None, title="A {T}itle", year=2020)
    assert one == generated_paper_id(arxiv=None, doi_=None, title="a title", year=2020)
    assert one != generated_paper_id(arxiv=None, doi_=None, title="a title", year=2021)
