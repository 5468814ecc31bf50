"""Compare ranking models offline on the CiteULike protocols.

    python -m experiments.compare --dataset citeulike-a --split 1 --models popularity,content --out out/a1
    python -m experiments.compare --all --models all --out out/all   # four settings + README section

Writes ``results.json``, ``results.md`` (with the published rows of the setting beside ours) and
``recall.png`` into ``--out``; ``--dump-topk DIR`` also writes ``DIR/<model>.npy``: int32
``(users in the split files, 300)``, row u = the user's top 300 (training papers excluded), all -1
for users who are not evaluated (no test paper, or left out by ``--users``).

Hyperparameters come from recommender/tuned.json (chosen by ``experiments.tune`` on validation
data carved out of training data), a model's defaults where absent.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import math
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from experiments.common import (
    EMBED_CACHE,
    ArgumentParser,
    add_data_dir_argument,
    data_dir,
    run_main,
    write_json,
    write_text,
)
from recommender.datasets.citeulike import DATASETS, RECALL_CUTOFFS, published_rows
from recommender.evaluation.datasets import FeatureSetUnavailable, load_experiment_data
from recommender.evaluation.experiment import (
    ModelResult,
    evaluate_model,
    select_users,
    significance_vs_best,
)
from recommender.evaluation.plots import plot_recall_curves
from recommender.evaluation.splits import (
    Split,
    binarize,
    cold_start_split,
    published_split,
    random_holdout,
)
from recommender.features import FEATURE_SETS, FeatureSet
from recommender.io.files import READABLE_BY_ALL, write_atomic
from recommender.io.interactions import read_user_items
from recommender.models import MODELS, model_class
from recommender.training import TrainingPlan
from recommender.tuned import TUNED_PATH, settings_key, tuned_choice

log = logging.getLogger("experiments.compare")

README = Path(__file__).resolve().parent / "README.md"
START, END = "<!-- results:start -->", "<!-- results:end -->"
SMALL_METRICS = ("ndcg@10", "precision@10", "map@10", "mrr", "coverage@10", "novelty@10")


# ------------------------------------------------------------------ inputs
def build_split(args: argparse.Namespace, likes: sp.csr_matrix, n_items: int) -> Split:
    """The split the arguments ask for, with every matrix ``n_items`` wide."""
    if args.train or args.test:
        if not (args.train and args.test):
            raise SystemExit("--train and --test go together")
        train = binarize(read_user_items(args.train, n_items))
        test = binarize(read_user_items(args.test, n_items))
        if train.shape[0] != test.shape[0]:
            raise SystemExit(f"--train has {train.shape[0]} users but --test {test.shape[0]}")
        return Split(f"{args.dataset} files", train, test, info={"protocol": "files"})
    if args.protocol == "holdout":
        s = random_holdout(likes, seed=args.seed)
        # Validation is for tuning; the final model learns from training + validation.
        assert s.validation is not None
        return Split(s.name, binarize(s.train + s.validation), s.test, info=s.info)
    if args.protocol == "cold-start":
        return cold_start_split(likes, seed=args.seed)
    return published_split(args.dataset, args.split, args.data_dir)


def resolve_models(spec: str) -> list[str]:
    names = list(MODELS) if spec == "all" else [m.strip() for m in spec.split(",") if m.strip()]
    unknown = [m for m in names if m not in MODELS]
    if unknown:
        raise SystemExit(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(MODELS)}")
    return names


# ------------------------------------------------------------------ outputs
def _fmt(x: Any, digits: int = 4) -> str:
    if isinstance(x, float):
        return "–" if math.isnan(x) else f"{x:.{digits}f}"
    return str(x)


def results_markdown(res: dict[str, Any], published: list[dict[str, Any]]) -> str:
    """The results as Markdown tables: recall curves beside the published rows, then the rest."""
    head = f"# {res['dataset']}, {res['protocol_label']}\n\n"
    note = (
        f"{res['n_users_evaluated']} users evaluated"
        + (f" (a random subset of {res['n_users_with_test']})" if res["subset"] else "")
        + f"; {res['n_items']} papers; content features: {res.get('features', 'text')}."
        + " Ranking excludes each user's training papers.\n\n"
    )
    cols = [f"recall@{m}" for m in RECALL_CUTOFFS]
    lines = ["| model | source | " + " | ".join(cols) + " |", "|---" * (len(cols) + 2) + "|"]
    for name, m in res["models"].items():
        lines.append(f"| {name} | this run | " + " | ".join(_fmt(m[c]) for c in cols) + " |")
    for row in sorted(published, key=lambda r: -r["recall@300"]):
        lines.append(
            f"| {row['method']} | published | " + " | ".join(_fmt(row[c]) for c in cols) + " |"
        )
    table1 = "\n".join(lines) + "\n\n"
    if published:
        table1 += (
            "Published rows: Ferrari Dacrema et al., TOIS appendix tables 15-18, on the same split"
            " files (read at run time from the data directory).\n\n"
        )
        if res["dataset"] == "citeulike-a":
            table1 += (
                "Content here is titles for all papers and abstracts for 1,929 of them; the"
                " published content-based rows (ItemKNN CBF/CFCBF, CDL, CVAE) had every abstract,"
                " which is not available here.\n\n"
            )
    cols2 = [*SMALL_METRICS, "fit_seconds", "score_seconds"]
    lines = [
        "| model | " + " | ".join(cols2) + " | recall@100 95% CI | vs best other (recall@100) |",
        "|---" * (len(cols2) + 3) + "|",
    ]
    for name, m in res["models"].items():
        ci = m.get("ci95", {}).get("recall@100")
        ci_s = f"[{ci[0]:.4f}, {ci[1]:.4f}]" if ci else "–"
        vs = m.get("vs_best_other")
        vs_s = (
            f"{vs['diff']:+.4f} vs {vs['against']} (p={vs['p_bootstrap']:.3f}"
            f"{', significant' if vs['significant'] else ''})"
            if vs
            else "–"
        )
        vals = [_fmt(m[c], 4 if c not in ("fit_seconds", "score_seconds") else 1) for c in cols2]
        lines.append(f"| {name} | " + " | ".join(vals) + f" | {ci_s} | {vs_s} |")
    table2 = "\n".join(lines) + "\n"
    skipped = "".join(f"\n- {k}: skipped ({v})" for k, v in res.get("skipped", {}).items())
    return head + note + table1 + table2 + (f"\nSkipped models:{skipped}\n" if skipped else "")


def _hyperparameters(m: dict[str, Any]) -> str:
    """A model's tuned settings for a table cell (feature-block weights included)."""
    if not m.get("params") and not m.get("feature_weights"):
        return "defaults"
    text = "tuned: " + json.dumps(m.get("params", {}))
    if m.get("feature_weights"):
        text += ", features " + json.dumps(m["feature_weights"])
    return text


