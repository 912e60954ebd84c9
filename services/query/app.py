"""The query service as a component: what its `main`, the embedded stack and tests compose."""

from __future__ import annotations

import grpc

from campaignreports import jetstream
from campaignreports.clickhouse import ClickHouse
from campaignreports.query.dashboards import DashboardServicer, DashboardStore
from campaignreports.query.engine import WidgetEngine
from campaignreports.query.servicer import QueryServicer
from campaignreports.query.settings import QuerySettings
from campaignreports.service import Component
from campaignreports.v1 import (
    dashboard_service_pb2,
    dashboard_service_pb2_grpc,
    query_service_pb2,
    query_service_pb2_grpc,
)

SERVICE_NAME = query_service_pb2.DESCRIPTOR.services_by_name["QueryService"].full_name
DASHBOARD_SERVICE_NAME = dashboard_service_pb2.DESCRIPTOR.services_by_name["DashboardService"].full_name


def query_components(
    clickhouse: ClickHouse, nc: jetstream.NatsClient, settings: QuerySettings
) -> list[Component]:
    """The query service and the watch over its NATS connection, which only dashboards use:
    while it reconnects DashboardService is NOT_SERVING (queries carry on); closed for good,
    it stops the process."""
    return [
        QueryComponent(clickhouse, nc.jetstream(), settings),
        jetstream.ConnectionWatch(nc, "dashboards", affects=(DASHBOARD_SERVICE_NAME,)),
    ]


class QueryComponent:
    """QueryService (over ClickHouse) and DashboardService (over a NATS key-value bucket)."""

    service_names = (SERVICE_NAME, DASHBOARD_SERVICE_NAME)

    def __init__(
        self, clickhouse: ClickHouse, js: jetstream.JetStreamContext, settings: QuerySettings
    ) -> None:
        self._queries = QueryServicer(
            WidgetEngine(clickhouse, max_rows=settings.max_rows),
            retention_days=settings.global_retention_days,
            watch_interval_seconds=settings.watch_interval_seconds,
            max_watchers=settings.max_watchers,
        )
        self._store = DashboardStore(js, settings.dashboard_bucket, settings)

    def register(self, server: grpc.aio.Server) -> None:
        query_service_pb2_grpc.add_QueryServiceServicer_to_server(self._queries, server)
        dashboard_service_pb2_grpc.add_DashboardServiceServicer_to_server(
            DashboardServicer(self._store), server
        )

    async def start(self) -> None:
        await self._store.open()

    async def drain(self) -> None:
        self._queries.close_streams()

    async def stop(self) -> None:
        """Nothing runs in the background."""

    def background(self) -> None:
        """Nothing runs in the background."""

    def problems(self) -> dict[str, str]:
        """Queries need ClickHouse only, which each one reports on its own."""
        return {}
