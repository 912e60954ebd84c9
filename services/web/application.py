"""The HTTP layer of the web dashboard: every answer comes from the gRPC API, as it would for
any UI backend (this is a client, not a second implementation of queries).

    GET    /                        the page (static files, no build step, nothing fetched at run time)
    GET    /api/config              tenant, tabs and locales
    GET    /api/widgets?locale      ListWidgets
    GET    /api/campaigns           ListCampaigns
    GET    /api/report?campaign&tab&locale&window[&start&end&timezone&granularity]&machine[&message_id]
                                    (series as {"at": [unix seconds], "values": [...]})
    GET    /api/watch?...           the same report, then a new one whenever it changes (server-sent events)
    GET    /api/overview?...[&sort_by&ascending&page_token]   GetTenantOverview (the landing page)
    GET    /api/compare?campaigns=a,b[,c]&tab&...             CompareCampaigns
    GET    /api/recipients.csv?...  ListRecipients, every page, as CSV (who clicked this link, ...)
    GET    /api/export.csv?...[&widget]   one widget, or the whole tab, as CSV
    GET    /api/dashboard?tab       the user's layout of a tab
    PUT    /api/dashboard?tab       save it (application/json: {"placements": [...], "revision": n})
    DELETE /api/dashboard?tab       reset it to the default

The user and the tenant are the caller's identity (see `identity`), checked on every request
with the Host and Origin allow-lists; every answer carries a Content-Security-Policy and the
other standard headers, and every error is JSON.
"""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.parse
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
from aiohttp import web
from aiohttp.typedefs import Middleware

