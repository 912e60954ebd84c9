"""Hostile requests through the public gRPC interfaces: each is refused with a clear error
naming its field, and none stops the counting or changes health."""

from __future__ import annotations

import logging

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from helpers import acceptance_funnel, metric_values, poll_async
from pipeline import Pipeline

from campaignreports.domain.validation import REQUEST_RULES
from campaignreports.query.dashboards import dashboard_key
from campaignreports.service import ServiceHost
from campaignreports.v1 import dashboard_service_pb2, ingest_service_pb2, query_service_pb2

pytestmark = pytest.mark.timeout(90)


async def expect_code(call: object, code: grpc.StatusCode) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call  # type: ignore[misc]
    assert raised.value.code() == code, raised.value.details()
    return raised.value


async def counted_sent(pipeline: Pipeline, campaign_id: str, expected: int) -> float:
    request = query_service_pb2.GetWidgetRequest(
        tenant_id=pipeline.tenant_id, campaign_id=campaign_id, widget_id="email_statistics"
    )
    values = await poll_async(
        lambda: pipeline.query.GetWidget(request), lambda w: metric_values(w)["sent"] >= expected
    )
    return metric_values(values)["sent"]


async def test_a_long_dashboard_user_id_is_refused_and_counting_goes_on(pipeline: Pipeline) -> None:
    """Finding 1: a 3,000-character user id used to close the shared NATS connection."""
    who = {"tenant_id": pipeline.tenant_id, "tab": "email"}
    refused = await expect_code(
        pipeline.dashboards.SaveDashboard(
            dashboard_service_pb2.SaveDashboardRequest(**who, user_id="u" * 3000, expected_revision=0)
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert refused.details().startswith("user_id: ") and "limit is 256" in refused.details()
    await pipeline.ingest.Ingest(
        ingest_service_pb2.IngestRequest(events=acceptance_funnel(pipeline.tenant_id, "after-long-user"))
    )
    assert await counted_sent(pipeline, "after-long-user", 2) == 2
    layout = await pipeline.dashboards.GetDashboard(
        dashboard_service_pb2.GetDashboardRequest(**who, user_id="kim")
    )
    assert layout.revision == 0 and layout.placements
    async with grpc.aio.insecure_channel(pipeline.query_address) as channel:
        health = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
    assert health.status == health_pb2.HealthCheckResponse.SERVING


def _too_long(field: str) -> str:
    return "x" * (REQUEST_RULES[field].max_length + 1)


@pytest.mark.parametrize(
    ("method", "request_fields", "field"),
    [
        ("GetWidget", {"campaign_id": _too_long("campaign_id")}, "campaign_id"),
        ("GetWidget", {"campaign_id": "c1\r\nSet-Cookie: x"}, "campaign_id"),
        ("GetWidget", {"tenant_id": _too_long("tenant_id")}, "tenant_id"),
        ("GetWidget", {"locale": _too_long("locale")}, "locale"),
        ("GetWidget", {"widget_id": _too_long("widget_id")}, "widget_id"),
        ("GetReport", {"tab": _too_long("tab")}, "tab"),
        ("GetWidget", {"control_treatment_id": _too_long("control_treatment_id")}, "control_treatment_id"),
        ("ListCampaigns", {"tenant_id": "ten\x00ant"}, "tenant_id"),
        ("GetDashboard", {"user_id": "kim\nadmin"}, "user_id"),
        ("ResetDashboard", {"user_id": _too_long("user_id")}, "user_id"),
    ],
)
async def test_every_identifier_is_bounded_and_named(
    pipeline: Pipeline, method: str, request_fields: dict[str, str], field: str
) -> None:
    base = {"tenant_id": pipeline.tenant_id, "campaign_id": "c1", "widget_id": "email_statistics"}
    if method in {"GetDashboard", "ResetDashboard"}:
        stub, message = pipeline.dashboards, getattr(dashboard_service_pb2, f"{method}Request")
        base = {"tenant_id": pipeline.tenant_id, "user_id": "kim", "tab": "email"}
    else:
        stub, message = pipeline.query, getattr(query_service_pb2, f"{method}Request")
        base = {k: v for k, v in {**base, "tab": "email"}.items() if k in message.DESCRIPTOR.fields_by_name}
    refused = await expect_code(
        getattr(stub, method)(message(**{**base, **request_fields})), grpc.StatusCode.INVALID_ARGUMENT
    )
    assert refused.details().startswith(f"{field}: ")


async def test_a_range_timezone_is_bounded_with_its_path(pipeline: Pipeline) -> None:
    request = query_service_pb2.GetWidgetRequest(
        tenant_id=pipeline.tenant_id, campaign_id="c1", widget_id="email_statistics"
    )
    request.window.range.timezone = "Europe/" + "x" * 100
    request.window.range.start.GetCurrentTime()
    request.window.range.end.GetCurrentTime()
    refused = await expect_code(pipeline.query.GetWidget(request), grpc.StatusCode.INVALID_ARGUMENT)
    assert refused.details().startswith("window.range.timezone: ")


async def test_the_longest_valid_identifiers_make_a_working_dashboard_key(pipeline: Pipeline) -> None:
    """Four-byte characters at every bound: the key stays far inside NATS's 4 KiB control line."""
    tenant = "😀" * REQUEST_RULES["tenant_id"].max_length
    user = "😀" * REQUEST_RULES["user_id"].max_length
    assert len(dashboard_key(tenant, user, "direct_mail")) < 1800
    who = {"tenant_id": tenant, "user_id": user, "tab": "email"}
    saved = await pipeline.dashboards.SaveDashboard(
        dashboard_service_pb2.SaveDashboardRequest(
            **who,
            placements=[
                dashboard_service_pb2.WidgetPlacement(
                    widget_id="email_statistics", x=0, y=0, width=6, height=3, view="table"
                )
            ],
        )
    )
    assert (await pipeline.dashboards.GetDashboard(dashboard_service_pb2.GetDashboardRequest(**who))) == saved


@pytest.mark.parametrize(
    ("bound", "seconds", "nanos"),
    [("end", 2**62, 0), ("start", -(2**62), 0), ("end", 1_700_000_000, 2_000_000_000)],
)
async def test_out_of_range_timestamps_are_invalid_arguments(
    pipeline: Pipeline, bound: str, seconds: int, nanos: int
) -> None:
    """Finding 5: a range end of 2^62 seconds used to be UNKNOWN with a Python class name."""
    request = query_service_pb2.GetWidgetRequest(
        tenant_id=pipeline.tenant_id, campaign_id="c1", widget_id="email_statistics"
    )
    request.window.range.start.GetCurrentTime()
    request.window.range.start.seconds -= 86_400
    request.window.range.end.GetCurrentTime()
    getattr(request.window.range, bound).seconds = seconds
    getattr(request.window.range, bound).nanos = nanos
    refused = await expect_code(pipeline.query.GetWidget(request), grpc.StatusCode.INVALID_ARGUMENT)
    assert refused.details().startswith(f"window.range.{bound}: ")
    assert "Error" not in refused.details()


async def test_a_range_ending_years_ahead_is_an_invalid_argument(pipeline: Pipeline) -> None:
    request = query_service_pb2.GetWidgetRequest(
        tenant_id=pipeline.tenant_id, campaign_id="c1", widget_id="email_statistics"
    )
    request.window.range.start.GetCurrentTime()
    request.window.range.end.FromSeconds(253_402_300_799)  # 9999-12-31, a valid Timestamp
    request.window.range.granularity = query_service_pb2.GRANULARITY_MONTH
    refused = await expect_code(pipeline.query.GetWidget(request), grpc.StatusCode.INVALID_ARGUMENT)
    assert refused.details().startswith("window.range.end: ")


async def test_an_unknown_control_on_a_campaign_without_treatments_is_invalid(pipeline: Pipeline) -> None:
    """Finding 6: it used to return OK, where the README promises INVALID_ARGUMENT."""
    request = query_service_pb2.GetWidgetRequest(
        tenant_id=pipeline.tenant_id,
        campaign_id="no-experiment",
        widget_id="experiment_treatments",
        control_treatment_id="nope",
    )
    refused = await expect_code(pipeline.query.GetWidget(request), grpc.StatusCode.INVALID_ARGUMENT)
    assert refused.details().startswith("control_treatment_id: ")


async def test_a_nats_failure_in_a_dashboard_call_is_unavailable(pipeline_with_own_nats: Pipeline) -> None:
    """Finding 5: NATS errors in dashboard calls used to reach the caller as UNKNOWN."""
    pipeline = pipeline_with_own_nats
    pipeline.nats.stop()
    refused = await expect_code(
        pipeline.dashboards.GetDashboard(
            dashboard_service_pb2.GetDashboardRequest(
                tenant_id=pipeline.tenant_id, user_id="kim", tab="email"
            ),
            timeout=30,
        ),
        grpc.StatusCode.UNAVAILABLE,
    )
    assert "retry" in refused.details()
    pipeline.nats.start()


class _Faulty:
    """A component whose one method fails in a way no servicer expects."""

    service_names = ("test.Faulty",)

    def register(self, server: grpc.aio.Server) -> None:
        async def explode(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
            raise ValueError("database password is hunter2")

        server.add_generic_rpc_handlers(
            [
                grpc.method_handlers_generic_handler(
                    "test.Faulty", {"Explode": grpc.unary_unary_rpc_method_handler(explode)}
                )
            ]
        )

    async def start(self) -> None:
        """Nothing to start."""

    async def drain(self) -> None:
        """Nothing to end early."""

    async def stop(self) -> None:
        """Nothing to stop."""

    def background(self) -> None:
        """Nothing in the background."""

    def problems(self) -> dict[str, str]:
        return {}


async def test_an_unexpected_exception_is_internal_with_an_incident_id_only(
    caplog: pytest.LogCaptureFixture,
) -> None:
    host = ServiceHost("127.0.0.1:0", [_Faulty()], 1)
    await host.start()
    try:
        async with grpc.aio.insecure_channel(host.address) as channel:
            with caplog.at_level(logging.ERROR, logger="campaignreports.interceptors"):
                refused = await expect_code(
                    channel.unary_unary("/test.Faulty/Explode")(b""), grpc.StatusCode.INTERNAL
                )
    finally:
        await host.stop()
    details = refused.details()
    assert "ValueError" not in details and "hunter2" not in details
    incident = details.split("incident ")[1].split(")")[0]
    assert len(incident) == 32
    logged = [r for r in caplog.records if incident in r.getMessage()]
    assert logged and logged[0].exc_info is not None and "hunter2" in str(logged[0].exc_info[1])
