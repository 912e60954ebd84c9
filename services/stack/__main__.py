"""`python -m campaignreports.stack` (`make run`): the whole product on one machine.

Starts a JetStream nats-server, the ingest service, the aggregator + query process with
ClickHouse embedded (chDB) and the web dashboard, waits until they serve, prints where everything
listens, and on Ctrl-C / SIGTERM stops the services (each drains) and then NATS. A service that
exits while the stack runs (a process stops itself when it can no longer do its job, e.g. its
NATS connection was closed for good) is started again, as Kubernetes would; one that exits
MAX_RESTARTS times within RESTART_WINDOW_SECONDS is crash-looping: everything is stopped and
the exit code is non-zero.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from campaignreports.ingest.settings import IngestSettings
from campaignreports.query.settings import QuerySettings
from campaignreports.settings import SettingsError, env, load_settings
from campaignreports.stack.processes import NatsServer, die_with_parent, wait_for_port
from campaignreports.web.settings import WebSettings

READY_LINE = "campaign-reports: ready"
MAX_RESTARTS = 5
RESTART_WINDOW_SECONDS = 60.0


@dataclass(frozen=True)
class StackSettings:
    data_dir: str = env(
        "CR_STACK_DATA_DIR",
        ".data",
        doc="Embedded stack: where NATS and chDB keep their data.",
        renamed_from="CR_DATA_DIR",
    )
    nats_port: int = env(
        "CR_STACK_NATS_PORT",
        0,
        doc="Embedded stack: nats-server port (0 picks a free one).",
        renamed_from="CR_NATS_PORT",
    )
    startup_timeout_seconds: float = env(
        "CR_STACK_STARTUP_TIMEOUT_SECONDS",
        60.0,
        doc="Embedded stack: how long services may take to report SERVING.",
        renamed_from="CR_STARTUP_TIMEOUT_SECONDS",
    )
    metrics_port: int = env(
        "CR_STACK_METRICS_PORT",
        0,
        doc="Embedded stack: when set, ingest, aggregator+query and web serve Prometheus metrics on "
        "127.0.0.1 at this port and the next two (0: none).",
    )


def _serving(address: str) -> bool:
    with grpc.insecure_channel(address) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=1)
        except grpc.RpcError:
            return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


class Stack:
    def __init__(
        self, settings: StackSettings, ingest_listen: str, query_listen: str, web_listen: str | None = None
    ) -> None:
        self.data_dir = Path(settings.data_dir).resolve()
        self.settings = settings
        self.ingest_listen = ingest_listen
        self.query_listen = query_listen
        self.web_listen = web_listen
        self.nats = NatsServer(self.data_dir / "nats", settings.nats_port)
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.modules: dict[str, str] = {}
        self.restarts: dict[str, list[float]] = {}
        self.env: dict[str, str] = {}
        self.metrics: dict[str, str] = {}  # service -> where it serves its metrics

    def _spawn(self, name: str) -> None:
        env = {**self.env, "CR_METRICS_LISTEN": self.metrics.get(name, "")}
        self.children[name] = subprocess.Popen(
            [sys.executable, "-m", self.modules[name]], env=env, preexec_fn=die_with_parent
        )

    def start(self) -> None:
        self.nats.start()
        env = {
            **os.environ,
            "CR_NATS_URL": self.nats.url,
            "CR_CLICKHOUSE_DSN": f"chdb://{self.data_dir / 'clickhouse'}",
            "CR_INGEST_LISTEN": self.ingest_listen,
            "CR_QUERY_LISTEN": self.query_listen,
            "CR_WEB_QUERY_ADDRESS": self.query_listen,
        }
        services = [
            ("ingest", "campaignreports.ingest"),
            ("aggregator+query", "campaignreports.stack.embedded"),
        ]
        if self.web_listen:
            env["CR_WEB_LISTEN"] = self.web_listen
            services.append(("web", "campaignreports.web"))
        self.env = env
        for index, (name, module) in enumerate(services):
            self.modules[name] = module
            if self.settings.metrics_port:
                self.metrics[name] = f"127.0.0.1:{self.settings.metrics_port + index}"
            self._spawn(name)
        deadline = time.monotonic() + self.settings.startup_timeout_seconds
        pending = {self.ingest_listen, self.query_listen}
        while pending:
            self.check_children()
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"not SERVING after {self.settings.startup_timeout_seconds:.0f}s: {pending}"
                )
            pending = {address for address in pending if not _serving(address)}
            time.sleep(0.1)
        if self.web_listen:
            port = int(self.web_listen.rpartition(":")[2])
            wait_for_port(port, max(1.0, deadline - time.monotonic()), self.children["web"])

    def check_children(self) -> None:
        for name, child in self.children.items():
            if child.poll() is not None:
                raise RuntimeError(f"{name} exited with code {child.returncode}")

    def restart_exited(self) -> None:
        """Start again every service that exited; RuntimeError if one is crash-looping."""
        for name, child in list(self.children.items()):
            if child.poll() is None:
                continue
            now = time.monotonic()
            recent = [t for t in self.restarts.get(name, []) if now - t < RESTART_WINDOW_SECONDS]
            if len(recent) >= MAX_RESTARTS:
                raise RuntimeError(
                    f"{name} exited {len(recent) + 1} times within {RESTART_WINDOW_SECONDS:.0f}s "
                    f"(last exit code {child.returncode})"
                )
            print(
                f"campaign-reports: {name} exited with code {child.returncode}; starting it again", flush=True
            )
            self.restarts[name] = [*recent, now]
            self._spawn(name)

    def stop(self) -> int:
        """Stop services first (they drain), then NATS; the worst exit code."""
        codes = []
        for child in self.children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in self.children.values():
            try:
                codes.append(child.wait(timeout=30))
            except subprocess.TimeoutExpired:
                child.kill()
                codes.append(child.wait())
        codes.append(self.nats.stop() or 0)
        return max((abs(code) for code in codes), default=0)

    def banner(self) -> str:
        python = Path(sys.executable)
        metrics = "".join(
            f"\n  metrics  http://{address}/metrics   {name}" for name, address in self.metrics.items()
        )
        return f"""
{READY_LINE}
  ingest   grpc://{self.ingest_listen}   campaignreports.v1.IngestService
  query    grpc://{self.query_listen}   campaignreports.v1.QueryService, DashboardService
{f"  web      http://{self.web_listen}/   the live report in a browser" if self.web_listen else ""}
  nats     {self.nats.url}   (JetStream data in {self.data_dir / "nats"}){metrics}
  chdb     {self.data_dir / "clickhouse"}

Send a first campaign and read its email statistics:
  {python} -m campaignreports.demo.example --ingest {self.ingest_listen} --query {self.query_listen}
Ctrl-C stops everything.
"""


def main() -> None:
    try:
        settings = load_settings(StackSettings)
        # The services read their own settings; loading them here fails fast on a bad value.
        ingest_listen = load_settings(IngestSettings).ingest_listen
        query_listen = load_settings(QuerySettings).query_listen
        web_listen = load_settings(WebSettings).web_listen
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        sys.exit(2)
    stopping = False

    def request_stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    stack = Stack(settings, ingest_listen, query_listen, web_listen)
    code = 0
    try:
        stack.start()
        print(stack.banner(), flush=True)
        while not stopping:
            stack.restart_exited()
            time.sleep(0.2)
    except RuntimeError as exc:
        print(f"campaign-reports: {exc}; stopping", file=sys.stderr, flush=True)
        code = 1
    finally:
        code = max(code, stack.stop())
    print("campaign-reports: stopped", flush=True)
    sys.exit(code)


if __name__ == "__main__":
    main()