def dump_topk(dir_: Path, result: ModelResult, n_users: int) -> Path:
    """``dir_/<model>.npy``: int32 ``(n_users, K)``, -1 rows for users not evaluated."""
    full = np.full((n_users, result.topk.shape[1]), -1, dtype=np.int32)
    full[result.users] = result.topk
    return write_atomic(
        dir_ / f"{result.name}.npy", lambda fh: np.save(fh, full), mode=READABLE_BY_ALL
    )


# ------------------------------------------------------------------ one setting
def run_setting(
    args: argparse.Namespace, out: Path, *, plan: TrainingPlan | None = None
) -> dict[str, Any]:
    """Evaluate ``args.models`` on one dataset and split; write the outputs into ``out``.

    With ``plan`` (what ``paperrec serve`` trains, :func:`recommender.training.training_plan`),
    a model ``served`` is evaluated first, exactly as planned: the plan's model, hyperparameters
    and feature weights, on content features built from the catalog's text as the service's
    featurizer builds them; the other models get the same features, with their defaults."""
    out.mkdir(parents=True, exist_ok=True)
    data = load_experiment_data(
        args.dataset,
        args.data_dir,
        args.features,
        embed_cache=EMBED_CACHE,
        text_from_catalog=plan is not None,
    )
    split = build_split(args, data.likes, data.n_items)
    users = select_users(split, args.users, seed=args.seed)
    n_with_test = int(split.test_users().size)
    label = (
        f"P={args.split} (published split)"
        if split.info.get("protocol") == "published"
        else split.name
    )
    print(
        f"{args.dataset} {label}: {split.n_users} users, {users.size} evaluated,"
        f" features {args.features}"
    )
    results: list[ModelResult] = []
    skipped: dict[str, str] = {}
    names = resolve_models(args.models)
    for name in (["served"] if plan is not None else []) + names:
        key = settings_key(name, args.features)
        tuned = split.info.get("protocol") in ("published", "files")
        if plan is not None:
            model = plan.model if name == "served" else name
            params = plan.params if name == "served" else {}
            weights = plan.feature_weights
        else:
            model = name
            params, weights = (
                tuned_choice(args.dataset, args.split, key, args.settings) if tuned else ({}, {})
            )
        t0 = time.perf_counter()
        try:
            r = evaluate_model(
                model,
                split,
                data.weighted(weights),
                users,
                params=params,
                progress=not args.no_progress,
                batch_size=args.batch_size,
                n_boot=args.n_boot,
                seed=args.seed,
                label=name,
            )
        except (ImportError, AttributeError) as exc:
            # A model whose file has not landed yet: report it and go on with the others.
            log.warning("model %s unavailable: %s", name, exc)
            skipped[name] = f"{type(exc).__name__}: {exc}"
            continue
        print(
            f"{name}: recall@50 {r.metrics['recall@50']:.4f} recall@300 {r.metrics['recall@300']:.4f}"
            f" (fit {r.fit_seconds:.1f}s, score {r.score_seconds:.1f}s,"
            f" total {time.perf_counter() - t0:.1f}s)",
            flush=True,
        )
        if weights:
            r.extra["feature_weights"] = weights
        results.append(r)
        if args.dump_topk:
            dump_topk(Path(args.dump_topk), r, split.n_users)
    for name, test in significance_vs_best(results, n_boot=args.n_boot, seed=args.seed).items():
        next(r for r in results if r.name == name).extra["vs_best_other"] = test

    res: dict[str, Any] = {
        "dataset": args.dataset,
        "split": args.split,
        "protocol": split.info.get("protocol"),
        "protocol_label": label,
        "features": args.features,
        "n_users": split.n_users,
        "n_items": split.n_items,
        "n_users_with_test": n_with_test,
        "n_users_evaluated": int(users.size),
        "subset": args.users is not None and users.size < n_with_test,
        "models": {r.name: r.summary() for r in results},
    }
    if skipped:
        res["skipped"] = skipped
    published = published_rows(args.dataset, args.split, args.data_dir)
    if split.info.get("protocol") not in ("published", "files"):
        published = []  # the published rows are on the published split files only
    write_json(out / "results.json", res)
    write_text(out / "results.md", results_markdown(res, published))
    best = [max(published, key=lambda r: r["recall@300"])] if published else []
    if published and (b50 := max(published, key=lambda r: r["recall@50"])) is not best[0]:
        best.append(b50)
    plot_recall_curves(
        out / "recall.png",
        res["models"],
        RECALL_CUTOFFS,
        reference=best,
        title=f"{args.dataset}, {label}",
    )
    print(f"wrote {out / 'results.json'}, results.md, recall.png")
    # For callers that need more than the table (experiments.served): never written out.
    res["_results"], res["_train_counts"] = results, np.diff(split.train.indptr)
    return res


