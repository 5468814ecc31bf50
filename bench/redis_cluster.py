"""A real Redis Cluster on loopback: masters and replicas from the system's ``redis-server`` (7),
each in its own folder of a temporary directory, created with ``redis-cli --cluster create``.

Used by the cluster tests (tests/service/cluster/) and the scale benchmark (Redis memory per user
and per like measured on a cluster). Nothing here is the service's: the service only connects to
a cluster (``PAPERREC_REDIS_CLUSTER``, :mod:`service.cluster`).

Failover settings are the cluster's own, shortened for a test: ``cluster-node-timeout`` of
``node_timeout_ms`` (a master that does not answer that long is failed, and one of its replicas
promoted).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

__all__ = ["ClusterError", "LocalCluster", "Node", "redis_server_binary"]


class ClusterError(RuntimeError):
    """The cluster could not be started or did not reach the state waited for."""


def redis_server_binary() -> str | None:
    """The system's ``redis-server`` 7 or later with ``redis-cli`` beside it, or ``None``."""
    server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    if server is None or cli is None:
        return None
    out = subprocess.run([server, "--version"], capture_output=True, text=True).stdout
    try:
        major = int(out.split("v=", 1)[1].split(".", 1)[0])
    except (IndexError, ValueError):
        return None
    return server if major >= 7 else None


def _free_ports(n: int) -> list[int]:
    """``n`` distinct free loopback ports whose cluster bus ports (port + 10000) are free too."""
    ports: list[int] = []
    while len(ports) < n:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port + 10000 > 65535 or port in ports:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        ports.append(port)
    return ports


@dataclass
class Node:
    port: int
    folder: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def client(self, **kwargs: object) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, decode_responses=True, **kwargs)  # type: ignore[arg-type]

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self, tail: int = 2000) -> str:
        """The end of the node's own log."""
        path = self.folder / "redis.log"
        return path.read_text(errors="replace")[-tail:] if path.exists() else ""


