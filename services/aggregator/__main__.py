"""`python -m campaignreports.aggregator [serve|migrate|rebuild]`.

- `serve` (the default): the aggregator on its own (production mode).
- `migrate`: apply pending schema migrations and exit (the Helm chart's hook job). It waits for
  ClickHouse to answer, retrying for CR_AGGREGATOR_MIGRATE_WAIT_SECONDS, since it may start before it.
- `rebuild`: replay the stream into fresh tables and switch over (aggregators stopped).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time

from campaignreports import jetstream
from campaignreports.aggregator.component import aggregator_components, prepare
from campaignreports.aggregator.rebuild import rebuild
from campaignreports.aggregator.settings import AggregatorSettings
from campaignreports.clickhouse import ClickHouse
from campaignreports.schema import Dialect, migrate
from campaignreports.service import ServerSecurity, ServiceHost, run_main, stop_event_on_signals
from campaignreports.telemetry import setup_telemetry

SERVICE = "campaign-reports-aggregator"
log = logging.getLogger("campaignreports.aggregator")


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


async def run_migrate(settings: AggregatorSettings) -> None:
    deadline = time.monotonic() + settings.migrate_wait_seconds
    while True:
        try:
            clickhouse = ClickHouse(settings)
            try:
                version = await clickhouse.run(migrate, clickhouse.client, Dialect.from_settings(settings))
            finally:
                clickhouse.close()
            print(f"schema of {settings.clickhouse_database} is at version {version}")
            return
        except Exception as exc:
            if time.monotonic() > deadline:
                raise OSError(f"ClickHouse did not accept the migration: {exc}") from exc
            log.warning("ClickHouse not ready (%s); retrying", str(exc).splitlines()[0] if str(exc) else exc)
            await asyncio.sleep(2)


async def run_rebuild(settings: AggregatorSettings, keep_old: bool) -> None:
    clickhouse = ClickHouse(settings)
    nc = await jetstream.connect(settings, "campaign-reports-rebuild")
    try:
        js = nc.jetstream()
        await jetstream.ensure_stream(js, settings)
        await clickhouse.run(migrate, clickhouse.client, Dialect.from_settings(settings))
        report = await rebuild(js, clickhouse, settings, keep_old=keep_old)
        print(
            f"rebuilt {settings.clickhouse_database} from {report.messages:,} messages "
            f"({report.events:,} events, {report.undecodable} undecodable skipped)"
        )
    finally:
        await jetstream.close(nc)
        clickhouse.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="campaign-reports-aggregator", description=__doc__.splitlines()[0])
    parser.add_argument("command", nargs="?", default="serve", choices=["serve", "migrate", "rebuild"])
    parser.add_argument(
        "--keep-old", action="store_true", help="rebuild: keep the replaced tables (__rebuild)"
    )
    args = parser.parse_args()
    if args.command == "migrate":
        run_main(AggregatorSettings, run_migrate, SERVICE)
    elif args.command == "rebuild":
        run_main(
            AggregatorSettings,
            lambda settings: run_rebuild(settings, args.keep_old),
            SERVICE,
        )
    else:
        run_main(AggregatorSettings, serve, SERVICE)
    sys.exit(0)


if __name__ == "__main__":
    main()
