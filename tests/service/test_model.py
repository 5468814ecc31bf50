"""Model safety: a corrupted or half-written bundle never replaces the serving model, and a
failed retrain keeps the old one; ``/health`` says what happened."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from service_conftest import ADMIN_HEADERS, wait_for_retrain

from service.main import create_app
from service.settings import Settings


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # in place, as a copy cut short would leave it


def _garble(path: Path) -> None:
    data = bytearray(path.read_bytes())
    for i in range(len(data) // 3, len(data) // 3 + 512):  # flip bytes inside the archive
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _rewrite_meta(path: Path, change: Callable[[dict[str, Any]], Any]) -> None:
    """Rewrite the bundle's metadata (a well-formed file that says something inconsistent)."""
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(arrays.pop("__meta__").tobytes().decode("utf-8"))
    raw = np.frombuffer(json.dumps(change(meta)).encode("utf-8"), dtype=np.uint8)
    with path.open("wb") as fh:
        np.savez(fh, allow_pickle=False, **arrays, __meta__=raw)


def _no_arrays(path: Path) -> None:
    _rewrite_meta(path, lambda m: {k: v for k, v in m.items() if k != "arrays"})


def _no_paper_ids(path: Path) -> None:
    _rewrite_meta(path, lambda m: {k: v for k, v in m.items() if k != "paper_ids"})


def _paper_ids_not_a_list(path: Path) -> None:
    _rewrite_meta(path, lambda m: {**m, "paper_ids": {"sample:bio-01": 0}})


def _metadata_not_an_object(path: Path) -> None:
    _rewrite_meta(path, lambda m: [m])


BREAKERS = [_truncate, _garble, _empty]
META_BREAKERS = [_no_arrays, _no_paper_ids, _paper_ids_not_a_list, _metadata_not_an_object]


def _serves(c: TestClient) -> None:
    r = c.get("/papers/sample:bio-01/similar", params={"k": 3})
    assert r.status_code == 200 and len(r.json()["items"]) == 3


@pytest.mark.parametrize("breaker", BREAKERS, ids=lambda f: f.__name__.strip("_"))
def test_a_broken_bundle_on_disk_never_replaces_the_serving_model(
    make_settings: Callable[..., Settings], breaker: Callable[[Path], None]
) -> None:
    settings = make_settings(model="content")
    app = create_app(settings)
    with TestClient(app) as c:
        old = c.get("/health", headers=ADMIN_HEADERS).json()["model"]["version"]
        breaker(settings.bundle_path)
        # The poll path (what the watcher thread runs every PAPERREC_MODEL_POLL_S).
        assert app.state.models.check_bundle() is False
        health = c.get("/health", headers=ADMIN_HEADERS).json()
        assert health["model"]["version"] == old
        assert health["last_failed_load"]["path"] == str(settings.bundle_path)
        assert "BundleError" in health["last_failed_load"]["error"]
        _serves(c)
        # The same broken file is not retried on every poll; a good bundle is picked up.
        assert app.state.models.check_bundle() is False
        assert c.post("/admin/retrain", headers=ADMIN_HEADERS).status_code == 202
        assert wait_for_retrain(c)["status"] == "succeeded"
        assert c.get("/health", headers=ADMIN_HEADERS).json()["model"]["version"] != old


def test_a_bundle_of_another_model_is_not_swapped_in(
    make_settings: Callable[..., Settings],
) -> None:
    # Trained by a worker configured for another model: valid file, wrong model.
    with TestClient(create_app(make_settings(model="popularity"))):
        pass
    settings = make_settings(model="content")
    app = create_app(settings)
    with TestClient(app) as c:
        old = c.get("/health", headers=ADMIN_HEADERS).json()["model"]
        assert old["name"] == "content"  # the popularity bundle was refused at start too
        with TestClient(create_app(make_settings(model="popularity"))):
            pass  # a popularity bundle lands on disk under the running API
        assert app.state.models.check_bundle() is False
        health = c.get("/health", headers=ADMIN_HEADERS).json()
        assert health["model"]["version"] == old["version"]
        assert "popularity" in health["last_failed_load"]["error"]


