"""`python -m campaignreports.demo.example`: send a small email campaign, print its statistics.

The first thing to run against `make run`; also a minimal example of a delivery-engine client
(IngestService) and a dashboard client (QueryService).
"""

from __future__ import annotations

import argparse
import time
import uuid

import grpc
from google.protobuf import timestamp_pb2

from campaignreports.v1 import (
    event_pb2,
    ingest_service_pb2,
    ingest_service_pb2_grpc,
    query_service_pb2,
    query_service_pb2_grpc,
)

T = event_pb2.EventType


def email_funnel(tenant_id: str, campaign_id: str) -> list[event_pb2.Event]:
    now = timestamp_pb2.Timestamp()
    now.GetCurrentTime()
    steps = [
        (T.EVENT_TYPE_TARGETED, "p1"), (T.EVENT_TYPE_TARGETED, "p2"),
        (T.EVENT_TYPE_SENT, "p1"), (T.EVENT_TYPE_SENT, "p2"),
        (T.EVENT_TYPE_DELIVERED, "p1"), (T.EVENT_TYPE_DELIVERED, "p2"),
        (T.EVENT_TYPE_OPENED, "p1"), (T.EVENT_TYPE_OPENED, "p1"), (T.EVENT_TYPE_OPENED, "p2"),
        (T.EVENT_TYPE_CLICKED, "p1"),
    ]  # fmt: skip
    return [
        event_pb2.Event(
            event_id=str(uuid.uuid4()),
            tenant_id=tenant_id,
            campaign_id=campaign_id,
            channel=event_pb2.CHANNEL_EMAIL,
            type=event_type,
            profile_id=profile,
            occurred_at=now,
            recipient_domain="example.com",
            url="https://example.com/offer" if event_type == T.EVENT_TYPE_CLICKED else "",
        )
        for event_type, profile in steps
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ingest", default="127.0.0.1:50051")
    parser.add_argument("--query", default="127.0.0.1:50052")
    parser.add_argument("--tenant", default="demo")
    args = parser.parse_args()
    campaign_id = f"example-{uuid.uuid4().hex[:8]}"
    with grpc.insecure_channel(args.ingest) as ingest, grpc.insecure_channel(args.query) as query:
        reply = ingest_service_pb2_grpc.IngestServiceStub(ingest).Ingest(
            ingest_service_pb2.IngestRequest(events=email_funnel(args.tenant, campaign_id)), timeout=10
        )
        print(f"campaign {campaign_id}: {reply.accepted} events accepted, {len(reply.rejected)} rejected")
        request = query_service_pb2.GetWidgetRequest(
            tenant_id=args.tenant, campaign_id=campaign_id, widget_id="email_statistics"
        )
        stub = query_service_pb2_grpc.QueryServiceStub(query)
        deadline = time.monotonic() + 10
        while True:  # visible within about a second of the acknowledgement
            widget = stub.GetWidget(request, timeout=10)
            clicks = next(m.value for m in widget.metrics if m.id == "clicks")
            if clicks >= 1 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    print(widget.title)
    for metric in widget.metrics:
        rate = f"  ({metric.rate:.0%})" if metric.HasField("rate") else ""
        print(f"  {metric.label:<18} {metric.value:>6.0f}{rate}")


if __name__ == "__main__":
    main()
