"""Installed, not only checked out: the wheel built from the project's files (as a fresh clone
has them) works from a folder outside the checkout, with its package data (the sample catalog,
tuned.json) inside it and defaults that do not point into site-packages.

The wheel is built offline from the test environment's setuptools (``--no-build-isolation``,
``--no-index``) and installed with ``--no-deps`` into a folder put first on ``PYTHONPATH``, so the
dependencies come from the test environment and nothing is fetched. The whole `pip install .`
into a fresh virtual environment is described in README.md ("Installing as a package").
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

CHECK = """
import json, sys
from pathlib import Path
import recommender, service
from recommender.tuned import TUNED_PATH
from service.sample import sample_papers
from recommender.datasets import DataDirUnknown, default_data_dir
site = Path(sys.argv[1]).resolve()
for m in (recommender, service):
    assert Path(m.__file__).resolve().is_relative_to(site), m.__file__
assert len(sample_papers()) == 60
from service.web.render import HERE
assert (HERE / "templates" / "base.html").is_file() and (HERE / "static" / "app.js").is_file()
assert Path(TUNED_PATH).resolve().is_relative_to(site) and json.loads(Path(TUNED_PATH).read_text())
try:
    default_data_dir()
except DataDirUnknown as e:
    print("no default:", e)
else:
    raise AssertionError("an installed package pointed at a datasets folder")
"""


def _project_files(dest: Path) -> None:
    """The files a fresh clone has (tracked, and new ones git does not ignore)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.decode()
    for rel in filter(None, listed.split("\0")):
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git to list the project's files")
def test_the_installed_package_works_outside_a_checkout(tmp_path: Path) -> None:
    source = tmp_path / "clone"
    _project_files(source)
    wheels = tmp_path / "wheels"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", wheels, source],
        check=True,
        capture_output=True,
    )
    (wheel,) = wheels.glob("paperrec-*.whl")
    site = tmp_path / "site-packages"
    subprocess.run(
        [*pip, "install", "--no-deps", "--no-index", "--target", site, wheel],
        check=True,
        capture_output=True,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PAPERREC_") and k not in ("REDIS_URL", "PYTHONPATH")
    }
    env.update(PYTHONPATH=str(site), PAPERREC_DATA_DIR=str(elsewhere / "data"))

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, *args], cwd=elsewhere, env=env, capture_output=True, text=True
        )

    checked = run("-c", CHECK, str(site))
    assert checked.returncode == 0, checked.stderr
    assert "PAPERREC_DATASETS_DIR" in checked.stdout
    version = run("-m", "service.cli", "--version")
    assert version.returncode == 0 and version.stdout.strip() == "paperrec 0.1.0", version
    # No datasets folder beside an installed package: one line saying how to name one.
    imported = run("-m", "service.cli", "import", "citeulike-a")
    assert imported.returncode == 2, imported
    err = imported.stderr.strip().splitlines()
    assert len(err) == 1 and "--data-dir" in err[0] and "PAPERREC_DATASETS_DIR" in err[0], err
    assert not (elsewhere / "data" / "redis").exists()  # said before anything started
