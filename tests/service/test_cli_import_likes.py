"""``paperrec import-likes``: bulk likes from a file, against a real Redis; unknown papers are
skipped and counted, known ones stored as likes with one event each."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from service_conftest import raw_redis

from service import keys
from service.cli import main


@pytest.fixture
def cli_env(tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("PAPERREC_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PAPERREC_ADMIN_TOKEN", "cli-admin-token-not-secret-0123456789")
    return redis_url


def test_import_likes_from_csv_and_users_dat(
    cli_env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    papers = tmp_path / "papers.jsonl"
    papers.write_text(
        "".join(json.dumps({"paper_id": f"x:{i}", "title": f"Paper {i}"}) + "\n" for i in range(3))
    )
    assert main(["import", "papers", str(papers)]) == 0
    csv = tmp_path / "likes.csv"
    csv.write_text("user,paper\nalice,x:0\nalice,x:2\nbob,x:1\nbob,nope\n")
    assert main(["import-likes", str(csv)]) == 0
    assert "likes: 3 from 2 users; 1 skipped" in capsys.readouterr().out
    dat = tmp_path / "users.dat"
    dat.write_text("1 1\n2 0 2\n")
    assert main(["import-likes", str(dat), "--paper-prefix", "x:", "--user-prefix", "d:"]) == 0
    r = raw_redis(cli_env)
    assert r.smembers(keys.likes("alice")) == {"x:0", "x:2"}
    assert r.smembers(keys.likes("bob")) == {"x:1"}
    assert r.smembers(keys.likes("d:user1")) == {"x:0", "x:2"}
    assert r.xlen(keys.EVENTS) == 6
    # Importing the same file again adds nothing: no new likes counted, no events repeated.
    capsys.readouterr()
    assert main(["import-likes", str(csv)]) == 0
    assert "likes: 0 from 2 users; 1 skipped" in capsys.readouterr().out
    assert r.xlen(keys.EVENTS) == 6


def _refused(argv: list[str]) -> bool:
    """Whether ``paperrec ARGV`` refused its input: a non-zero exit or the reader's error."""
    from recommender.io.lines import LoaderError

    try:
        return main(argv) != 0
    except LoaderError:
        return True


@pytest.mark.parametrize("bad", ["a b", "x}", "foo/similar", "a/../b", "."])
def test_imports_apply_the_apis_id_rule(cli_env: str, tmp_path: Path, bad: str) -> None:
    """``import papers`` and ``import-likes`` refuse ids that the API could not reach (today's
    version stored ids with spaces or ``}``, unreachable afterwards)."""
    papers = tmp_path / "papers.jsonl"
    papers.write_text(json.dumps({"paper_id": bad, "title": "Unreachable"}) + "\n")
    assert _refused(["import", "papers", str(papers)])
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps({"paper_id": "x:0", "title": "Reachable"}) + "\n")
    assert main(["import", "papers", str(good)]) == 0
    csv = tmp_path / "likes.csv"
    csv.write_text(f"alice,x:0\n{bad},x:0\n")
    assert _refused(["import-likes", str(csv)])
    csv.write_text(f"alice,x:0\nbob,{bad}\n")
    assert _refused(["import-likes", str(csv)])
    dat = tmp_path / "users.dat"
    dat.write_text("1 0\n")
    assert _refused(["import-likes", str(dat), "--user-prefix", f"{bad}/"])
    r = raw_redis(cli_env)
    assert r.hkeys(keys.PAPERS) == ["x:0"]
    assert r.scard(keys.USERS) == 0 and r.xlen(keys.EVENTS) == 0
