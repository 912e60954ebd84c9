"""The aggregator: durable pull consumers that store the event stream in ClickHouse.

Each stream partition has its own durable consumer, and this replica consumes only the
partitions it owns (`AggregatorSettings.partitions`), so every partition, and therefore every
campaign, has exactly one writer: the condition under which the schema's per-event dedup is
exact (see `campaignreports.schema`).

Each round fetches from every owned partition at once, decodes, and stores all events as one
block through the writer (which drops duplicates and numbers profiles, see `writer`), and
acknowledges only after ClickHouse stored them: a crash before the acknowledgement means
redelivery. While a round is stored the next one keeps fetching, up to
CR_AGGREGATOR_ROUND_EVENTS events taken oldest first: a backlog goes in large blocks, which the
engine stores faster, and a quiet stream's events still go at once.

Rounds are written ahead: before inserting, the round's members (partition, stream sequence)
and token go to a NATS key-value entry of this replica; after the acknowledgements the entry is
deleted. A replica that finds an entry at start-up (it crashed mid-round) waits for those
messages to be redelivered and inserts exactly that round again with the same token, which is
what makes an interrupted insert complete without double counting (see
`campaignreports.schema`).

Failures:
- a message that cannot be decoded goes straight to the dead-letter subject (with the reason in
  a header) and is acknowledged, so it cannot block its partition;
- ClickHouse unreachable: retried with capped exponential backoff, nothing acknowledged;
- ClickHouse refusing the data: the messages of the round are stored one by one, and a message
  still refused after CR_AGGREGATOR_MAX_ATTEMPTS attempts is dead-lettered;
- NATS failing (a cluster node gone, a leader being elected): a partition whose fetch fails is
  bound again every round until that works, recording a round is retried, and a lost
  acknowledgement only means a redelivery, which is not counted again.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Literal

import nats.errors
from clickhouse_connect.driver.exceptions import OperationalError
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.client import JetStreamContext
from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue
from opentelemetry import metrics, trace

from campaignreports import jetstream
from campaignreports.aggregator.settings import AggregatorSettings
from campaignreports.aggregator.writer import ONE_INSERT, Decoded, Prepared, Slicing, Writer
from campaignreports.clickhouse import ClickHouse
from campaignreports.jetstream import TRACE_LINKS_HEADER, consumer_name, partition_subject
from campaignreports.stream import batch
from campaignreports.telemetry import Telemetry, extract_context, links_from_traceparents

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 5.0
DEAD_REASON_HEADER = "Campaign-Reports-Dead-Reason"
DEAD_SOURCE_HEADER = "Campaign-Reports-Dead-Source"


@dataclass
class _Fetched:
    """A fetched message, decoded as soon as it arrives (overlapping the round being stored)."""

    message: Msg
    decoded: Decoded | None
    error: str = ""


def _decode(messages: list[Msg]) -> list[_Fetched]:
    fetched = []
    for message in messages:
        try:
            table = batch.decode(message.data, message.headers)
        except batch.UndecodableBatch as exc:
            fetched.append(_Fetched(message, None, str(exc)))
            continue
        fetched.append(_Fetched(message, Decoded.of(table)))
    return fetched


Member = tuple[int, int]  # (partition, stream sequence)


def member(message: Msg) -> Member:
    return int(message.subject.rpartition(".")[2]), message.metadata.sequence.stream


def round_token(members: list[Member]) -> str:
    """The deterministic token of a round: the same messages always give the same token."""
    return hashlib.blake2b(json.dumps(sorted(members)).encode(), digest_size=16).hexdigest()


@dataclass(frozen=True)
class Round:
    """A round as written ahead: its token, its messages, and how its events are split into
    inserts (kept with it, so that a round completed after a restart with other settings is
    cut as it was first; a record without one is from before slicing: one insert)."""

    token: str
    members: frozenset[Member]
    slicing: Slicing = ONE_INSERT

    def encode(self) -> bytes:
        return json.dumps(
            {
                "token": self.token,
                "members": sorted(self.members),
                "slices": self.slicing.slices,
                "slice_events": self.slicing.min_events,
            }
        ).encode()

    @classmethod
    def decode(cls, raw: bytes) -> Round:
        data = json.loads(raw)
        slicing = Slicing(data.get("slices", 1), data.get("slice_events", 0))
        return cls(data["token"], frozenset((p, q) for p, q in data["members"]), slicing)


def write(writer: Writer, decoded: Decoded, token: str, slicing: Slicing = ONE_INSERT) -> Prepared:
    """Store events with `token`, so that a retry of the same block with the same token
    completes whatever an interrupted one left undone (see campaignreports.schema)."""
    prepared = writer.prepare(decoded, token)
    writer.store(prepared, slicing)
    return prepared


def is_nats_failure(exc: BaseException) -> bool:
    return isinstance(exc, nats.errors.Error)


def is_unavailable(exc: BaseException) -> bool:
    """ClickHouse could not be reached (retry forever) rather than refusing the data."""
    return isinstance(exc, OperationalError | OSError | TimeoutError)


class Aggregator:
    """Consumes the owned stream partitions into ClickHouse (a ServiceHost component)."""

    service_names: tuple[str, ...] = ()

    def __init__(
        self,
        nc: jetstream.NatsClient,
        clickhouse: ClickHouse,
        settings: AggregatorSettings,
        telemetry: Telemetry,
    ) -> None:
        self._nc = nc
        self._js = nc.jetstream()
        self._clickhouse = clickhouse
        self._writer = Writer(clickhouse, max_keys=settings.writer_max_keys)
        self._settings = settings
        self._tracer = telemetry.tracer(__name__)
        meter = telemetry.meter(__name__)
        self._stored = meter.create_counter("aggregator.events.stored", description="Events inserted")
        self._dead = meter.create_counter("aggregator.messages.dead", description="Messages dead-lettered")
        self._insert_duration = meter.create_histogram(
            "aggregator.insert.duration", unit="ms", description="Time to store one round in ClickHouse"
        )
        self._insert_rows = meter.create_counter(
            "aggregator.insert.rows",
            description="Event rows inserted (new events; duplicates are dropped first)",
        )
        self._duplicates = meter.create_counter(
            "aggregator.duplicates.dropped", description="Events already stored, dropped before inserting"
        )
        self._retries = meter.create_counter(
            "aggregator.retries",
            description="Operations retried, by `what`: nats_unavailable, clickhouse_unavailable or "
            "clickhouse_refused",
        )
        self._rebinds = meter.create_counter(
            "aggregator.rebinds", description="Partition subscriptions bound again after a failed fetch"
        )
        meter.create_observable_gauge(
            "aggregator.writer.memory",
            [lambda _: [metrics.Observation(self._writer.held_bytes())]],
            unit="By",
            description="Memory of the campaigns' event keys, profile numbers and engagement state the "
            "writer holds (bounded by CR_AGGREGATOR_WRITER_MAX_KEYS)",
        )
        # Every series exists from the start, at 0: an alert on an increase sees the first one.
        self._dead.add(0)
        for what in ("nats_unavailable", "clickhouse_unavailable", "clickhouse_refused"):
            self._retries.add(0, {"what": what})
        for partition in settings.partitions:
            self._rebinds.add(0, {"partition": str(partition)})
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # Partition → its subscription, or None while it has to be bound again.
        self._subscriptions: dict[int, JetStreamContext.PullSubscription | None] = {}
        self._rounds: KeyValue | None = None
        self._round_key = f"{settings.consumer_name}.{settings.replicas}.{settings.replica_index}"
        self._unfinished: Round | None = None
        self._unfinished_since = 0.0
        self._held: dict[Member, _Fetched] = {}
        # What the consuming loop is waiting for, while an operation is retried.
        self._waiting_for: str | None = None

    async def drain(self) -> None:
        """No long-lived streams."""

    def problems(self) -> dict[str, str]:
        """NOT_SERVING while some partition cannot be consumed or a dependency is retried: the
        aggregator is alive but not counting, which its readiness must say."""
        unbound = sorted(p for p, s in self._subscriptions.items() if s is None)
        if unbound:
            return {"": f"cannot consume partitions {unbound} (binding them again)"}
        if self._waiting_for is not None:
            return {"": f"waiting for {self._waiting_for}"}
        return {}

    def register(self, server: object) -> None:
        """No gRPC service of its own: the host serves health only."""

    async def start(self) -> None:
        self._rounds = await jetstream.open_key_value(
            self._js, f"{self._settings.stream_name}_ROUNDS", self._settings
        )
        try:
            entry = await self._rounds.get(self._round_key)
            if entry.value:
                self._unfinished = Round.decode(entry.value)
                self._unfinished_since = time.monotonic()
                log.warning(
                    "an interrupted round of %d messages will be completed once redelivered",
                    len(self._unfinished.members),
                )
        except KeyNotFoundError:
            pass
        for partition in self._settings.partitions:
            self._subscriptions[partition] = await self._subscribe(partition)
        log.info("consuming partitions %s of %s", self._settings.partitions, self._settings.stream_name)
        self._task = asyncio.create_task(self._consume(), name="aggregator-consume")

    def background(self) -> asyncio.Task[None] | None:
        return self._task

    async def stop(self) -> None:
        """Finish the round in hand (stored and acknowledged, or returned), then unsubscribe."""
        self._stopping.set()
        if self._task is not None and not self._task.done():
            await self._task
        held, self._held = [item.message for item in self._held.values()], {}
        await self._return_messages(held)  # fetched but not stored: let them be redelivered now
        for subscription in self._subscriptions.values():
            if subscription is None:
                continue
            try:
                await subscription.unsubscribe()
            except nats.errors.Error as exc:
                log.warning("unsubscribe failed: %s", exc)

    async def _subscribe(self, partition: int) -> JetStreamContext.PullSubscription:
        """Bind to the partition's durable consumer (created on first use)."""
        return await self._js.pull_subscribe(
            partition_subject(self._settings, partition),
            durable=consumer_name(self._settings, partition),
            stream=self._settings.stream_name,
            config=ConsumerConfig(
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.ALL,
                ack_wait=self._settings.ack_wait_seconds,
                # Bounds what a replica holds in memory, notably while an interrupted
                # round waits for its redelivery.
                max_ack_pending=max(4 * self._settings.fetch_batch, 256),
            ),
        )

    async def _unbind(self, partition: int, reason: BaseException) -> None:
        """Drop a partition's subscription after a failed fetch; it is bound afresh next round.
        On a NATS cluster a consumer whose leader moved or is being elected answers 503, and
        an old subscription may keep failing after it has a leader again."""
        log.warning("fetch from partition %d failed (%s); binding it again", partition, reason)
        old, self._subscriptions[partition] = self._subscriptions[partition], None
        if old is not None:
            with contextlib.suppress(nats.errors.Error):
                await old.unsubscribe()

    async def _rebind(self) -> None:
        """Bind every partition left unbound by a failure; a failure leaves it for the next round."""
        for partition, subscription in self._subscriptions.items():
            if subscription is not None:
                continue
            try:
                self._subscriptions[partition] = await self._subscribe(partition)
                self._rebinds.add(1, {"partition": str(partition)})
                log.info("partition %d bound again", partition)
            except nats.errors.Error as exc:
                log.warning("binding partition %d failed (%s); retrying", partition, exc)

    async def _fetch(self, subscription: JetStreamContext.PullSubscription) -> list[Msg]:
        try:
            return await subscription.fetch(
                self._settings.fetch_batch, timeout=self._settings.fetch_wait_seconds
            )
        except (TimeoutError, nats.errors.TimeoutError):
            return []

    async def _consume(self) -> None:
        """Fetch and decode the next round while the previous one is being stored: decoding is
        Python work and storing mostly the engine's, so on two cores they overlap. Rounds are
        still stored one after another (each is written ahead, then acknowledged)."""
        storing: asyncio.Task[None] | None = None
        try:
            while not self._stopping.is_set():
                await self._rebind()
                fetched = await self._fetch_round()
                # While a round is stored, the next one grows up to its size in events: under a
                # backlog the engine stores realistic events in blocks of 256k 1.25 times as fast as
                # in blocks of 128k, and in blocks of 512k 1.1 times as fast again (1M: no faster).
                while fetched and storing is not None and not storing.done() and not self._stopping.is_set():
                    if self._held_events() >= self._settings.round_events:
                        break
                    fetched = await self._fetch_round()
                if storing is not None:
                    await storing
                    storing = None
                if None in self._subscriptions.values():
                    await asyncio.sleep(0.5)
                selected = self._next_round()
                if selected is not None:
                    storing = asyncio.create_task(self._store(*selected), name="aggregator-store")
        finally:
            if storing is not None:
                await storing

    async def _fetch_round(self) -> int:
        """Fetch from every bound partition at once and decode; the number of messages fetched."""
        bound = [(p, s) for p, s in self._subscriptions.items() if s is not None]
        # Every fetch runs to its end even when another fails: a fetch left running would
        # share its subscription with the next one.
        fetched = await asyncio.gather(*(self._fetch(s) for _, s in bound), return_exceptions=True)
        messages = []
        for (partition, _), result in zip(bound, fetched, strict=True):
            if isinstance(result, nats.errors.Error):
                await self._unbind(partition, result)
            elif isinstance(result, BaseException):
                raise result
            else:
                messages += result
        for item in await asyncio.to_thread(_decode, messages):
            self._held[member(item.message)] = item  # a redelivery replaces the older copy
        return len(messages)

    def _held_events(self) -> int:
        """Events in the messages fetched and not yet in a round."""
        return sum(len(item.decoded or ()) for item in self._held.values())

    def _next_round(self) -> tuple[list[_Fetched], Round] | None:
        """The messages of the next round, in a deterministic order, and the round."""
        if self._unfinished is not None:
            if self._unfinished.members <= self._held.keys():
                members = sorted(self._unfinished.members)
                return [self._held.pop(m) for m in members], self._unfinished
            if time.monotonic() - self._unfinished_since < 3 * self._settings.ack_wait_seconds:
                return None  # its messages come back once their ack wait expires
            # Not all of it came back: it was acknowledged, so it had been stored completely.
            log.warning("the interrupted round was already complete; carrying on")
            self._unfinished = None
        if not self._held:
            return None
        # The oldest messages first (stream order, across partitions), up to the round's size.
        members, events = [], 0
        for candidate in sorted(self._held, key=lambda m: m[1]):
            size = len(self._held[candidate].decoded or ())
            if members and events + size > self._settings.round_events:
                break
            members.append(candidate)
            events += size
        members.sort()
        round_ = Round(round_token(members), frozenset(members), self._settings.slicing)
        return [self._held.pop(m) for m in members], round_

    async def _store(self, items: list[_Fetched], round_: Round) -> None:
        messages = [item.message for item in items]
        token = round_.token
        if round_ is not self._unfinished and not await self._write_ahead(round_):
            await self._return_messages(messages)
            return
        self._unfinished = None
        decoded: list[_Fetched] = []
        batches: list[Decoded] = []
        for item in items:
            if item.decoded is None:
                await self._dead_letter(item.message, item.error)
            else:
                decoded.append(item)
                batches.append(item.decoded)
        if not decoded:
            await self._round_done()
            return
        with ExitStack() as spans:
            # One span per message, in the trace of the first ingest call whose events it holds,
            # linked to the traces of the others.
            for item in decoded:
                headers = item.message.headers or {}
                spans.enter_context(
                    self._tracer.start_as_current_span(
                        "aggregator.store",
                        context=extract_context(headers),
                        links=links_from_traceparents(headers.get(TRACE_LINKS_HEADER)),
                        kind=trace.SpanKind.CONSUMER,
                        attributes={"messaging.batch.message_count": len(decoded)},
                    )
                )
            log.debug("storing %d messages (round %s)", len(decoded), token)
            outcome = await self._insert_round(Decoded.concat(batches), round_)
            if outcome is None:
                await self._finish(decoded)
                await self._round_done()
                return
            if outcome == "stopping":
                await self._return(decoded)
                return
            log.warning(
                "ClickHouse refused a block of %d messages (%s); storing them one by one",
                len(decoded),
                outcome,
            )
            for item in decoded:
                await self._store_alone(item, round_)
            await self._round_done()

    async def _write_ahead(self, round_: Round) -> bool:
        """Record the round before inserting it, retrying while NATS is unavailable (a cluster
        node going away, a stream leader being elected); False if the service stops first."""
        rounds = self._rounds
        assert rounds is not None
        return await self._retrying(
            lambda: rounds.put(self._round_key, round_.encode()), is_nats_failure, "NATS (round record)"
        )

    async def _retrying(
        self,
        operation: Callable[[], Awaitable[object]],
        is_transient: Callable[[BaseException], bool],
        what: str,
    ) -> bool:
        """Run `operation` until it succeeds, retrying transient failures with capped exponential
        backoff; False if the service stops first. Other failures propagate."""
        delay = 0.1
        while True:
            try:
                await operation()
                self._waiting_for = None
                return True
            except Exception as exc:
                if not is_transient(exc):
                    self._waiting_for = None
                    raise
                log.warning("%s unavailable (%s); retrying in %.1fs", what, exc, delay)
                self._retries.add(1, {"what": f"{what.partition(' ')[0].lower()}_unavailable"})
                self._waiting_for = what
            if self._stopping.is_set():
                return False
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF_SECONDS)

    async def _round_done(self) -> None:
        """Forget the stored round. If NATS is unavailable the entry stays until the next round
        overwrites it; a restart in between waits for its redelivery, then carries on."""
        assert self._rounds is not None
        try:
            await self._rounds.delete(self._round_key)
        except nats.errors.Error as exc:
            log.warning("clearing the stored round in NATS failed (%s)", exc)

    async def _store_alone(self, item: _Fetched, round_: Round) -> None:
        assert item.decoded is not None
        own_token = f"{round_.token}/{member(item.message)}"
        for _ in range(self._settings.max_attempts):
            outcome = await self._insert(item.decoded, own_token, round_.slicing)
            if outcome is None:
                await self._finish([item])
                return
            if outcome == "stopping":
                await self._return([item])
                return
        await self._dead_letter(item.message, f"refused by ClickHouse: {outcome}")

    async def _insert_round(self, decoded: Decoded, round_: Round) -> str | None:
        """Insert, retrying a refusal with the same token: a refusal may come from a view late in
        the chain after earlier tables were written, and only the same token completes those."""
        delay = 0.2
        outcome = await self._insert(decoded, round_.token, round_.slicing)
        try:
            for _ in range(self._settings.max_attempts - 1):
                if outcome is None or outcome == "stopping":
                    return outcome
                log.warning("ClickHouse refused the round (%s); retrying in %.1fs", outcome, delay)
                self._retries.add(1, {"what": "clickhouse_refused"})
                self._waiting_for = f"ClickHouse, which refused the round ({outcome})"
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF_SECONDS)
                outcome = await self._insert(decoded, round_.token, round_.slicing)
            return outcome
        finally:
            self._waiting_for = None

    async def _insert(self, decoded: Decoded, token: str, slicing: Slicing) -> str | None:
        """None once stored; "stopping" if the service stops while ClickHouse is unreachable;
        otherwise the reason ClickHouse refused the events."""
        if not len(decoded):
            return None
        prepared: list[Prepared] = []

        async def attempt() -> None:
            prepared.append(await self._clickhouse.run(write, self._writer, decoded, token, slicing))

        started = time.perf_counter()
        try:
            stored = await self._retrying(attempt, is_unavailable, "ClickHouse")
        except Exception as exc:
            self._insert_duration.record((time.perf_counter() - started) * 1000, {"outcome": "refused"})
            return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if not stored:
            return "stopping"
        self._insert_duration.record((time.perf_counter() - started) * 1000, {"outcome": "stored"})
        self._insert_rows.add(prepared[-1].count)
        self._duplicates.add(prepared[-1].duplicates)
        return None

    async def _finish(self, items: list[_Fetched]) -> None:
        for item in items:
            await _settle(item.message, "ack")
        self._stored.add(sum(len(item.decoded or ()) for item in items))
        await self._announce(items)

    async def _announce(self, items: list[_Fetched]) -> None:
        """Name the campaigns just stored, for the live reports showing them (a hint: a lost
        notice only means the report comes at its next interval)."""
        campaigns = frozenset().union(*(item.decoded.campaigns for item in items if item.decoded is not None))
        try:
            await self._nc.publish(self._settings.stored_subject, jetstream.encode_stored_notice(campaigns))
        except nats.errors.Error as exc:
            log.debug("stored-round notice not sent (%s)", exc)

    async def _return(self, items: list[_Fetched]) -> None:
        await self._return_messages([item.message for item in items])

    async def _return_messages(self, messages: list[Msg]) -> None:
        for message in messages:
            await _settle(message, "nak")

    async def _dead_letter(self, message: Msg, reason: str) -> None:
        """Keep the message on the dead-letter subject with why, then let the partition move on."""
        sequence = message.metadata.sequence.stream
        log.error("dead-lettering message %s of %s: %s", sequence, message.subject, reason)
        headers = {
            DEAD_REASON_HEADER: reason[:1000],
            DEAD_SOURCE_HEADER: f"{message.subject}#{sequence}",
        }
        encoding = (message.headers or {}).get(batch.ENCODING_HEADER)
        if encoding is not None:  # what the payload is, for whoever replays it
            headers[batch.ENCODING_HEADER] = encoding[:64]
        try:
            await self._js.publish(self._settings.dead_letter_subject, message.data, headers=headers)
        except nats.errors.Error as exc:
            log.warning("dead-lettering failed (%s); the message comes back after its ack wait", exc)
            return
        await _settle(message, "ack")
        self._dead.add(1)


async def _settle(message: Msg, how: Literal["ack", "nak"]) -> None:
    """Acknowledge or return a message. If NATS is unavailable it is redelivered after its ack
    wait, which is harmless: a redelivered event already stored is not counted again."""
    try:
        await (message.ack() if how == "ack" else message.nak())
    except nats.errors.Error as exc:
        log.warning("%s of message %s failed (%s)", how, message.metadata.sequence.stream, exc)
