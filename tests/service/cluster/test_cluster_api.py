"""The service's API tests, run against a real Redis Cluster (the fixtures of this folder's
conftest point ``client`` and ``make_settings`` at it): the one-server modules, imported
unchanged (:mod:`cluster_reuse`); those that read one server's keys directly skip here."""

from __future__ import annotations

from cluster_reuse import reuse

#: The one-server test modules run here as they are (no fixture of their own).
MODULES = ("test_api", "test_recommend", "test_tokens", "test_security")

reuse(globals(), *MODULES)
