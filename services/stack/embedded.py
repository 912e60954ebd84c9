"""`python -m campaignreports.stack.embedded`: aggregator and query in one process.

chDB allows one embedded engine per process, so with a `chdb://` DSN the aggregator and the
query service share this process and its engine. Both sit on one gRPC server (the query
port), which reports health for both. Each has its own NATS connection: whatever a dashboard
request does to its connection, the aggregator's keeps counting.
"""

from __future__ import annotations

from dataclasses import dataclass

from campaignreports import jetstream
from campaignreports.aggregator.app import serve
from campaignreports.aggregator.settings import AggregatorSettings
from campaignreports.clickhouse import ClickHouse
from campaignreports.query.app import query_components
from campaignreports.query.settings import QuerySettings
from campaignreports.service import run_main


@dataclass(frozen=True)
class EmbeddedSettings(AggregatorSettings, QuerySettings):
    """The aggregator's and the query service's settings together."""


async def run(settings: EmbeddedSettings) -> None:
    reader = ClickHouse(settings)  # its own client: chDB serialises calls per client
    try:
        dashboards = await jetstream.connect(settings, "campaign-reports-embedded-dashboards")
        try:
            await serve(
                settings,
                service_name="campaign-reports-embedded",
                listen=settings.query_listen,
                max_concurrent_rpcs=settings.max_concurrent_rpcs,
                extra_components=lambda telemetry: query_components(reader, dashboards, settings, telemetry),
            )
        finally:
            await jetstream.close(dashboards)
    finally:
        reader.close()


def main() -> None:
    run_main(EmbeddedSettings, run, "campaign-reports-embedded")


if __name__ == "__main__":
    main()