# ------------------------------------------------------------------ all settings
def feature_label(features: str) -> str:
    """How the README names a feature set beside a model: nothing for ``text`` (the published
    rows' own), else its blocks, e.g. `` (text + citations)``."""
    blocks = FeatureSet.parse(features).blocks
    return "" if blocks == ("text",) else f" ({' + '.join(blocks)})"


def best_published_curve(published: list[dict[str, Any]]) -> dict[str, Any]:
    """The best published recall at each M (max over methods; the method may differ per M):
    ``{"recall@M": value, "method@M": name}``; empty without published rows."""
    out: dict[str, Any] = {}
    for m in RECALL_CUTOFFS:
        if published:
            row = max(published, key=lambda r: r[f"recall@{m}"])
            out[f"recall@{m}"], out[f"method@{m}"] = row[f"recall@{m}"], row["method"]
    return out


def _ahead(m: dict[str, Any], best: dict[str, Any]) -> str:
    """The cut-offs at which a row is strictly above the best published recall."""
    if not best:
        return "–"
    ms = [c for c in RECALL_CUTOFFS if m[f"recall@{c}"] > best[f"recall@{c}"]]
    return "all" if len(ms) == len(RECALL_CUTOFFS) else (", ".join(map(str, ms)) or "none")


def _methods_by_m(best: dict[str, Any]) -> str:
    groups: dict[str, list[int]] = {}
    for c in RECALL_CUTOFFS:
        groups.setdefault(best[f"method@{c}"], []).append(c)
    return "; ".join(f"{k} @{','.join(map(str, v))}" for k, v in groups.items())


