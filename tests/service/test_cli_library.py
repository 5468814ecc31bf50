"""``paperrec import-library`` and the command line's errors: a library file becomes a user's
likes (twice changes nothing), every bad input is one line on stderr with exit status 2 (a
traceback only with --debug), --version, progress bars only on a terminal, and after a CiteULike
import no sample paper is recommended to its users."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from service_conftest import ADMIN_HEADERS, raw_redis, wait_for_retrain

from service import keys
from service.cli import main
from service.main import create_app
from service.settings import Settings


@pytest.fixture
def cli_env(tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("PAPERREC_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PAPERREC_MODEL", "content")
    monkeypatch.setenv("PAPERREC_ADMIN_TOKEN", "cli-admin-token-not-secret-0123456789")
    monkeypatch.delenv("PAPERREC_DATASETS_DIR", raising=False)
    return redis_url


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def papers_file(tmp_path: Path) -> Path:
    rows = [
        {"paper_id": f"x:{i}", "title": f"Paper {i} on {t}", "abstract": t}
        for i, t in enumerate(["quantum qubits", "protein folding", "quantum entanglement"])
    ]
    return write(tmp_path / "papers.jsonl", "".join(json.dumps(r) + "\n" for r in rows))


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def test_import_library_reports_and_a_second_run_changes_nothing(
    cli_env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["import", "papers", str(papers_file(tmp_path))]) == 0
    bib = write(
        tmp_path / "refs.bib",
        "@article{a, title={Paper 0 on {Q}uantum Qubits}}\n"
        "@article{b, title={A paper the catalog lacks}, doi={10.1000/new}, year=2024}\n"
        "@article{c, author={Nobody}}\n",
    )
    capsys.readouterr()
    assert main(["import-library", str(bib), "--user", "alice", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "dry run: nothing stored" in out
    r = raw_redis(cli_env)
    assert not r.smembers(keys.likes("alice"))
    assert main(["import-library", str(bib), "--user", "alice"]) == 0
    out = capsys.readouterr().out
    assert "3 entries read (bibtex)" in out
    assert "matched in the catalog: 1 (by arXiv id 0, by DOI 0, by title 1)" in out
    assert "added as new papers:    1" in out
    assert f"{bib}: line 3 (c): no title, arXiv id or DOI" in out
    assert "likes of alice: 2 new, 0 already there" in out
    assert r.smembers(keys.likes("alice")) == {"x:0", "doi:10.1000/new"}
    state = (r.hlen(keys.PAPERS), r.xlen(keys.EVENTS))
    assert main(["import-library", str(bib), "--user", "alice"]) == 0
    assert "likes of alice: 0 new, 2 already there" in capsys.readouterr().out
    assert (r.hlen(keys.PAPERS), r.xlen(keys.EVENTS)) == state
    assert main(["import-library", str(bib), "--user", "bob", "--as", "dislike"]) == 0
    assert r.smembers(keys.dislikes("bob")) == {"x:0", "doi:10.1000/new"}


def test_every_bad_input_is_one_line_and_exit_2(
    cli_env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.jsonl"
    assert main(["import", "papers", str(missing)]) == 2
    assert (
        one_error_line(capsys)
        == f"error: {missing}: no such file: check the path (nothing was imported)"
    )
    broken = write(
        tmp_path / "broken.jsonl", '{"paper_id": "a", "title": "A"}\n{"paper_id": "b"}\n'
    )
    assert main(["import", "papers", str(broken)]) == 2
    assert one_error_line(capsys).startswith(f"error: {broken}:2: missing required field 'title'")
    assert raw_redis(cli_env).hlen(keys.PAPERS) == 0  # line 1 was fine, and is not stored either
    csv = write(tmp_path / "bad.csv", "id,name\n1,x\n")
    assert main(["import", "papers", str(csv)]) == 2
    line = one_error_line(capsys)
    assert line.startswith(f"error: {csv}:1: header lacks required column(s) 'paper_id', 'title'")
    assert main(["import", "citeulike-a", "--data-dir", str(tmp_path / "none")]) == 2
    assert "check --data-dir" in one_error_line(capsys)
    assert main(["import", "papers", str(broken), "--format", "csv"]) == 2
    assert f"{broken}:1:" in one_error_line(capsys)
    assert main(["import-likes", str(tmp_path / "users.dat")]) == 2
    assert "users.dat: no such file" in one_error_line(capsys)
    dat = write(tmp_path / "bad-users.dat", "2 0 1\nx 1\n")
    assert main(["import-likes", str(dat)]) == 2
    assert one_error_line(capsys).startswith(f"error: {dat}:2: count 'x' is not an integer")
    # The first crash: a list of arXiv ids given to import-likes.
    ids = write(tmp_path / "ids.txt", "2101.00001\n2101.00002v2\n")
    assert main(["import-likes", str(ids)]) == 2
    line = one_error_line(capsys)
    assert f"{ids}:1: count '2101.00001' is not an integer" in line
    assert f"paperrec import-library {ids} --user USER" in line
    assert main(["import-library", str(tmp_path / "refs.bib"), "--user", "alice"]) == 2
    assert "refs.bib: no such file" in one_error_line(capsys)
    bad_json = write(tmp_path / "lib.json", "[{]")
    assert main(["import-library", str(bad_json), "--user", "alice"]) == 2
    assert one_error_line(capsys).startswith(f"error: {bad_json}:1: invalid JSON")
    assert main(["import-library", str(bad_json), "--user", "not valid"]) == 2
    assert "invalid user id 'not valid'" in one_error_line(capsys)
    assert main(["token", "not valid"]) == 2
    one_error_line(capsys)
    # argparse's own errors are one line too (no usage block)
    with pytest.raises(SystemExit) as e:
        main(["import", "papers", str(broken), "--format", "xml"])
    assert e.value.code == 2 and "invalid choice: 'xml'" in one_error_line(capsys)
    with pytest.raises(SystemExit) as e:
        main(["import-library", str(bad_json)])
    assert e.value.code == 2 and "--user" in one_error_line(capsys)


def test_a_bad_setting_is_one_line_and_debug_shows_the_traceback(
    cli_env: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from recommender.io.lines import LoaderError

    monkeypatch.setenv("PAPERREC_REDIS_APPENDFSYNC", "sometimes")
    assert main(["import", "papers", str(papers_file(tmp_path))]) == 2
    line = one_error_line(capsys)
    assert "bad setting: redis_appendfsync" in line and "paperrec --help" in line
    monkeypatch.delenv("PAPERREC_REDIS_APPENDFSYNC")
    with pytest.raises(LoaderError):
        main(["--debug", "import", "papers", str(tmp_path / "nope.jsonl")])
    with pytest.raises(LoaderError):
        main(["import", "papers", str(tmp_path / "nope.jsonl"), "--debug"])


def test_import_likes_says_which_paper_prefix_would_match(
    cli_env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ds = tmp_path / "datasets" / "citeulike-a"
    ds.mkdir(parents=True)
    write(ds / "titles.txt", "Deep nets\nQuantum bits\nProtein folds\n")
    write(ds / "tags.dat", "ml\n")
    write(ds / "item-tag.dat", "1 0\n0\n0\n")
    write(ds / "users.dat", "2 0 2\n1 1\n")
    assert main(["import", "citeulike-a", "--data-dir", str(ds.parent)]) == 0
    capsys.readouterr()
    assert main(["import-likes", str(ds / "users.dat")]) == 2
    line = one_error_line(capsys)
    assert "none of the 3 papers it names is in the store" in line
    assert "with --paper-prefix citeulike-a: 3 of 3 checked would be" in line
    assert main(["import-likes", str(ds / "users.dat"), "--paper-prefix", "citeulike-a:"]) == 0
    assert "likes: 3 from 2 users; 0 skipped" in capsys.readouterr().out


def test_version_and_progress_only_on_a_terminal(
    cli_env: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.startswith("paperrec 0.")
    path = papers_file(tmp_path)
    assert main(["import", "papers", str(path)]) == 0
    assert "papers" not in capsys.readouterr().err  # not a terminal: no bar

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    term = Terminal()
    monkeypatch.setattr("sys.stderr", term)
    assert main(["import", "papers", str(path)]) == 0
    assert main(["train"]) == 0
    shown = term.getvalue()
    assert f"reading {path} ..." in shown
    assert "papers:   0%" in shown and "/3 [" in shown  # a bar over the 3 papers
    assert "reading the catalog" in shown and "saving" in shown and "4/4" in shown


def test_after_a_citeulike_import_no_sample_paper_is_recommended(
    cli_env: str,
    tmp_path: Path,
    make_settings: Callable[..., Settings],
) -> None:
    ds = tmp_path / "datasets" / "citeulike-a"
    ds.mkdir(parents=True)
    titles = [f"Quantum computing paper {i}" for i in range(5)] + [
        f"Protein folding paper {i}" for i in range(5)
    ]
    write(ds / "titles.txt", "\n".join(titles) + "\n")
    write(ds / "tags.dat", "ml\n")
    write(ds / "item-tag.dat", "0\n" * 10)
    write(ds / "users.dat", "2 0 1\n2 5 6\n1 9\n")
    settings = make_settings(model="content", papers_poll_s=0)
    with TestClient(create_app(settings)) as c:
        assert c.get("/health", headers=ADMIN_HEADERS).json()["redis"]["papers"] == 60  # the sample
        assert main(["import", "citeulike-a", "--data-dir", str(ds.parent), "--likes"]) == 0
        c.app.state.models.sync_papers()  # type: ignore[attr-defined]

        def sample_recommended() -> list[str]:
            found = []
            for u in range(3):
                for since in (None, "1900-01-01"):
                    params = {"k": 100} | ({"since": since} if since else {})
                    r = c.get(
                        f"/users/citeulike-a:user{u}/recommendations",
                        params=params,
                        headers=ADMIN_HEADERS,
                    )
                    assert r.status_code == 200, r.text
                    found += [i["paper_id"] for i in r.json()["items"]]
                    if since is None:
                        assert r.json()["items"], "a user without recommendations"
            return [p for p in found if p.startswith("sample:")]

        assert sample_recommended() == []
        assert c.post("/admin/retrain", headers=ADMIN_HEADERS).status_code == 202
        assert wait_for_retrain(c)["status"] == "succeeded"
        assert sample_recommended() == []
        assert c.get("/health", headers=ADMIN_HEADERS).json()["model"]["n_papers"] == 10


def test_serve_says_in_one_line_when_its_data_folder_cannot_be_made(
    cli_env: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from service_conftest import free_port

    blocker = write(tmp_path / "a-file", "not a folder\n")
    monkeypatch.setenv("PAPERREC_DATA_DIR", str(blocker / "data"))
    assert main(["serve", "--port", str(free_port())]) == 2
    assert one_error_line(capsys).startswith(f"error: {blocker / 'data'}: ")


def test_import_library_into_a_collection(
    cli_env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["import", "papers", str(papers_file(tmp_path))]) == 0
    ids = write(tmp_path / "refs.txt", "doi:10.1000/none\n")  # nothing to match: only the set-up
    bib = write(
        tmp_path / "refs.bib",
        "@article{a, title={Paper 0 on quantum qubits}}\n"
        "@article{b, title={Paper 2 on quantum entanglement}}\n",
    )
    args = ["import-library", str(bib), "--user", "ann", "--collection", "quantum"]
    assert main(args) == 0
    r = raw_redis(cli_env)
    assert r.smembers(keys.collection("ann", "quantum")) == {"x:0", "x:2"}
    assert r.smembers(keys.likes("ann")) == {"x:0", "x:2"}
    # Dislikes never go in a collection; a bad name is one line, exit 2; nothing stored.
    assert main([*args, "--as", "dislike"]) == 2
    assert "only likes go in a collection" in one_error_line(capsys)
    assert main(["import-library", str(ids), "--user", "ann", "--collection", "a/b"]) == 2
    assert "collection name 'a/b'" in one_error_line(capsys)
    assert r.hkeys(keys.collections("ann")) == ["quantum"]
