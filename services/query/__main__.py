"""`python -m campaignreports.query`: the query service on its own (production mode)."""

from __future__ import annotations

from campaignreports import jetstream
from campaignreports.clickhouse import ClickHouse
from campaignreports.memory import MemoryRelease
from campaignreports.query.component import query_components
from campaignreports.query.settings import QuerySettings
from campaignreports.service import ServerSecurity, ServiceHost, run_main, stop_event_on_signals
from campaignreports.telemetry import setup_telemetry

SERVICE = "campaign-reports-query"


async def run(settings: QuerySettings) -> None:
    telemetry = setup_telemetry(SERVICE, metrics_listen=settings.metrics_listen)
    clickhouse = ClickHouse(settings, reads=True, clients=settings.read_clients)
    try:
        nc = await jetstream.connect(settings, SERVICE)
        try:
            host = ServiceHost(
                settings.query_listen,
                [
                    *query_components(clickhouse, nc, settings, telemetry),
                    MemoryRelease(clickhouse, settings.memory_release_seconds, telemetry.meter(__name__)),
                ],
                settings.shutdown_grace_seconds,
                max_concurrent_rpcs=settings.max_concurrent_rpcs,
                security=ServerSecurity.from_settings(settings),
                telemetry=telemetry,
            )
            await host.serve_until(stop_event_on_signals())
        finally:
            await jetstream.close(nc)
    finally:
        clickhouse.close()
        telemetry.shutdown()


def main() -> None:
    run_main(QuerySettings, run, SERVICE)


if __name__ == "__main__":
    main()
