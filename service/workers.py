"""Several API processes on one port (``paperrec serve --workers N``).

Each process listens on its own socket bound with ``SO_REUSEPORT``, so the kernel spreads new
connections evenly across the processes. uvicorn's own ``--workers`` share one listening socket,
and whichever process wakes first accepts a whole burst of connections: with a few long-lived
keep-alive clients (a front end, a proxy, the load generator of ``bench/``), one process got most
of them while the other idled (770 against 1,400 requests/s between two identical runs).

The parent only supervises: it restarts a worker that dies, and on SIGINT/SIGTERM asks every
worker to finish its requests and stop. Each worker builds its own app from the environment, so
they share the settings, the one Redis and the one saved model. Without ``REDIS_URL`` the parent
starts the embedded Redis once, before the workers, and hands them its socket: the workers only
connect, so they cannot race to start one each (``paperrec serve``, :mod:`service.redis_server`).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import signal
import socket
import tempfile
import time
from multiprocessing.process import BaseProcess
from types import FrameType

__all__ = ["serve_workers"]

log = logging.getLogger("paperrec")

#: A worker that exits by itself this soon after starting is not restarted (a port in use, a bad
#: setting): the supervisor stops with an error instead of looping. One killed by a signal (the
#: OOM killer, an operator's SIGKILL) is restarted whenever it dies.
_EARLY_EXIT_S = 10.0


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    return sock


def check_port(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be listened on, or None. Bound without ``SO_REUSEPORT``, so that a
    port another ``paperrec serve --workers`` listens on counts as taken (with it, the kernel
    would let a second service join the first one's port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
    except OSError as e:
        return f"cannot listen on {host}:{port}: {e.strerror}"
    return None


def _worker(
    host: str, port: int, log_level: str, parent: int, redis_url: str | None
) -> None:  # pragma: no cover
    import uvicorn

    from service.redis_server import set_parent_death_signal

    # Stop (cleanly, SIGTERM) if the supervisor dies, even by SIGKILL: no orphan keeps the port.
    set_parent_death_signal()
    if os.getppid() != parent:  # it died before the line above
        return
    if redis_url is not None:  # the parent's embedded Redis: connect only, never start one
        os.environ["REDIS_URL"] = redis_url
    from service.server import uvicorn_config
    from service.settings import Settings

    sock = _listen(host, port)
    config = uvicorn_config(Settings(), "service.main:create_app", host, port, factory=True)
    uvicorn.Server(config).run(sockets=[sock])


def serve_workers(
    host: str, port: int, workers: int, log_level: str, redis_url: str | None = None
) -> int:
    """Run ``workers`` API processes until SIGINT/SIGTERM; the exit status. ``redis_url``: the
    embedded Redis the caller started for them (None: the settings' own ``REDIS_URL``)."""
    ctx = multiprocessing.get_context("spawn")
    stopping = False
    # One folder for every worker's metrics (prometheus-client's multi-process mode, read by it
    # from the environment each worker inherits), so that a scrape counts all the workers.
    metrics_dir = tempfile.mkdtemp(prefix="paperrec-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir

    def start() -> tuple[BaseProcess, float]:
        p = ctx.Process(
            target=_worker,
            args=(host, port, log_level, os.getpid(), redis_url),
            name="paperrec-api",
        )
        p.start()
        return p, time.monotonic()

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    procs = [start() for _ in range(workers)]
    status = 0
    try:
        while not stopping:
            time.sleep(0.2)
            for i, (p, started) in enumerate(procs):
                if p.is_alive() or stopping:
                    continue
                killed = p.exitcode is not None and p.exitcode < 0
                if not killed and time.monotonic() - started < _EARLY_EXIT_S:
                    log.error("an API worker exited at start (code %s); stopping", p.exitcode)
                    stopping, status = True, 1
                    break
                log.warning("API worker %d died (code %s); starting a new one", p.pid, p.exitcode)
                if p.pid is not None:
                    from prometheus_client.multiprocess import mark_process_dead

                    mark_process_dead(p.pid, metrics_dir)
                procs[i] = start()
    finally:
        for p, _ in procs:
            if p.is_alive() and p.pid is not None:
                os.kill(p.pid, signal.SIGTERM)  # uvicorn: finish requests in flight, stop
        for p, _ in procs:
            p.join(60)
            if p.is_alive():
                p.kill()
                p.join(10)
        for s, handler in previous.items():
            signal.signal(s, handler)
        os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
        shutil.rmtree(metrics_dir, ignore_errors=True)
    return status
