"""The identifiers a paper is known by outside this project, written one way each.

A paper reaches a catalog from many sources (an arXiv listing, a researcher's BibTeX file, a
Zotero export) and each writes its ids its own way: ``arXiv:2101.00001v2``,
``https://arxiv.org/pdf/2101.00001.pdf``, ``https://doi.org/10.1000/ABC``, ``doi:10.1000/abc``.
These functions turn each into one normal form, so that the same paper from two sources is found
to be one paper:

* an **arXiv id** without its version: new style ``2101.00001`` (``YYMM.NNNNN``), old style
  ``hep-th/9901001`` (archive in lower case, a subject class such as ``math.AG/0101001`` dropped);
* a **DOI** in lower case (DOIs are case-insensitive), without ``doi:`` or a resolver URL;
* a **title** as a match key: accents, case, punctuation, braces and spacing removed;
* an **author** as a match key: the last word of the family name and the first initial
  (``"Hinton, Geoffrey E."``, ``"G. E. Hinton"`` and ``"Geoffrey Hinton"`` are one author).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable
from urllib.parse import unquote

__all__ = [
    "arxiv_id",
    "author_key",
    "doi",
    "find_arxiv_id",
    "find_doi",
    "generated_paper_id",
    "title_key",
]

# New style (2007 on): YYMM.NNNN (to 2014) or YYMM.NNNNN; old style: archive[.class]/YYMMNNN.
_NEW = r"\d{4}\.\d{4,5}"
_OLD = r"[a-z][a-z-]*(?:\.[a-z]{2})?/\d{7}"
_ARXIV = re.compile(rf"(?P<id>{_NEW}|{_OLD})(?:v\d+)?", re.IGNORECASE)
_ARXIV_URL = re.compile(
    r"^(?:https?://)?(?:www\.|export\.)?arxiv\.org/(?:abs|pdf|html)/(?P<rest>.+?)(?:\.pdf)?/?$",
    re.IGNORECASE,
)
_ARXIV_PREFIX = re.compile(r"^arxiv:\s*", re.IGNORECASE)
_ARXIV_DOI = re.compile(rf"^10\.48550/arxiv\.(?P<id>{_NEW}|{_OLD})$", re.IGNORECASE)

_DOI = re.compile(r"^10\.\d{4,9}/\S+$")
_DOI_URL = re.compile(r"^(?:https?://)?(?:dx\.)?doi\.org/", re.IGNORECASE)
_DOI_PREFIX = re.compile(r"^doi:\s*", re.IGNORECASE)
# A DOI inside running text (a note, a URL field): stops at whitespace and at closing marks.
_DOI_IN_TEXT = re.compile(r"\b10\.\d{4,9}/[^\s\"'<>]+")

# Braces (BibTeX case protection) and apostrophes join what they sit in: "{B}ayes", "Bayes's".
_JOINING = re.compile(r"[{}'\u2019`]")
_NOT_WORD = re.compile(r"[^\w]+")
_WS = re.compile(r"\s+")


def arxiv_id(value: str) -> str:
    """``value`` (an arXiv id with or without ``arXiv:``, its version, or as an abs/pdf URL) in
    normal form; ``ValueError`` when it is not an arXiv id."""
    text = value.strip()
    m = _ARXIV_URL.match(text)
    if m:
        text = unquote(m.group("rest"))
    text = _ARXIV_PREFIX.sub("", text)
    d = _ARXIV_DOI.match(text)
    if d:
        text = d.group("id")
    m2 = _ARXIV.fullmatch(text)
    if not m2:
        raise ValueError(
            f"{value!r} is not an arXiv id (new style 2101.00001, old style hep-th/9901001, "
            "optionally with a version, 'arXiv:' before it or as an arxiv.org/abs URL)"
        )
    found = m2.group("id").lower()
    if "/" in found:
        archive, number = found.split("/")
        found = f"{archive.split('.')[0]}/{number}"
    return found


def doi(value: str) -> str:
    """``value`` (a DOI, bare, with ``doi:`` or as a doi.org URL) in normal form (lower case);
    ``ValueError`` when it is not a DOI."""
    text = _DOI_URL.sub("", value.strip())
    if text != value.strip():
        text = unquote(text)
    text = _DOI_PREFIX.sub("", text).strip()
    if not _DOI.match(text):
        raise ValueError(
            f"{value!r} is not a DOI (10.<registrant>/<suffix>, bare, 'doi:' before it or as a "
            "doi.org URL)"
        )
    return text.lower()


def find_arxiv_id(*values: str | None) -> str | None:
    """The first of ``values`` that is an arXiv id (or an arXiv DOI, ``10.48550/arXiv.*``), in
    normal form; ``None`` when none is."""
    for v in values:
        if not v:
            continue
        try:
            return arxiv_id(v)
        except ValueError:
            continue
    return None


def find_doi(*values: str | None) -> str | None:
    """The first DOI in ``values`` (each a DOI, a doi.org URL or text holding one), in normal
    form; ``None`` when there is none."""
    for v in values:
        if not v:
            continue
        try:
            return doi(v)
        except ValueError:
            pass
        m = _DOI_IN_TEXT.search(unquote(v))
        if m:
            try:
                # A DOI in running text ends before the sentence's punctuation.
                return doi(m.group(0).rstrip(".,;"))
            except ValueError:
                continue
    return None


def title_key(title: str) -> str:
    """``title`` as a key that two spellings of one title share: letters without accents, in
    lower case, every run of punctuation, braces and spacing one space. ``""`` when nothing is
    left."""
    decomposed = unicodedata.normalize("NFKD", _JOINING.sub("", title))
    letters = "".join(c for c in decomposed if not unicodedata.combining(c))
    words = _NOT_WORD.sub(" ", letters.casefold().replace("_", " "))
    return _WS.sub(" ", words).strip()


_SUFFIXES = frozenset({"jr", "sr", "ii", "iii", "iv"})


def author_key(name: str) -> str:
    """``name`` as a key that the usual spellings of one author share: the last word of the
    family name and the first letter of the given names, without accents or case (``"hinton
    g"``). The family name is what comes before a comma (``"van der Waals, J."``), else the last
    word (``"J. van der Waals"``; a ``Jr.`` or ``III`` after it is skipped). Two authors with the
    same family name and initial share a key: a rule that follows one follows both. ``""`` when
    nothing is left."""
    family, comma, given = name.partition(",")
    if comma:
        words = title_key(family).split()
        given_words = [w for w in title_key(given).split() if w not in _SUFFIXES]
    else:
        words = title_key(name).split()
        while len(words) > 1 and words[-1] in _SUFFIXES:
            words.pop()
        given_words, words = words[:-1], words[-1:]
    if not words:
        return ""
    initial = given_words[0][0] if given_words else ""
    return f"{words[-1]} {initial}".strip()


def generated_paper_id(
    *,
    arxiv: str | None,
    doi_: str | None,
    title: str,
    year: int | None,
    valid: Callable[[str], bool] = lambda pid: True,
) -> str:
    """The id of a paper that an entry of a reference library brings into a catalog: its arXiv
    id (the id the arXiv readers give it too, so the paper is the same one however it came),
    else ``doi:<doi>`` when that stays within 128 letters, digits and ``. _ : / -``, else
    ``ref:`` and a hash of what identifies it (the DOI, or the title key and year). ``valid``:
    the catalog's id rule, which the first two must also pass (a DOI may hold ``//``)."""
    if arxiv and valid(arxiv):
        return arxiv
    if doi_ and len(doi_) <= 124 and re.fullmatch(r"[a-z0-9._:/-]+", doi_) and valid(f"doi:{doi_}"):
        return f"doi:{doi_}"
    basis = f"doi:{doi_}" if doi_ else f"title:{title_key(title)}|{year or ''}"
    return "ref:" + hashlib.sha256(basis.encode("utf-8")).hexdigest()[:20]
