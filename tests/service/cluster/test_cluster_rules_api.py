"""tests/service/test_rules_api.py against a real Redis Cluster (see :mod:`cluster_reuse`)."""

from __future__ import annotations

from cluster_reuse import reuse

reuse(globals(), "test_rules_api")
