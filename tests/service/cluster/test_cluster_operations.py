"""tests/service/test_operations.py against a real Redis Cluster (see :mod:`cluster_reuse`)."""

from __future__ import annotations

from cluster_reuse import reuse

reuse(globals(), "test_operations")
