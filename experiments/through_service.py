"""Measure what users get: the recall of the running service, through its own commands and API.

Exactly what a person would do with the product: a fresh data folder, ``paperrec import
citeulike-X`` (papers with their citation links, no likes), ``paperrec import-likes`` of a
training file, one ``paperrec train``, ``paperrec serve``, then ``GET
/users/{id}/recommendations?k=300`` for every user with a test paper. Recall is computed here from
the answers and the test file alone (plain Python sets, none of the library's evaluation code), so
it checks the library's offline figures instead of repeating them.

    python -m experiments.through_service --dataset citeulike-a --split 10 --out out/served-a10
    python -m experiments.through_service --dataset citeulike-t --protocol cold-start --out out/served-tc

Protocols: ``published`` (the split files, P=1 or P=10), ``cold-start`` (20% of papers without a
training like, seeded) and ``holdout`` (20% of each user's likes held out, seeded; recall@100 by
the user's number of training likes). Their splits are written as users.dat files and imported
like a published one. The service runs with its shipped settings; ``--env NAME=VALUE`` (repeat)
changes one for a run (e.g. ``PAPERREC_FEATURES=text``); impressions are off (every user is asked
once, and impressions do not change a first list). The P=10 test files are read with the
shipped served choice; the P=1, cold-start and holdout ones, whose likes that choice's validation
holds, with the same choice made without the dataset's likes
(:func:`experiments.common.reading_choice`, given to the service as ``PAPERREC_TUNED_FILE``).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from experiments.common import ArgumentParser, reading_choice, run_main
from recommender.training import DEFAULT_FEATURES, DEFAULT_MODEL
from recommender.tuned import TUNED_PATH, settings_key

ADMIN = "through-service-admin-token-not-secret-0123"
CUTOFFS = (50, 100, 150, 200, 250, 300)
BUCKETS = ((1, 1), (2, 5), (6, 20), (21, 100), (101, None))
ROOT = Path(__file__).resolve().parents[1]
#: Tries per request: a 503 (the API's "retry in a moment") is retried after its Retry-After.
RETRIES = 5


def read_users_dat(path: Path) -> list[list[int]]:
    """Line i of a users.dat file: user i's item ids (the count in front dropped)."""
    out = []
    for line in path.read_text().splitlines():
        parts = line.split()
        out.append([int(x) for x in parts[1:]])
    return out


def write_users_dat(path: Path, rows: Sequence[Sequence[int]]) -> None:
    path.write_text(
        "".join(f"{len(r)} {' '.join(map(str, r))}\n".replace(" \n", "\n") for r in rows)
    )


