"""``python -m bench`` (``make bench``): run every part, store its figures, write RESULTS.md.

    python -m bench                      # every part below; RESULTS.md
    python -m bench --only embeddings    # needs the [embed] extra in the interpreter that runs it
    python -m bench --only scale         # one part (others' stored figures stay in the report)
    python -m bench --quick              # small sizes and short phases (a few minutes)
    python -m bench --report             # only re-render RESULTS.md from bench/results/*.json

The soak test (``python -m bench.soak``) is separate and never run from here.
"""

from __future__ import annotations

import argparse
import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from bench.common import log, machine, other_load, save  # noqa: E402
from bench.report import write_report  # noqa: E402

PARTS = ("service", "scale", "training", "svm", "collections", "policy", "embeddings")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    ap.add_argument("--only", choices=PARTS, action="append", help="run only this part (repeat)")
    ap.add_argument("--quick", action="store_true", help="small sizes, short phases")
    ap.add_argument("--report", action="store_true", help="only re-render RESULTS.md")
    args = ap.parse_args(argv)
    if not args.report:
        for part in args.only or PARTS:
            context = {"machine": machine(), "also_running_at_start": other_load()}
            log(f"== {part}{' (quick)' if args.quick else ''}")
            if part == "service":
                from bench import service

                figures = service.run(quick=args.quick)
            elif part == "scale":
                from bench import scale

                figures = scale.run(quick=args.quick)
            elif part == "training":
                from bench import training

                figures = training.run(quick=args.quick)
            elif part == "collections":
                from bench import collection_route

                figures = collection_route.run(quick=args.quick)
            elif part == "policy":
                from bench import policy

                figures = policy.run(quick=args.quick)
            elif part == "embeddings":
                from bench import embeddings

                measured = embeddings.run(quick=args.quick)
                if measured is None:  # the [embed] extra is missing: said so, nothing stored
                    continue
                figures = measured
            else:
                from bench import svm

                figures = svm.run(quick=args.quick)
            context["also_running_at_end"] = other_load()
            log(f"wrote {save(part, {**context, 'quick': args.quick, 'figures': figures})}")
    log(f"wrote {write_report()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