from campaignreports.domain.catalog import TABS
from campaignreports.domain.texts import LOCALES
from campaignreports.interceptors import incident_id
from campaignreports.v1 import (
    dashboard_service_pb2,
    dashboard_service_pb2_grpc,
    query_service_pb2,
    query_service_pb2_grpc,
)
from campaignreports.web import convert
from campaignreports.web.identity import Identify, Identity, IdentityError, identify_from
from campaignreports.web.settings import WebSettings

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
_HTTP_STATUS = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.FAILED_PRECONDITION: 409,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.UNAVAILABLE: 503,
}
# Sent with every response, errors and the event stream included.
SECURITY_HEADERS = {
    # Scripts, styles, images and connections from this origin only; no framing, no plugins.
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
IDENTIFY: web.AppKey[Identify] = web.AppKey("identify")
CALLER = web.RequestKey("caller", Identity)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error(status: int, message: str, field: str = "") -> web.Response:
    return web.json_response({"error": message, "field": field}, status=status)


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure is a JSON answer: input errors 4xx with the message, gRPC errors mapped to
    their HTTP meaning, and anything unexpected a generic 500 whose details go to the log only."""
    try:
        return await handler(request)
    except convert.ParameterError as exc:
        return _error(400, str(exc), exc.parameter)
    except IdentityError as exc:
        return _error(401, str(exc))
    except grpc.aio.AioRpcError as exc:
        return _error(_HTTP_STATUS.get(exc.code(), 502), exc.details() or exc.code().name)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _error(exc.status, exc.reason)
    except Exception as exc:
        incident = incident_id()
        log.error("%s %s failed (incident %s)", request.method, request.path, incident, exc_info=exc)
        return _error(500, f"internal error (incident {incident}); the server logged it")


def _guard(settings: WebSettings) -> Middleware:
    """Host and Origin allow-lists (DNS rebinding, cross-site requests), then the caller's
    identity, before any handler runs."""
    hosts = {h.strip().lower().strip("[]") for h in settings.allowed_hosts.split(",") if h.strip()}
    origins = {o.strip().lower().rstrip("/") for o in settings.allowed_origins.split(",") if o.strip()}

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        host = _split(f"//{request.host}")
        if host is None or ("*" not in hosts and (host.hostname or "") not in hosts):
            return _error(400, "this host name is not served here (CR_WEB_ALLOWED_HOSTS)", "Host")
        origin = request.headers.get("Origin", "").lower().rstrip("/")
        if origin and origin not in origins and getattr(_split(origin), "netloc", None) != host.netloc:
            return _error(403, "requests from other sites are refused (CR_WEB_ALLOWED_ORIGINS)", "Origin")
        request[CALLER] = request.app[IDENTIFY](request.headers, request.query)
        return await handler(request)

    return guard


def _split(url: str) -> urllib.parse.SplitResult | None:
    """`url` split into its parts (host names lower-cased), or None when it cannot be parsed."""
    try:
        parts = urllib.parse.urlsplit(url.lower())
        parts.port  # noqa: B018 - a port that is not a number raises here
    except ValueError:
        return None
    return parts


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.update(SECURITY_HEADERS)
    if request.path.startswith("/api/"):
        response.headers.setdefault("Cache-Control", "no-store")


class Backend:
    """The gRPC clients and the handlers of every route."""

    def __init__(self, settings: WebSettings, channel: grpc.aio.Channel) -> None:
        self._settings = settings
        self._query = query_service_pb2_grpc.QueryServiceStub(channel)
        self._dashboards = dashboard_service_pb2_grpc.DashboardServiceStub(channel)
        self._metadata = (("authorization", f"Bearer {settings.api_key}"),) if settings.api_key else ()

    def routes(self) -> list[web.AbstractRouteDef]:
        return [
            web.get("/", self.index),
            web.get("/api/config", self.config),
            web.get("/api/widgets", self.widgets),
            web.get("/api/campaigns", self.campaigns),
            web.get("/api/report", self.report),
            web.get("/api/watch", self.watch),
            web.get("/api/overview", self.overview),
            web.get("/api/compare", self.compare),
            web.get("/api/export.csv", self.export),
            web.get("/api/recipients.csv", self.recipients),
            web.get("/api/dashboard", self.get_dashboard),
            web.put("/api/dashboard", self.save_dashboard),
            web.delete("/api/dashboard", self.reset_dashboard),
            web.static("/static", STATIC),
        ]

    async def index(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / "index.html")

    async def config(self, request: web.Request) -> web.Response:
        who = _identity(request)
        return web.json_response(
            {"tenant": who.tenant_id, "user": who.user_id, "tabs": list(TABS), "locales": list(LOCALES)}
        )

    async def widgets(self, request: web.Request) -> web.Response:
        reply = await self._query.ListWidgets(
            query_service_pb2.ListWidgetsRequest(locale=request.query.get("locale", "en")),
            metadata=self._metadata,
        )
        return web.json_response(convert.to_json(reply))

    async def campaigns(self, request: web.Request) -> web.Response:
        reply = await self._query.ListCampaigns(
            query_service_pb2.ListCampaignsRequest(tenant_id=_identity(request).tenant_id),
            metadata=self._metadata,
        )
        return web.json_response(convert.to_json(reply))

    async def report(self, request: web.Request) -> web.Response:
        reply = await self._query.GetReport(
            convert.report_request(_identity(request).tenant_id, request.query), metadata=self._metadata
        )
        return web.json_response(convert.report_json(reply))

    async def overview(self, request: web.Request) -> web.Response:
        reply = await self._query.GetTenantOverview(
            convert.overview_request(_identity(request).tenant_id, request.query), metadata=self._metadata
        )
        return web.json_response(convert.overview_json(reply))

    async def compare(self, request: web.Request) -> web.Response:
        reply = await self._query.CompareCampaigns(
            convert.compare_request(_identity(request).tenant_id, request.query), metadata=self._metadata
        )
        return web.json_response(convert.comparison_json(reply))

    async def watch(self, request: web.Request) -> web.StreamResponse:
        call = self._query.WatchReport(
            convert.report_request(_identity(request).tenant_id, request.query), metadata=self._metadata
        )
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        try:
            while (report := await self._next_report(call, response)) is not grpc.aio.EOF:
                await response.write(f"data: {json.dumps(convert.report_json(report))}\n\n".encode())
        except grpc.aio.AioRpcError as exc:
            await response.write(f"event: failure\ndata: {json.dumps({'error': exc.details()})}\n\n".encode())
        except ConnectionResetError:
            pass  # the page went away
        finally:
            call.cancel()
        return response

    async def _next_report(
        self, call: grpc.aio.UnaryStreamCall[Any, Any], response: web.StreamResponse
    ) -> Any:
        """The stream's next report; while none comes, a keep-alive comment every heartbeat. A
        closed page is only noticed by writing to it, and a quiet report may stay unchanged for
        hours: without these the WatchReport of every closed page would stay open."""
        reading = asyncio.ensure_future(call.read())
        try:
            while not (await asyncio.wait({reading}, timeout=self._settings.heartbeat_seconds))[0]:
                await response.write(b": keep-alive\n\n")
        finally:
            reading.cancel()
        return reading.result()

    async def export(self, request: web.Request) -> web.Response:
        report_request = convert.report_request(_identity(request).tenant_id, request.query)
        widget_id = request.query.get("widget", "")
        if widget_id:
            widget_request = query_service_pb2.GetWidgetRequest(
                tenant_id=report_request.tenant_id,
                campaign_id=report_request.campaign_id,
                widget_id=widget_id,
                window=report_request.window,
                locale=report_request.locale,
                include_machine_activity=report_request.include_machine_activity,
                message_id=report_request.message_id,
            )
            widgets = [await self._query.GetWidget(widget_request, metadata=self._metadata)]
            name = widget_id
        else:
            widgets = list((await self._query.GetReport(report_request, metadata=self._metadata)).widgets)
            name = report_request.tab
        return web.Response(
            text=convert.widgets_csv(widgets),
            content_type="text/csv",
            headers={"Content-Disposition": convert.attachment(f"{report_request.campaign_id}-{name}.csv")},
        )

    async def recipients(self, request: web.Request) -> web.StreamResponse:
        """Every profile behind a number, as CSV, a page of ListRecipients at a time (an audience
        of a million streams without being held in memory)."""
        recipients_request = convert.recipients_request(_identity(request).tenant_id, request.query)
        reply = await self._query.ListRecipients(recipients_request, metadata=self._metadata)
        name = f"{recipients_request.campaign_id}-{request.query.get('type', '')}-recipients.csv"
        response = web.StreamResponse(
            headers={"Content-Type": "text/csv", "Content-Disposition": convert.attachment(name)}
        )
        await response.prepare(request)
        await response.write(convert.recipients_csv(list(reply.recipients), header=True).encode())
        try:
            while reply.next_page_token:
                recipients_request.page_token = reply.next_page_token
                reply = await self._query.ListRecipients(recipients_request, metadata=self._metadata)
                await response.write(convert.recipients_csv(list(reply.recipients), header=False).encode())
        except grpc.aio.AioRpcError as exc:
            # The answer has begun, so it cannot become an error any more: it is cut short
            # instead (no final chunk), which a browser shows as a failed download.
            log.warning("a recipients export stopped: a later page failed with %s", exc.code().name)
            if request.transport is not None:
                request.transport.close()
            return response
        await response.write_eof()
        return response

    def _who(self, request: web.Request) -> dict[str, Any]:
        who = _identity(request)
        return {"tenant_id": who.tenant_id, "user_id": who.user_id, "tab": request.query.get("tab", "")}

    async def get_dashboard(self, request: web.Request) -> web.Response:
        reply = await self._dashboards.GetDashboard(
            dashboard_service_pb2.GetDashboardRequest(**self._who(request)), metadata=self._metadata
        )
        return web.json_response(convert.to_json(reply))

    async def save_dashboard(self, request: web.Request) -> web.Response:
        if request.content_type != "application/json":
            # Only JSON: a cross-site form or text/plain request cannot be one without a preflight.
            raise web.HTTPUnsupportedMediaType(reason="the body must be application/json")
        body = convert.json_body(await request.read())
        reply = await self._dashboards.SaveDashboard(
            dashboard_service_pb2.SaveDashboardRequest(
                **self._who(request),
                placements=convert.placements(body),
                expected_revision=convert.revision(body),
            ),
            metadata=self._metadata,
        )
        return web.json_response(convert.to_json(reply))

    async def reset_dashboard(self, request: web.Request) -> web.Response:
        reply = await self._dashboards.ResetDashboard(
            dashboard_service_pb2.ResetDashboardRequest(**self._who(request)), metadata=self._metadata
        )
        return web.json_response(convert.to_json(reply))


def channel_to(settings: WebSettings) -> grpc.aio.Channel:
    if settings.query_tls_ca_file:
        credentials = grpc.ssl_channel_credentials(Path(settings.query_tls_ca_file).read_bytes())
        return grpc.aio.secure_channel(settings.query_address, credentials)
    return grpc.aio.insecure_channel(settings.query_address)


def _identity(request: web.Request) -> Identity:
    return request[CALLER]


def application(settings: WebSettings, channel: grpc.aio.Channel) -> web.Application:
    """The app (reads the JWT key when identity is `jwt`: OSError if unreadable)."""
    if settings.identity == "none":
        log.warning(
            "WEB IDENTITY IS OFF: CR_WEB_IDENTITY=none, so every visitor shares one dashboard layout%s. "
            "Put the page behind a login and set CR_WEB_IDENTITY=header or jwt.",
            " (and `?user=` names anyone's)" if settings.allow_user_parameter else "",
        )
    app = web.Application(middlewares=[_errors, _guard(settings)])
    app[IDENTIFY] = identify_from(settings)
    app.on_response_prepare.append(_security_headers)
    app.add_routes(Backend(settings, channel).routes())
    return app


async def serve(settings: WebSettings, channel: grpc.aio.Channel) -> web.AppRunner:
    """The page listening on `CR_WEB_LISTEN` (port 0: any free one, see `runner.addresses`), as
    the process serves it. The caller ends it with `runner.cleanup()`."""
    runner = web.AppRunner(application(settings, channel), shutdown_timeout=settings.shutdown_grace_seconds)
    await runner.setup()
    host, _, port = settings.web_listen.rpartition(":")
    await web.TCPSite(runner, host.strip("[]"), int(port)).start()
    return runner
