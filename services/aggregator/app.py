"""The aggregator's parts, composed by its own `main` (`serve`) and by the embedded stack."""

from __future__ import annotations

from campaignreports import jetstream
from campaignreports.aggregator.consumer import Aggregator
from campaignreports.aggregator.settings import AggregatorSettings
from campaignreports.clickhouse import ClickHouse
from campaignreports.lag import ConsumerLag
from campaignreports.memory import MemoryRelease
from campaignreports.schema import Dialect, migrate
from campaignreports.service import Component, ServerSecurity, ServiceHost, stop_event_on_signals
from campaignreports.telemetry import Telemetry, setup_telemetry

SERVICE = "campaign-reports-aggregator"


async def prepare(clickhouse: ClickHouse, settings: AggregatorSettings) -> None:
    """What the aggregator needs before it consumes: the schema (when it migrates on start)."""
    if settings.migrate_on_start:
        await clickhouse.run(migrate, clickhouse.client, Dialect.from_settings(settings))


def aggregator_components(
    nc: jetstream.NatsClient, clickhouse: ClickHouse, settings: AggregatorSettings, telemetry: Telemetry
) -> list[Component]:
    """The consumer of the owned partitions, their lag, the watch over its NATS connection and
    the memory release."""
    return [
        Aggregator(nc, clickhouse, settings, telemetry),
        ConsumerLag(nc.jetstream(), settings, settings.partitions, telemetry.meter(__name__)),
        jetstream.ConnectionWatch(nc, "aggregator"),
        MemoryRelease(clickhouse, settings.memory_release_seconds),
    ]


async def serve(settings: AggregatorSettings) -> None:
    """The aggregator on its own, until SIGTERM."""
    telemetry = setup_telemetry(SERVICE, metrics_listen=settings.metrics_listen)
    clickhouse = ClickHouse(settings)
    try:
        await prepare(clickhouse, settings)
        nc = await jetstream.connect(settings, SERVICE)
        try:
            await jetstream.ensure_stream(nc.jetstream(), settings)
            host = ServiceHost(
                settings.aggregator_listen,
                aggregator_components(nc, clickhouse, settings, telemetry),
                settings.shutdown_grace_seconds,
                security=ServerSecurity.from_settings(settings),
                telemetry=telemetry,
            )
            await host.serve_until(stop_event_on_signals())
        finally:
            await jetstream.close(nc)
    finally:
        clickhouse.close()
        telemetry.shutdown()
