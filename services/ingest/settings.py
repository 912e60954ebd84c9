from __future__ import annotations

from dataclasses import dataclass

from campaignreports.settings import CommonSettings, ListenAddress, env


@dataclass(frozen=True)
class IngestSettings(CommonSettings):
    ingest_listen: ListenAddress = env(
        "CR_INGEST_LISTEN", ListenAddress("127.0.0.1:50051"), doc="Address of the IngestService gRPC server."
    )
    max_events_per_request: int = env(
        "CR_INGEST_MAX_EVENTS", 10_000, doc="Events per request above which it is RESOURCE_EXHAUSTED."
    )
    publish_timeout_seconds: float = env(
        "CR_PUBLISH_TIMEOUT_SECONDS", 5.0, doc="How long to wait for JetStream's acknowledgement."
    )
