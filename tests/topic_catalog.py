"""A real catalog for service tests that store papers: the sample catalog's 60 papers under ids
of their own (``t:<topic>-NN``), so that storing them makes the sample papers leave (as any real
import does), with a first author per topic and, optionally, a publication day for all."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from service_conftest import ADMIN_HEADERS

SAMPLE = Path(__file__).resolve().parents[1] / "service" / "sample_catalog.jsonl"


def topic_papers(published: str | None = None) -> list[dict[str, Any]]:
    out = []
    for line in SAMPLE.read_text().splitlines():
        p = json.loads(line)
        topic, _, n = p["paper_id"].removeprefix("sample:").partition("-")
        p["paper_id"] = f"t:{topic}-{n}"
        p["authors"] = [f"{topic.title()} Author{n}"]
        if published is not None:
            p["published"] = published
            p["year"] = int(published[:4])
        out.append(p)
    return out


def store_papers(client: TestClient, papers: list[dict[str, Any]]) -> None:
    r = client.post("/papers", json={"papers": papers}, headers=ADMIN_HEADERS)
    assert r.status_code == 200, r.text


def topic(name: str, *numbers: int) -> list[str]:
    return [f"t:{name}-{n:02d}" for n in numbers]
