"""The acceptance case of the library import on real data: a BibTeX file, written here at test
time, mixing papers of the CiteULike-a catalog (their titles read from the dataset's titles.txt,
spelt as BibTeX spells them) and papers the catalog does not have. The report counts both right,
the user's likes hold all of them, the next recommendations leave them out and follow them, and
importing the file twice changes nothing. Nothing of the dataset is copied into the repository."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from service_conftest import ADMIN_HEADERS, raw_redis

from recommender.datasets import DataDirUnknown, default_data_dir
from recommender.identifiers import title_key
from service import keys
from service.cli import main
from service.main import create_app
from service.settings import Settings


def _datasets() -> Path | None:
    if os.environ.get("PAPERREC_DATASETS_DIR"):
        return Path(os.environ["PAPERREC_DATASETS_DIR"])
    try:
        return default_data_dir()
    except DataDirUnknown:
        return None


DATASETS = _datasets()
TITLES = None if DATASETS is None else DATASETS / "citeulike-a" / "titles.txt"
pytestmark = pytest.mark.skipif(
    TITLES is None or not TITLES.is_file(),
    reason="needs the citeulike-a dataset (../shared/datasets/citeulike-a or "
    "PAPERREC_DATASETS_DIR; see DATASETS.md)",
)

INVENTED = [
    (
        "invented1",
        "Recommending papers from a researcher's own reference library",
        "We rank new papers against the papers a researcher keeps in a reference manager.",
    ),
    (
        "invented2",
        "Matching bibliography entries across reference managers",
        "Entries exported from two reference managers are matched by identifiers and titles.",
    ),
    (
        "invented3",
        "A made-up study of coffee consumption during paper deadlines",
        "An invented survey of how much coffee researchers drink before deadlines.",
    ),
]


def _catalog_titles(n: int) -> list[tuple[int, str]]:
    """``n`` titles of the catalog that no other paper shares (a title match must be unique),
    spread over the file, as ``(item, title)``."""
    assert TITLES is not None
    titles = TITLES.read_text(encoding="utf-8").splitlines()
    counts: dict[str, int] = {}
    for t in titles:
        counts[title_key(t)] = counts.get(title_key(t), 0) + 1
    step = len(titles) // n
    picked = []
    for start in range(0, step * n, step):
        for i in range(start, start + step):
            t = titles[i].strip()
            if counts[title_key(t)] == 1 and len(t.split()) >= 4 and t.isascii():
                picked.append((i, t))
                break
    assert len(picked) == n
    return picked


def _bibtex_title(title: str, how: int) -> str:
    """The title as people's BibTeX files write it: case protected by braces, in capitals, or
    with a final period."""
    if how == 0:
        return " ".join("{" + w[0] + "}" + w[1:] for w in title.split())
    if how == 1:
        return title.upper()
    return f"{title}."


def test_a_bibtex_library_of_catalog_and_new_papers(
    tmp_path: Path,
    redis_url: str,
    make_settings: Callable[..., Settings],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("PAPERREC_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PAPERREC_ADMIN_TOKEN", "cli-admin-token-not-secret-0123456789")
    assert main(["import", "citeulike-a", "--data-dir", str(DATASETS)]) == 0
    known = _catalog_titles(5)
    entries = [
        f"@article{{real{i},\n  title = {{{_bibtex_title(t, i % 3)}}},\n  year = 2008\n}}\n"
        for i, (_, t) in enumerate(known)
    ] + [
        f"@inproceedings{{{key},\n  title = {{{title}}},\n  abstract = {{{abstract}}},\n"
        f"  author = {{Invented, Ann and Madeup, Bo}},\n  year = 2026\n}}\n"
        for key, title, abstract in INVENTED
    ]
    bib = tmp_path / "library.bib"
    bib.write_text("\n".join(entries), encoding="utf-8")

    capsys.readouterr()
    assert main(["import-library", str(bib), "--user", "researcher"]) == 0
    out = capsys.readouterr().out
    assert "8 entries read (bibtex)" in out, out
    assert "matched in the catalog: 5 (by arXiv id 0, by DOI 0, by title 5)" in out, out
    assert "added as new papers:    3" in out and "skipped:                0" in out, out
    r = raw_redis(redis_url)
    liked = set(r.smembers(keys.likes("researcher")))
    assert {f"citeulike-a:{i}" for i, _ in known} <= liked and len(liked) == 8
    assert r.hlen(keys.PAPERS) == 16980 + 3

    with TestClient(create_app(make_settings(model="content", papers_poll_s=0))) as c:
        rec = c.get(
            "/users/researcher/recommendations", params={"k": 20}, headers=ADMIN_HEADERS
        ).json()
        got = [i["paper_id"] for i in rec["items"]]
        assert len(got) == 20 and not set(got) & liked
        # They follow the library: every suggestion is explained by papers of it.
        assert all(i["because"] and set(i["because"]) <= liked for i in rec["items"])
        cold = c.get(
            "/users/nobody/recommendations", params={"k": 20}, headers=ADMIN_HEADERS
        ).json()
        assert [i["paper_id"] for i in cold["items"]] != got

    # Twice changes nothing.
    state = (r.hlen(keys.PAPERS), r.xlen(keys.EVENTS), r.smembers(keys.likes("researcher")))
    assert main(["import-library", str(bib), "--user", "researcher"]) == 0
    out = capsys.readouterr().out
    assert "matched in the catalog: 8" in out and "added as new papers:    0" in out, out
    assert "likes of researcher: 0 new, 8 already there" in out
    assert (r.hlen(keys.PAPERS), r.xlen(keys.EVENTS), r.smembers(keys.likes("researcher"))) == state
