"""The query service as a component: what its `main`, the embedded stack and tests compose."""

from __future__ import annotations

import contextlib

import grpc
import nats.errors
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from campaignreports import jetstream
from campaignreports.clickhouse import ClickHouse
from campaignreports.query.dashboards import DashboardServicer, DashboardStore
from campaignreports.query.engine import WidgetEngine
from campaignreports.query.servicer import QueryServicer
from campaignreports.query.settings import QuerySettings
from campaignreports.service import Component
from campaignreports.telemetry import Telemetry
from campaignreports.v1 import (
    dashboard_service_pb2,
    dashboard_service_pb2_grpc,
    query_service_pb2,
    query_service_pb2_grpc,
)

SERVICE_NAME = query_service_pb2.DESCRIPTOR.services_by_name["QueryService"].full_name
DASHBOARD_SERVICE_NAME = dashboard_service_pb2.DESCRIPTOR.services_by_name["DashboardService"].full_name


def query_components(
    clickhouse: ClickHouse, nc: jetstream.NatsClient, settings: QuerySettings, telemetry: Telemetry
) -> list[Component]:
    """The query service and the watch over its NATS connection, which only dashboards use:
    while it reconnects DashboardService is NOT_SERVING (queries carry on); closed for good,
    it stops the process."""
    return [
        QueryComponent(clickhouse, nc, settings, telemetry),
        jetstream.ConnectionWatch(nc, "dashboards", affects=(DASHBOARD_SERVICE_NAME,)),
    ]


class QueryComponent:
    """QueryService (over ClickHouse) and DashboardService (over a NATS key-value bucket). Live
    reports also listen to the aggregator's stored-round notices on NATS."""

    service_names = (SERVICE_NAME, DASHBOARD_SERVICE_NAME)

    def __init__(
        self, clickhouse: ClickHouse, nc: jetstream.NatsClient, settings: QuerySettings, telemetry: Telemetry
    ) -> None:
        self._nc = nc
        meter = telemetry.meter(__name__)
        self._stored_subject = settings.stored_subject
        self._notices: Subscription | None = None
        self._queries = QueryServicer(
            WidgetEngine(
                clickhouse,
                max_rows=settings.max_rows,
                read_whole_values=settings.read_whole_values,
                meter=meter,
            ),
            retention_days=settings.global_retention_days,
            raw_retention_days=settings.retention_days,
            watch_interval_seconds=settings.watch_interval_seconds,
            max_watchers=settings.max_watchers,
            meter=meter,
        )
        self._store = DashboardStore(nc.jetstream(), settings.dashboard_bucket, settings)

    def register(self, server: grpc.aio.Server) -> None:
        query_service_pb2_grpc.add_QueryServiceServicer_to_server(self._queries, server)
        dashboard_service_pb2_grpc.add_DashboardServiceServicer_to_server(
            DashboardServicer(self._store), server
        )

    async def start(self) -> None:
        await self._store.open()
        self._notices = await self._nc.subscribe(self._stored_subject, cb=self._on_notice)

    async def _on_notice(self, message: Msg) -> None:
        self._queries.stored(jetstream.decode_stored_notice(message.data))

    async def drain(self) -> None:
        self._queries.close_streams()

    async def stop(self) -> None:
        if self._notices is not None:
            with contextlib.suppress(nats.errors.Error):
                await self._notices.unsubscribe()

    def background(self) -> None:
        """Nothing runs in the background."""

    def problems(self) -> dict[str, str]:
        """Queries need ClickHouse only, which each one reports on its own."""
        return {}
