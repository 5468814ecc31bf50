"""Bundle files that are well formed but say inconsistent things: any that does not load is a
:class:`BundleError` (the service answers it with a retrain), never another exception. A fuzz
test of the metadata: keys dropped, values of the wrong type, ids and arrays that do not fit."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recommender.artifacts import Bundle, BundleError, load_bundle, save_bundle
from recommender.catalog import Catalog, Paper
from recommender.training import train

_META = "__meta__"


@pytest.fixture(scope="module")
def bundle_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    catalog = Catalog([Paper(f"p{i}", f"paper {i} about topic {i % 3} words") for i in range(12)])
    likes = {"u0": ["p0", "p3"], "u1": ["p1", "p4"]}
    bundle = train(catalog, likes, model="hybrid", featurizer_params={"min_df": 1})
    return save_bundle(tmp_path_factory.mktemp("bundle") / "model.npz", bundle)


def read_parts(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(arrays.pop(_META).tobytes().decode("utf-8"))
    return meta, arrays


def write_parts(path: Path, meta: Any, arrays: dict[str, np.ndarray]) -> Path:
    raw = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    with path.open("wb") as fh:
        np.savez(fh, allow_pickle=False, **arrays, **{_META: raw})
    return path


def paths_of(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path into a JSON value (a path to each object member and list item)."""
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for k, v in value.items():
            out += paths_of(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value[:3]):  # a few items of long lists (paper ids, vocabulary)
            out += paths_of(v, (*prefix, i))
    return out


def mutate(meta: Any, path: tuple[Any, ...], op: str, value: Any) -> Any:
    meta = json.loads(json.dumps(meta))
    parent = meta
    for key in path[:-1]:
        parent = parent[key]
    last = path[-1]
    if op == "drop":
        del parent[last]
    else:
        parent[last] = value
    return meta


JSON_VALUES = st.sampled_from([None, 0, -1, 1.5, "", "x", [], [1, 2], {}, {"a": 1}, True])


def test_the_file_itself_loads(bundle_file: Path) -> None:
    assert isinstance(load_bundle(bundle_file), Bundle)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_fuzzed_metadata_is_a_bundle_error_or_a_bundle(
    bundle_file: Path, tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    meta, arrays = read_parts(bundle_file)
    path = data.draw(st.sampled_from(paths_of(meta)))
    op = data.draw(st.sampled_from(["drop", "set"]))
    fuzzed = mutate(meta, path, op, data.draw(JSON_VALUES))
    target = write_parts(tmp_path_factory.mktemp("fuzz") / "model.npz", fuzzed, arrays)
    with contextlib.suppress(BundleError):  # the one failure a caller has to handle
        load_bundle(target)


@pytest.mark.parametrize(
    "damage",
    [
        lambda m, a: ({k: v for k, v in m.items() if k != "arrays"}, a),
        lambda m, a: ({k: v for k, v in m.items() if k != "paper_ids"}, a),
        lambda m, a: ({**m, "paper_ids": {"p0": 0}}, a),
        lambda m, a: ({**m, "paper_ids": m["paper_ids"][:-1]}, a),
        lambda m, a: ({**m, "model": []}, a),
        lambda m, a: ({**m, "model": {**m["model"], "params": [1]}}, a),
        lambda m, a: ({**m, "arrays": []}, a),
        lambda m, a: ([m], a),
        # The arrays do not fit what the metadata says they are.
        lambda m, a: (m, {k: v[:1] if v.ndim else v for k, v in a.items()}),
        lambda m, a: (m, {k: v for k, v in list(a.items())[1:]}),
    ],
    ids=[
        "no-arrays",
        "no-paper-ids",
        "paper-ids-object",
        "paper-ids-short",
        "model-list",
        "params-list",
        "arrays-list",
        "meta-list",
        "arrays-cut",
        "array-missing",
    ],
)
def test_inconsistent_bundles_are_bundle_errors(
    bundle_file: Path, tmp_path: Path, damage: Any
) -> None:
    meta, arrays = read_parts(bundle_file)
    meta, arrays = damage(meta, arrays)
    with pytest.raises(BundleError, match="model.npz"):
        load_bundle(write_parts(tmp_path / "model.npz", meta, arrays))
