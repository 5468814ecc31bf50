"""What the experiment scripts share: where the data is, how results are written, and the
validation split and objective of tuning (which ``new_papers`` prices its variants on too)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

from recommender.datasets import DataDirUnknown, checkout_root, default_data_dir
from recommender.datasets.citeulike import RECALL_CUTOFFS
from recommender.evaluation.datasets import ExperimentData, load_experiment_data
from recommender.evaluation.splits import Split, published_split, validation_from_train
from recommender.io.files import READABLE_BY_ALL, write_atomic
from recommender.io.lines import LoaderError
from recommender.tuned import SERVED, load_settings, served_without_entry

__all__ = [
    "ArgumentParser",
    "DATASETS_DIR_ENV",
    "EMBED_CACHE",
    "METRIC",
    "ORDERED",
    "OTHER",
    "add_data_dir_argument",
    "data_dir",
    "mean_recall",
    "run_main",
    "validation_setup",
    "write_json",
    "write_text",
]

#: The service's setting for the datasets folder (``Settings.datasets_dir``); the scripts take
#: the same variable so that one setting serves both.
DATASETS_DIR_ENV = "PAPERREC_DATASETS_DIR"

#: Where the experiments cache sentence embeddings of the datasets' texts: the checkout's out/,
#: or the user's cache folder for an installed package (never inside site-packages).
EMBED_CACHE = (
    root / "out" if (root := checkout_root()) else Path.home() / ".cache" / "paperrec"
) / "embeddings-cache"
#: What tuning maximises: the recall curve's mean over the published cut-offs.
METRIC = "mean recall@50..300"
#: Published splits that are "older papers in, newer out" (DATASETS.md).
ORDERED = {("citeulike-a", 10), ("citeulike-t", 1)}
OTHER = {"citeulike-a": "citeulike-t", "citeulike-t": "citeulike-a"}


# ------------------------------------------------------------------ command lines
class ArgumentParser(argparse.ArgumentParser):
    """The scripts' parser: a usage error is one line (argparse also prints the usage), and
    ``--debug`` (shown in ``--help``; read by :func:`run_main`) keeps the traceback of an error."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.add_argument(
            "--debug", action="store_true", help="show the full traceback of an error"
        )

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {self.prog}: {message} (see {self.prog} --help)\n")


def run_main(main: Callable[[list[str] | None], int], argv: Sequence[str] | None = None) -> int:
    """``main(argv)`` with the errors a person can act on as one line on stderr, ``error:
    FILE:LINE: what is wrong``, and exit status 2: a data file that does not follow its format
    or is missing (:class:`LoaderError`), no datasets folder, a file that cannot be opened, and
    the scripts' own ``SystemExit("message")``. With ``--debug`` the traceback is shown."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    try:
        return main(args)
    except SystemExit as e:
        if isinstance(e.code, str) and not debug:
            print(f"error: {e.code.removeprefix('error: ')}".replace("\n", " "), file=sys.stderr)
            return 2
        raise
    except (LoaderError, DataDirUnknown, OSError) as e:
        if debug or (isinstance(e, OSError) and e.filename is None):
            raise
        what = f"{e.filename}: {e.strerror or e}" if isinstance(e, OSError) else str(e)
        print(f"error: {what}", file=sys.stderr)
        return 2


# ------------------------------------------------------------------ the data folder
def add_data_dir_argument(ap: argparse.ArgumentParser) -> None:
    """``--data-dir``, read by :func:`data_dir`."""
    ap.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help=f"folder of the dataset folders (default: ${DATASETS_DIR_ENV} if set, else"
        " ../shared/datasets beside the checkout)",
    )


def data_dir(ap: argparse.ArgumentParser, given: Path | None) -> Path:
    """The datasets folder: ``given`` (``--data-dir``), else ``$PAPERREC_DATASETS_DIR``, else
    the checkout's ``../shared/datasets``; outside a checkout with neither,
    :class:`DataDirUnknown` (one line through :func:`run_main`)."""
    if given is not None:
        return given
    if os.environ.get(DATASETS_DIR_ENV):
        return Path(os.environ[DATASETS_DIR_ENV])
    return default_data_dir()


# ------------------------------------------------------------------ outputs
def write_json(path: Path, data: Any) -> None:
    """``data`` as indented JSON, written atomically, readable by everyone (results and
    recommender/tuned.json, which the service reads)."""
    write_atomic(path, json.dumps(data, indent=2) + "\n", mode=READABLE_BY_ALL)


def write_text(path: Path, text: str) -> None:
    """``text`` written atomically, readable by everyone (tables, the README section)."""
    write_atomic(path, text, mode=READABLE_BY_ALL)


# ------------------------------------------------------------------ which choice reads a test file
def reading_choice(
    settings: Path, dataset: str, p10: bool, key: str, out: Path
) -> tuple[Path, str]:
    """``(file of tuned choices, which choice it is)`` that a test file of ``dataset`` is read
    with. The served choice is made on both datasets' P=10 training files, which hold most of
    the P=1, cold-start and holdout protocols' test likes (experiments.tune_served): it reads
    the P=10 test files (``p10``) alone. The others are read with the choice made without
    ``dataset``'s likes (``tune_served --without``), put where the service takes its choice
    from, ``"served"``, in a copy of ``settings`` written to ``out``."""
    if p10:
        return settings, "served (chosen on both P=10 training files)"
    entry = served_without_entry(key, dataset, settings)
    if entry is None:
        features = key.partition("@")[2] or "text"
        raise SystemExit(
            f"error: {settings} has no served choice for {key} made without {dataset}'s likes, "
            f"which this test file is read with: run python -m experiments.tune_served "
            f"--features {features} --without {dataset}"
        )
    data = load_settings(settings)
    data[SERVED] = {key: entry}
    path = out / f"tuned-without-{dataset}.json"
    write_json(path, data)
    return path, f"served without {dataset} (chosen on {OTHER[dataset]}'s P=10 training file)"


# ------------------------------------------------------------------ tuning's validation
def mean_recall(metrics: Mapping[str, float]) -> float:
    """:data:`METRIC` of a result's ``metrics`` (``recall@M`` for every published M)."""
    return float(sum(metrics[f"recall@{m}"] for m in RECALL_CUTOFFS) / len(RECALL_CUTOFFS))


def validation_setup(
    dataset: str, split: int, data_dir: Path, features: str = "text"
) -> tuple[Split, ExperimentData, str]:
    """``(validation split, data with its features, description)`` for tuning ``dataset`` at
    ``split``."""
    if split == 1:
        source = OTHER[dataset]
        ordered = (dataset, 1) in ORDERED
        train = published_split(source, 10, data_dir).train
        val = validation_from_train(train, fraction=0.9, min_keep=1, ordered=ordered)
        desc = (
            f"P=1 simulated on {source} P=10 training file: 1 kept per user, the rest validation"
            f" ({'lowest row kept' if ordered else 'random'})"
        )
        return val, load_experiment_data(source, data_dir, features, embed_cache=EMBED_CACHE), desc
    ordered = (dataset, split) in ORDERED
    train = published_split(dataset, split, data_dir).train
    val = validation_from_train(train, fraction=0.3, min_keep=1, ordered=ordered)
    desc = f"{dataset} P={split} training file: 30% of each user's papers held out" + (
        " (newest)" if ordered else " (random)"
    )
    return val, load_experiment_data(dataset, data_dir, features, embed_cache=EMBED_CACHE), desc
