"""`experiments.new_papers`: the report compares the full list with a new-only list."""

from __future__ import annotations

import pytest

from recommender.datasets import default_data_dir

DATA = default_data_dir()
needs_data = pytest.mark.skipif(
    not (DATA / "citeulike-a" / "splits-cvae").is_dir(), reason="CiteULike data not available"
)


@needs_data
def test_new_papers_report_compares_the_full_list_with_a_new_only_list(capsys) -> None:
    from experiments import new_papers

    argv = ["--newest", "0.1", "--validation-users", "200", "--data-dir", str(DATA)]
    assert new_papers.main(argv) == 0
    out, validation = capsys.readouterr().out.split("Validation (")

    def table(text: str) -> dict[str, list[float]]:
        return {
            cells[0]: [float(c) for c in cells[1:]]
            for line in text.splitlines()
            if line.startswith("| hybrid") or line.startswith("| content")
            for cells in [[c.strip() for c in line.strip("|").split("|")]]
        }

    rows, price = table(out), table(validation)
    assert list(rows) == list(price) == list(new_papers.variants("text+citations"))
    for values in rows.values():
        assert all(0 <= v <= 1 for v in values[:5])
    assert all(len(v) == 2 and all(0 <= x <= 1 for x in v) for v in price.values())
    full10, _, _, new_only10, _ = rows["hybrid, served settings"][:5]
    # What the service's `since` is for: new papers found far more often in a new-only list.
    assert new_only10 > 2 * full10
