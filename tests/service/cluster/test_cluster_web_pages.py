"""tests/service/web/test_web_pages.py against a real Redis Cluster (see :mod:`cluster_reuse`):
sign-in links, sessions and their CSRF checks, the pages' likes and visits."""

from __future__ import annotations

from cluster_reuse import reuse

reuse(globals(), "web/test_web_pages")
