"""What every reader of a reference library gives: :class:`LibraryEntry` values (what an
entry says about its paper, and where it is), the :class:`Skipped` ones with their reasons, both
in a :class:`LibraryFile`; and the little every format shares (years, decoding).

The readers, one module per format, and the dispatch are :mod:`recommender.io.library`'s.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from recommender.io.lines import LoaderError

__all__ = ["LibraryEntry", "LibraryFile", "Parser", "Skipped", "decode", "parse_year"]


@dataclass(frozen=True)
class LibraryEntry:
    """One entry of a library file: what it says about its paper, and where it is.

    ``line`` is 1-based (``None`` where the format has no lines to point at, as JSON items);
    ``key`` is the entry's own name in the file (a BibTeX key, a Zotero item key, a CSL id).
    ``arxiv_id`` and ``doi`` are in the normal form of :mod:`recommender.identifiers`.
    """

    line: int | None = None
    key: str | None = None
    title: str = ""
    abstract: str = ""
    authors: tuple[str, ...] = ()
    year: int | None = None
    arxiv_id: str | None = None
    doi: str | None = None
    url: str | None = None

    @property
    def where(self) -> str:
        """``"line 12 (smith2020)"``, ``"line 12"`` or ``"entry smith2020"``."""
        return _where(self.line, self.key)


@dataclass(frozen=True)
class Skipped:
    """An entry that was not used, where it is and why."""

    line: int | None
    key: str | None
    reason: str

    @property
    def where(self) -> str:
        return _where(self.line, self.key)


def _where(line: int | None, key: str | None) -> str:
    if line is not None:
        return f"line {line}" + (f" ({key})" if key else "")
    return f"entry {key}" if key else "entry"


@dataclass
class LibraryFile:
    """What a library file held: its usable entries and the ones skipped, in file order."""

    path: str
    format: str
    entries: list[LibraryEntry] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    @property
    def read(self) -> int:
        """How many entries the file held, usable or not."""
        return len(self.entries) + len(self.skipped)


#: A format's reader: ``(text of the file, its name for messages) -> LibraryFile``.
Parser = Callable[[str, str], LibraryFile]

_YEAR = re.compile(r"(?<!\d)(\d{4})(?!\d)")


def parse_year(value: object) -> int | None:
    """The first four-digit year in ``value`` (``2020``, ``"2020/05/01"``, ``"2020a"``), or
    ``None``: a library's year is only a hint, so an odd one is taken as unknown."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value if 1000 <= value <= 9999 else None
    m = _YEAR.search(str(value or ""))
    return int(m.group(1)) if m else None


def decode(data: bytes, name: str) -> str:
    """``data`` as UTF-8 text (a BOM dropped); a :class:`LoaderError` at the line of the first
    byte that is not UTF-8."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise LoaderError(
            name, line, f"not UTF-8 text ({e.reason}): save the file as UTF-8"
        ) from None
