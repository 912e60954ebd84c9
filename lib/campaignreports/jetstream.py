"""NATS and JetStream access shared by ingest and the aggregator."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import ssl
import time
import zlib
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

import nats
import nats.errors
from nats.aio.client import Client as NatsClient
from nats.js.api import DiscardPolicy, KeyValueConfig, RetentionPolicy, StorageType, StreamConfig
from nats.js.client import JetStreamContext
from nats.js.errors import APIError, BucketNotFoundError, NotFoundError, ServiceUnavailableError
from nats.js.kv import KeyValue

from campaignreports.settings import CommonSettings

__all__ = [
    "ConnectionWatch",
    "JetStreamContext",
    "NatsClient",
    "StreamDefinitionError",
    "close",
    "connect",
    "decode_stored_notice",
    "encode_stored_notice",
    "ensure_stream",
    "open_key_value",
    "partition_of",
    "partition_subject",
    "stream_config",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

MSG_ID_HEADER = "Nats-Msg-Id"
# JetStream's error code for a replicated stream it cannot place on enough servers.
NO_PEERS_FOR_PLACEMENT = 10005
# Trace contexts of the other requests whose events share a message (comma-separated
# traceparents); the first request's context travels in the standard `traceparent` header.
TRACE_LINKS_HEADER = "Campaign-Reports-Trace-Links"
# The largest message the stream accepts; the ingest service packs below it.
MAX_MESSAGE_BYTES = 1024 * 1024
# A stored-round notice names at most this many campaigns; a round with more names none, which
# its readers take as "anything may have changed".
MAX_NOTICE_CAMPAIGNS = 1000


async def connect(settings: CommonSettings, name: str) -> NatsClient:
    """Connect and keep reconnecting forever: a NATS restart must not need a service restart."""

    async def on_error(exc: Exception) -> None:
        log.warning("NATS: %s", exc)

    async def on_disconnected() -> None:
        log.info("NATS disconnected")

    async def on_reconnected() -> None:
        log.info("NATS reconnected")

    nc = await nats.connect(
        servers=[url.strip() for url in settings.nats_url.split(",") if url.strip()],
        name=name,
        **_security_options(settings),
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        connect_timeout=5,
        error_cb=on_error,
        disconnected_cb=on_disconnected,
        reconnected_cb=on_reconnected,
    )
    try:
        await _wait_for_jetstream(nc.jetstream(), settings.nats_startup_wait_seconds)
    except BaseException:
        await nc.close()
        raise
    return nc


async def _wait_for_jetstream(js: JetStreamContext, within: float) -> None:
    """Wait until JetStream answers: a cluster that is starting (or lost its meta leader) answers
    503 or not at all until it has elected one, which takes a few seconds."""
    deadline = time.monotonic() + within
    for attempt in itertools.count():
        try:
            await js.account_info()
            return
        except (nats.errors.NoRespondersError, nats.errors.TimeoutError, ServiceUnavailableError) as exc:
            if time.monotonic() >= deadline:
                raise RuntimeError(
                    f"JetStream did not answer within {within:g} s (CR_NATS_STARTUP_WAIT_SECONDS): "
                    f"{type(exc).__name__}; is JetStream enabled on the NATS servers?"
                ) from exc
            if attempt == 0:
                log.info("waiting up to %g s for JetStream (%s)", within, type(exc).__name__)
        await asyncio.sleep(0.5)


def _security_options(settings: CommonSettings) -> dict[str, Any]:
    """TLS and credentials for the NATS connection, from the settings."""
    options: dict[str, Any] = {}
    if settings.nats_creds_file:
        options["user_credentials"] = settings.nats_creds_file
    if settings.nats_user:
        options["user"], options["password"] = settings.nats_user, settings.nats_password
    if settings.nats_token:
        options["token"] = settings.nats_token
    if settings.nats_tls_ca_file or settings.nats_tls_cert_file:
        context = ssl.create_default_context(cafile=settings.nats_tls_ca_file or None)
        if settings.nats_tls_cert_file:
            context.load_cert_chain(settings.nats_tls_cert_file, settings.nats_tls_key_file)
        options["tls"] = context
    return options


class ConnectionWatch:
    """A NATS connection as a ServiceHost component, so that health tells its truth.

    While the connection is down (reconnecting), the services it serves are NOT_SERVING: those
    named in `affects`, or the whole process ("", the default). Once it is closed for good (the
    server refused or dropped it with a protocol error, which nats-py does not recover from),
    the background task ends, and the host stops the process so that its supervisor restarts it.
    """

    service_names: tuple[str, ...] = ()

    def __init__(self, nc: NatsClient, label: str, affects: tuple[str, ...] = ("",)) -> None:
        self._nc = nc
        self._label = label
        self._affects = affects
        self._task: asyncio.Task[None] | None = None

    def register(self, server: object) -> None:
        """No gRPC service of its own."""

    async def start(self) -> None:
        self._task = asyncio.create_task(self._watch(), name=f"NATS connection {self._label}")

    async def _watch(self) -> None:
        # Polled: nats-py's only closing signal is the one callback, which `connect` already sets.
        while not self._nc.is_closed:  # noqa: ASYNC110
            await asyncio.sleep(0.2)
        raise ConnectionError(
            f"the NATS connection {self._label} was closed for good (last error: {self._nc.last_error})"
        )

    async def drain(self) -> None:
        """Nothing to end early."""

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def background(self) -> asyncio.Task[None] | None:
        return self._task

    def problems(self) -> dict[str, str]:
        if self._nc.is_connected:
            return {}
        state = "closed" if self._nc.is_closed else "reconnecting"
        return dict.fromkeys(self._affects, f"NATS connection {self._label} is {state}")


class StreamDefinitionError(RuntimeError):
    """The existing stream differs from the settings in a way JetStream cannot update."""


async def close(nc: NatsClient) -> None:
    """Drain (finish in-flight work) when connected; otherwise just close."""
    try:
        await nc.drain()
    except nats.errors.Error as exc:
        log.warning("NATS drain skipped (%s); closing", exc)
        await nc.close()


def partition_of(tenant_id: str, campaign_id: str, partitions: int) -> int:
    """The stream partition of a campaign. Duplicates of an event share it, so one writer sees them."""
    return zlib.crc32(f"{tenant_id}\x00{campaign_id}".encode()) % partitions


def partition_subject(settings: CommonSettings, partition: int) -> str:
    return f"{settings.stream_subject}.{partition}"


def consumer_name(settings: CommonSettings, partition: int) -> str:
    """The aggregator's durable consumer of one partition."""
    return f"{settings.consumer_name}-p{partition}"


