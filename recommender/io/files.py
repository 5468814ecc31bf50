"""Writing a file atomically, with a mode chosen on purpose: the one way the project writes
files that others read while they change (model bundles, result tables, plots, tuned settings).

The content goes to a temporary file in the target's folder (a rename is atomic only within one
file system), is flushed to disk, then renamed over the target, and the folder is synced so the
rename itself survives a crash: a reader sees the old file or the new one, never half of one.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

from recommender.io.lines import PathLike

__all__ = ["OWNER_ONLY", "READABLE_BY_ALL", "write_atomic"]

#: Tables, plots, results and settings: meant for other people (and the service's user) to read.
READABLE_BY_ALL = 0o644
#: Files only their owner reads.
OWNER_ONLY = 0o600


def write_atomic(
    path: PathLike, content: bytes | str | Callable[[IO[bytes]], object], *, mode: int
) -> Path:
    """Write ``content`` to ``path`` atomically (temp file beside it, fsync, rename) with file
    mode ``mode`` whatever the umask; returns the path. ``content`` is bytes, text (written as
    UTF-8), or a function that writes into the binary file it is given (``np.save``,
    ``Figure.savefig``). The folder is created if missing. On any error the target is left as
    it was and the temporary file is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            # mkstemp creates the file 0600; the mode is set explicitly so it never depends on
            # the umask of whoever runs the writer.
            os.chmod(tmp, mode)
            if callable(content):
                content(fh)
            else:
                fh.write(content.encode("utf-8") if isinstance(content, str) else content)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _sync_folder(path.parent)
    return path


def _sync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX: fsync the directory)."""
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
