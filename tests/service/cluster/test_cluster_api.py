"""The service's API tests, run against a real Redis Cluster (the fixtures of this folder's
conftest point ``client`` and ``make_settings`` at it). The tests are those of the one-server
modules, imported unchanged; those that read one server's keys directly skip here."""

from __future__ import annotations

import importlib.util
from pathlib import Path

_HERE = Path(__file__).resolve().parent
#: The one-server test modules run here as they are.
MODULES = ("test_api", "test_recommend", "test_tokens")


def _load(name: str) -> object:
    spec = importlib.util.spec_from_file_location(f"cluster_{name}", _HERE.parent / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


for _name in MODULES:
    _module = _load(_name)
    for _attr in dir(_module):
        if _attr.startswith("test_"):
            globals()[f"{_attr}__{_name}"] = getattr(_module, _attr)