def encode_stored_notice(campaigns: Iterable[tuple[str, str]]) -> bytes:
    """The notice the aggregator publishes (core NATS, not kept) after a round is stored: the
    (tenant, campaign) pairs it changed, so that live reports read again at once instead of at
    their next interval. Only a hint: a lost notice delays a report by one interval at most."""
    pairs = sorted(set(campaigns))
    return json.dumps(pairs if len(pairs) <= MAX_NOTICE_CAMPAIGNS else None).encode()


def decode_stored_notice(data: bytes) -> frozenset[tuple[str, str]] | None:
    """The campaigns a notice names; None means any campaign may have changed (a round too large
    to list, or a notice this version cannot read)."""
    try:
        pairs = json.loads(data) if len(data) <= MAX_NOTICE_CAMPAIGNS * 400 else None
    except ValueError:
        return None
    if not isinstance(pairs, list) or len(pairs) > MAX_NOTICE_CAMPAIGNS:
        return None
    if not all(isinstance(p, list) and len(p) == 2 and all(isinstance(x, str) for x in p) for p in pairs):
        return None
    return frozenset((tenant, campaign) for tenant, campaign in pairs)


def stream_config(settings: CommonSettings) -> StreamConfig:
    return StreamConfig(
        name=settings.stream_name,
        subjects=[f"{settings.stream_subject}.*"],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE if settings.stream_storage == "file" else StorageType.MEMORY,
        discard=DiscardPolicy.OLD,
        max_age=settings.stream_max_age_days * 86_400,
        max_bytes=settings.stream_max_bytes or -1,
        max_msg_size=MAX_MESSAGE_BYTES,
        duplicate_window=settings.stream_duplicate_window_seconds,
        num_replicas=settings.stream_replicas,
    )


def dead_letter_config(settings: CommonSettings) -> StreamConfig:
    return StreamConfig(
        name=settings.dead_letter_stream,
        subjects=[settings.dead_letter_subject],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE if settings.stream_storage == "file" else StorageType.MEMORY,
        max_age=settings.stream_max_age_days * 86_400,
        num_replicas=settings.stream_replicas,
    )


async def ensure_stream(js: JetStreamContext, settings: CommonSettings) -> None:
    """Create the event and dead-letter streams, or bring them to the settings (idempotent)."""
    for config in (stream_config(settings), dead_letter_config(settings)):
        await _ensure(js, config, settings.nats_startup_wait_seconds)


async def _ensure(js: JetStreamContext, config: StreamConfig, placement_wait: float) -> None:
    try:
        await js.stream_info(config.name or "")
    except NotFoundError:
        await _placed(lambda: js.add_stream(config), config.name or "", placement_wait)
        log.info("created stream %s on %s", config.name, config.subjects)
        return
    try:
        await js.update_stream(config)
    except APIError as exc:
        raise StreamDefinitionError(
            f"stream {config.name} cannot be brought to the configured definition ({exc.description}); "
            "settings such as CR_STREAM_STORAGE cannot change on an existing stream: "
            "keep the old value, or migrate to a stream with a new CR_STREAM_NAME"
        ) from exc
    log.info("stream %s matches the settings", config.name)


async def open_key_value(js: JetStreamContext, bucket: str, settings: CommonSettings) -> KeyValue:
    """The key-value bucket `bucket` (one revision per key, on file, replicated like the stream)."""
    try:
        return await js.key_value(bucket)
    except BucketNotFoundError:
        log.info("creating key-value bucket %s", bucket)
        config = KeyValueConfig(
            bucket=bucket, history=1, storage=StorageType.FILE, replicas=settings.stream_replicas
        )
        return await _placed(lambda: js.create_key_value(config), bucket, settings.nats_startup_wait_seconds)


async def _placed(create: Callable[[], Awaitable[T]], name: str, within: float) -> T:
    """Create a stream or bucket. On a cluster still forming, the meta leader answers before
    it knows enough peers to place replicas ("no suitable peers for placement"): retried for
    up to `within` seconds (CR_NATS_STARTUP_WAIT_SECONDS)."""
    deadline = time.monotonic() + within
    attempt = 0
    while True:
        try:
            return await create()
        except APIError as exc:
            if exc.err_code != NO_PEERS_FOR_PLACEMENT or time.monotonic() >= deadline:
                raise
            if attempt == 0:
                log.info("waiting for enough NATS peers to place %s (%s)", name, exc.description)
        attempt += 1
        await asyncio.sleep(0.5)