def protocol_files(args: argparse.Namespace, work: Path) -> tuple[Path, Path]:
    """``(train, test)`` users.dat files of the protocol: the published files, or the split
    ``experiments.compare --protocol`` makes of all the dataset's likes with the same seed (the
    library's split functions; the recall is still computed here)."""
    folder = Path(args.data_dir) / args.dataset
    if args.protocol == "published":
        base = folder / "splits-cvae"
        return base / f"cf-train-{args.split}-users.dat", base / f"cf-test-{args.split}-users.dat"
    from recommender.evaluation.splits import binarize, cold_start_split, random_holdout
    from recommender.io import read_user_items

    likes = read_user_items(folder / "users.dat")
    if args.protocol == "cold-start":
        split = cold_start_split(likes, seed=args.seed)
        train_m, test_m = split.train, split.test
    else:  # holdout: the model learns from training + validation, as compare's does
        split = random_holdout(likes, seed=args.seed)
        assert split.validation is not None
        train_m, test_m = binarize(split.train + split.validation), split.test
    train_path, test_path = work / "train.dat", work / "test.dat"
    for path, m in ((train_path, train_m), (test_path, test_m)):
        rows = [m.indices[m.indptr[u] : m.indptr[u + 1]].tolist() for u in range(m.shape[0])]
        write_users_dat(path, rows)
    return train_path, test_path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(cmd: list[str], env: dict[str, str], what: str) -> str:
    t0 = time.perf_counter()
    out = subprocess.run(cmd, env=env, cwd=env["PAPERREC_DATA_DIR"], capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"error: {what} failed:\n{out.stdout[-2000:]}{out.stderr[-3000:]}")
    print(f"{what}: {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return out.stdout


def recall_table(
    answers: dict[int, list[int]], test: list[list[int]], train: list[list[int]], seed: int
) -> dict[str, Any]:
    """Mean recall@M over users with a test paper, with a 95% percentile-bootstrap interval, and
    recall@100 by the user's number of training likes."""
    users = [u for u, t in enumerate(test) if t and train[u]]
    per: dict[int, list[float]] = {m: [] for m in CUTOFFS}
    for u in users:
        truth, got = set(test[u]), answers.get(u, [])
        for m in CUTOFFS:
            per[m].append(len(truth.intersection(got[:m])) / len(truth))
    rng = random.Random(seed)
    n = len(users)
    resamples = [[rng.randrange(n) for _ in range(n)] for _ in range(300)] if n else []
    out: dict[str, Any] = {"n_users": n}
    for m in CUTOFFS:
        values = per[m]
        mean = sum(values) / n if n else 0.0
        boots = sorted(sum(values[i] for i in idx) / n for idx in resamples)
        low, high = (
            (boots[int(0.025 * len(boots))], boots[int(0.975 * len(boots)) - 1])
            if boots
            else (0, 0)
        )
        out[f"recall@{m}"] = round(mean, 4)
        out[f"ci95@{m}"] = [round(low, 4), round(high, 4)]
    by = []
    for lo, hi in BUCKETS:
        idx = [
            j
            for j, u in enumerate(users)
            if len(train[u]) >= lo and (hi is None or len(train[u]) <= hi)
        ]
        if idx:
            by.append(
                {
                    "train_likes": f"{lo}-{hi}" if hi != lo else str(lo),
                    "n_users": len(idx),
                    "recall@100": round(sum(per[100][j] for j in idx) / len(idx), 4),
                }
            )
    out["by_train_likes"] = by
    return out


def main(argv: list[str] | None = None) -> int:
    ap = ArgumentParser(
        prog="python -m experiments.through_service", description=__doc__.split("\n")[0]
    )
    ap.add_argument("--dataset", choices=("citeulike-a", "citeulike-t"), required=True)
    ap.add_argument("--split", type=int, choices=(1, 10), default=10)
    ap.add_argument(
        "--protocol", choices=("published", "cold-start", "holdout"), default="published"
    )
    ap.add_argument(
        "--data-dir",
        default=str(ROOT.parent / "shared" / "datasets"),
        help="folder of the dataset folders (default: ../shared/datasets beside the checkout)",
    )
    ap.add_argument("--out", type=Path, required=True, help="folder for results.json")
    ap.add_argument("--users", type=int, help="a random subset of N test users (quick runs)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--env", action="append", default=[], metavar="NAME=VALUE")
    ap.add_argument("--keep", action="store_true", help="keep the service's data folder")
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="paperrec-served-"))
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("PAPERREC_") and k != "REDIS_URL"
    }
    env.update(
        PAPERREC_DATA_DIR=str(work),
        PAPERREC_ADMIN_TOKEN=ADMIN,
        PAPERREC_SEED_SAMPLE="false",
        PAPERREC_MODEL_POLL_S="0",
        PAPERREC_LOG_LEVEL="WARNING",
        OPENBLAS_NUM_THREADS="1",
        # Each user is asked once: impressions cannot change a first list, and at k=300 each
        # list would append about 68 KB to Redis's file (fsync'd), which on 2 busy cores made
        # the embedded Redis time out (503s) in a reading of 5,551 users.
        PAPERREC_IMPRESSIONS="false",
    )
    for item in args.env:
        name, _, value = item.partition("=")
        env[name] = value
    key = settings_key(
        env.get("PAPERREC_MODEL", DEFAULT_MODEL),
        env.get("PAPERREC_FEATURES", DEFAULT_FEATURES.name),
    )
    tuned, choice = reading_choice(
        Path(env.get("PAPERREC_TUNED_FILE", TUNED_PATH)),
        args.dataset,
        args.protocol == "published" and args.split == 10,
        key,
        work,
    )
    env["PAPERREC_TUNED_FILE"] = str(tuned)
    print(f"read with: {choice}")
    paperrec = [sys.executable, "-m", "service.cli"]
    env["PYTHONPATH"] = str(ROOT)
    server: subprocess.Popen[bytes] | None = None
    try:
        train_path, test_path = protocol_files(args, work)
        prefix = f"{args.dataset}:"
        _run([*paperrec, "import", args.dataset, "--data-dir", args.data_dir], env, "import papers")
        _run(
            [
                *paperrec,
                "import-likes",
                str(train_path),
                "--user-prefix",
                prefix,
                "--paper-prefix",
                prefix,
            ],
            env,
            "import-likes",
        )
        t0 = time.perf_counter()
        _run([*paperrec, "train"], env, "train")
        train_s = time.perf_counter() - t0
        port = _free_port()
        server = subprocess.Popen(
            [*paperrec, "serve", "--port", str(port)],
            env=env,
            cwd=work,
            stdout=subprocess.DEVNULL,
            stderr=(work / "serve.log").open("wb"),
        )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 600
        while True:
            try:
                health = httpx.get(
                    f"{url}/health", headers={"Authorization": f"Bearer {ADMIN}"}, timeout=5
                ).json()
                if health.get("model", {}).get("status") == "ready":
                    break
            except (httpx.TransportError, ValueError):
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"error: the service did not come up; see {work / 'serve.log'}")
            time.sleep(0.5)
        train, test = read_users_dat(train_path), read_users_dat(test_path)
        users = [u for u, t in enumerate(test) if t and train[u]]
        if args.users and args.users < len(users):
            users = sorted(random.Random(args.seed).sample(users, args.users))
        headers = {"Authorization": f"Bearer {ADMIN}"}
        retried = [0]

        def ask(client: httpx.Client, u: int) -> tuple[int, list[int]]:
            for attempt in range(RETRIES):
                r = client.get(
                    f"{url}/users/{prefix}user{u}/recommendations",
                    params={"k": 300},
                    headers=headers,
                )
                # A 503 says "retry in a moment" (Redis slower than its timeout, e.g. an fsync
                # on a busy disk); a client does what it says.
                if r.status_code != 503 or attempt == RETRIES - 1:
                    break
                retried[0] += 1
                time.sleep(min(float(r.headers.get("Retry-After", "1")), 5.0))
            r.raise_for_status()
            return u, [int(i["paper_id"].removeprefix(prefix)) for i in r.json()["items"]]

        t0 = time.perf_counter()
        with httpx.Client(timeout=60) as client, ThreadPoolExecutor(4) as pool:
            answers = dict(pool.map(lambda u: ask(client, u), users))
        ask_s = time.perf_counter() - t0
        subset = [test[u] if u in answers else [] for u in range(len(test))]
        table = recall_table(answers, subset, train, args.seed)
        result = {
            "dataset": args.dataset,
            "protocol": args.protocol,
            "split": args.split if args.protocol == "published" else None,
            "env": args.env,
            "choice": choice,
            "model": health["model"],
            "train_seconds": round(train_s, 1),
            "requests_per_second": round(len(users) / ask_s, 1) if ask_s else None,
            "retried_503": retried[0],
            **table,
        }
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "results.json").write_text(json.dumps(result, indent=2) + "\n")
        cols = " ".join(f"@{m} {result[f'recall@{m}']:.4f}" for m in CUTOFFS)
        print(
            f"{args.dataset} {args.protocol} {result['split'] or ''}: {table['n_users']} users; {cols}"
        )
        for b in table["by_train_likes"]:
            print(
                f"  {b['train_likes']:>7} likes: {b['n_users']:5d} users, recall@100 {b['recall@100']:.4f}"
            )
    finally:
        if server is not None and server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(60)
            except subprocess.TimeoutExpired:
                server.kill()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(run_main(main))
