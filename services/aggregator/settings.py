from __future__ import annotations

from dataclasses import dataclass

from campaignreports.settings import CommonSettings, ListenAddress, env


@dataclass(frozen=True)
class AggregatorSettings(CommonSettings):
    aggregator_listen: ListenAddress = env(
        "CR_AGGREGATOR_LISTEN",
        ListenAddress("127.0.0.1:50053"),
        doc="Address of the aggregator's gRPC health endpoint (probes).",
    )
    consumer_name: str = env("CR_CONSUMER_NAME", "aggregator", doc="Durable JetStream consumer name.")
    fetch_batch: int = env("CR_AGGREGATOR_FETCH_BATCH", 64, doc="JetStream messages fetched per insert.")
    fetch_wait_seconds: float = env(
        "CR_AGGREGATOR_FETCH_WAIT_SECONDS",
        0.2,
        doc="Longest wait for a fetch to fill; bounds the added latency at low traffic.",
    )
    migrate_on_start: bool = env(
        "CR_MIGRATE_ON_START", True, doc="Apply pending schema migrations when the aggregator starts."
    )
