"""Event builders and polling shared by the integration and end-to-end tests."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from campaignreports.v1 import event_pb2

T = TypeVar("T")


def email_event(
    tenant_id: str,
    campaign_id: str,
    event_type: int,
    profile_id: str,
    *,
    when: datetime | None = None,
    **fields: object,
) -> event_pb2.Event:
    event = event_pb2.Event(
        event_id=str(uuid.uuid4()),
        tenant_id=tenant_id,
        campaign_id=campaign_id,
        channel=event_pb2.CHANNEL_EMAIL,
        type=event_type,
        profile_id=profile_id,
        recipient_domain="example.com",
        **fields,
    )
    event.occurred_at.FromDatetime(when or datetime.now(UTC) - timedelta(seconds=5))
    return event


def acceptance_funnel(tenant_id: str, campaign_id: str) -> list[event_pb2.Event]:
    """2 TARGETED, 2 SENT, 2 DELIVERED, 3 OPENED (2 by one profile), 1 CLICKED."""
    T_ = event_pb2.EventType
    steps = [
        (T_.EVENT_TYPE_TARGETED, "p1"), (T_.EVENT_TYPE_TARGETED, "p2"),
        (T_.EVENT_TYPE_SENT, "p1"), (T_.EVENT_TYPE_SENT, "p2"),
        (T_.EVENT_TYPE_DELIVERED, "p1"), (T_.EVENT_TYPE_DELIVERED, "p2"),
        (T_.EVENT_TYPE_OPENED, "p1"), (T_.EVENT_TYPE_OPENED, "p1"), (T_.EVENT_TYPE_OPENED, "p2"),
        (T_.EVENT_TYPE_CLICKED, "p2"),
    ]  # fmt: skip
    return [
        email_event(
            tenant_id,
            campaign_id,
            t,
            p,
            url="https://example.com/offer" if t == T_.EVENT_TYPE_CLICKED else "",
        )
        for t, p in steps
    ]


def metric_values(widget: object) -> dict[str, float]:
    return {m.id: m.value for m in widget.metrics}  # type: ignore[attr-defined]


async def poll_async(read: Callable[[], Awaitable[T]], done: Callable[[T], bool], within: float = 20.0) -> T:
    """Read until `done(value)` or `within` seconds; return the last value read."""
    deadline = time.monotonic() + within
    value = await read()
    while not done(value) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        value = await read()
    return value


def poll(read: Callable[[], T], done: Callable[[T], bool], within: float = 20.0) -> T:
    deadline = time.monotonic() + within
    value = read()
    while not done(value) and time.monotonic() < deadline:
        time.sleep(0.1)
        value = read()
    return value
