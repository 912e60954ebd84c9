"""QueryService: validates requests, calls the widget engine, translates results to protos."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import grpc
from google.protobuf import timestamp_pb2

from campaignreports.domain.catalog import TABS, WIDGETS, Kind, WidgetDef
from campaignreports.grpcerrors import abort_field
from campaignreports.query.engine import WidgetEngine, WidgetResult
from campaignreports.v1 import query_service_pb2, query_service_pb2_grpc

_KINDS = {
    Kind.KPI: query_service_pb2.WIDGET_KIND_KPI,
    Kind.ROWS: query_service_pb2.WIDGET_KIND_ROWS,
    Kind.SERIES: query_service_pb2.WIDGET_KIND_SERIES,
}


def _timestamp(when: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(when)
    return stamp


def _to_proto(result: WidgetResult) -> query_service_pb2.Widget:
    widget = result.widget
    return query_service_pb2.Widget(
        id=widget.id,
        title=widget.title,
        description=widget.description,
        kind=_KINDS[widget.kind],
        metrics=[
            query_service_pb2.Metric(id=m.id, label=m.label, value=m.value, rate=m.rate)
            for m in result.metrics
        ],
        as_of=_timestamp(result.as_of),
    )


class QueryServicer(query_service_pb2_grpc.QueryServiceServicer):
    def __init__(
        self, engine: WidgetEngine, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self._engine = engine
        self._clock = clock

    async def ListWidgets(
        self, request: query_service_pb2.ListWidgetsRequest, context: grpc.aio.ServicerContext
    ) -> query_service_pb2.ListWidgetsResponse:
        return query_service_pb2.ListWidgetsResponse(
            widgets=[
                query_service_pb2.WidgetInfo(
                    id=w.id,
                    tab=w.tab,
                    kind=_KINDS[w.kind],
                    title=w.title,
                    description=w.description,
                    metric_ids=w.metric_ids,
                )
                for w in WIDGETS.values()
            ]
        )

    async def GetWidget(
        self, request: query_service_pb2.GetWidgetRequest, context: grpc.aio.ServicerContext
    ) -> query_service_pb2.Widget:
        widget = WIDGETS.get(request.widget_id)
        if widget is None:
            await abort_field(context, "widget_id", f"unknown widget {request.widget_id!r}; see ListWidgets")
        await self._check_scope(request, context)
        return _to_proto(await self._evaluate(widget, request))

    async def GetReport(
        self, request: query_service_pb2.GetReportRequest, context: grpc.aio.ServicerContext
    ) -> query_service_pb2.Report:
        if request.tab not in TABS:
            await abort_field(context, "tab", f"unknown tab {request.tab!r}; one of {', '.join(TABS)}")
        await self._check_scope(request, context)
        now = self._clock()
        widgets = [w for w in WIDGETS.values() if w.tab == request.tab]
        results = [await self._evaluate(w, request, now) for w in widgets]
        return query_service_pb2.Report(
            tab=request.tab, widgets=[_to_proto(r) for r in results], as_of=_timestamp(now)
        )

    async def _check_scope(
        self,
        request: query_service_pb2.GetWidgetRequest | query_service_pb2.GetReportRequest,
        context: grpc.aio.ServicerContext,
    ) -> None:
        for field in ("tenant_id", "campaign_id"):
            if not getattr(request, field):
                await abort_field(context, field, f"{field} is required")
        if request.HasField("window") and request.window.WhichOneof("kind") == "range":
            await context.abort(
                grpc.StatusCode.UNIMPLEMENTED, "window.range: only the live window is served yet"
            )

    async def _evaluate(
        self,
        widget: WidgetDef,
        request: query_service_pb2.GetWidgetRequest | query_service_pb2.GetReportRequest,
        now: datetime | None = None,
    ) -> WidgetResult:
        return await self._engine.live(
            widget,
            tenant_id=request.tenant_id,
            campaign_id=request.campaign_id,
            include_machine_activity=request.include_machine_activity,
            now=now or self._clock(),
        )
