"""Event builders and polling shared by the integration and end-to-end tests."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import h2.config
import h2.connection
import h2.events

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
        **{"recipient_domain": "example.com", **fields},
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


# The pairs the widget catalog implies, written out independently of the rule table.
def pairs(channel: str, types: str) -> set[tuple[str, str]]:
    return {(channel, event_type) for event_type in types.split()}


EXPECTED_VALID_PAIRS = (
    pairs("UNSPECIFIED", "PROFILE_ENTERED CONVERTED")
    # A conversion is credited to any channel, or to the campaign alone.
    | {(channel, "CONVERTED") for channel in ("EMAIL", "SMS", "PUSH", "IN_APP", "WEB", "DIRECT_MAIL")}
    | pairs(
        "EMAIL",
        "TARGETED EXCLUDED SENT DELIVERED BOUNCED ERROR QUARANTINED OPENED CLICKED UNSUBSCRIBED "
        "SPAM_COMPLAINT MIRROR_PAGE_VIEWED FORWARDED",
    )
    | pairs("SMS", "TARGETED EXCLUDED SENT DELIVERED BOUNCED ERROR QUARANTINED CLICKED")
    | pairs("PUSH", "TARGETED EXCLUDED SENT DELIVERED BOUNCED ERROR QUARANTINED OPENED CLICKED ACTION")
    | pairs("IN_APP", "IMPRESSION INTERACTION")
    | pairs("WEB", "IMPRESSION INTERACTION")
    | pairs("DIRECT_MAIL", "TARGETED EXCLUDED SENT ERROR")
)


def complete_event(
    channel: str,
    event_type: str,
    tenant_id: str = "acme",
    campaign_id: str = "matrix",
    occurred_at: datetime | None = None,
) -> event_pb2.Event:
    """An event of the pair with every detail field its kind needs (per the contract, not the
    table), occurred at `occurred_at` (a minute ago by default)."""
    event = event_pb2.Event(
        event_id=str(uuid.uuid4()),
        tenant_id=tenant_id,
        campaign_id=campaign_id,
        channel=event_pb2.Channel.Value(f"CHANNEL_{channel}"),
        type=event_pb2.EventType.Value(f"EVENT_TYPE_{event_type}"),
        profile_id="p-1",
        recipient_domain="example.com" if channel == "EMAIL" else "",
    )
    event.occurred_at.FromDatetime(occurred_at or datetime.now(UTC) - timedelta(minutes=1))
    if event_type in {"EXCLUDED", "ERROR", "BOUNCED"}:
        event.reason = "unknown_user"
    if event_type == "BOUNCED":
        event.bounce_category = event_pb2.BOUNCE_CATEGORY_HARD
    if event_type == "CLICKED":
        event.url = "https://example.com/a"
    if channel == "PUSH":
        event.platform = event_pb2.PLATFORM_IOS
    if (channel, event_type) in {("IN_APP", "INTERACTION"), ("PUSH", "ACTION")}:
        event.interaction_type = "click"
    if (channel, event_type) == ("WEB", "INTERACTION"):
        event.element_id = "hero-banner"
    if event_type == "CONVERTED":
        event.conversion_value, event.currency = "49.90", "EUR"
    return event


ALL_PAIRS = [
    (channel.removeprefix("CHANNEL_"), event_type.removeprefix("EVENT_TYPE_"))
    for channel, _ in event_pb2.Channel.items()
    for event_type, _ in event_pb2.EventType.items()
    if event_type != "EVENT_TYPE_UNSPECIFIED"
]


def raw_grpc_call(
    address: str, method: str, headers: list[tuple[bytes, bytes]], body: bytes = b""
) -> dict[bytes, bytes]:
    """One unary gRPC call over a bare HTTP/2 connection, with header bytes no gRPC client would
    send (invalid UTF-8, say): the response headers and trailers together."""
    host, _, port = address.rpartition(":")
    connection = h2.connection.H2Connection(
        h2.config.H2Configuration(
            client_side=True, validate_outbound_headers=False, normalize_outbound_headers=False
        )
    )
    connection.initiate_connection()
    connection.send_headers(
        1,
        [
            (b":method", b"POST"),
            (b":scheme", b"http"),
            (b":path", method.encode()),
            (b":authority", address.encode()),
            (b"content-type", b"application/grpc"),
            (b"te", b"trailers"),
            *headers,
        ],
    )
    connection.send_data(1, len(body).to_bytes(5, "big") + body, end_stream=True)
    answered: dict[bytes, bytes] = {}
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(connection.data_to_send())
        ended = False
        while not ended:
            data = sock.recv(65536)
            if not data:
                break
            for event in connection.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived | h2.events.TrailersReceived):
                    answered.update(dict(event.headers))
                ended = ended or isinstance(event, h2.events.StreamEnded | h2.events.StreamReset)
            sock.sendall(connection.data_to_send())
    return answered
