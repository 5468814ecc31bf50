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
    with pytest.raises(SystemExit) as e:
        data_dir(ap, None)
    assert e.value.code == 2 and "PAPERREC_DATASETS_DIR" in capsys.readouterr().err
