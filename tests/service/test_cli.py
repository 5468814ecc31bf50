"""The ``paperrec`` command: tokens, imports, training (and the API picking a new bundle up), and
``serve`` stopping its embedded Redis on SIGTERM."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from service_conftest import ADMIN_HEADERS, bearer, raw_redis

from service import keys
from service.cli import main
from service.main import create_app
from service.redis_server import EmbeddedRedis
from service.settings import Settings


@pytest.fixture
def cli_env(tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Environment of a CLI run: the test Redis, a temporary data folder, no .env file."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("PAPERREC_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PAPERREC_MODEL", "content")
    monkeypatch.setenv("PAPERREC_ADMIN_TOKEN", "cli-admin-token-not-secret-0123456789")
    return tmp_path / "data"


def write_jsonl(path: Path, n: int = 4) -> Path:
    topics = ["quantum qubits entanglement", "protein folding amino acids"]
    with path.open("w") as fh:
        for i in range(n):
            words = topics[i % 2]
            fh.write(json.dumps({"paper_id": f"f:{i}", "title": f"Paper {i} on {words}"}) + "\n")
    return path


def test_help_explains_commands_and_the_admin_token(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for word in ("serve", "import", "train", "token", "REDIS_URL", "PAPERREC_ADMIN_TOKEN"):
        assert word in out
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    out = capsys.readouterr().out
    assert "--port" in out and "printed once" in out


def test_settings_read_the_feature_set_by_the_librarys_parser(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from recommender.features import FEATURE_SETS, FeatureSet
    from service.cli import SETTINGS_HELP

    for name in FEATURE_SETS:
        monkeypatch.setenv("PAPERREC_FEATURES", name)
        assert Settings(_env_file=None).features == FeatureSet.parse(name)  # type: ignore[call-arg]
    monkeypatch.setenv("PAPERREC_FEATURES", "text+words")
    with pytest.raises(ValueError, match="unknown feature set 'text[+]words'; known: text, "):
        Settings(_env_file=None)  # type: ignore[call-arg]
    monkeypatch.delenv("PAPERREC_FEATURES")
    default = Settings(_env_file=None).features  # type: ignore[call-arg]
    assert Settings(_env_file=None).model_dump()["features"] == str(default)  # type: ignore[call-arg]
    # The help is written out (naming the sets from the library would import it, numpy and
    # all, for every --help); it must list exactly the library's names and the default.
    entry = SETTINGS_HELP.split("PAPERREC_FEATURES")[1].split("PAPERREC_SEED_SAMPLE")[0]
    assert re.findall(r"text[+a-z]*", entry) == list(FEATURE_SETS)
    assert f"{default} (default)" in entry


def test_the_command_line_starts_without_the_library() -> None:
    """``paperrec --help`` stays quick and the BLAS thread limit is set before numpy loads."""
    code = "import sys, service.cli; sys.exit('numpy' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_token_command_issues_a_working_token(
    cli_env: Path, capsys: pytest.CaptureFixture[str], make_settings: Callable[..., Settings]
) -> None:
    assert main(["token", "alice"]) == 0
    token = capsys.readouterr().out.strip()
    with TestClient(create_app(make_settings())) as c:
        assert c.get("/users/alice/likes", headers=bearer(token)).status_code == 200
        assert c.get("/users/bob/likes", headers=bearer(token)).status_code == 403
    assert main(["token", "not valid"]) == 2


def test_import_papers_then_train(
    cli_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], redis_url: str
) -> None:
    path = write_jsonl(tmp_path / "papers.jsonl")
    assert main(["import", "papers", str(path)]) == 0
    assert "4 new" in capsys.readouterr().out
    assert main(["import", "papers", str(path)]) == 0
    assert "0 new, 4 updated" in capsys.readouterr().out
    with raw_redis(redis_url) as r:
        assert r.hlen(keys.PAPERS) == 4
    assert main(["train"]) == 0
    out = capsys.readouterr().out
    assert "trained" in out
    assert (cli_env / "model.npz").is_file()


def test_train_fails_cleanly_on_an_empty_store(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train"]) == 1
    assert "empty catalog" in capsys.readouterr().err


def test_import_citeulike_with_likes(
    cli_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], redis_url: str
) -> None:
    ds = tmp_path / "datasets" / "citeulike-a"
    ds.mkdir(parents=True)
    (ds / "titles.txt").write_text("Deep nets\nQuantum bits\nProtein folds\n")
    (ds / "tags.dat").write_text("ml\nphysics\n")
    (ds / "item-tag.dat").write_text("1 0\n1 1\n0\n")
    (ds / "users.dat").write_text("2 0 2\n1 1\n")
    (ds / "citations.dat").write_text("1 2\n0\n1 0\n")  # paper 0 and paper 2 are linked
    assert main(["import", "citeulike-a", "--data-dir", str(ds.parent), "--likes"]) == 0
    out = capsys.readouterr().out
    assert "3 new" in out and "likes: 3 from 2 users" in out
    with raw_redis(redis_url) as r:
        assert sorted(r.hkeys(keys.PAPERS)) == ["citeulike-a:0", "citeulike-a:1", "citeulike-a:2"]
        assert r.smembers(keys.likes("citeulike-a:user0")) == {"citeulike-a:0", "citeulike-a:2"}
        assert r.xlen(keys.EVENTS) == 3
        # Citation links name papers by their ids in the store, prefix included.
        assert json.loads(r.hget(keys.PAPERS, "citeulike-a:0"))["references"] == ["citeulike-a:2"]


def test_import_citeulike_reads_the_datasets_dir_setting(
    cli_env: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import recommender.datasets

    ds = tmp_path / "elsewhere" / "citeulike-a"
    ds.mkdir(parents=True)
    (ds / "titles.txt").write_text("Deep nets\nQuantum bits\n")
    (ds / "tags.dat").write_text("ml\n")
    (ds / "item-tag.dat").write_text("1 0\n0\n")
    (ds / "users.dat").write_text("1 1\n")
    # Installed outside a checkout: no default folder, and the command says how to name one.
    monkeypatch.setattr(recommender.datasets, "_PACKAGE", tmp_path / "site" / "recommender")
    assert main(["import", "citeulike-a"]) == 2
    err = capsys.readouterr().err
    assert "--data-dir" in err and "PAPERREC_DATASETS_DIR" in err
    monkeypatch.setenv("PAPERREC_DATASETS_DIR", str(ds.parent))
    assert main(["import", "citeulike-a"]) == 0
    assert "2 new" in capsys.readouterr().out


def test_api_picks_up_a_bundle_trained_by_the_cli(
    cli_env: Path, make_settings: Callable[..., Settings]
) -> None:
    # The API and the worker train the same model (a bundle of another model is refused).
    settings = make_settings(data_dir=cli_env, model="content", model_poll_s=0.05)
    with TestClient(create_app(settings)) as c:
        old = c.get("/health", headers=ADMIN_HEADERS).json()["model"]["version"]
        assert main(["train"]) == 0
        deadline = time.monotonic() + 30
        while c.get("/health", headers=ADMIN_HEADERS).json()["model"]["version"] == old:
            assert time.monotonic() < deadline, "the API never loaded the new bundle"
            time.sleep(0.05)
        assert c.get("/admin/retrain", headers=ADMIN_HEADERS).status_code in (200, 404)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_stops_its_embedded_redis_on_a_signal(tmp_path: Path, sig: signal.Signals) -> None:
    port = _free_port()
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("PAPERREC_") and k != "REDIS_URL"
    }
    env.update(PAPERREC_DATA_DIR=str(tmp_path / "data"), PAPERREC_MODEL="content")
    proc = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "serve", "--port", str(port)],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    server = EmbeddedRedis(tmp_path / "data")
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.communicate()[0]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "paperrec serve did not come up"
            time.sleep(0.1)
        assert server.ping()
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=60)
        # uvicorn re-raises the signal once its shutdown is complete.
        assert proc.returncode in (0, -sig), out
        assert "embedded Redis stopped" in out
        assert not server.ping()
        assert "Created an admin token" in out
        token = (tmp_path / "data" / "admin_token").read_text().strip()
        assert token in out  # shown once on the console ...
        log = (tmp_path / "data" / "redis" / "redis.log").read_text()
        assert token not in log
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if server.ping():  # the test failed with the server up: stop it
            server.start()
            server.stop()


def _listening_sockets(port: int) -> int:
    """How many sockets listen on 127.0.0.1:``port`` (from /proc/net/tcp)."""
    hex_port = f"{port:04X}"
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        if local.endswith(f":{hex_port}") and state == "0A":  # 0A = LISTEN
            count += 1
    return count


def _running(pid: int) -> bool:
    """Whether ``pid`` is a live process (an exited one not yet reaped is a zombie, 'Z')."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _workers(pid: int) -> list[int]:
    """The API worker processes of the supervisor ``pid`` (not multiprocessing's own helper, the
    resource tracker, which ends by itself shortly after its parent)."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    children = [int(c) for c in path.read_text().split()] if path.exists() else []
    found = []
    for c in children:
        try:
            if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes():
                found.append(c)
        except OSError:
            pass
    return found


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc")
def test_serve_workers_listen_each_on_their_own_socket_and_stop_together(tmp_path: Path) -> None:
    from service_conftest import ApiProcess

    api = ApiProcess(tmp_path / "data", "--workers", "2").start()
    try:
        assert api.proc is not None
        deadline = time.monotonic() + 60
        # Both workers up (the first answered /health; the second may still be starting).
        while api.log().count("Application startup complete") < 2:
            assert time.monotonic() < deadline, api.log()
            time.sleep(0.2)
        assert _listening_sockets(api.port) == 2, api.log()
        workers = _workers(api.proc.pid)
        assert len(workers) == 2, (workers, api.log())
        for _ in range(10):  # new connections each time: whichever worker gets them answers
            r = httpx.get(f"{api.url}/papers", params={"q": "learning"}, timeout=10)
            assert r.status_code == 200, r.text
        api.proc.send_signal(signal.SIGTERM)
        assert api.proc.wait(60) == 0, api.log()
        assert not [w for w in workers if _running(w)], api.log()
        assert not EmbeddedRedis(tmp_path / "data").ping(), api.log()
    finally:
        api.kill()


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc")
def test_serve_workers_stop_when_the_supervisor_is_killed(tmp_path: Path) -> None:
    from service_conftest import ApiProcess

    api = ApiProcess(tmp_path / "data", "--workers", "2").start()
    workers: list[int] = []
    try:
        assert api.proc is not None
        deadline = time.monotonic() + 60
        while api.log().count("Application startup complete") < 2:
            assert time.monotonic() < deadline, api.log()
            time.sleep(0.2)
        workers = _workers(api.proc.pid)
        api.kill()  # SIGKILL: the supervisor runs no code
        deadline = time.monotonic() + 60
        while [w for w in workers if _running(w)] or _listening_sockets(api.port):
            assert time.monotonic() < deadline, f"orphaned workers {workers}:\n{api.log()}"
            time.sleep(0.2)
        assert not EmbeddedRedis(tmp_path / "data").ping(), api.log()
    finally:
        for w in workers:
            if _running(w):
                os.kill(w, signal.SIGKILL)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_refuses_a_port_in_use_before_starting_redis(
    cli_env: Path, workers: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REDIS_URL")  # the embedded Redis would start in the data folder
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        assert main(["serve", "--workers", workers, "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert f"error: cannot listen on 127.0.0.1:{port}" in err
    assert len(err.strip().splitlines()) == 1, err
    assert not (cli_env / "redis").exists()  # said before Redis started
