"""Reference-library readers (recommender.io.library and one module per format), on small files
written for these tests: what each entry says comes out as plain text with normalised ids, a bad
entry is skipped with its line or key while the rest is read, and a file that is not of its
format at all is a LoaderError naming it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recommender.io.library import LibraryEntry, detect_format, parse_library, read_library
from recommender.io.lines import LoaderError

BIBTEX = r"""@string{jml = "Journal of Made-up Learning"}
% a comment line

@article{muller2020,
  title = {The {B}ayesian Approach to {Schr\"odinger} Equations in {\'E}cole \& caf\'{e}},
  author = {M{\"u}ller, J\'an and Doe, John and {Research Group on Things}},
  journal = jml,
  year = 2020,
  doi = {https://doi.org/10.1000/ABC.123},
  abstract = {We show that \emph{this} works.}
}

@article{broken2019, title = {An unclosed title,
  year = 2019

@inproceedings{vaswani2017,
  title = "Attention Is All You Need",
  booktitle = "A conference",
  year = "2017",
  eprint = {1706.03762v5}, archivePrefix = {arXiv}
}
@misc{scholar2021, title={A preprint}, journal={arXiv preprint arXiv:2103.00020}, year={2021}}
@misc{vaswani2017, title={Same key again}}
@misc{empty2020, author={Nobody, Some}}
@misc{oldstyle, title={Old style}, url={https://arxiv.org/abs/hep-th/9901001v2}}
"""


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def by_key(entries: list[LibraryEntry]) -> dict[str | None, LibraryEntry]:
    return {e.key: e for e in entries}


def test_bibtex_entries_become_plain_text_with_their_ids(tmp_path: Path) -> None:
    lib = read_library(write(tmp_path, "refs.bib", BIBTEX))
    assert lib.format == "bibtex" and lib.read == 7
    e = by_key(lib.entries)
    m = e["muller2020"]
    assert m.title == "The Bayesian Approach to Schrödinger Equations in École & café"
    assert m.authors == ("Ján Müller", "John Doe", "Research Group on Things")
    assert (m.year, m.doi, m.arxiv_id, m.line) == (2020, "10.1000/abc.123", None, 4)
    assert m.abstract == "We show that this works."
    assert e["vaswani2017"].arxiv_id == "1706.03762" and e["vaswani2017"].year == 2017
    assert e["scholar2021"].arxiv_id == "2103.00020"  # Google Scholar's journal field
    assert e["oldstyle"].arxiv_id == "hep-th/9901001"
    skipped = {s.line: (s.key, s.reason) for s in lib.skipped}
    assert set(skipped) == {13, 23, 24}
    assert skipped[13][0] == "broken2019" and "does not parse as BibTeX" in skipped[13][1]
    assert skipped[23][0] == "vaswani2017" and "used twice (first on line 16)" in skipped[23][1]
    assert skipped[24] == ("empty2020", "no title, arXiv id or DOI")


def test_a_file_without_entries_or_not_utf8_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(LoaderError, match=r"refs\.bib: no BibTeX entries"):
        read_library(write(tmp_path, "refs.bib", "just some words\n"))
    with pytest.raises(LoaderError, match=r"latin\.bib:2: not UTF-8 text"):
        read_library(
            write(tmp_path, "latin.bib", b"@misc{a, title={ok}}\n@misc{b, title={caf\xe9}}")
        )
    with pytest.raises(LoaderError, match="the file is empty"):
        read_library(write(tmp_path, "empty.bib", "\n\n"))
    with pytest.raises(LoaderError, match="no such file"):
        read_library(tmp_path / "missing.bib")
    with pytest.raises(ValueError, match="unknown library format 'word'"):
        parse_library(b"x", "x.txt", "word")  # type: ignore[arg-type]


RIS = """TY  - JOUR
TI  - Graph neural networks for molecules
AU  - Smith, Jane
AU  - Roe, R.
PY  - 2020///
DO  - https://doi.org/10.1000/GNN
AB  - Message passing over atoms.
ID  - smith2020
ER  -

TY  - JOUR
AU  - Nobody, A.
ER  -

TY  - ELEC
T1  - A preprint with a URL
UR  - http://arxiv.org/abs/2101.00001v3
Y1  - 2021/01/02
N1  - arXiv:2101.00001 [cs.LG]
ER  -

TY  - JOUR
TI  - A record that never ends
TY  - CHAP
TI  - Proteins fold
PY  - 2018
ER  -
"""


def test_ris_records_are_read_each_at_its_line(tmp_path: Path) -> None:
    lib = read_library(write(tmp_path, "zotero.ris", RIS))
    assert lib.format == "ris" and lib.read == 5
    first, second, third = lib.entries
    assert (first.line, first.key, first.title) == (
        1,
        "smith2020",
        "Graph neural networks for molecules",
    )
    assert first.authors == ("Jane Smith", "R. Roe") and first.year == 2020
    assert first.doi == "10.1000/gnn" and first.abstract == "Message passing over atoms."
    assert (second.line, second.arxiv_id, second.year) == (15, "2101.00001", 2021)
    assert (third.line, third.title, third.year) == (24, "Proteins fold", 2018)
    assert [(s.line, s.reason[:24]) for s in lib.skipped] == [
        (11, "no title (TI), arXiv id "),
        (22, "the record has no 'ER  -"),
    ]
    with pytest.raises(LoaderError, match="no RIS records"):
        read_library(write(tmp_path, "x.ris", "not a ris file\n"))


CSL = [
    {
        "id": "http://zotero.org/users/1/items/ABCD",
        "type": "article-journal",
        "title": "Learning to rank papers",
        "author": [{"family": "Doe", "given": "Jane"}, {"literal": "The Team"}],
        "issued": {"date-parts": [[2019, 5, 1]]},
        "DOI": "10.1000/RANK",
        "abstract": "We rank.",
    },
    {
        "citation-key": "lee2021",
        "type": "article",
        "title": "A preprint in Better CSL JSON",
        "issued": "2021-03-04",
        "number": "arXiv:2103.00001",
        "URL": "http://arxiv.org/abs/2103.00001v2",
    },
    "not an item",
    {"id": "nothing", "type": "book"},
]


def test_csl_json_plain_and_better_csl_json(tmp_path: Path) -> None:
    lib = read_library(write(tmp_path, "my library.json", json.dumps(CSL)))
    assert lib.format == "csl-json" and lib.read == 4
    a, b = lib.entries
    assert (a.key, a.title, a.authors, a.year, a.doi) == (
        "http://zotero.org/users/1/items/ABCD",
        "Learning to rank papers",
        ("Jane Doe", "The Team"),
        2019,
        "10.1000/rank",
    )
    assert (b.key, b.year, b.arxiv_id, b.line) == ("lee2021", 2021, "2103.00001", None)
    assert [(s.where, s.reason) for s in lib.skipped] == [
        ("entry #3", "item 3 is a str, not an object"),
        ("entry nothing", "no title, arXiv id or DOI"),
    ]
    with pytest.raises(LoaderError, match=r"bad\.json:3: invalid JSON"):
        read_library(write(tmp_path, "bad.json", '[\n  {"title": "x"},\n  {"title": }\n]'))
    with pytest.raises(LoaderError, match="expected a JSON array"):
        read_library(write(tmp_path, "obj.json", '{"title": "x"}'))


ZOTERO_CSV = (
    '"Key","Item Type","Publication Year","Author","Title","DOI","Url","Abstract Note","Extra"\n'
    '"K1","journalArticle","2020","Smith, Jane; Roe, Richard","Graph networks, revisited",'
    '"10.1000/G","","Graphs.",""\n'
    '"K2","preprint","2021","Lee, Kim","A preprint","","","","arXiv: 2104.00001"\n'
    '"K3","report","2019"\n'
    '"K4","note","","","","","","",""\n'
)


def test_zotero_csv_export(tmp_path: Path) -> None:
    lib = read_library(write(tmp_path, "Exported Items.csv", ZOTERO_CSV))
    assert lib.format == "zotero-csv" and lib.read == 4
    a, b = lib.entries
    assert (a.key, a.title, a.authors, a.year, a.doi, a.line) == (
        "K1",
        "Graph networks, revisited",
        ("Jane Smith", "Richard Roe"),
        2020,
        "10.1000/g",
        2,
    )
    assert (b.key, b.arxiv_id) == ("K2", "2104.00001")
    assert [(s.where, s.reason) for s in lib.skipped] == [
        ("line 4", "3 fields, the header has 9"),
        ("line 5 (K4)", "no title, arXiv id or DOI"),
    ]
    with pytest.raises(LoaderError, match=r"other\.csv:1: the header has no 'Title' column"):
        read_library(write(tmp_path, "other.csv", "paper_id,name\n1,x\n"))


def test_a_list_of_arxiv_ids_and_dois(tmp_path: Path) -> None:
    text = (
        "# my reading list\n"
        "2101.00001v2\n"
        "arXiv:hep-th/9901001\n"
        "https://arxiv.org/pdf/1706.03762v7.pdf  the transformer\n"
        "\n"
        "10.1000/XYZ\n"
        "https://doi.org/10.1145/3292500.3330919\n"
        "a title is not an id\n"
    )
    lib = read_library(write(tmp_path, "ids.txt", text))
    assert [(e.line, e.arxiv_id, e.doi) for e in lib.entries] == [
        (2, "2101.00001", None),
        (3, "hep-th/9901001", None),
        (4, "1706.03762", None),
        (6, None, "10.1000/xyz"),
        (7, None, "10.1145/3292500.3330919"),
    ]
    assert [s.line for s in lib.skipped] == [8]
    assert "neither an arXiv id" in lib.skipped[0].reason


def test_the_format_comes_from_the_suffix_then_the_text() -> None:
    assert detect_format("a.bib", "") == "bibtex"
    assert detect_format("a.RIS", "") == "ris"
    assert detect_format("a.json", "") == "csl-json"
    assert detect_format("a.csv", "") == "zotero-csv"
    assert detect_format("a.txt", "@article{x,") == "ids"  # the suffix decides
    assert detect_format("body", "\n@article{x, title={t}}") == "bibtex"
    assert detect_format("body", "TY  - JOUR\nER  - \n") == "ris"
    assert detect_format("body", '[{"title": "t"}]') == "csl-json"
    assert detect_format("body", '"Key","Item Type","Title"\n') == "zotero-csv"
    assert detect_format("body", "2101.00001\n") == "ids"