@dataclass
class LocalCluster:
    """``masters`` masters with ``replicas`` replicas each, in ``folder``.

    ``start()`` launches and joins them and waits for ``cluster_state:ok`` on every node and
    every replica's link up;
    ``stop()`` kills them all. ``kill(node)`` SIGKILLs one (no shutdown code runs, nothing more
    is written), ``restart(node)`` starts it again on its own files (it rejoins as a replica)."""

    folder: Path
    masters: int = 3
    replicas: int = 1
    node_timeout_ms: int = 2000
    appendfsync: str = "always"
    nodes: list[Node] = field(default_factory=list)

    def start(self, limit_s: float = 120.0) -> LocalCluster:
        binary = redis_server_binary()
        if binary is None:
            raise ClusterError("no redis-server 7 with redis-cli on PATH (apt-get install redis)")
        self._binary = binary
        count = self.masters * (1 + self.replicas)
        for attempt in range(1, 4):
            self.nodes = [Node(p, self.folder / f"node-{p}") for p in _free_ports(count)]
            for node in self.nodes:
                node.folder.mkdir(parents=True, exist_ok=True)
                self._launch(node)
            exited = self._wait_answering(limit_s)
            if exited is None:
                break
            # A port found free was taken before the node bound it (another process on the
            # machine): new ports, a few times.
            self.stop()
            if attempt == 3:
                raise ClusterError(f"node {exited.address} exited at start:\n{exited.log()}")
        out = subprocess.run(
            [
                "redis-cli",
                "--cluster",
                "create",
                *(n.address for n in self.nodes),
                "--cluster-replicas",
                str(self.replicas),
                "--cluster-yes",
            ],
            capture_output=True,
            text=True,
            timeout=limit_s,
        )
        if out.returncode != 0:
            self.stop()
            raise ClusterError(f"redis-cli --cluster create failed: {out.stdout}{out.stderr}")
        self.wait_ok(limit_s)
        return self

    def _launch(self, node: Node) -> None:
        log = (node.folder / "redis.log").open("ab")
        node.proc = subprocess.Popen(
            [
                self._binary,
                "--port",
                str(node.port),
                "--bind",
                "127.0.0.1",
                "--protected-mode",
                "no",
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-node-timeout",
                str(self.node_timeout_ms),
                "--appendonly",
                "yes",
                "--appendfsync",
                self.appendfsync,
                "--save",
                "",
                "--dir",
                str(node.folder),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=node.folder,
        )
        log.close()

    def _wait_answering(self, limit_s: float) -> Node | None:
        """Until every node answers; a node whose process exited instead (None: none did)."""
        deadline = time.monotonic() + limit_s
        for node in self.nodes:
            while not _answers(node):
                if not node.alive():
                    return node
                if time.monotonic() > deadline:
                    raise ClusterError(f"node {node.address} did not answer:\n{node.log()}")
                time.sleep(0.05)
        return None

    def _wait(self, ok: object, what: str, limit_s: float) -> None:
        deadline = time.monotonic() + limit_s
        while not ok():  # type: ignore[operator]
            if time.monotonic() > deadline:
                raise ClusterError(what)
            time.sleep(0.05)

    @property
    def seeds(self) -> str:
        """The nodes as ``PAPERREC_REDIS_CLUSTER`` takes them (``host:port,...``)."""
        return ",".join(n.address for n in self.nodes)

    def live_nodes(self) -> list[Node]:
        return [n for n in self.nodes if n.alive()]

    def wait_ok(self, limit_s: float = 120.0) -> None:
        """Until every live node says ``cluster_state:ok`` and every live replica's link to its
        master is up (its first sync done): before that a write that waits for a replica (WAIT)
        would time out on a cluster that looks ready."""
        try:
            self._wait(self._all_ok, "", limit_s)
        except ClusterError:
            raise ClusterError(
                f"the cluster did not reach cluster_state:ok in {limit_s:.0f} s: {self.states()}"
            ) from None

    def states(self) -> dict[str, str]:
        """Each node's ``cluster_state`` (or why it did not say)."""
        out: dict[str, str] = {}
        for node in self.nodes:
            try:
                with node.client(socket_timeout=1) as c:
                    out[node.address] = str(c.cluster("info").get("cluster_state"))
            except redis.RedisError as e:
                out[node.address] = f"no answer ({e})"
        return out

    def _all_ok(self) -> bool:
        for node in self.live_nodes():
            try:
                with node.client(socket_timeout=1) as c:
                    if c.cluster("info").get("cluster_state") != "ok":
                        return False
                    replication = c.info("replication")
                    if replication.get("role") == "slave" and (
                        replication.get("master_link_status") != "up"
                    ):
                        return False
            except redis.RedisError:
                return False
        return True

    def role(self, node: Node) -> str:
        with node.client(socket_timeout=1) as c:
            return str(c.execute_command("ROLE")[0])

    def master_of(self, key: str) -> Node:
        """The live master serving ``key``'s slot now."""
        for node in self.live_nodes():
            with node.client(socket_timeout=1) as c:
                slot = int(c.execute_command("CLUSTER", "KEYSLOT", key))
                for start, end, master, *_ in c.execute_command("CLUSTER", "SLOTS"):
                    if start <= slot <= end:
                        port = int(master[1])
                        return next(n for n in self.nodes if n.port == port)
        raise ClusterError(f"no live node knows the master of {key!r}")

    def replicas_of(self, master: Node) -> list[Node]:
        with master.client(socket_timeout=1) as c:
            info = c.info("replication")
        ports = {
            int(v["port"]) for k, v in info.items() if k.startswith("slave") and isinstance(v, dict)
        }
        return [n for n in self.nodes if n.port in ports]

    def kill(self, node: Node) -> None:
        """SIGKILL ``node``: it stops at once, without a last write or a goodbye to the others."""
        if node.proc is not None and node.proc.poll() is None:
            os.kill(node.proc.pid, signal.SIGKILL)
            node.proc.wait(10)

    def pause(self, node: Node) -> None:
        """SIGSTOP ``node``: it holds its sockets and answers nothing (a hung master)."""
        if node.proc is not None:
            os.kill(node.proc.pid, signal.SIGSTOP)

    def resume(self, node: Node) -> None:
        if node.proc is not None:
            os.kill(node.proc.pid, signal.SIGCONT)

    def restart(self, node: Node) -> None:
        """Start a killed node again on its own files; it rejoins (as a replica if its master
        role was taken over meanwhile)."""
        self._launch(node)
        self._wait(lambda: _answers(node), f"node {node.address} did not come back", 30)

    def used_memory(self) -> int:
        """``used_memory`` summed over the live masters, bytes."""
        total = 0
        for node in self.live_nodes():
            with node.client(socket_timeout=2) as c:
                if self.role(node) == "master":
                    total += int(c.info("memory")["used_memory"])
        return total

    def stop(self) -> None:
        for node in self.nodes:
            if node.proc is not None and node.proc.poll() is None:
                node.proc.kill()
                node.proc.wait(10)

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _answers(node: Node) -> bool:
    try:
        with node.client(socket_timeout=1, socket_connect_timeout=1) as c:
            return bool(c.ping())
    except redis.RedisError:
        return False
