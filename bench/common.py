"""What every benchmark shares: the machine description, percentiles, and stored results.

Each part writes its figures to ``bench/results/<part>.json``; :mod:`bench.report` renders
``bench/RESULTS.md`` from whatever parts are stored, so one part can be rerun alone.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import platform
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
PYTHON = sys.executable


def bench_env(**extra: str) -> dict[str, str]:
    """The environment of every process a benchmark starts: one BLAS thread each."""
    env = dict(os.environ)
    env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env.update(extra)
    return env


def machine() -> dict[str, Any]:
    """Cores, memory, CPU model, Python and the date: the context of every figure."""
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    load = os.getloadavg()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gib": round(mem_gb, 1),
        "python": platform.python_version(),
        "os": platform.platform(),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load_avg_at_start": [round(x, 2) for x in load],
    }


def other_load() -> list[str]:
    """CPU-busy processes not started by this benchmark (what else was running)."""
    me = os.getpid()
    try:
        out = subprocess.run(
            ["ps", "-eo", "pid,ppid,pcpu,args", "--sort=-pcpu"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.splitlines()[1:]
    except (OSError, subprocess.SubprocessError):
        return []
    busy = []
    for line in out:
        pid, ppid, pcpu, args = line.split(None, 3)
        if int(pid) in (me, os.getppid()) or int(ppid) == me:
            continue
        if float(pcpu) >= 20:
            busy.append(f"`{args[:90]}` ({pcpu}% CPU)")
    return busy


def reset_peak_rss() -> None:
    """Start the peak (``VmHWM``) afresh from the current RSS (Linux 4.0+; else a no-op)."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def percentiles(values_s: list[float] | np.ndarray) -> dict[str, float]:
    """p50/p95/p99/max in milliseconds of durations in seconds."""
    a = np.asarray(values_s, dtype=np.float64) * 1000
    if a.size == 0:
        return {"n": 0}
    p50, p95, p99 = np.percentile(a, [50, 95, 99])
    return {
        "n": int(a.size),
        "p50_ms": round(float(p50), 2),
        "p95_ms": round(float(p95), 2),
        "p99_ms": round(float(p99), 2),
        "max_ms": round(float(a.max()), 2),
    }


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far, in MiB.

    ``VmHWM`` where there is one (Linux): ``getrusage``'s ``ru_maxrss`` survives ``exec``, so in a
    child process it would start at its parent's peak. Elsewhere ``ru_maxrss`` (KiB on Linux)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def save(part: str, figures: dict[str, Any]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{part}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(figures, indent=2, default=str) + "\n")
    tmp.replace(path)
    return path


def load(part: str) -> dict[str, Any] | None:
    path = RESULTS / f"{part}.json"
    return json.loads(path.read_text()) if path.exists() else None


def log(msg: str) -> None:
    print(f"[bench] {msg}", flush=True)
