"""The one way a service process runs: the gRPC server helper and the `main` shape.

Every service's `main` reads typed settings (failing with the variable's name), sets up
telemetry, opens its connections, then hands its components to `ServiceHost`, which serves them
with the standard health service and server reflection. On SIGTERM/SIGINT the host reports
NOT_SERVING (so load balancers stop routing), lets in-flight RPCs finish within the grace
period, and stops the components in reverse order; the caller then drains NATS, closes
ClickHouse and flushes telemetry.

Health tells the truth:
- readiness: the overall status ("") and each service's status follow what the components say
  they cannot do right now (`Component.problems`: a NATS connection reconnecting, partitions the
  aggregator cannot consume), re-read every HEALTH_INTERVAL_SECONDS;
- liveness (the service name "liveness"): SERVING from start to stop. A process that can no
  longer do its job (a connection closed for good, a background task that died) does not
  linger: the host stops it and `serve_until` raises, so the process exits non-zero and its
  supervisor restarts it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeAlias, TypeVar

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2

from campaignreports import auth
from campaignreports.interceptors import GuardInterceptor, MetricsInterceptor
from campaignreports.settings import CommonSettings, ProcessSettings, SettingsError, load_settings
from campaignreports.telemetry import Telemetry, configure_logging, withhold_secrets_from_grpc_logs

log = logging.getLogger(__name__)


S = TypeVar("S", bound=ProcessSettings)

# Default cap on a message in either direction; the ingest service sets its own request cap.
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
# How often the health statuses are brought up to date with what the components report.
HEALTH_INTERVAL_SECONDS = 0.25
# The health service name a liveness probe asks for: SERVING for as long as the process runs.
LIVENESS = "liveness"
# A value of health_pb2.HealthCheckResponse.ServingStatus (the health module has no type stubs).
ServingStatus: TypeAlias = int
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class Component(Protocol):
    """A part of a service process: its gRPC services (if any) and its background work."""

    @property
    def service_names(self) -> Sequence[str]:
        """The gRPC services it registers (empty for background work only)."""
        ...

    def register(self, server: grpc.aio.Server) -> None: ...

    async def start(self) -> None: ...

    async def drain(self) -> None:
        """The server takes no new RPCs: end long-lived streams so that it can stop at once."""

    async def stop(self) -> None: ...

    def background(self) -> asyncio.Task[None] | None:
        """Work running for as long as the component does, if any. Should it end on its own,
        the host stops the process, so that its supervisor restarts it rather than a live
        process serving health while doing nothing."""

    def problems(self) -> Mapping[str, str]:
        """What the component cannot do right now and why: service name -> reason, "" for the
        whole process. Empty when all is well. Reported as NOT_SERVING by the health service."""


class Periodic:
    """A component without RPCs that runs `tick()` every `interval_seconds` in the background
    (0: never). Its task is its `background()`: should a tick raise, the service stops, so a
    tick catches whatever it can ride out.

    It stops on an event rather than by cancellation alone: a client library may turn a
    cancellation into its own timeout error (nats-py does), which a tick would ride out."""

    service_names: tuple[str, ...] = ()
    task_name = "periodic"
    stop_wait_seconds = 5.0  # how long a tick in flight may take to finish at stop

    def __init__(self, interval_seconds: float) -> None:
        self._interval = interval_seconds
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    async def tick(self) -> None:
        raise NotImplementedError

    def register(self, server: object) -> None:
        """No gRPC service of its own."""

    async def start(self) -> None:
        if self._interval > 0:
            self._task = asyncio.create_task(self._run(), name=self.task_name)

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._interval)
            if self._stopping.is_set():
                return
            await self.tick()

    async def drain(self) -> None:
        """No long-lived streams."""

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is None:
            return
        _, running = await asyncio.wait({self._task}, timeout=self.stop_wait_seconds)
        if running:
            self._task.cancel()
            await asyncio.wait({self._task}, timeout=self.stop_wait_seconds)
            if not self._task.done():
                log.warning(
                    "%s did not stop within %.0f s; left behind", self.task_name, 2 * self.stop_wait_seconds
                )

    def background(self) -> asyncio.Task[None] | None:
        return self._task

    def problems(self) -> Mapping[str, str]:
        """A periodic chore is never a reason not to serve."""
        return {}


@dataclass(frozen=True)
class ServerSecurity:
    """Who may call a server (API-key interceptors) and how it is reached (TLS, mTLS)."""

    interceptors: tuple[grpc.aio.ServerInterceptor, ...] = ()
    credentials: grpc.ServerCredentials | None = None

    @classmethod
    def from_settings(cls, settings: CommonSettings) -> ServerSecurity:
        """Read the keys file and certificates named by the settings (OSError if unreadable)."""
        credentials = None
        if settings.tls_cert_file:
            client_ca = (
                Path(settings.tls_client_ca_file).read_bytes() if settings.tls_client_ca_file else None
            )
            credentials = grpc.ssl_server_credentials(
                [(Path(settings.tls_key_file).read_bytes(), Path(settings.tls_cert_file).read_bytes())],
                root_certificates=client_ca,
                require_client_auth=client_ca is not None,
            )
        return cls(tuple(auth.interceptors(settings.api_keys_file)), credentials)


# Server reflection's current protocol; grpcio-reflection ships only v1alpha.
REFLECTION_V1 = "grpc.reflection.v1.ServerReflection"


def _serve_reflection(server: grpc.aio.Server, service_names: list[str]) -> None:
    """Reflection v1 (what current clients ask for first) beside v1alpha. The two are the same
    messages under another package name, so v1alpha's servicer answers v1 calls as they are."""
    listed = [*service_names, reflection.SERVICE_NAME, REFLECTION_V1]
    servicer = reflection.aio.ReflectionServicer(listed)
    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(
                REFLECTION_V1,
                {
                    "ServerReflectionInfo": grpc.stream_stream_rpc_method_handler(
                        servicer.ServerReflectionInfo,
                        request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
                        response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
                    )
                },
            ),
        )
    )
    reflection.enable_server_reflection(listed, server)


