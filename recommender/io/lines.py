"""The ground floor of every reader: :class:`LoaderError` and reading a file line by line.

A file that cannot be read as its format says raises :class:`LoaderError`, whose message names
the file, the 1-based line and the problem, e.g. ``papers.jsonl:7: missing required field
'title'``. Files ending in ``.gz`` are read through gzip; a broken or truncated one is a
:class:`LoaderError` at the line where reading failed, like any other unreadable line.
"""

from __future__ import annotations

import gzip
import os
import re
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, cast

__all__ = ["UNREADABLE", "LoaderError", "PathLike", "clean", "open_text", "read_lines"]

PathLike = str | os.PathLike[str]

#: What a broken or truncated compressed file raises while it is read.
UNREADABLE = (OSError, EOFError, zlib.error)

_WS = re.compile(r"\s+")


class LoaderError(ValueError):
    """A data file that is missing or does not follow its format.

    ``path`` and ``line`` (1-based, ``None`` when the problem is the whole file) say where;
    ``problem`` says what.
    """

    def __init__(self, path: PathLike, line: int | None, problem: str) -> None:
        self.path = str(path)
        self.line = line
        self.problem = problem
        where = self.path if line is None else f"{self.path}:{line}"
        super().__init__(f"{where}: {problem}")


def _open_binary(path: Path) -> IO[bytes]:
    if not path.is_file():
        raise LoaderError(path, None, "no such file: check the path")
    if path.suffix == ".gz":
        return cast(IO[bytes], gzip.open(path, "rb"))
    return path.open("rb")


def open_text(path: Path) -> IO[str]:
    """Text for the csv module: UTF-8 (BOM dropped), line ends left to the reader. A reader of
    it catches :data:`UNREADABLE` itself, since only it knows the line it was on."""
    if not path.is_file():
        raise LoaderError(path, None, "no such file: check the path")
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8-sig", newline="")
    return path.open(encoding="utf-8-sig", newline="")


def _reading(path: Path, fh: IO[bytes]) -> Iterator[bytes]:
    """The raw lines of ``fh``; a file that breaks off or is not what its suffix says (a ``.gz``
    that is not gzip) is a :class:`LoaderError` at the line where reading failed."""
    done = 0
    try:
        for raw in fh:
            yield raw
            done += 1
    except UNREADABLE as e:
        raise LoaderError(path, done + 1, f"cannot read the file ({e})") from None


def read_lines(path: Path) -> Iterator[tuple[int, str]]:
    """``(line number, text without the line end)`` for every line, decoded as UTF-8 (a BOM on
    the first line is dropped). Streams, so a multi-gigabyte snapshot is never held whole."""
    with _open_binary(path) as fh:
        for lineno, raw in enumerate(_reading(path, fh), start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise LoaderError(path, lineno, f"not UTF-8 text ({e.reason})") from None
            if lineno == 1:
                text = text.removeprefix("\ufeff")
            yield lineno, text.rstrip("\r\n")


def clean(text: str) -> str:
    """Collapse runs of whitespace (newlines included) into single spaces."""
    return _WS.sub(" ", text).strip()
