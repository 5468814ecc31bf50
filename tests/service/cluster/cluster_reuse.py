"""The one-server API test modules, run unchanged against this folder's Redis Cluster.

:func:`reuse` loads a test module of ``tests/service`` afresh and puts its tests (renamed
``<test>__<module>``) and its own fixtures into the calling module, where this folder's conftest
gives ``client`` and ``make_settings`` an app on the cluster. A test that reads one server's keys
directly (it asks for ``redis_url``) skips here, saying so; one that never reaches the cluster (it
starts its own Redis) is deselected by the conftest, since it already ran outside this folder."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

from _pytest.fixtures import FixtureFunctionDefinition

SERVICE_TESTS = Path(__file__).resolve().parent.parent


def reuse(namespace: dict[str, Any], *names: str) -> None:
    """Put the tests and fixtures of ``tests/service/<name>.py`` for each of ``names`` into
    ``namespace`` (a test module's globals)."""
    for name in names:
        path = SERVICE_TESTS / f"{name}.py"
        if str(path.parent) not in sys.path:
            sys.path.insert(0, str(path.parent))  # the module's helpers beside it (web_helpers)
        spec = importlib.util.spec_from_file_location(f"cluster_{path.stem}", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # as an import would (dataclasses look it up)
        spec.loader.exec_module(module)
        for attr, value in vars(module).items():
            if isinstance(value, FixtureFunctionDefinition):
                if namespace.get(attr, value) is not value:
                    raise ValueError(f"fixture {attr!r} of {name} is defined twice here")
                namespace[attr] = value
            elif attr.startswith("test_") and callable(value):
                namespace[f"{attr}__{path.stem}"] = value
