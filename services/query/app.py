"""The query service as a component: what its `main`, the embedded stack and tests compose."""

from __future__ import annotations

import grpc

from campaignreports.clickhouse import ClickHouse
from campaignreports.query.engine import WidgetEngine
from campaignreports.query.servicer import QueryServicer
from campaignreports.v1 import query_service_pb2, query_service_pb2_grpc

SERVICE_NAME = query_service_pb2.DESCRIPTOR.services_by_name["QueryService"].full_name


class QueryComponent:
    service_names = (SERVICE_NAME,)

    def __init__(self, clickhouse: ClickHouse) -> None:
        self._servicer = QueryServicer(WidgetEngine(clickhouse))

    def register(self, server: grpc.aio.Server) -> None:
        query_service_pb2_grpc.add_QueryServiceServicer_to_server(self._servicer, server)

    async def start(self) -> None:
        """Nothing runs in the background."""

    async def stop(self) -> None:
        """Nothing runs in the background."""
