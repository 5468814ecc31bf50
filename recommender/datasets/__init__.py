"""Research datasets read in place, each a small module over the general readers of
:mod:`recommender.io`: :mod:`recommender.datasets.citeulike` (citeulike-a, citeulike-t).

Every loader takes the folder holding the dataset folders. Where none is named, it is
:func:`default_data_dir`: ``../shared/datasets`` beside a checkout of this project. An installed
package has no such place, so callers name the folder: the service's ``PAPERREC_DATASETS_DIR``
setting, the ``--data-dir`` of the command lines, or the ``data_dir`` argument.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

__all__ = ["DataDirUnknown", "checkout_root", "default_data_dir"]

#: The library package (``recommender/``); a checkout has this project's pyproject.toml beside it.
_PACKAGE = Path(__file__).resolve().parents[1]
_PROJECT = "paperrec"


class DataDirUnknown(ValueError):
    """No datasets folder was named and the package is not in a checkout that has one."""


def _checkout_root(package: Path) -> Path | None:
    """The checkout ``package`` lies in: the folder above it, when that holds the pyproject.toml
    of this project (an installed package sits among others in site-packages, with none)."""
    pyproject = package.parent / "pyproject.toml"
    try:
        with pyproject.open("rb") as fh:
            name = tomllib.load(fh).get("project", {}).get("name")
    except (OSError, tomllib.TOMLDecodeError):
        return None
    return package.parent if name == _PROJECT else None


def checkout_root() -> Path | None:
    """The checkout of this project the library runs from; ``None`` for an installed package."""
    return _checkout_root(_PACKAGE)


def default_data_dir() -> Path:
    """``../shared/datasets`` beside the checkout the library runs from (the folder need not
    exist: the loaders say what is missing there). Outside a checkout, :class:`DataDirUnknown`
    says to name the folder."""
    root = _checkout_root(_PACKAGE)
    if root is None:
        raise DataDirUnknown(
            f"no datasets folder given, and the library ({_PACKAGE}) is not in a checkout of "
            f"{_PROJECT} with ../shared/datasets beside it: pass --data-dir DIR (data_dir= from "
            "Python) or set PAPERREC_DATASETS_DIR"
        )
    return root.parent / "shared" / "datasets"
