"""The one atomic write: the target holds the old content or the new, never half; the mode is the
one asked for whatever the umask; a failed write leaves no temporary file behind."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import IO

import numpy as np
import pytest

from recommender.io.files import OWNER_ONLY, READABLE_BY_ALL, write_atomic


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o000])
def test_mode_is_the_one_asked_for_whatever_the_umask(tmp_path: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        shared = write_atomic(tmp_path / "new" / "results.md", "| a |\n", mode=READABLE_BY_ALL)
        private = write_atomic(tmp_path / "model.npz", b"\x00\x01", mode=OWNER_ONLY)
    finally:
        os.umask(old)
    assert shared == tmp_path / "new" / "results.md"  # the missing folder was made
    assert (mode(shared), mode(private)) == (0o644, 0o600)
    assert shared.read_text() == "| a |\n" and private.read_bytes() == b"\x00\x01"


def test_text_bytes_and_a_writer_function(tmp_path: Path) -> None:
    write_atomic(tmp_path / "t.txt", "é\n", mode=READABLE_BY_ALL)
    assert (tmp_path / "t.txt").read_bytes() == "é\n".encode()
    arr = np.arange(6, dtype=np.int32).reshape(2, 3)
    write_atomic(tmp_path / "a.npy", lambda fh: np.save(fh, arr), mode=READABLE_BY_ALL)
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), arr)


def test_a_failed_write_keeps_the_old_file_and_leaves_nothing_behind(tmp_path: Path) -> None:
    target = write_atomic(tmp_path / "tuned.json", "{}\n", mode=READABLE_BY_ALL)

    def breaks(fh: IO[bytes]) -> None:
        fh.write(b'{"half": ')
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_atomic(target, breaks, mode=READABLE_BY_ALL)
    assert target.read_text() == "{}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tuned.json"]


def test_replacing_gives_the_new_mode_too(tmp_path: Path) -> None:
    """A file written before with another mode (a plot of the old code: 0600) gets the mode of
    this write: modes are chosen, not inherited."""
    target = tmp_path / "recall.png"
    target.write_bytes(b"old")
    target.chmod(0o600)
    write_atomic(target, b"new", mode=READABLE_BY_ALL)
    assert (target.read_bytes(), mode(target)) == (b"new", 0o644)
