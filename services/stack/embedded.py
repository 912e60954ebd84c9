"""`python -m campaignreports.stack.embedded`: aggregator and query in one process.

chDB allows one embedded engine per process, so with a `chdb://` DSN the aggregator and the
query service share this process and its engine. Both sit on one gRPC server (the query
port), which reports health for both. Each has its own NATS connection: whatever a dashboard
request does to its connection, the aggregator's keeps counting.
"""

from __future__ import annotations

from dataclasses import dataclass

from campaignreports import jetstream
from campaignreports.aggregator.component import aggregator_components, prepare
from campaignreports.aggregator.settings import AggregatorSettings
from campaignreports.clickhouse import ClickHouse
from campaignreports.query.component import query_components
from campaignreports.query.settings import QuerySettings
from campaignreports.service import ServerSecurity, ServiceHost, run_main, stop_event_on_signals
from campaignreports.telemetry import setup_telemetry

SERVICE = "campaign-reports-embedded"


@dataclass(frozen=True)
class EmbeddedSettings(AggregatorSettings, QuerySettings):
    """The aggregator's and the query service's settings together."""


async def run(settings: EmbeddedSettings) -> None:
    telemetry = setup_telemetry(SERVICE, metrics_listen=settings.metrics_listen)
    writer = ClickHouse(settings)
    reader = ClickHouse(settings, reads=True, clients=settings.read_clients)  # clients of its own
    try:
        await prepare(writer, settings)
        nc = await jetstream.connect(settings, SERVICE)
        dashboards = await jetstream.connect(settings, f"{SERVICE}-dashboards")
        try:
            await jetstream.ensure_stream(nc.jetstream(), settings)
            host = ServiceHost(
                settings.query_listen,
                [
                    *aggregator_components(nc, writer, settings, telemetry),
                    *query_components(reader, dashboards, settings, telemetry),
                ],
                settings.shutdown_grace_seconds,
                max_concurrent_rpcs=settings.max_concurrent_rpcs,
                security=ServerSecurity.from_settings(settings),
                telemetry=telemetry,
            )
            await host.serve_until(stop_event_on_signals())
        finally:
            await jetstream.close(dashboards)
            await jetstream.close(nc)
    finally:
        reader.close()
        writer.close()
        telemetry.shutdown()


def main() -> None:
    run_main(EmbeddedSettings, run, SERVICE)


if __name__ == "__main__":
    main()
