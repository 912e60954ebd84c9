from __future__ import annotations

from dataclasses import dataclass

from campaignreports.aggregator.writer import Slicing
from campaignreports.settings import CommonSettings, ListenAddress, env


@dataclass(frozen=True)
class AggregatorSettings(CommonSettings):
    aggregator_listen: ListenAddress = env(
        "CR_AGGREGATOR_LISTEN",
        ListenAddress("127.0.0.1:50053"),
        doc="Address of the aggregator's gRPC health endpoint (probes).",
    )
    fetch_batch: int = env(
        "CR_AGGREGATOR_FETCH_BATCH",
        128,
        doc="JetStream messages fetched per partition per insert (larger blocks load faster).",
    )
    round_events: int = env(
        "CR_AGGREGATOR_ROUND_EVENTS",
        524_288,
        doc="Events the next round may gather by fetching again while the previous one is stored: a "
        "backlog loads in large blocks, which the engine stores faster; quiet traffic still goes at once.",
    )
    insert_slices: int = env(
        "CR_AGGREGATOR_INSERT_SLICES",
        2,
        doc="Inserts a large round is split into, run side by side (ranges of minutes): the engine runs "
        "one insert's views mostly on one core. About the cores the engine may use; 1 for one insert.",
    )
    slice_events: int = env(
        "CR_AGGREGATOR_SLICE_EVENTS",
        100_000,
        doc="Fewest events in a slice of a round (CR_AGGREGATOR_INSERT_SLICES): a smaller round is one "
        "insert. Slicing pays while the aggregator works through a backlog (full rounds); on cores shared "
        "with ingest, rounds of 30-170k events sliced loaded 8 % slower.",
    )
    fetch_wait_seconds: float = env(
        "CR_AGGREGATOR_FETCH_WAIT_SECONDS",
        0.2,
        doc="Longest wait for a fetch to fill; bounds the added latency at low traffic.",
    )
    replicas: int = env(
        "CR_AGGREGATOR_REPLICAS",
        1,
        doc="Aggregator replicas sharing the stream; replica i consumes partitions p with p % replicas == i.",
    )
    replica_index: int = env(
        "CR_AGGREGATOR_REPLICA_INDEX", 0, doc="This replica's index, 0 .. CR_AGGREGATOR_REPLICAS-1."
    )
    ack_wait_seconds: float = env(
        "CR_AGGREGATOR_ACK_WAIT_SECONDS",
        30.0,
        doc="How long JetStream waits for an acknowledgement before redelivering (the recovery time).",
    )
    max_attempts: int = env(
        "CR_AGGREGATOR_MAX_ATTEMPTS",
        3,
        doc="Attempts to store a message ClickHouse refuses before it is dead-lettered.",
    )
    writer_max_keys: int = env(
        "CR_AGGREGATOR_WRITER_MAX_KEYS",
        20_000_000,
        doc="Event and profile keys the writer keeps in memory (12 bytes each at most); beyond it "
        "the least recently written campaigns are forgotten and reloaded from ClickHouse when met again.",
    )
    migrate_wait_seconds: float = env(
        "CR_AGGREGATOR_MIGRATE_WAIT_SECONDS",
        300.0,
        doc="`migrate`: how long to wait for ClickHouse to answer.",
        renamed_from="CR_MIGRATE_WAIT_SECONDS",
    )
    migrate_on_start: bool = env(
        "CR_AGGREGATOR_MIGRATE_ON_START",
        True,
        doc="Apply pending schema migrations when the aggregator starts.",
        renamed_from="CR_MIGRATE_ON_START",
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 <= self.replica_index < self.replicas:
            raise ValueError("CR_AGGREGATOR_REPLICA_INDEX must be below CR_AGGREGATOR_REPLICAS")
        if self.replicas > self.stream_partitions:
            raise ValueError("CR_AGGREGATOR_REPLICAS must not exceed CR_STREAM_PARTITIONS")
        if self.max_attempts < 1:
            raise ValueError("CR_AGGREGATOR_MAX_ATTEMPTS must be at least 1")
        if self.round_events < 1:
            raise ValueError("CR_AGGREGATOR_ROUND_EVENTS must be at least 1")
        if self.insert_slices < 1:
            raise ValueError("CR_AGGREGATOR_INSERT_SLICES must be at least 1")
        if self.slice_events < 1:
            raise ValueError("CR_AGGREGATOR_SLICE_EVENTS must be at least 1")

    @property
    def slicing(self) -> Slicing:
        """How the rounds this aggregator starts are split into inserts."""
        return Slicing(self.insert_slices, self.slice_events)

    @property
    def partitions(self) -> list[int]:
        """The stream partitions this replica is the one writer of."""
        return [p for p in range(self.stream_partitions) if p % self.replicas == self.replica_index]
