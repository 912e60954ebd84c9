"""Security: API keys (scopes and tenants) on every service, TLS and mTLS, no secret in logs."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from certs import Authority
from grpc_health.v1 import health_pb2, health_pb2_grpc
from helpers import email_event, raw_grpc_call
from pipeline import Pipeline, open_pipeline

from campaignreports import auth
from campaignreports.service import ServerSecurity, ServiceHost
from campaignreports.settings import CommonSettings, load_settings
from campaignreports.stack.processes import NatsServer
from campaignreports.v1 import (
    dashboard_service_pb2,
    event_pb2,
    ingest_service_pb2,
    query_service_pb2,
)

pytestmark = pytest.mark.timeout(60)

KEYS = {
    "ingest_a": f"ingest-a-{uuid.uuid4().hex}",
    "query_a": f"query-a-{uuid.uuid4().hex}",
    "dashboard_a": f"dash-a-{uuid.uuid4().hex}",
    "admin": f"admin-{uuid.uuid4().hex}",
}
TENANT_A, TENANT_B = "tenant-a", "tenant-b"


def write_keys_file(path: Path) -> Path:
    admin_digest = hashlib.sha256(KEYS["admin"].encode()).hexdigest()
    path.write_text(
        f"""
[[keys]]
name = "engine-a"
key = "{KEYS["ingest_a"]}"
scopes = ["ingest"]
tenants = ["{TENANT_A}"]

[[keys]]
name = "dashboard-backend-a"
key = "{KEYS["query_a"]}"
scopes = ["query"]
tenants = ["{TENANT_A}"]

[[keys]]
name = "layouts-a"
key = "{KEYS["dashboard_a"]}"
scopes = ["dashboard"]
tenants = ["{TENANT_A}"]

