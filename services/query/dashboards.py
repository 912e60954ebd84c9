"""DashboardService: per-user, per-tab layouts in a NATS key-value bucket.

A layout is one key (`<tenant>.<user>.<tab>`, tenant and user base64url-encoded so that any id
is a valid key). Every part is bounded before it gets here (`REQUEST_RULES`: 64 + 256 characters
and a known tab), so a key stays under 1.8 KB, inside NATS's 4 KiB control line: no request can
make the server close the connection. A NATS failure is UNAVAILABLE to the caller (retry).
The key's revision is the dashboard's revision: a save states the revision it
read (0: none saved) and the bucket refuses it when another save came first, which is the
optimistic concurrency the API promises. Reset deletes the key, so the default shows again.
"""

from __future__ import annotations

import base64
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator

import grpc
import nats.errors
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from campaignreports import auth, jetstream
from campaignreports.domain.dashboards import (
    LayoutError,
    Placement,
    check_layout,
    check_tab,
    decode,
    default_layout,
    encode,
)
from campaignreports.grpcerrors import abort_field
from campaignreports.grpctypes import Context
from campaignreports.settings import CommonSettings
from campaignreports.v1 import dashboard_service_pb2 as pb
from campaignreports.v1 import dashboard_service_pb2_grpc

log = logging.getLogger(__name__)

Request = pb.GetDashboardRequest | pb.SaveDashboardRequest | pb.ResetDashboardRequest


def _key_part(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


def dashboard_key(tenant_id: str, user_id: str, tab: str) -> str:
    return f"{_key_part(tenant_id)}.{_key_part(user_id)}.{tab}"


class StaleRevisionError(Exception):
    pass


class StoreUnavailableError(Exception):
    """NATS did not answer or refused the operation; the caller may retry."""


@contextlib.contextmanager
def _unavailable_on_nats_errors() -> Iterator[None]:
    try:
        yield
    except (KeyNotFoundError, KeyWrongLastSequenceError):
        raise
    except nats.errors.Error as exc:
        raise StoreUnavailableError(str(exc) or type(exc).__name__) from exc


class DashboardStore:
    """Layouts by (tenant, user, tab) with their revisions, in the bucket opened by `open`."""

    def __init__(self, js: jetstream.JetStreamContext, bucket_name: str, settings: CommonSettings) -> None:
        self._js = js
        self._bucket_name = bucket_name
        self._settings = settings
        self._opened: KeyValue | None = None

    async def open(self) -> None:
        self._opened = await jetstream.open_key_value(self._js, self._bucket_name, self._settings)

    @property
    def is_open(self) -> bool:
        return self._opened is not None

    @property
    def _bucket(self) -> KeyValue:
        assert self._opened is not None, "DashboardStore.open() was not awaited"
        return self._opened

    async def get(self, key: str, tab: str) -> tuple[list[Placement], int]:
        try:
            with _unavailable_on_nats_errors():
                entry = await self._bucket.get(key)
        except KeyNotFoundError:
            return default_layout(tab), 0
        return decode(entry.value or b"[]"), entry.revision or 0

    async def save(self, key: str, placements: list[Placement], expected_revision: int) -> int:
        try:
            with _unavailable_on_nats_errors():
                if expected_revision == 0:
                    return await self._bucket.create(key, encode(placements))
                return await self._bucket.update(key, encode(placements), last=expected_revision)
        except KeyWrongLastSequenceError as exc:
            raise StaleRevisionError from exc

    async def reset(self, key: str) -> None:
        with _unavailable_on_nats_errors():
            await self._bucket.delete(key)


def _placements(dashboard: list[Placement]) -> list[pb.WidgetPlacement]:
    return [
        pb.WidgetPlacement(widget_id=p.widget_id, x=p.x, y=p.y, width=p.width, height=p.height, view=p.view)
        for p in dashboard
    ]


@contextlib.asynccontextmanager
async def _store_errors(context: Context) -> AsyncIterator[None]:
    try:
        yield
    except StoreUnavailableError as exc:
        log.warning("dashboard store unavailable: %s", exc)
        await context.abort(grpc.StatusCode.UNAVAILABLE, "the dashboard store (NATS) is unavailable; retry")


class DashboardServicer(dashboard_service_pb2_grpc.DashboardServiceServicer):
    def __init__(self, store: DashboardStore) -> None:
        self._store = store

    async def _key(self, request: Request, context: Context) -> str:
        for field in ("tenant_id", "user_id"):
            if not getattr(request, field):
                await abort_field(context, field, f"{field} is required")
        await auth.require_tenant(context, request.tenant_id)
        try:
            check_tab(request.tab)
        except LayoutError as exc:
            await abort_field(context, exc.field, str(exc))
        if not self._store.is_open:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "the dashboard store is starting; retry")
        return dashboard_key(request.tenant_id, request.user_id, request.tab)

    async def GetDashboard(self, request: pb.GetDashboardRequest, context: Context) -> pb.Dashboard:
        key = await self._key(request, context)
        async with _store_errors(context):
            placements, revision = await self._store.get(key, request.tab)
        return pb.Dashboard(placements=_placements(placements), revision=revision)

    async def SaveDashboard(self, request: pb.SaveDashboardRequest, context: Context) -> pb.Dashboard:
        key = await self._key(request, context)
        placements = [Placement(p.widget_id, p.x, p.y, p.width, p.height, p.view) for p in request.placements]
        try:
            check_layout(request.tab, placements)
        except LayoutError as exc:
            await abort_field(context, exc.field, str(exc))
        if request.expected_revision < 0:
            await abort_field(context, "expected_revision", "expected_revision must not be negative")
        try:
            async with _store_errors(context):
                revision = await self._store.save(key, placements, request.expected_revision)
        except StaleRevisionError:
            await abort_field(
                context,
                "expected_revision",
                f"the dashboard changed since revision {request.expected_revision}; get it again and reapply",
                grpc.StatusCode.FAILED_PRECONDITION,
            )
        return pb.Dashboard(placements=_placements(placements), revision=revision)

    async def ResetDashboard(self, request: pb.ResetDashboardRequest, context: Context) -> pb.Dashboard:
        key = await self._key(request, context)
        async with _store_errors(context):
            await self._store.reset(key)
        return pb.Dashboard(placements=_placements(default_layout(request.tab)), revision=0)