@pytest.mark.parametrize("breaker", BREAKERS + META_BREAKERS, ids=lambda f: f.__name__.strip("_"))
def test_startup_with_a_broken_bundle_retrains(
    make_settings: Callable[..., Settings], breaker: Callable[[Path], None]
) -> None:
    settings = make_settings(model="content")
    with TestClient(create_app(settings)) as c:
        first = c.get("/health", headers=ADMIN_HEADERS).json()["model"]["version"]
    breaker(settings.bundle_path)
    with TestClient(create_app(settings)) as c:  # starts: the KeyError of today does not escape
        health = c.get("/health", headers=ADMIN_HEADERS).json()
        assert health["status"] == "ok" and health["model"]["status"] == "ready"
        assert health["model"]["version"] != first  # retrained from Redis
        assert "BundleError" in health["last_failed_load"]["error"]
        _serves(c)
    # The retrain saved a good bundle again: the next start loads it.
    with TestClient(create_app(settings)) as c:
        assert c.get("/health", headers=ADMIN_HEADERS).json()["last_failed_load"] is None


def test_a_retrain_that_cannot_save_keeps_the_old_model(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(model="content")
    with TestClient(create_app(settings)) as c:
        old = c.get("/health", headers=ADMIN_HEADERS).json()["model"]["version"]
        # The bundle cannot be written (here: a folder is in its way; in life: a full or
        # read-only disk).
        settings.bundle_path.unlink()
        settings.bundle_path.mkdir()
        assert c.post("/admin/retrain", headers=ADMIN_HEADERS).status_code == 202
        job = wait_for_retrain(c)
        assert job["status"] == "failed" and job["error"]
        health = c.get("/health", headers=ADMIN_HEADERS).json()
        assert health["model"]["version"] == old
        assert health["last_failed_retrain"]["job_id"] == job["job_id"]
        _serves(c)


def test_a_bundle_trained_on_other_features_is_retrained_at_start(
    make_settings: Callable[..., Settings],
) -> None:
    cites = {"paper_id": "x:cites", "title": "A survey", "references": ["sample:bio-01"]}
    with TestClient(create_app(make_settings(features="text+citations"))) as c:
        # The sample papers carry no citations: the first model is text only, and is kept.
        assert c.get("/health", headers=ADMIN_HEADERS).json()["model"]["version"]
        r = c.post("/papers", json={"papers": [cites]}, headers=ADMIN_HEADERS)
        assert r.status_code == 200
        assert c.post("/admin/retrain", headers=ADMIN_HEADERS).status_code == 202
        assert wait_for_retrain(c)["status"] == "succeeded"
        trained = c.get("/health", headers=ADMIN_HEADERS).json()["model"]["version"]
    settings = make_settings(features="text+citations")
    with TestClient(create_app(settings)) as c:
        assert (
            c.get("/health", headers=ADMIN_HEADERS).json()["model"]["version"] == trained
        )  # same features: served
    with TestClient(create_app(make_settings(features="text"))) as c:
        health = c.get("/health", headers=ADMIN_HEADERS).json()
        assert health["model"]["version"] != trained  # retrained on text only
        assert "features" in health["last_failed_load"]["error"]


def test_a_bundle_trained_with_other_hyperparameters_is_retrained_at_start(
    make_settings: Callable[..., Settings],
) -> None:
    """New tuned defaults (a new release) or a changed PAPERREC_MODEL_PARAMS take effect at the
    next start, not only at the next retrain."""
    with TestClient(create_app(make_settings())) as c:
        trained = c.get("/health", headers=ADMIN_HEADERS).json()["model"]["version"]
    with TestClient(create_app(make_settings())) as c:
        assert (
            c.get("/health", headers=ADMIN_HEADERS).json()["model"]["version"] == trained
        )  # same settings: served
    with TestClient(create_app(make_settings(model_params={"sharpen": 3.0}))) as c:
        health = c.get("/health", headers=ADMIN_HEADERS).json()
        assert health["model"]["version"] != trained
        assert "sharpen" in health["last_failed_load"]["error"]
        retrained = health["model"]["version"]
    with TestClient(create_app(make_settings(model_params={"sharpen": 3.0, "bogus": 1}))) as c:
        # Invalid hyperparameters do not take the saved model away; the retrain says why.
        assert c.get("/health", headers=ADMIN_HEADERS).json()["model"]["version"] == retrained
        assert c.post("/admin/retrain", headers=ADMIN_HEADERS).status_code == 202
        failed = wait_for_retrain(c)
        assert failed["status"] == "failed" and "bogus" in failed["error"]
        assert c.get("/health", headers=ADMIN_HEADERS).json()["model"]["version"] == retrained
    with TestClient(create_app(make_settings(tuned_defaults=False))) as c:
        # The sample catalog is text only: the text entry's tuned values differ from the
        # model's own defaults, so turning the tuned defaults off retrains too.
        assert c.get("/health", headers=ADMIN_HEADERS).json()["model"]["version"] != retrained
