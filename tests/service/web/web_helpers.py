"""A small real catalog for the web page's tests: three topics of eight papers each, with
authors and dates (sample papers would leave the catalog at the first real paper a library
import adds)."""

from __future__ import annotations

from typing import Any

TOPICS: dict[str, list[str]] = {
    "optics": ["photonic", "waveguide", "laser", "interferometer", "lens", "coherent", "fiber"],
    "soil": ["microbial", "nitrogen", "fungal", "rhizosphere", "carbon", "crop", "irrigation"],
    "graph": ["vertex", "spanning", "planar", "coloring", "matching", "bipartite", "clique"],
}


def catalog() -> list[dict[str, Any]]:
    papers = []
    for topic, words in TOPICS.items():
        for i in range(8):
            w = [words[(i + j) % len(words)] for j in range(4)]
            papers.append(
                {
                    "paper_id": f"t:{topic}-{i}",
                    "title": f"{w[0].title()} {w[1]} methods for {w[2]} {topic} studies {i}",
                    "abstract": f"We study {w[0]} and {w[1]} {topic} with {w[2]} and {w[3]} "
                    f"{topic} measurements; {w[3]} {w[0]} results on {topic} benchmarks.",
                    "authors": [f"Ada {topic.title()}", f"Ben {w[0].title()}"],
                    "published": f"2026-0{1 + i % 9}-1{i}",
                }
            )
    return papers


def bibtex(matched_title: str) -> str:
    """A library: one entry of the catalog (by title), one new paper, one without a title."""
    return (
        "@article{known,\n"
        f"  title = {{{matched_title}}},\n"
        "}\n"
        "@article{mine,\n"
        "  title = {A Photonic Waveguide Paper the Catalog Does Not Have},\n"
        "  abstract = {Laser interferometer and coherent fiber optics measurements.},\n"
        "  doi = {10.1234/test.5678},\n"
        "}\n"
        "@misc{broken, author = {Nobody}}\n"
    )
