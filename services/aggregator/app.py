"""The aggregator process body, shared by its own `main` and the embedded stack."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from campaignreports import jetstream
from campaignreports.aggregator.consumer import Aggregator
from campaignreports.aggregator.settings import AggregatorSettings
from campaignreports.clickhouse import ClickHouse
from campaignreports.lag import ConsumerLag
from campaignreports.memory import MemoryRelease
from campaignreports.schema import Dialect, migrate
from campaignreports.service import Component, ServerSecurity, ServiceHost, stop_event_on_signals
from campaignreports.telemetry import Telemetry, setup_telemetry


async def serve(
    settings: AggregatorSettings,
    *,
    service_name: str = "campaign-reports-aggregator",
    listen: str | None = None,
    max_concurrent_rpcs: int | None = None,
    extra_components: Callable[[Telemetry], Sequence[Component]] = lambda telemetry: (),
) -> None:
    """Run the aggregator (plus `extra_components(telemetry)` on the same gRPC server) until SIGTERM."""
    telemetry = setup_telemetry(service_name, metrics_listen=settings.metrics_listen)
    clickhouse = ClickHouse(settings)
    try:
        if settings.migrate_on_start:
            await clickhouse.run(migrate, clickhouse.client, Dialect.from_settings(settings))
        nc = await jetstream.connect(settings, service_name)
        try:
            js = nc.jetstream()
            await jetstream.ensure_stream(js, settings)
            components: list[Component] = [
                Aggregator(nc, clickhouse, settings, telemetry),
                ConsumerLag(js, settings, settings.partitions, telemetry.meter(__name__)),
                jetstream.ConnectionWatch(nc, "aggregator"),
                MemoryRelease(clickhouse, settings.memory_release_seconds),
                *extra_components(telemetry),
            ]
            host = ServiceHost(
                listen or settings.aggregator_listen,
                components,
                settings.shutdown_grace_seconds,
                max_concurrent_rpcs=max_concurrent_rpcs,
                security=ServerSecurity.from_settings(settings),
                telemetry=telemetry,
            )
            await host.serve_until(stop_event_on_signals())
        finally:
            await jetstream.close(nc)
    finally:
        clickhouse.close()
        telemetry.shutdown()
