"""`experiments.replay` in its quick form: tables, plots and the halves it keeps apart."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from experiments import replay
from experiments.common import run_main
from recommender.datasets import default_data_dir

DATA = default_data_dir()
needs_data = pytest.mark.skipif(
    not (DATA / "citeulike-a" / "users.dat").is_file(), reason="CiteULike data not available"
)


@needs_data
def test_quick_replay_writes_tables_and_plots(tmp_path: Path) -> None:
    out = tmp_path / "r"
    argv = ["--dataset", "citeulike-a", "--users", "40", "--rounds", "3", "--out", str(out)]
    assert replay.main([*argv, "--starts", "0,2", "--n-boot", "50", "--no-progress"]) == 0
    for name in ("replay.json", "replay.md", "replay.png", "replay_vs_greedy.png"):
        assert (out / name).stat().st_size > 0
    res = json.loads((out / "replay.json").read_text())
    assert res["users_tuning"] + res["users_reported"] == 40
    assert res["users_tuning"] > 0 and res["users_reported"] > 0
    assert set(res["by_start"]) == {"0", "2"}
    for policies in res["by_start"].values():
        assert set(policies) == set(res["chosen"].values())
        for m in policies.values():
            cum = [v[0] for v in m["cumulative hits"]]
            assert len(cum) == 3 and cum == sorted(cum)  # cumulative hits never fall
            for mean, low, high in m["cumulative hits"]:
                assert low <= mean <= high
            assert all(0 < c <= 1 for c in m["coverage"])
        assert all(v[:3] == [0, 0, 0] for v in policies["greedy"]["vs greedy"])
    text = (out / "replay.md").read_text()
    assert "| round | greedy |" in text and "After round 3" in text


def test_the_halves_are_fixed_by_the_user_not_the_draw() -> None:
    halves = [replay.tuning_half(r, "citeulike-a") for r in range(2000)]
    assert halves == [replay.tuning_half(r, "citeulike-a") for r in range(2000)]
    assert 0.45 < sum(halves) / len(halves) < 0.55


def test_bad_arguments_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        run_main(replay.main, ["--starts", "one,two"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1
