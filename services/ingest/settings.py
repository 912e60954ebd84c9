from __future__ import annotations

from dataclasses import dataclass

from campaignreports.settings import CommonSettings, ListenAddress, env


@dataclass(frozen=True)
class IngestSettings(CommonSettings):
    ingest_listen: ListenAddress = env(
        "CR_INGEST_LISTEN", ListenAddress("127.0.0.1:50051"), doc="Address of the IngestService gRPC server."
    )
    max_events_per_request: int = env(
        "CR_INGEST_MAX_EVENTS_PER_REQUEST",
        10_000,
        renamed_from="CR_INGEST_MAX_EVENTS",
        doc="Events per request above which it is RESOURCE_EXHAUSTED.",
    )
    max_request_bytes: int = env(
        "CR_INGEST_MAX_REQUEST_BYTES",
        16 * 1024 * 1024,
        doc="Bytes per request above which it is RESOURCE_EXHAUSTED.",
    )
    max_concurrent_rpcs: int = env(
        "CR_INGEST_MAX_CONCURRENT_RPCS",
        1_000,
        doc="Calls (and open streams) served at once; more are RESOURCE_EXHAUSTED.",
    )
    requests_in_flight_per_call: int = env(
        "CR_INGEST_REQUESTS_IN_FLIGHT_PER_CALL",
        32,
        doc="Requests of one IngestStream call processed at once; the call is not read further meanwhile.",
        renamed_from="CR_INGEST_STREAM_WINDOW",
    )
    linger_seconds: float = env(
        "CR_INGEST_LINGER_SECONDS",
        0.002,
        doc="Group commit: how long events wait for others to share their JetStream message.",
    )
    max_inflight_messages: int = env(
        "CR_INGEST_MAX_INFLIGHT_MESSAGES", 64, doc="JetStream messages awaiting acknowledgement at once."
    )
    publish_timeout_seconds: float = env(
        "CR_INGEST_PUBLISH_TIMEOUT_SECONDS",
        5.0,
        renamed_from="CR_PUBLISH_TIMEOUT_SECONDS",
        doc="How long to wait for JetStream's acknowledgement.",
    )
