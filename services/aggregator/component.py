"""The aggregator's components, composed by its own `main` and by the embedded stack."""

from __future__ import annotations

from campaignreports import jetstream
from campaignreports.aggregator.consumer import Aggregator
from campaignreports.aggregator.settings import AggregatorSettings
from campaignreports.clickhouse import ClickHouse
from campaignreports.lag import ConsumerLag
from campaignreports.memory import MemoryRelease
from campaignreports.schema import Dialect, migrate
from campaignreports.service import Component
from campaignreports.telemetry import Telemetry


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
        MemoryRelease(clickhouse, settings.memory_release_seconds, telemetry.meter(__name__)),
    ]
