"""docker-compose.yml against the Compose Specification's JSON schema, and the set-up it must
describe. The schema comes from an installed package (check-jsonschema ships it), never from the
network at test time."""

from __future__ import annotations

import copy
import json
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    pytest.importorskip(
        "check_jsonschema", reason="the Compose schema ships with check-jsonschema (test extra)"
    )
    schema_file = resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    schema = json.loads(schema_file.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)  # type: ignore[no-any-return]


def test_compose_file_follows_the_compose_specification(
    compose: dict[str, Any], validator: jsonschema.protocols.Validator
) -> None:
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(compose)]
    assert errors == []


def test_the_schema_check_catches_mistakes(
    compose: dict[str, Any], validator: jsonschema.protocols.Validator
) -> None:
    bad = copy.deepcopy(compose)
    bad["services"]["api"]["depends_on"]["redis"]["condition"] = "service_ready"
    assert not validator.is_valid(bad)
    bad = copy.deepcopy(compose)
    bad["services"]["redis"]["healthcheck"]["retry"] = 3
    assert not validator.is_valid(bad)


def test_compose_describes_redis_api_and_worker(compose: dict[str, Any]) -> None:
    services = compose["services"]
    redis = services["redis"]
    assert redis["image"].startswith("redis:7")
    command = " ".join(redis["command"])
    assert "--appendonly yes" in command and "--appendfsync always" in command
    assert redis["healthcheck"]["test"][-2:] == ["redis-cli", "ping"]
    assert any(v.endswith(":/data") for v in redis["volumes"])

    api, worker = services["api"], services["worker"]
    assert api["depends_on"]["redis"]["condition"] == "service_healthy"
    assert api["environment"]["REDIS_URL"] == "redis://redis:6379/0"
    assert worker["command"][:3] == ["paperrec", "train", "--every"]
    assert int(worker["command"][3]) > 0
    # The worker saves the bundle where the API reads it.
    assert set(api["volumes"]) == set(worker["volumes"])


def test_dockerfile_serves_the_api() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert '"paperrec", "serve", "--host", "0.0.0.0"' in text
    for line in text.splitlines():
        if line.startswith("COPY") and "--from" not in line:
            for src in line.split()[1:-1]:
                assert (ROOT / src).exists(), f"Dockerfile copies missing {src}"