[[keys]]
name = "operator"
sha256 = "{admin_digest}"
scopes = ["ingest", "query", "dashboard"]
tenants = ["*"]
"""
    )
    return path


def bearer(name: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {KEYS[name]}"),)


@pytest.fixture
async def secured(shared_nats: NatsServer, chdb_dsn: str, tmp_path: Path) -> AsyncIterator[Pipeline]:
    keys = write_keys_file(tmp_path / "keys.toml")
    async with open_pipeline(
        shared_nats, chdb_dsn, with_aggregator=True, CR_API_KEYS_FILE=str(keys)
    ) as pipeline:
        yield pipeline


def widget_request(tenant: str) -> query_service_pb2.GetWidgetRequest:
    return query_service_pb2.GetWidgetRequest(tenant_id=tenant, campaign_id="c", widget_id="email_statistics")


async def expect(code: grpc.StatusCode, call) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await call
    assert error.value.code() == code, error.value.details()
    return error.value


async def test_no_key_or_an_unknown_key_is_unauthenticated(secured: Pipeline) -> None:
    events = ingest_service_pb2.IngestRequest(
        events=[email_event(TENANT_A, "c", event_pb2.EVENT_TYPE_SENT, "p")]
    )
    await expect(grpc.StatusCode.UNAUTHENTICATED, secured.ingest.Ingest(events))
    await expect(grpc.StatusCode.UNAUTHENTICATED, secured.query.GetWidget(widget_request(TENANT_A)))
    await expect(
        grpc.StatusCode.UNAUTHENTICATED,
        secured.dashboards.GetDashboard(
            dashboard_service_pb2.GetDashboardRequest(tenant_id=TENANT_A, user_id="u", tab="email")
        ),
    )
    wrong = (("authorization", "Bearer not-a-key"),)
    error = await expect(
        grpc.StatusCode.UNAUTHENTICATED, secured.query.GetWidget(widget_request(TENANT_A), metadata=wrong)
    )
    assert "not-a-key" not in error.details()
    # No request on the stream: the refusal comes from the metadata alone, and a request sent
    # while the server is already closing the call can fail on the client first (INTERNAL).
    stream = secured.ingest.IngestStream(iter([]))
    with pytest.raises(grpc.aio.AioRpcError) as streamed:
        async for _ in stream:
            pass
    assert streamed.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_health_and_reflection_stay_open(secured: Pipeline) -> None:
    async with grpc.aio.insecure_channel(secured.ingest_address) as channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_keys_are_held_to_their_scopes(secured: Pipeline) -> None:
    await expect(
        grpc.StatusCode.PERMISSION_DENIED,
        secured.query.GetWidget(widget_request(TENANT_A), metadata=bearer("ingest_a")),
    )
    event = email_event(TENANT_A, "c", event_pb2.EVENT_TYPE_SENT, "p")
    await expect(
        grpc.StatusCode.PERMISSION_DENIED,
        secured.ingest.Ingest(
            ingest_service_pb2.IngestRequest(events=[event]), metadata=bearer("dashboard_a")
        ),
    )
    await expect(
        grpc.StatusCode.PERMISSION_DENIED,
        secured.ingest.Ingest(ingest_service_pb2.IngestRequest(events=[event]), metadata=bearer("query_a")),
    )
    widget = await secured.query.GetWidget(widget_request(TENANT_A), metadata=bearer("query_a"))
    assert widget.id == "email_statistics"
    layout = await secured.dashboards.GetDashboard(
        dashboard_service_pb2.GetDashboardRequest(tenant_id=TENANT_A, user_id="u", tab="email"),
        metadata=bearer("dashboard_a"),
    )
    assert layout.placements


async def test_a_tenant_key_cannot_read_or_write_another_tenant(secured: Pipeline) -> None:
    error = await expect(
        grpc.StatusCode.PERMISSION_DENIED,
        secured.query.GetWidget(widget_request(TENANT_B), metadata=bearer("query_a")),
    )
    assert "tenant_id" in error.details()
    report = query_service_pb2.GetReportRequest(tenant_id=TENANT_B, campaign_id="c", tab="email")
    await expect(
        grpc.StatusCode.PERMISSION_DENIED, secured.query.GetReport(report, metadata=bearer("query_a"))
    )
    await expect(
        grpc.StatusCode.PERMISSION_DENIED,
        secured.dashboards.GetDashboard(
            dashboard_service_pb2.GetDashboardRequest(tenant_id=TENANT_B, user_id="u", tab="email"),
            metadata=bearer("dashboard_a"),
        ),
    )
    mixed = [
        email_event(TENANT_A, "c", event_pb2.EVENT_TYPE_SENT, "p1"),
        email_event(TENANT_B, "c", event_pb2.EVENT_TYPE_SENT, "p2"),
        email_event(TENANT_A, "c", event_pb2.EVENT_TYPE_SENT, "p3"),
        email_event(TENANT_B, "c", event_pb2.EVENT_TYPE_SENT, ""),
    ]
    reply = await secured.ingest.Ingest(
        ingest_service_pb2.IngestRequest(events=mixed), metadata=bearer("ingest_a")
    )
    assert reply.accepted == 2
    assert [(r.index, r.field) for r in reply.rejected] == [(1, "tenant_id"), (3, "tenant_id")]
    # The operator's key (stored as a digest) covers every tenant.
    reply = await secured.ingest.Ingest(
        ingest_service_pb2.IngestRequest(events=[email_event(TENANT_B, "c", event_pb2.EVENT_TYPE_SENT, "p")]),
        metadata=bearer("admin"),
    )
    assert reply.accepted == 1
    await secured.query.GetWidget(widget_request(TENANT_B), metadata=bearer("admin"))


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('[[keys]]\nkey = "k"\nscopes = ["read"]\ntenants = ["a"]', "scopes"),
        ('[[keys]]\nkey = "k"\nscopes = ["query"]', "tenants"),
        ('[[keys]]\nkey = "k"\nsha256 = "00"\nscopes = ["query"]\ntenants = ["a"]', "exactly one"),
        ('[[keys]]\nsha256 = "xyz"\nscopes = ["query"]\ntenants = ["a"]', "hexadecimal"),
        ("keys = 3 = 4", "TOML"),
        ("", "no [[keys]]"),
    ],
)
def test_a_bad_keys_file_is_refused_clearly(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "keys.toml"
    path.write_text(text)
    with pytest.raises(auth.KeysFileError) as error:
        auth.KeyRing.load(path)
    assert problem in str(error.value) and str(path) in str(error.value)


def test_without_a_keys_file_authentication_is_off_loudly(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert auth.interceptors("") == []
    assert "AUTHENTICATION IS OFF" in caplog.text


# ---- TLS -----------------------------------------------------------------------------------


async def _health(address: str, credentials: grpc.ChannelCredentials | None) -> int:
    channel = (
        grpc.aio.secure_channel(address, credentials) if credentials else grpc.aio.insecure_channel(address)
    )
    async with channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    return reply.status


async def _tls_host(tmp_path: Path, authority: Authority, *, mutual: bool) -> ServiceHost:
    server = authority.issue("server", server=True)
    settings = load_settings(
        CommonSettings,
        {
            "CR_TLS_CERT_FILE": str(server.cert),
            "CR_TLS_KEY_FILE": str(server.key),
            "CR_TLS_CLIENT_CA_FILE": str(authority.pem.cert) if mutual else "",
        },
    )
    host = ServiceHost("127.0.0.1:0", [], 1, security=ServerSecurity.from_settings(settings))
    await host.start()
    return host


async def test_tls_serves_clients_that_trust_the_ca_only(tmp_path: Path) -> None:
    authority = Authority(tmp_path)
    host = await _tls_host(tmp_path, authority, mutual=False)
    try:
        trusted = grpc.ssl_channel_credentials(authority.pem.cert.read_bytes())
        assert await _health(host.address, trusted) == health_pb2.HealthCheckResponse.SERVING
        with pytest.raises(grpc.aio.AioRpcError):
            await _health(host.address, None)  # plaintext
        (tmp_path / "other").mkdir()
        stranger = Authority(tmp_path / "other", "other-ca")
        with pytest.raises(grpc.aio.AioRpcError):
            await _health(host.address, grpc.ssl_channel_credentials(stranger.pem.cert.read_bytes()))
    finally:
        await host.stop()


async def test_mutual_tls_requires_a_client_certificate(tmp_path: Path) -> None:
    authority = Authority(tmp_path)
    host = await _tls_host(tmp_path, authority, mutual=True)
    try:
        ca = authority.pem.cert.read_bytes()
        client = authority.issue("client", server=False)
        with_cert = grpc.ssl_channel_credentials(ca, client.key.read_bytes(), client.cert.read_bytes())
        assert await _health(host.address, with_cert) == health_pb2.HealthCheckResponse.SERVING
        with pytest.raises(grpc.aio.AioRpcError):
            await _health(host.address, grpc.ssl_channel_credentials(ca))
    finally:
        await host.stop()


# ---- no secret in logs ---------------------------------------------------------------------


async def test_no_secret_reaches_the_logs(
    nats_server: NatsServer, chdb_dsn: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    keys = write_keys_file(tmp_path / "keys.toml")
    secrets = {
        "CR_NATS_TOKEN": f"nats-token-{uuid.uuid4().hex}",
        "CR_CLICKHOUSE_PASSWORD": f"ch-password-{uuid.uuid4().hex}",
    }
    # The test's own HTTP/2 client logs what it sends; the services' logs are what is checked.
    for client_logger in ("hpack", "h2"):
        caplog.set_level(logging.WARNING, logger=client_logger)
    with caplog.at_level(logging.DEBUG):
        async with open_pipeline(
            nats_server,
            chdb_dsn,
            with_aggregator=True,
            CR_API_KEYS_FILE=str(keys),
            CR_LOG_LEVEL="DEBUG",
            **secrets,
        ) as pipeline:
            event = email_event(TENANT_A, "c", event_pb2.EVENT_TYPE_SENT, "p")
            await pipeline.ingest.Ingest(
                ingest_service_pb2.IngestRequest(events=[event]), metadata=bearer("ingest_a")
            )
            for name in KEYS:
                try:
                    await pipeline.query.GetWidget(widget_request(TENANT_B), metadata=bearer(name))
                except grpc.aio.AioRpcError as exc:
                    assert KEYS[name] not in exc.details()
            await expect(
                grpc.StatusCode.UNAUTHENTICATED,
                pipeline.query.GetWidget(
                    widget_request(TENANT_A), metadata=(("authorization", "Bearer guess"),)
                ),
            )
            # A key with one byte that is not UTF-8: gRPC's own layer logs such a header value.
            spoiled = KEYS["query_a"].encode() + b"\xe9\xff"
            answer = await asyncio.to_thread(
                raw_grpc_call,
                pipeline.query_address,
                "/campaignreports.v1.QueryService/ListWidgets",
                [(b"authorization", b"Bearer " + spoiled)],
            )
            assert answer[b"grpc-status"] == b"16"  # UNAUTHENTICATED
            settings_shown = repr(pipeline.settings)
    logged = caplog.text
    assert logged  # the run did log
    for value in [*KEYS.values(), *secrets.values()]:
        assert value not in logged
    for value in secrets.values():
        assert value not in settings_shown