class ServiceHost:
    """One gRPC server hosting components, with health, reflection and graceful shutdown."""

    def __init__(
        self,
        listen: str,
        components: Sequence[Component],
        grace_seconds: float,
        *,
        max_receive_bytes: int = MAX_MESSAGE_BYTES,
        max_concurrent_rpcs: int | None = None,
        security: ServerSecurity | None = None,
        telemetry: Telemetry | None = None,
    ) -> None:
        security = security or ServerSecurity()
        measured = () if telemetry is None else (MetricsInterceptor(telemetry.meter(__name__)),)
        withhold_secrets_from_grpc_logs()
        self._components = list(components)
        self._grace = grace_seconds
        self._health = health.aio.HealthServicer()
        self._server = grpc.aio.server(
            options=[
                # Larger requests are refused by gRPC itself with RESOURCE_EXHAUSTED.
                ("grpc.max_receive_message_length", max_receive_bytes),
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                # Refuse to share a port by accident (a second instance must fail to start).
                ("grpc.so_reuseport", 0),
            ],
            maximum_concurrent_rpcs=max_concurrent_rpcs,
            interceptors=(*measured, GuardInterceptor(), *security.interceptors),
        )
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._server)
        names = [name for component in self._components for name in component.service_names]
        self._service_names = names
        self._reasons: dict[str, str] = {}
        self._health_task: asyncio.Task[None] | None = None
        for component in self._components:
            component.register(self._server)
        _serve_reflection(
            self._server,
            [*names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name],
        )
        try:
            if security.credentials is None:
                self.port = self._server.add_insecure_port(listen)
            else:
                self.port = self._server.add_secure_port(listen, security.credentials)
        except RuntimeError as exc:
            raise OSError(f"cannot listen on {listen}: {exc}") from exc
        host = listen.rpartition(":")[0]
        self.address = f"{host}:{self.port}"

    def statuses(self) -> dict[str, ServingStatus]:
        """Each health name's status from what the components report now (see `problems`)."""
        reasons: dict[str, str] = {}
        for component in self._components:
            for name, reason in component.problems().items():
                # A problem of the whole component is one of each of its services too.
                targets = ["", *component.service_names] if name == "" else [name]
                for target in targets:
                    reasons.setdefault(target, reason)
        if self._reasons.keys() != reasons.keys():
            for name, reason in reasons.items():
                if name not in self._reasons:
                    log.warning("NOT_SERVING %s: %s", name or "(overall)", reason)
            for name in self._reasons.keys() - reasons.keys():
                log.info("SERVING %s again", name or "(overall)")
        self._reasons = reasons
        statuses = {name: NOT_SERVING if name in reasons else SERVING for name in ["", *self._service_names]}
        return {**statuses, LIVENESS: SERVING}

    async def _publish_health(self) -> None:
        for name, status in self.statuses().items():
            await self._health.set(name, status)

    async def _keep_health_current(self) -> None:
        while True:
            await asyncio.sleep(HEALTH_INTERVAL_SECONDS)
            await self._publish_health()

    async def start(self) -> None:
        await self._server.start()
        for component in self._components:
            await component.start()
        await self._publish_health()
        self._health_task = asyncio.create_task(self._keep_health_current(), name="health")
        log.info("serving %s on %s", ", ".join(self._service_names) or "health", self.address)

    async def stop(self) -> None:
        if self._health_task is not None:
            self._health_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._health_task
        for name in ["", LIVENESS, *self._service_names]:
            await self._health.set(name, NOT_SERVING)
        stopping = asyncio.ensure_future(self._server.stop(self._grace))
        for component in self._components:
            await component.drain()
        await stopping
        for component in reversed(self._components):
            await component.stop()
        log.info("stopped %s", self.address)

    async def serve_until(self, stop: asyncio.Event) -> None:
        """Serve until `stop` is set, or until a component's background work ends, which is
        raised as a RuntimeError once everything is stopped (the process exits with 1)."""
        await self.start()
        try:
            ended = await self._wait_for(stop)
        finally:
            await self.stop()
        if ended is not None:
            cause = None if ended.cancelled() else ended.exception()
            log.critical("%s ended unexpectedly; stopped", ended.get_name(), exc_info=cause)
            raise RuntimeError(f"{ended.get_name()} ended unexpectedly: {cause!r}") from cause

    async def _wait_for(self, stop: asyncio.Event) -> asyncio.Task[None] | None:
        """The background task that ended first, or None once `stop` is set."""
        background = [task for c in self._components if (task := c.background()) is not None]
        if self._health_task is not None:
            background.append(self._health_task)
        signalled = asyncio.ensure_future(stop.wait())
        try:
            done, _ = await asyncio.wait([signalled, *background], return_when=asyncio.FIRST_COMPLETED)
        finally:
            signalled.cancel()
        return next((task for task in background if task in done), None)


def stop_event_on_signals() -> asyncio.Event:
    """An event set by the first SIGTERM or SIGINT (call from inside the running loop)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


def run_main(settings_cls: type[S], run: Callable[[S], Coroutine[Any, Any, None]], service: str = "") -> None:
    """Load settings (exit 2 naming the variable if they are wrong), then run until signalled;
    `service` names the process in its logs."""
    try:
        settings = load_settings(settings_cls)
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        sys.exit(2)
    configure_logging(settings.log_level, settings.log_format, service)
    try:
        asyncio.run(run(settings))
    except (OSError, RuntimeError) as exc:
        log.error("%s", exc)
        sys.exit(1)
