"""The compose file's ``cluster`` profile: what ``docker compose --profile cluster config`` would
resolve (merge keys applied by the YAML loader, the profile's services chosen as Compose does)
validates against the Compose Specification's schema, and describes 3+3 Redis nodes joined into
a cluster, two API replicas sharing only Redis and the model folder, and a retrain worker. No
Docker engine runs here."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())  # type: ignore[no-any-return]


def profile(compose: dict[str, Any], name: str | None) -> dict[str, Any]:
    """The file as Compose runs it with ``--profile name`` (None: no profile): services without
    profiles, and those of the profile; top-level extension fields dropped."""
    services = {
        k: v
        for k, v in compose["services"].items()
        if not v.get("profiles") or (name is not None and name in v["profiles"])
    }
    return {"name": compose["name"], "services": services, "volumes": compose["volumes"]}


def test_the_cluster_profile_follows_the_compose_specification(compose: dict[str, Any]) -> None:
    pytest.importorskip(
        "check_jsonschema", reason="the Compose schema ships with check-jsonschema (test extra)"
    )
    schema_file = resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    schema = json.loads(schema_file.read_text(encoding="utf-8"))
    validator = jsonschema.validators.validator_for(schema)(schema)
    for name in ("cluster", None):
        resolved = profile(compose, name)
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(resolved)]
        assert errors == [], name
        # What `compose config` also refuses: a dependency or a volume that is not there.
        for service in resolved["services"].values():
            for dep in service.get("depends_on", {}):
                assert dep in resolved["services"], f"depends on {dep}, not in profile {name}"
            for volume in service.get("volumes", []):
                assert volume.split(":")[0] in resolved["volumes"]


def test_the_default_set_up_is_unchanged_by_the_profile(compose: dict[str, Any]) -> None:
    assert sorted(profile(compose, None)["services"]) == ["api", "redis", "worker"]


def test_the_cluster_profile_is_three_masters_three_replicas_two_apis_a_worker(
    compose: dict[str, Any],
) -> None:
    services = profile(compose, "cluster")["services"]
    nodes = [f"redis-{i}" for i in range(1, 7)]
    for node in nodes:
        command = " ".join(services[node]["command"])
        assert "--cluster-enabled yes" in command
        assert "--appendfsync always" in command and "--maxmemory-policy noeviction" in command
        assert f"--cluster-announce-hostname {node}" in command
    init = services["cluster-init"]
    assert "--cluster-replicas 1" in init["command"][-1]
    assert set(init["depends_on"]) == set(nodes)
    apis = [services["cluster-api-a"], services["cluster-api-b"]]
    seeds = {s.split(":")[0] for s in apis[0]["environment"]["PAPERREC_REDIS_CLUSTER"].split(",")}
    assert seeds == set(nodes)
    assert apis[0]["environment"]["PAPERREC_REDIS_WAIT_REPLICAS"] == "1"
    assert "REDIS_URL" not in apis[0]["environment"]
    assert {a["ports"][0] for a in apis} == {"127.0.0.1:8001:8000", "127.0.0.1:8002:8000"}
    worker = services["cluster-worker"]
    assert worker["command"][:3] == ["paperrec", "train", "--every"]
    # The replicas and the worker share the model folder and nothing else but Redis.
    assert apis[0]["volumes"] == apis[1]["volumes"] == worker["volumes"]
    for a in apis:
        assert a["depends_on"]["cluster-init"]["condition"] == "service_completed_successfully"
