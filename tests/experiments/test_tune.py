"""`experiments.tune`: coordinate search, feature weights, serving choices and their limits."""

from __future__ import annotations

from pathlib import Path


def test_coordinate_search_finds_the_known_optimum(tmp_path: Path) -> None:
    from experiments.common import write_json as write_json_atomic
    from experiments.tune import coordinate_search
    from recommender.tuned import tuned_params

    calls: list[dict] = []

    def score(params: dict) -> float:
        calls.append(params)
        return -abs(params.get("dislike_weight", 1.0) - 2.0)

    best, value, n = coordinate_search("popularity", {"dislike_weight": [0.0, 1.0, 2.0]}, score)
    assert best == {"dislike_weight": 2.0} and value == 0.0
    # The default (1.0) is fitted once, not twice: {}, 0.0 and 2.0.
    assert n == 3 and len(calls) == 3
    path = tmp_path / "settings.json"
    write_json_atomic(path, {"citeulike-a": {"P=1": {"popularity": {"params": best}}}})
    assert path.stat().st_mode & 0o777 == 0o644  # readable by the service's user too
    assert tuned_params("citeulike-a", 1, "popularity", path) == {"dislike_weight": 2.0}
    assert tuned_params("citeulike-a", 10, "popularity", path) == {}


def test_tuning_searches_feature_weights_beside_the_model() -> None:
    from experiments.tune import coordinate_search, feature_grid, split_feature_weights

    assert feature_grid("hybrid", "text") == {}
    assert set(feature_grid("hybrid", "text+embed+citations")) == {
        "citation_weight",
        "embedding_weight",
    }
    assert feature_grid("popularity", "text+citations") == {}  # no content: nothing to weigh
    assert split_feature_weights({"cf_weight": 2.0, "citation_weight": 4}) == (
        {"cf_weight": 2.0},
        {"citation_weight": 4.0},
    )

    def score(params: dict) -> float:
        return -abs(params.get("citation_weight", 1.0) - 4.0) - abs(params.get("sharpen", 2) - 1)

    grid = {"citation_weight": [0.5, 1.0, 4.0], "sharpen": [1.0, 2.0]}
    best, value, _ = coordinate_search("hybrid", grid, score)
    # A weight of 1 is the default and is left out like a model's defaults.
    assert best == {"citation_weight": 4.0, "sharpen": 1.0} and value == 0.0


def test_a_serving_choice_is_kept_beside_the_entry(tmp_path: Path) -> None:
    """`tune --serving` adds the service's choice to a model's entry; re-tuning the entry keeps
    it, and the other way round."""
    from experiments.tune import save_entry
    from recommender.tuned import serving_defaults, tuned_params

    path = tmp_path / "tuned.json"
    key = "hybrid@text+citations"
    save_entry(path, "citeulike-a", 10, key, {"params": {"cf_weight": 4.0}}, serving=False)
    serving = {"params": {"cf_weight": 2.0}, "feature_weights": {"citation_weight": 2.0}}
    save_entry(path, "citeulike-a", 10, key, serving, serving=True)
    assert tuned_params("citeulike-a", 10, key, path) == {"cf_weight": 4.0}  # compare's choice
    assert serving_defaults("hybrid", "text+citations", path) == (
        {"cf_weight": 2.0},
        {"citation_weight": 2.0},
    )
    save_entry(path, "citeulike-a", 10, key, {"params": {"cf_weight": 8.0}}, serving=False)
    assert tuned_params("citeulike-a", 10, key, path) == {"cf_weight": 8.0}
    assert serving_defaults("hybrid", "text+citations", path)[0] == {"cf_weight": 2.0}


def test_sub_parameters_of_a_part_that_is_off_are_not_saved() -> None:
    from experiments.tune import drop_switched_off

    assert drop_switched_off("hybrid", {"cf_weight": 2.0, "als_alpha": 40.0}) == {"cf_weight": 2.0}
    on = {"als_weight": 0.1, "als_alpha": 40.0}
    assert drop_switched_off("hybrid", on) == on


def test_serving_search_keeps_the_request_cost_and_a_popularity_floor() -> None:
    from experiments.tune import GRIDS, serving_search_space

    start = {"profile_weight": 2.0, "als_weight": 1.0, "pop_weight": 0.0, "cf_weight": 4.0}
    grid, begin = serving_search_space("hybrid", GRIDS["hybrid"], start)
    assert "profile_weight" not in grid and "content_neighbors" not in grid
    assert begin["profile_weight"] == 0.0 and begin["als_weight"] == 0.0
    assert begin["content_neighbors"] == 100 and begin["cf_weight"] == 4.0
    assert begin["pop_weight"] == 0.05 and min(grid["pop_weight"]) == 0.05


def test_the_service_defaults_rank_popular_papers_for_a_newcomer() -> None:
    """Whatever tuned.json holds for the service, a user without likes gets popularity, not an
    arbitrary list (validation users all have likes and cannot check it)."""
    import inspect

    from recommender.models.hybrid import Hybrid
    from recommender.tuned import serving_defaults

    default = inspect.signature(Hybrid.__init__).parameters["pop_weight"].default
    for features in ("text", "text+citations"):
        params, _ = serving_defaults("hybrid", features)
        assert params.get("pop_weight", default) > 0, features
