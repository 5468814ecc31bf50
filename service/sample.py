"""The sample catalog shipped with the service (invented papers), loaded on a first start so that
a fresh install serves something."""

from __future__ import annotations

import json
from pathlib import Path

from recommender.catalog import Paper

SAMPLE_FILE = "sample_catalog.jsonl"


def sample_papers() -> list[Paper]:
    text = (Path(__file__).parent / SAMPLE_FILE).read_text(encoding="utf-8")
    return [Paper.from_dict(json.loads(line)) for line in text.splitlines() if line.strip()]
