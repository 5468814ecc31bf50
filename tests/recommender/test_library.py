"""`recommender.library.match_library` over an in-memory catalog index: arXiv id first, then DOI,
then title (with the year to tell same-titled papers apart); ambiguity reported, new papers made
from the entry, the same paper twice reported once."""

from __future__ import annotations

from recommender.catalog import Catalog, Paper
from recommender.io.entries import LibraryEntry, LibraryFile, Skipped
from recommender.library import CatalogIndex, match_library

CATALOG = Catalog(
    [
        Paper("c:1", "Graph neural networks for molecules", arxiv_id="2101.00001"),
        Paper("c:2", "Protein folding with attention", doi="10.1000/fold"),
        Paper("c:3", "A survey of recommender systems", year=2010),
        Paper("c:4", "A Survey of Recommender Systems", year=2015),
        Paper("c:5", "Deep learning", year=2015),
        Paper("c:6", "Deep Learning!"),
        Paper("2105.00005", "Stored before ids were indexed"),
    ]
)


def library(*entries: LibraryEntry, skipped: tuple[Skipped, ...] = ()) -> LibraryFile:
    return LibraryFile("refs.bib", "bibtex", list(entries), list(skipped))


def test_entries_match_by_arxiv_id_then_doi_then_title() -> None:
    lib = library(
        # arXiv id wins over a title that names another paper
        LibraryEntry(
            line=1, key="a", title="Protein folding with attention", arxiv_id="2101.00001"
        ),
        LibraryEntry(line=2, key="b", title="Something else", doi="10.1000/fold"),
        LibraryEntry(line=3, key="c", title="graph  NEURAL networks, for molecules."),
        LibraryEntry(line=4, key="d", title="A survey of recommender systems", year=2015),
        skipped=(Skipped(5, "e", "does not parse"),),
    )
    m = match_library(lib, CatalogIndex(CATALOG))
    assert [(x.entry.key, x.paper_id, x.by) for x in m.matched] == [
        ("a", "c:1", "arxiv"),
        ("b", "c:2", "doi"),
        ("d", "c:4", "title"),  # two papers of that title, one of them from 2015
    ]
    # c names c:1 too: reported as the same paper, not liked twice
    assert [(s.key, s.reason) for s in m.skipped] == [
        ("c", "the same paper as line 1 (a) (c:1)"),
        ("e", "does not parse"),
    ]
    assert m.paper_ids == ["c:1", "c:2", "c:4"]
    assert m.matched_by() == {"arxiv": 1, "doi": 1, "title": 1}
    assert m.to_dict()["read"] == 5


def test_an_ambiguous_title_is_reported_not_guessed() -> None:
    lib = library(
        LibraryEntry(line=1, key="x", title="A survey of recommender systems"),
        LibraryEntry(line=2, key="y", title="A survey of recommender systems", year=2020),
        LibraryEntry(line=3, key="z", title="Deep learning", year=2015),
    )
    m = match_library(lib, CatalogIndex(CATALOG))
    assert [(x.entry.key, x.paper_id) for x in m.matched] == [("z", "c:5")]
    assert [s.key for s in m.skipped] == ["x", "y"]
    assert "matches 2 papers (c:3, c:4)" in m.skipped[0].reason
    assert "none of them from 2020" in m.skipped[1].reason
    assert "add the entry's DOI or arXiv id" in m.skipped[1].reason
    assert not m.added


def test_entries_the_catalog_lacks_become_new_papers_from_the_file() -> None:
    lib = library(
        LibraryEntry(
            line=1,
            key="n1",
            title="Quantum walks on graphs",
            abstract="We walk.",
            authors=("Ann Lee",),
            year=2022,
            arxiv_id="2201.09999",
        ),
        LibraryEntry(line=2, key="n2", title="A DOI-only paper", doi="10.1000/only"),
        LibraryEntry(line=3, key="n3", title="Only a {T}itle", year=2001),
        LibraryEntry(line=4, key="n4", title="only a title", year=2001),  # the same as n3
        LibraryEntry(line=5, arxiv_id="2301.00002"),  # no title: cannot be added
        LibraryEntry(line=6, key="old", title="Whatever", arxiv_id="2105.00005"),
    )
    m = match_library(lib, CatalogIndex(CATALOG))
    new = {e.key: p for e, p in m.added}
    assert set(new) == {"n1", "n2", "n3"}
    q = new["n1"]
    assert (q.paper_id, q.arxiv_id, q.title, q.abstract, q.authors, q.year) == (
        "2201.09999",
        "2201.09999",
        "Quantum walks on graphs",
        "We walk.",
        ("Ann Lee",),
        2022,
    )
    assert q.url == "https://arxiv.org/abs/2201.09999"
    assert (new["n2"].paper_id, new["n2"].doi) == ("doi:10.1000/only", "10.1000/only")
    assert new["n3"].paper_id.startswith("ref:")
    # A paper stored under the arXiv id before its arxiv_id was indexed is the entry's paper.
    assert [(x.entry.key, x.paper_id, x.by) for x in m.matched] == [("old", "2105.00005", "arxiv")]
    reasons = {s.line: s.reason for s in m.skipped}
    assert reasons[4].startswith("the same paper as line 3 (n3)")
    assert "no paper in the catalog has the arXiv id 2301.00002" in reasons[5]
    assert m.paper_ids == ["2201.09999", "doi:10.1000/only", new["n3"].paper_id, "2105.00005"]


def test_matching_a_library_against_the_papers_it_added_matches_them_all() -> None:
    lib = library(
        LibraryEntry(line=1, title="Quantum walks on graphs", arxiv_id="2201.09999"),
        LibraryEntry(line=2, title="A DOI-only paper", doi="10.1000/only"),
        LibraryEntry(line=3, title="Only a title"),
    )
    first = match_library(lib, CatalogIndex(CATALOG))
    grown = Catalog([*CATALOG, *first.new_papers])
    again = match_library(lib, CatalogIndex(grown))
    assert not again.added and again.paper_ids == first.paper_ids
    assert again.matched_by() == {"arxiv": 1, "doi": 1, "title": 1}


def test_a_doi_the_id_rule_refuses_gives_a_hashed_id_and_keeps_the_doi() -> None:
    """A DOI with an empty path segment or ending in a route's word cannot be a paper id (the
    API could not reach it); the new paper is ``ref:<hash>`` and still carries its DOI."""
    lib = library(
        LibraryEntry(line=1, key="a", title="Double slash", doi="10.1000//x"),
        LibraryEntry(line=2, key="b", title="Shadowed", doi="10.1000/x/similar"),
    )
    m = match_library(lib, CatalogIndex(CATALOG))
    new = {e.key: p for e, p in m.added}
    for key, doi in (("a", "10.1000//x"), ("b", "10.1000/x/similar")):
        assert new[key].paper_id.startswith("ref:") and new[key].doi == doi
    assert new["a"].paper_id != new["b"].paper_id
