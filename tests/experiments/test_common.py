"""`experiments.common`: where the data folder comes from."""

from __future__ import annotations

from pathlib import Path

import pytest

from recommender.datasets import default_data_dir

DATA = default_data_dir()


def test_data_dir_is_the_argument_then_the_setting_then_the_checkout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import argparse

    import recommender.datasets
    from experiments.common import data_dir

    ap = argparse.ArgumentParser(prog="compare")
    monkeypatch.delenv("PAPERREC_DATASETS_DIR", raising=False)
    assert data_dir(ap, None) == DATA
    monkeypatch.setenv("PAPERREC_DATASETS_DIR", str(tmp_path / "setting"))
    assert data_dir(ap, None) == tmp_path / "setting"
    assert data_dir(ap, tmp_path / "argument") == tmp_path / "argument"
    monkeypatch.delenv("PAPERREC_DATASETS_DIR")
    monkeypatch.setattr(recommender.datasets, "_PACKAGE", tmp_path / "site" / "recommender")
    with pytest.raises(recommender.datasets.DataDirUnknown, match="PAPERREC_DATASETS_DIR"):
        data_dir(ap, None)


@pytest.mark.parametrize("script", ["compare", "tune", "new_papers", "through_service"])
def test_every_experiment_says_bad_input_in_one_line_and_exits_2(
    script: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A missing data folder, a broken data file and a bad argument: one line each, exit 2."""
    import importlib

    from experiments.common import run_main

    main = importlib.import_module(f"experiments.{script}").main
    capsys.readouterr()
    # An unknown option: argparse's message, on one line (no usage block).
    with pytest.raises(SystemExit) as e:
        run_main(main, ["--no-such-option"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize(
    "script, args",
    [
        ("new_papers", []),
        (
            "compare",
            ["--dataset", "citeulike-a", "--split", "10", "--models", "popularity", "--out", "o"],
        ),
    ],
)
def test_an_unknown_data_dir_is_one_line_and_exit_2(
    script: str, args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import importlib

    from experiments.common import run_main

    main = importlib.import_module(f"experiments.{script}").main
    capsys.readouterr()
    assert run_main(main, [*args, "--data-dir", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {tmp_path / 'nope'}") and "--data-dir" in err, err
    assert len(err.strip().splitlines()) == 1, err


def test_run_main_turns_data_errors_into_one_line_and_keeps_the_traceback_with_debug(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from experiments.common import ArgumentParser, run_main
    from recommender.io.lines import LoaderError

    def main(argv: list[str] | None) -> int:
        ap = ArgumentParser(prog="x")
        ap.add_argument("what")
        args = ap.parse_args(argv)
        if args.what == "file":
            raise LoaderError(tmp_path / "users.dat", 7, "count 'x' is not an integer")
        if args.what == "missing":
            open(tmp_path / "nope.csv")  # noqa: SIM115
        raise SystemExit("--train and --test go together")

    assert run_main(main, ["file"]) == 2
    assert (
        capsys.readouterr().err == f"error: {tmp_path}/users.dat:7: count 'x' is not an integer\n"
    )
    assert run_main(main, ["missing"]) == 2
    assert capsys.readouterr().err == f"error: {tmp_path}/nope.csv: No such file or directory\n"
    assert run_main(main, ["usage"]) == 2
    assert capsys.readouterr().err == "error: --train and --test go together\n"
    with pytest.raises(LoaderError):
        run_main(main, ["file", "--debug"])