def readme_section(all_res: list[dict[str, Any]], command: str) -> str:
    """The README results section: the recall curve (M = 50 ... 300) per model, feature set and
    setting, beside the best published recall at each M."""
    cols = [f"recall@{m}" for m in RECALL_CUTOFFS]
    lines = [
        START,
        f"Generated by `{command}` on {time.strftime('%Y-%m-%d')}.",
        "",
        "| setting | model | "
        + " | ".join(cols)
        + " | ndcg@10 | users | ahead of best published at M | hyperparameters |",
        "|---" * (len(cols) + 6) + "|",
    ]
    shown: set[str] = set()
    for res in all_res:
        setting = f"{res['dataset']} P={res['split']}"
        best = res.get("best_published", {})
        if setting not in shown and best:
            shown.add(setting)
            lines.append(
                f"| {setting} | *published, best at each M: {_methods_by_m(best)}* | "
                + " | ".join(f"{best[c]:.4f}" for c in cols)
                + " | – | – | – | – |"
            )
        suffix = feature_label(res.get("features", "text"))
        for name, m in res["models"].items():
            lines.append(
                f"| {setting} | {name}{suffix} | "
                + " | ".join(f"{m[c]:.4f}" for c in cols)
                + f" | {m['ndcg@10']:.4f} | {m['n_users']} | {_ahead(m, best)}"
                + f" | {_hyperparameters(m)} |"
            )
    lines += [
        "",
        "citeulike-a content here is titles (+ 1,929 abstracts); the published content rows had"
        " every abstract. Rows marked (text + citations) also use the papers' citation links"
        " (citations.dat: paper metadata, no user data), rows marked (text + embed ...) sentence"
        " embeddings of the same text (a pretrained model); the published rows used neither."
        " Models that use no content run with the first feature set only."
        " Hyperparameters: recommender/tuned.json where tuned, else defaults.",
        END,
    ]
    return "\n".join(lines)


def update_readme(section: str, path: Path = README) -> None:
    text = path.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.S)
    if not pattern.search(text):
        raise SystemExit(f"{path} has no {START} ... {END} markers")
    write_text(path, pattern.sub(lambda _: section, text))


def _uses_content(name: str) -> bool:
    try:
        return bool(model_class(name).uses_content)
    except (ImportError, AttributeError):
        return True  # let run_setting report it


def run_all(args: argparse.Namespace, argv: list[str]) -> None:
    all_res = []
    root = Path(args.out)
    feature_sets = args.features.split(",")
    for dataset, split in itertools.product(DATASETS, (1, 10)):
        for i, features in enumerate(feature_sets):
            a = argparse.Namespace(**vars(args))
            a.dataset, a.split, a.protocol, a.features = dataset, split, "published", features
            if i > 0:  # a model that reads no content gives the same result with every set
                a.models = ",".join(m for m in resolve_models(args.models) if _uses_content(m))
                if not a.models:
                    continue
            name = f"{dataset}-P{split}" + ("" if features == "text" else f"-{features}")
            if args.dump_topk:
                a.dump_topk = str(Path(args.dump_topk) / name)
            try:
                res = run_setting(a, root / name)
            except FeatureSetUnavailable as exc:
                print(f"{dataset} P={split}: feature set {features} skipped ({exc})")
                continue
            res["best_published"] = best_published_curve(
                published_rows(dataset, split, args.data_dir)
            )
            all_res.append(res)
    if args.users is None:
        update_readme(readme_section(all_res, "python -m experiments.compare " + " ".join(argv)))
        print(f"updated {README}")
    else:
        print("--users given: README results section left unchanged (subset runs are not reported)")


def main(argv: list[str] | None = None) -> int:
    import sys

    argv = sys.argv[1:] if argv is None else argv
    ap = ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", choices=DATASETS)
    ap.add_argument("--split", type=int, choices=(1, 10))
    ap.add_argument("--models", default="all", help="comma list, or 'all'")
    ap.add_argument("--out", required=True, type=Path)
    add_data_dir_argument(ap)
    ap.add_argument("--train", type=Path, help="a train file in users.dat form (with --test)")
    ap.add_argument("--test", type=Path, help="a test file in users.dat form (with --train)")
    ap.add_argument(
        "--protocol", choices=("published", "holdout", "cold-start"), default="published"
    )
    ap.add_argument("--dump-topk", type=Path)
    ap.add_argument("--users", type=int, help="evaluate a random subset of N users (for CI)")
    ap.add_argument("--all", action="store_true", help="the four published settings + README")
    ap.add_argument("--settings", type=Path, default=TUNED_PATH)
    ap.add_argument(
        "--features",
        default="text",
        help=f"content features, one of {', '.join(FEATURE_SETS)}: text as the published rows,"
        " +citations adds citation links, +embed sentence embeddings (the [embed] extra,"
        " citeulike-a only); with --all a comma list (sets a dataset cannot provide are skipped)",
    )
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args.data_dir = data_dir(ap, args.data_dir)
    if args.all:
        run_all(args, argv)
        return 0
    if not args.dataset or (args.split is None and args.protocol == "published"):
        ap.error("--dataset and --split are required (or --all)")
    run_setting(args, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(run_main(main))
