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
    # What the service's `since` is for: a new-only list ranks the new papers as the full list
    # does, without the old papers above them, so each new paper the user likes is at least as
    # high there. With the served settings new papers take some of the full top 10's places,
    # not all, and the new-only list finds more of the likes.
    for full10, full50, _, new_only10, new_only50 in (v[:5] for v in rows.values()):
        assert new_only10 >= full10 and new_only50 >= full50
    full10, _, share, new_only10, _ = rows["hybrid, served settings"][:5]
    assert 0 < share < 1
    assert new_only10 > full10
