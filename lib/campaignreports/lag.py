"""How far the reports lag behind the events accepted: read from JetStream, for the metrics.

Every `CR_LAG_INTERVAL_SECONDS`, for each stream partition, the aggregator's durable consumer
says how many messages it has not yet acknowledged, and the stream gives the times of the oldest
such message and of the newest acknowledged one. Three gauges per partition follow:

- `aggregator.consumer.pending`: messages accepted by ingest and not yet stored;
- `aggregator.consumer.pending_age`: the age in seconds of the oldest of them (0 when none);
- `aggregator.freshness`: how old the newest event a report can show is, in seconds, while
  events wait to be stored (0 when every accepted event is visible).

The aggregator reports its own partitions; the ingest service reports every partition, so that
the lag stays visible (and alerts fire) while no aggregator runs at all.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import nats.errors
import nats.js.errors
from nats.js.client import JetStreamContext
from opentelemetry import metrics

from campaignreports.jetstream import consumer_name, partition_subject
from campaignreports.service import Periodic
from campaignreports.settings import CommonSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PartitionLag:
    pending: int
    pending_age: float
    freshness: float


class ConsumerLag(Periodic):
    """Reads the consumers' lag periodically and serves it as gauges (a ServiceHost component)."""

    task_name = "consumer-lag"

    def __init__(
        self, js: JetStreamContext, settings: CommonSettings, partitions: Sequence[int], meter: metrics.Meter
    ) -> None:
        super().__init__(settings.lag_interval_seconds)
        self._js = js
        self._settings = settings
        self._partitions = list(partitions)
        self._lag: dict[int, PartitionLag] = {}
        for name, unit, description in (
            ("aggregator.consumer.pending", "{message}", "Messages accepted and not yet stored"),
            ("aggregator.consumer.pending_age", "s", "Age of the oldest message not yet stored"),
            ("aggregator.freshness", "s", "How old the newest visible event is while events wait (0: fresh)"),
        ):
            meter.create_observable_gauge(name, [self._observer(name)], unit=unit, description=description)

    def _observer(self, name: str) -> Callable[[metrics.CallbackOptions], Iterable[metrics.Observation]]:
        """The callback of one gauge: its field of every partition's last reading."""
        field = name.rpartition(".")[2]

        def observe(_: metrics.CallbackOptions) -> Iterable[metrics.Observation]:
            for partition, lag in sorted(self._lag.items()):
                yield metrics.Observation(getattr(lag, field), {"partition": str(partition)})

        return observe

    async def tick(self) -> None:
        """Read every partition; one that cannot be read keeps its last reading (a metric never
        stops the service it describes)."""
        for partition in self._partitions:
            try:
                self._lag[partition] = await self.read(partition)
            except (nats.errors.Error, TimeoutError) as exc:  # NATS away: the gauges wait
                log.debug("lag of partition %d not read (%s)", partition, exc)
            except Exception:
                log.warning("lag of partition %d not read", partition, exc_info=True)

    async def read(self, partition: int) -> PartitionLag:
        """The partition's lag now (no consumer yet: everything in the partition is pending)."""
        stream = self._settings.stream_name
        subject = partition_subject(self._settings, partition)
        try:
            info = await self._js.consumer_info(stream, consumer_name(self._settings, partition))
            pending = (info.num_pending or 0) + (info.num_ack_pending or 0)
            acknowledged = info.ack_floor.stream_seq if info.ack_floor else 0
        except nats.js.errors.NotFoundError:
            state = await self._js.stream_info(stream, subjects_filter=subject)
            pending, acknowledged = (state.state.subjects or {}).get(subject, 0), 0
        if pending == 0:
            return PartitionLag(0, 0.0, 0.0)
        now = datetime.now(UTC)
        oldest = await self._time(stream, subject, acknowledged + 1)
        newest_visible = await self._time(stream, subject, acknowledged) if acknowledged else oldest
        age = max(0.0, (now - oldest).total_seconds()) if oldest else 0.0
        freshness = max(0.0, (now - newest_visible).total_seconds()) if newest_visible else age
        return PartitionLag(pending, age, freshness)

    async def _time(self, stream: str, subject: str, sequence: int) -> datetime | None:
        """When the partition's first message at or after `sequence` was accepted."""
        try:
            message = await self._js.get_msg(stream, seq=sequence, subject=subject, next=True)
        except nats.js.errors.NotFoundError:
            return None
        return message.time
