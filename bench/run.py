"""`make bench`: the whole product measured on this machine, beside the raw limits.

Starts the embedded stack exactly as `make run` does (real nats-server, ingest, aggregator +
query with chDB), then measures, through the public gRPC API:

- ingest: events/s accepted for unary batches of 1, 100 and 1,000 and for IngestStream;
- end to end: events/s from the first ingest call until every event is visible in a widget;
- freshness: seconds from an ingest acknowledgement to visibility in a live widget, while a
  steady background load runs (p50/p95/p99);
- query: p50/p99 of each widget and of a whole tab, live and over 30 days by day in a +5:45
  zone, for realistic multi-channel campaigns (the traffic generator) of two sizes, loaded
  straight into the stream (the aggregator's bulk path) and queried over gRPC once the engine
  has merged what the load wrote (the email tab also before, while it merges); every tab over
  400 days by month; each tab's p99 at the largest size against its p99 at the smallest;
- query cost of extreme campaigns: one with very many distinct URLs (its email tab, whose
  top links are a top-N) and one with very many distinct profiles (distinct opens);
- resident memory of every process;
- raw limits measured in the same run: nats-py batched JetStream publish, and chDB
  `INSERT ... SELECT` into the same schema. Pipeline figures carry their ratio to a limit.

Writes bench-results/bench.json and bench-results/bench.png. `--short` is the CI-sized run.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import statistics
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from bench.aggregator import raw_engine, raw_plain, realistic
from bench.ingest import Figure, raw_jetstream, requests, rss_mib, stream, unary
from campaignreports import jetstream
from campaignreports.clickhouse import ClickHouse
from campaignreports.domain.catalog import TABS, WIDGETS
from campaignreports.schema import Dialect, migrate
from campaignreports.settings import CommonSettings, load_settings
from campaignreports.stack.__main__ import Stack, StackSettings
from campaignreports.stack.processes import free_port, free_ports
from campaignreports.stream import batch as stream_batch
from campaignreports.v1 import event_pb2, ingest_service_pb2, query_service_pb2, query_service_pb2_grpc

INGEST_STREAM = "/campaignreports.v1.IngestService/IngestStream"
ARROW_HEADERS = {stream_batch.ENCODING_HEADER: stream_batch.ARROW_ENCODING}


@dataclass(frozen=True)
class Size:
    """How much a run measures."""

    seconds: float  # per throughput figure
    end_to_end_events: int
    freshness_probes: int
    background_events_per_second: int
    datasets: tuple[int, ...]
    query_calls: int
    viewer_counts: tuple[int, ...]  # WatchReport streams on one report, each count measured
    distinct_urls: int  # the campaign whose clicks each go to another URL
    distinct_profiles: int  # the campaign whose profiles are each sent and open once
    overview_campaigns: int  # small campaigns of the tenant, for its overview


SHORT = Size(1.5, 30_000, 15, 2_000, (20_000, 60_000), 5, (1, 10), 2_000, 20_000, 500)
FULL = Size(5.0, 500_000, 100, 20_000, (1_000_000, 10_000_000), 100, (1, 10, 100), 100_000, 5_000_000, 10_000)


@dataclass
class Results:
    figures: list[Figure] = field(default_factory=list)
    freshness: list[float] = field(default_factory=list)
    queries: dict[str, list[float]] = field(default_factory=dict)
    memory: dict[str, float] = field(default_factory=dict)
    # "N viewers @ size" -> CPU share of the aggregator+query process while N WatchReport
    # streams show one campaign's email tab.
    viewers: dict[str, float] = field(default_factory=dict)
    # "<window> tab <tab>" -> its p99 (and p50) at the largest dataset over its p99 (p50) at the
    # smallest. A p99 of 100 calls is their second slowest, so it moves with a few slow calls; the
    # p50 ratio says how much of a p99 ratio the campaign's size explains.
    ratios: dict[str, float] = field(default_factory=dict)
    median_ratios: dict[str, float] = field(default_factory=dict)
    # campaign size -> seconds from the end of its load until the engine's merges were done.
    settle_seconds: dict[int, float] = field(default_factory=dict)
    # query name -> the server's own mean time of its calls (ms), from its `rpc.server.duration`.
    server_means: dict[str, float] = field(default_factory=dict)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] if ordered else float("nan")


def sent_events(tenant: str, campaign: str, count: int, start: int = 0) -> list[event_pb2.Event]:
    now = datetime.now(UTC)
    events = []
    for i in range(start, start + count):
        event = event_pb2.Event(
            event_id=f"{campaign}-{i}",
            tenant_id=tenant,
            campaign_id=campaign,
            channel=event_pb2.CHANNEL_EMAIL,
            type=event_pb2.EVENT_TYPE_SENT,
            profile_id=f"p{i}",
            recipient_domain=("gmail.com", "yahoo.com", "example.org")[i % 3],
        )
        event.occurred_at.FromDatetime(now)
        events.append(event)
    return events


class Client:
    """The bench's gRPC view of the stack."""

    def __init__(self, ingest: str, query: str) -> None:
        self.ingest_address, self.query_address = ingest, query
        self.query_channel = grpc.aio.insecure_channel(query)
        self.query = query_service_pb2_grpc.QueryServiceStub(self.query_channel)

    async def sent(self, tenant: str, campaign: str) -> float:
        widget = await self.query.GetWidget(
            query_service_pb2.GetWidgetRequest(
                tenant_id=tenant, campaign_id=campaign, widget_id="email_statistics"
            )
        )
        return next(m.value for m in widget.metrics if m.id == "sent")

    async def wait_for(self, tenant: str, campaign: str, count: int, within: float = 900) -> float:
        """Seconds until `count` SENT events of the campaign are visible."""
        start = time.perf_counter()
        while await self.sent(tenant, campaign) < count:
            if time.perf_counter() - start > within:
                raise TimeoutError(f"{campaign}: not all {count} events visible after {within:.0f}s")
            await asyncio.sleep(0.1)  # each poll is a query: polling harder slows the load it measures
        return time.perf_counter() - start


async def end_to_end(settings: CommonSettings, client: Client, size: Size) -> Figure:
    """Stream a realistic campaign with 3 weeks of history through IngestStream as fast as
    possible (requests built beforehand); time from the first call until every event is stored
    and visible."""
    campaign = f"e2e-{uuid.uuid4().hex[:6]}"
    batches, recent_sent = realistic(campaign, size.end_to_end_events, datetime.now(UTC))
    payloads = [ingest_service_pb2.IngestRequest(events=batch).SerializeToString() for batch in batches]
    count = sum(len(batch) for batch in batches)
    started = time.perf_counter()
    async with grpc.aio.insecure_channel(client.ingest_address) as channel:

        async def produce():
            for payload in payloads:
                yield payload

        async for _ in channel.stream_stream(INGEST_STREAM)(produce()):
            pass
    await drained(settings)
    await client.wait_for("bench", campaign, recent_sent)
    return Figure(
        f"end to end, realistic traffic: first ingest call -> all {count:,} visible",
        count / (time.perf_counter() - started),
    )


async def freshness(client: Client, size: Size) -> list[float]:
    """Ack-to-visible latencies of probe events while a steady background load runs."""
    stop = asyncio.Event()

    async def background() -> None:
        campaign, sent = f"load-{uuid.uuid4().hex[:6]}", 0
        async with grpc.aio.insecure_channel(client.ingest_address) as channel:
            call = channel.unary_unary("/campaignreports.v1.IngestService/Ingest")
            while not stop.is_set():
                tick = time.perf_counter()
                batch = max(1, size.background_events_per_second // 10)
                await call(
                    ingest_service_pb2.IngestRequest(
                        events=sent_events("bench", campaign, batch, sent)
                    ).SerializeToString()
                )
                sent += batch
                await asyncio.sleep(max(0.0, 0.1 - (time.perf_counter() - tick)))

    load = asyncio.create_task(background())
    latencies = []
    try:
        async with grpc.aio.insecure_channel(client.ingest_address) as channel:
            call = channel.unary_unary("/campaignreports.v1.IngestService/Ingest")
            for _ in range(size.freshness_probes):
                campaign = f"probe-{uuid.uuid4().hex[:8]}"
                await call(
                    ingest_service_pb2.IngestRequest(
                        events=sent_events("bench", campaign, 1)
                    ).SerializeToString()
                )
                acknowledged = time.perf_counter()
                await client.wait_for("bench", campaign, 1, within=60)
                latencies.append(time.perf_counter() - acknowledged)
                await asyncio.sleep(0.05)
    finally:
        stop.set()
        await load
    return latencies


async def publish(settings: CommonSettings, campaign: str, batches: Iterable[list[event_pb2.Event]]) -> None:
    """Publish batches of the bench tenant's campaign straight into its stream partition."""
    await publish_payloads(
        settings, campaign, (stream_batch.encode(stream_batch.from_events(events)) for events in batches)
    )


async def publish_payloads(settings: CommonSettings, campaign: str, payloads: Iterable[bytes]) -> None:
    """Publish encoded batches (as ingest sends them) straight into the campaign's stream
    partition (the aggregator's bulk path), 32 messages in flight."""
    nc = await jetstream.connect(settings, "bench-loader")
    js = nc.jetstream()
    subject = jetstream.partition_subject(
        settings, jetstream.partition_of("bench", campaign, settings.stream_partitions)
    )
    pending = []
    for payload in payloads:
        pending.append(js.publish(subject, payload, headers=ARROW_HEADERS))
        if len(pending) == 32:
            await asyncio.gather(*pending)
            pending = []
    await asyncio.gather(*pending)
    await jetstream.close(nc)


async def load_dataset(
    settings: CommonSettings, client: Client, campaign: str, events: int
) -> tuple[int, float]:
    """Publish a realistic multi-channel campaign of about `events` events (built and
    serialised beforehand, so the generator does not compete for the cores) straight into the
    stream, wait until aggregated; return the exact count and the seconds taken."""
    batches, recent_sent = realistic(campaign, events, datetime.now(UTC))
    payloads = [stream_batch.encode(stream_batch.from_events(events)) for events in batches]
    count = sum(len(batch) for batch in batches)
    del batches
    started = time.perf_counter()
    await publish_payloads(settings, campaign, payloads)
    await drained(settings)
    await client.wait_for("bench", campaign, recent_sent, within=1800)
    return count, time.perf_counter() - started


def email_event(
    campaign: str, event_id: str, event_type: int, profile: int, at: datetime, **details: str
) -> event_pb2.Event:
    """An email event of the bench tenant's `campaign` by its profile number `profile`."""
    event = event_pb2.Event(
        event_id=event_id,
        tenant_id="bench",
        campaign_id=campaign,
        channel=event_pb2.CHANNEL_EMAIL,
        type=event_type,
        profile_id=f"{campaign}-p{profile}",
        recipient_domain=("gmail.com", "yahoo.com", "example.org")[profile % 3],
        **details,
    )
    event.occurred_at.FromDatetime(at)
    return event


def extreme_campaign(campaign: str, profiles: int, *, urls: bool) -> Iterator[list[event_pb2.Event]]:
    """Batches of 1,000 email events over the last 23 hours: each profile sent once and then
    opening once, or (`urls`) clicking a URL of its own."""
    now = datetime.now(UTC)
    batch: list[event_pb2.Event] = []
    for number in range(profiles):
        at = now - timedelta(seconds=(number * 7919) % (23 * 3600))
        follow = event_pb2.EVENT_TYPE_CLICKED if urls else event_pb2.EVENT_TYPE_OPENED
        for event_type in (event_pb2.EVENT_TYPE_SENT, follow):
            url = f"https://shop.example/item/{number}" if event_type == event_pb2.EVENT_TYPE_CLICKED else ""
            batch.append(
                email_event(campaign, f"{campaign}-{number}-{event_type}", event_type, number, at, url=url)
            )
        if len(batch) >= 1_000:
            yield batch
            batch = []
    if batch:
        yield batch


async def extreme_latencies(
    settings: CommonSettings, client: Client, size: Size, query_pid: int
) -> dict[str, list[float]]:
    """The email tab's latencies (live and 30 days) for the many-URLs and many-profiles campaigns,
    each timed once its load's merges are done (`settled`), as the datasets' queries are."""
    timings: dict[str, list[float]] = {}
    for label, count, urls in (
        (f"{size.distinct_urls:,} distinct URLs", size.distinct_urls, True),
        (f"{size.distinct_profiles:,} distinct profiles", size.distinct_profiles, False),
    ):
        campaign = f"extreme-{'urls' if urls else 'profiles'}-{count}"
        await drained(settings)
        await publish(settings, campaign, extreme_campaign(campaign, count, urls=urls))
        await client.wait_for("bench", campaign, count, within=3600)
        await settled(query_pid, time.perf_counter())
        for window_name, window in query_windows(datetime.now(UTC)).items():
            request = _tab_request(campaign, "email", window)
            timings[f"{window_name} tab email @ {label}"] = await _timed(
                lambda r=request: client.query.GetReport(r), size.query_calls
            )
        timings.update(
            await recipient_latencies(
                client, campaign, label, urls=urls, calls=size.query_calls, profiles=count
            )
        )
    return timings


async def recipient_latencies(
    client: Client, campaign: str, label: str, *, urls: bool, calls: int, profiles: int
) -> dict[str, list[float]]:
    """ListRecipients pages of 1,000: who clicked one of the many URLs (the same page, `calls`
    times), or every page of everyone who opened, checked to list each profile once, in order."""
    who = query_service_pb2.ListRecipientsRequest(tenant_id="bench", campaign_id=campaign, page_size=1_000)
    if urls:
        who.event_type, who.url = event_pb2.EVENT_TYPE_CLICKED, "https://shop.example/item/7"
        return {
            f"ListRecipients one URL's clickers @ {label}": await _timed(
                lambda: client.query.ListRecipients(who), calls
            )
        }
    who.event_type = event_pb2.EVENT_TYPE_OPENED
    samples, listed, last = [], 0, ""
    while True:
        start = time.perf_counter()
        page = await client.query.ListRecipients(who)
        samples.append(time.perf_counter() - start)
        ids = [recipient.profile_id for recipient in page.recipients]
        if ids and (ids[0] <= last or ids != sorted(set(ids))):
            raise RuntimeError(f"ListRecipients listed a profile twice or out of order after {last!r}")
        listed, last = listed + len(ids), ids[-1] if ids else last
        if not page.next_page_token:
            break
        who.page_token = page.next_page_token
    if listed != profiles:
        raise RuntimeError(f"ListRecipients listed {listed:,} of the {profiles:,} profiles that opened")
    return {f"ListRecipients each page of 1,000 through {listed:,} recipients": samples}


def small_campaigns(count: int) -> dict[str, list[event_pb2.Event]]:
    """`count` campaigns of five profiles each (sent, delivered, two of them opening) over the
    last 23 hours, for the tenant overview."""
    now = datetime.now(UTC)
    campaigns: dict[str, list[event_pb2.Event]] = {}
    for number in range(count):
        campaign = f"overview-{number:05d}"
        at = now - timedelta(seconds=(number * 7919) % (23 * 3600))
        kinds = (
            [event_pb2.EVENT_TYPE_SENT] * 5
            + [event_pb2.EVENT_TYPE_DELIVERED] * 5
            + [event_pb2.EVENT_TYPE_OPENED] * 2
        )
        campaigns[campaign] = [
            email_event(campaign, f"{campaign}-{index}", event_type, index % 5, at)
            for index, event_type in enumerate(kinds)
        ]
    return campaigns


async def overview_latencies(settings: CommonSettings, client: Client, size: Size) -> dict[str, list[float]]:
    """The bench tenant's overview (first page of 50 by sent) once it holds `overview_campaigns`
    more campaigns, live and over 30 days; each campaign published to its own stream partition."""
    by_partition: dict[str, list[event_pb2.Event]] = {}
    for campaign, events in small_campaigns(size.overview_campaigns).items():
        partition = jetstream.partition_of("bench", campaign, settings.stream_partitions)
        by_partition.setdefault(str(partition), []).extend(events)
    await drained(settings)
    for events in by_partition.values():
        campaign = events[0].campaign_id  # any campaign of the partition names it
        await publish(settings, campaign, (events[i : i + 1_000] for i in range(0, len(events), 1_000)))
    request = query_service_pb2.GetTenantOverviewRequest(tenant_id="bench", page_size=50)
    started = time.perf_counter()
    while (await client.query.GetTenantOverview(request)).total_campaigns < size.overview_campaigns:
        if time.perf_counter() - started > 1800:
            raise TimeoutError("the overview's campaigns were not all visible after 1800 s")
        await asyncio.sleep(0.5)
    timings = {}
    label = f"{size.overview_campaigns:,}+ campaigns"
    for window_name, window in query_windows(datetime.now(UTC)).items():
        windowed = query_service_pb2.GetTenantOverviewRequest(window=window)
        windowed.MergeFrom(request)
        timings[f"{window_name} tenant overview (50 of {label})"] = await _timed(
            lambda r=windowed: client.query.GetTenantOverview(r), size.query_calls
        )
    return timings


def tab_ratios(queries: dict[str, list[float]], sizes: tuple[int, ...], at: float = 99) -> dict[str, float]:
    """Each tab's percentile `at` at the largest dataset over the same at the smallest, per window."""
    small, large = f"@ {min(sizes):,}", f"@ {max(sizes):,}"
    ratios = {}
    for name, samples in queries.items():
        if " tab " in name and name.endswith(large):
            base = queries.get(name.replace(large, small))
            if base:
                ratios[name.removesuffix(large).strip()] = percentile(samples, at) / percentile(base, at)
    return ratios


def query_windows(now: datetime) -> dict[str, query_service_pb2.TimeWindow]:
    """The windows queries are measured over: live, and 30 days by day in a +5:45 zone."""
    return {
        "live": query_service_pb2.TimeWindow(live=query_service_pb2.LiveWindow()),
        "30d": _range(now, timedelta(days=30), query_service_pb2.GRANULARITY_DAY),
    }


def _range(now: datetime, span: timedelta, granularity: int) -> query_service_pb2.TimeWindow:
    """The last `span` in Asia/Kathmandu (+5:45), in `granularity` buckets."""
    window = query_service_pb2.TimeRange(timezone="Asia/Kathmandu", granularity=granularity)
    window.start.FromDatetime(now - span)
    window.end.FromDatetime(now)
    return query_service_pb2.TimeWindow(range=window)


def metric_families(address: str) -> list[Metric]:
    """The metrics a process serves on `address` (Prometheus text), parsed."""
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=10) as reply:
        return list(text_string_to_metric_families(reply.read().decode()))


ServerTotals = Callable[[], Awaitable[dict[str, tuple[float, float]]]]


def server_totals(address: str) -> ServerTotals:
    """A reader of the query process's own call time: method -> (milliseconds, calls) so far,
    from its `rpc.server.duration` histogram (Prometheus text on its metrics port)."""

    def scrape() -> dict[str, tuple[float, float]]:
        totals: dict[str, list[float]] = {}
        for family in metric_families(address):
            if not family.name.startswith("rpc_server_duration"):
                continue
            for sample in family.samples:
                kind = 0 if sample.name.endswith("_sum") else 1 if sample.name.endswith("_count") else None
                if kind is not None:
                    totals.setdefault(sample.labels.get("rpc_method", ""), [0.0, 0.0])[kind] += sample.value
        return {method: (total[0], total[1]) for method, total in totals.items()}

    return lambda: asyncio.to_thread(scrape)


async def query_latencies(
    client: Client, campaign: str, calls: int, totals: ServerTotals | None = None
) -> tuple[dict[str, list[float]], dict[str, float]]:
    """Each widget's and tab's call times, and the server's mean time of each (when `totals`)."""
    timings: dict[str, list[float]] = {}
    server: dict[str, float] = {}

    async def timed(name: str, method: str, call: Callable[[], Awaitable[object]]) -> None:
        await call()  # warm-up
        before = await totals() if totals else {}
        timings[name] = await _timed(call, calls, warm_up=False)
        if totals is not None:
            after = await totals()
            spent, count = (after.get(method, (0, 0))[k] - before.get(method, (0, 0))[k] for k in (0, 1))
            if count:
                server[name] = spent / count

    for window_name, window in query_windows(datetime.now(UTC)).items():
        for widget in WIDGETS.values():
            request = query_service_pb2.GetWidgetRequest(
                tenant_id="bench", campaign_id=campaign, widget_id=widget.id, window=window
            )
            name = f"{window_name} widget {widget.id}"
            await timed(name, "GetWidget", partial(client.query.GetWidget, request))
        for tab in TABS:
            request = _tab_request(campaign, tab, window)
            await timed(f"{window_name} tab {tab}", "GetReport", partial(client.query.GetReport, request))
            if tab in ("email", "push"):  # one of the two waves of the channel's message, beside the whole
                one = query_service_pb2.GetReportRequest(message_id=f"{campaign}-{tab}-wave-1")
                one.MergeFrom(request)
                name = f"{window_name} tab {tab}, one message"
                await timed(name, "GetReport", partial(client.query.GetReport, one))
    # 400 days by month, every tab: the whole global retention (less an hour, so that the start
    # is still inside it when the query arrives).
    year = _range(datetime.now(UTC), timedelta(days=400, hours=-1), query_service_pb2.GRANULARITY_MONTH)
    for tab in TABS:
        request = _tab_request(campaign, tab, year)
        await timed(f"400d tab {tab}", "GetReport", partial(client.query.GetReport, request))
    return timings, server


def _tab_request(
    campaign: str, tab: str, window: query_service_pb2.TimeWindow
) -> query_service_pb2.GetReportRequest:
    return query_service_pb2.GetReportRequest(tenant_id="bench", campaign_id=campaign, tab=tab, window=window)


async def email_tab_latencies(client: Client, campaign: str, calls: int) -> dict[str, list[float]]:
    """The email tab (the largest), live and over 30 days, as `query_latencies` names them."""
    timings = {}
    for window_name, window in query_windows(datetime.now(UTC)).items():
        request = _tab_request(campaign, "email", window)
        timings[f"{window_name} tab email"] = await _timed(lambda r=request: client.query.GetReport(r), calls)
    return timings


async def settled(
    pid: int, quiet_from: float, within: float = 600, idle_share: float = 0.1, idle_seconds: int = 3
) -> float:
    """Seconds until the load's partitions are merged: the quiet merge's delay has passed since
    `quiet_from` (when the load's last insert was visible) plus the engine's wait between merge
    choices, then the process has used under `idle_share` of a core for `idle_seconds` seconds
    in a row (at most `within`).

    A load leaves the engine merging the parts it wrote (under a minute after 10M events), on
    the same two cores as the queries: the live email tab took 178 ms p99 then, 130 ms after.
    Once no insert has reached a partition for CR_CLICKHOUSE_QUIET_MERGE_SECONDS, the engine
    merges it into one part. Queries are timed on the store at rest, as a dashboard finds it
    once a load is over; the email tab is timed before as well, so the cost of the merges is on
    record."""
    started = time.perf_counter()
    # The engine looks for merges at most every 10 to 16 s while it has none to do.
    await asyncio.sleep(max(0.0, quiet_from + CommonSettings.clickhouse_quiet_merge_seconds + 30 - started))
    idle = 0
    while idle < idle_seconds and time.perf_counter() - started < within:
        before = cpu_seconds(pid)
        await asyncio.sleep(1.0)
        idle = idle + 1 if cpu_seconds(pid) - before < idle_share else 0
    return time.perf_counter() - quiet_from


async def _timed(call, calls: int, *, warm_up: bool = True) -> list[float]:
    if warm_up:
        await call()
    samples = []
    for _ in range(calls):
        start = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - start)
    return samples


async def drained(settings: CommonSettings, within: float = 1800) -> None:
    """Wait until the aggregator has nothing left to consume (so phases do not overlap).

    Timed loads wait here before confirming with a widget query (`Client.wait_for`): the
    aggregator acknowledges a message only once it is stored, so a drained stream is a stored
    one, and watching it asks NATS, not the engine. A widget polled during the load would take
    the embedded engine, which runs one statement at a time, from the inserts it measures (a
    fifth of the time at 10 polls a second)."""
    nc = await jetstream.connect(settings, "bench-drain")
    js = nc.jetstream()
    deadline = time.perf_counter() + within
    try:
        while time.perf_counter() < deadline:
            infos = [
                await js.consumer_info(settings.stream_name, f"aggregator-p{partition}")
                for partition in range(settings.stream_partitions)
            ]
            if all(info.num_pending == 0 and info.num_ack_pending == 0 for info in infos):
                return
            await asyncio.sleep(0.05)
        raise TimeoutError("the aggregator did not drain the stream")
    finally:
        await jetstream.close(nc)


def raw_chdb_inserts(rows: int, calls: int) -> tuple[Figure, Figure, dict[str, list[float]]]:
    """chDB INSERT ... SELECT of realistic rows with 3 weeks of history, in this process (its
    own engine): into the same schema, and into a plain MergeTree table; then the engine's floor
    under every widget (`raw_chdb_reads`)."""
    with tempfile.TemporaryDirectory(prefix="bench-raw-") as tmp:
        clickhouse = ClickHouse(load_settings(CommonSettings, {"CR_CLICKHOUSE_DSN": f"chdb://{tmp}"}))
        migrate(clickhouse.client, Dialect("raw"))
        engine, plain = raw_engine(clickhouse, "raw", rows), raw_plain(clickhouse, "raw", rows)
        reads = raw_chdb_reads(clickhouse, "raw", calls)
        clickhouse.close()
    return engine, plain, reads


def raw_chdb_reads(clickhouse: ClickHouse, database: str, calls: int) -> dict[str, list[float]]:
    """What a query costs the engine before it counts anything: a query without a table, and a
    parameterised sum over one campaign's totals in the 15-minute rollup (a few thousand rows),
    the smallest read a widget makes."""
    reads = {
        "SELECT 1": ("SELECT 1", {}),
        "one campaign's 15-minute totals": (
            f"SELECT sum(events) FROM {database}.rollup_15m WHERE tenant_id = {{tenant_id:String}}"
            " AND campaign_id = {campaign_id:String} AND dimension = ''",
            {"tenant_id": "bench", "campaign_id": "c0"},
        ),
    }
    timings = {}
    for name, (sql, parameters) in reads.items():
        clickhouse.query_rows(sql, parameters)  # warm-up
        samples = []
        for _ in range(calls):
            start = time.perf_counter()
            clickhouse.query_rows(sql, parameters)
            samples.append(time.perf_counter() - start)
        timings[f"raw limit: chDB {name}"] = samples
    return timings


async def raw_grpc_round_trip(client: Client, calls: int) -> dict[str, list[float]]:
    """The query server's floor: a health check, which touches no data."""
    health = health_pb2_grpc.HealthStub(client.query_channel)
    return {
        "raw limit: gRPC health check on the query server": await _timed(
            lambda: health.Check(health_pb2.HealthCheckRequest()), calls
        )
    }


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def watch_cost(client: Client, campaign: str, pid: int, viewers: int, seconds: float) -> float:
    """The CPU share (1.0 = one core) of the query process while `viewers` WatchReport streams
    show the campaign's email tab; the streams share their reads, so it should barely grow."""
    request = query_service_pb2.GetReportRequest(tenant_id="bench", campaign_id=campaign, tab="email")
    streams = [client.query.WatchReport(request) for _ in range(viewers)]

    async def follow(call: grpc.aio.UnaryStreamCall) -> None:
        async for _ in call:
            pass

    following = [asyncio.create_task(follow(call)) for call in streams]
    await asyncio.sleep(1.0)  # every stream open and its first report sent
    before, started = cpu_seconds(pid), time.perf_counter()
    await asyncio.sleep(max(seconds, 2.0))
    share = (cpu_seconds(pid) - before) / (time.perf_counter() - started)
    for call in streams:
        call.cancel()
    await asyncio.gather(*following, return_exceptions=True)
    return share


def children_memory(stack: Stack) -> dict[str, float]:
    memory = {f"{name} rss MiB": rss_mib(child.pid) for name, child in stack.children.items()}
    if stack.nats.process is not None:
        memory["nats-server rss MiB"] = rss_mib(stack.nats.process.pid)
    return memory


async def held_memory(stack: Stack) -> dict[str, float]:
    """What holds the aggregator+query process's memory: mapped files (code) against heaps,
    and from its metrics the writer's state and the engine's memory by kind (its allocator's
    heap, its tracker, merges, caches)."""
    address = stack.metrics.get("aggregator+query")
    if address is None:
        return {}
    pid = stack.children["aggregator+query"].pid
    held = {f"aggregator+query: {field} MiB": rss_mib(pid, field) for field in ("RssFile", "RssAnon")}

    for family in await asyncio.to_thread(metric_families, address):
        for sample in family.samples:
            if sample.name == "aggregator_writer_memory_bytes":
                held["aggregator+query: writer state MiB"] = sample.value / 2**20
            elif sample.name == "engine_memory_bytes":
                held[f"aggregator+query: engine {sample.labels['kind']} MiB"] = sample.value / 2**20
    return held


async def measure(stack: Stack, size: Size) -> Results:
    results = Results()
    client = Client(stack.ingest_listen, stack.query_listen)
    settings = load_settings(CommonSettings, {"CR_NATS_URL": stack.nats.url})
    step = lambda text: print(f"bench: {text}", file=sys.stderr, flush=True)  # noqa: E731
    step("raw limits")
    publish_limit = await raw_jetstream(stack.nats.url, size.seconds)
    insert_limit, plain_limit, read_limits = raw_chdb_inserts(
        max(size.end_to_end_events, 200_000), size.query_calls
    )
    results.figures += [publish_limit, insert_limit, plain_limit]
    results.queries.update(read_limits)
    results.queries.update(await raw_grpc_round_trip(client, size.query_calls))
    step("ingest")
    for batch, concurrency in ((1, 64), (100, 32), (1_000, 8)):
        results.figures.append(
            await unary(stack.ingest_listen, batch, concurrency, size.seconds, requests(batch, 50_000))
        )
    results.figures.append(await stream(stack.ingest_listen, size.seconds, requests(1_000, 50_000)))
    for figure in results.figures[3:]:
        figure.limit_name, figure.limit_events_per_second = (
            publish_limit.name,
            publish_limit.events_per_second,
        )
    step("waiting for the aggregator to drain the ingest figures' events")
    await drained(settings)
    step("end to end")
    e2e = await end_to_end(settings, client, size)
    e2e.limit_name, e2e.limit_events_per_second = insert_limit.name, insert_limit.events_per_second
    results.figures.append(e2e)
    await drained(settings)
    step("freshness under load")
    results.freshness = await freshness(client, size)
    for events in size.datasets:
        campaign = f"dataset-{events}"
        await drained(settings)
        step(f"loading {events:,} events")
        count, seconds = await load_dataset(settings, client, campaign, events)
        loaded_at = time.perf_counter()
        loaded = Figure(f"bulk load of {count:,} events (stream -> rollups)", count / seconds)
        loaded.limit_name, loaded.limit_events_per_second = insert_limit.name, insert_limit.events_per_second
        results.figures.append(loaded)
        query_pid = stack.children["aggregator+query"].pid
        step(f"the email tab at {events:,} events while the load's parts are merged")
        for name, samples in (await email_tab_latencies(client, campaign, size.query_calls)).items():
            results.queries[f"{name} @ {events:,}, right after the load"] = samples
        settle = results.settle_seconds[events] = await settled(query_pid, loaded_at)
        step(f"queries at {events:,} events, merges done {settle:.0f} s after the load")
        metrics = stack.metrics.get("aggregator+query")
        totals = server_totals(metrics) if metrics else None
        timings, server = await query_latencies(client, campaign, size.query_calls, totals)
        for name, samples in timings.items():
            results.queries[f"{name} @ {events:,}"] = samples
        results.server_means.update({f"{name} @ {events:,}": mean for name, mean in server.items()})
        step(f"WatchReport viewers at {events:,} events")
        for viewers in size.viewer_counts:
            share = await watch_cost(client, campaign, query_pid, viewers, size.seconds)
            results.viewers[f"{viewers} viewers @ {events:,}"] = share
    stored = sum(size.datasets)
    step(f"loading {min(size.datasets):,} more events into a store of {stored:,}")
    count, seconds = await load_dataset(settings, client, "dataset-more", min(size.datasets))
    loaded = Figure(f"bulk load of {count:,} events into a store of {stored:,}", count / seconds)
    loaded.limit_name, loaded.limit_events_per_second = insert_limit.name, insert_limit.events_per_second
    results.figures.append(loaded)
    step("campaigns with very many URLs and profiles")
    results.queries.update(
        await extreme_latencies(settings, client, size, stack.children["aggregator+query"].pid)
    )
    step(f"the tenant overview with {size.overview_campaigns:,} more campaigns")
    results.queries.update(await overview_latencies(settings, client, size))
    results.ratios = tab_ratios(results.queries, size.datasets)
    results.median_ratios = tab_ratios(results.queries, size.datasets, 50)
    results.memory = children_memory(stack)
    # At rest: the engine has merged what the last loads wrote (a merge holds its memory while it
    # runs), then the processes have handed freed memory back (every CR_MEMORY_RELEASE_SECONDS).
    step("memory at rest: the last loads' merges done and freed memory released")
    settle = await settled(stack.children["aggregator+query"].pid, time.perf_counter())
    await asyncio.sleep(CommonSettings.memory_release_seconds + 1)
    at_rest = children_memory(stack)
    results.memory.update({f"{name}, at rest ({settle:.0f} s later)": mib for name, mib in at_rest.items()})
    results.memory.update(await held_memory(stack))
    await client.query_channel.close()
    return results


def report(results: Results, size: Size, output: Path) -> None:
    print(f"\n{'figure':<62} {'events/s':>12} {'of raw limit':>13}")
    for figure in results.figures:
        ratio = f"{figure.ratio:.1%}" if figure.ratio is not None else "(limit)"
        print(f"{figure.name:<62} {figure.events_per_second:>12,.0f} {ratio:>13}")
    fresh = results.freshness
    load = size.background_events_per_second
    print(f"\nfreshness (ack -> visible, {len(fresh)} probes under {load:,} events/s of background load):")
    p50, p95, p99 = (percentile(fresh, p) for p in (50, 95, 99))
    print(f"  p50 {p50:.3f}s  p95 {p95:.3f}s  p99 {p99:.3f}s")
    print(
        "\nquery latency over gRPC (live: 24 h by minute; 30d: 30 days by day, 400d: 400 days by month,"
        " both in Asia/Kathmandu)"
    )
    print(
        f"{'widget or tab @ campaign size':<62} {'p50 ms':>10} {'p99 ms':>10} {'mean ms':>10} {'server':>10}"
    )
    for name, samples in results.queries.items():
        server = results.server_means.get(name)
        print(
            f"{name:<62} {percentile(samples, 50) * 1e3:>10.1f} {percentile(samples, 99) * 1e3:>10.1f}"
            f" {statistics.fmean(samples) * 1e3:>10.1f} {'' if server is None else f'{server:.1f}':>10}"
        )
    if results.ratios:
        small, large = min(size.datasets), max(size.datasets)
        print(f"\ntab p99 (p50) at {large:,} events over its p99 (p50) at {small:,} (bar: p99 <= 1.3)")
        print(f"{'tab':<62} {'p99 ratio':>10} {'p50 ratio':>10}")
        for name, ratio in results.ratios.items():
            print(f"{name:<62} {ratio:>10.2f} {results.median_ratios[name]:>10.2f}")
    for events, seconds in results.settle_seconds.items():
        print(
            f"merges after the load of {events:,} events done {seconds:.0f} s after it (queries timed after)"
        )
    print("\nWatchReport streams on one campaign's email tab (they share reads)")
    print(f"{'viewers @ campaign size':<62} {'query CPU %':>10}")
    for name, share in results.viewers.items():
        print(f"{name:<62} {share * 100:>10.1f}")
    print()
    for name, value in results.memory.items():
        print(f"{name:<62} {value:>10.0f}")
    output.mkdir(parents=True, exist_ok=True)
    data = {
        "cores": os.cpu_count(),
        "size": size.__dict__,
        "figures": [f.as_dict() for f in results.figures],
        "freshness_seconds": {
            "p50": percentile(fresh, 50),
            "p95": percentile(fresh, 95),
            "p99": percentile(fresh, 99),
            "samples": fresh,
        },
        "queries_ms": {
            n: {"p50": percentile(s, 50) * 1e3, "p99": percentile(s, 99) * 1e3}
            for n, s in results.queries.items()
        },
        "memory_mib": results.memory,
        "watch_report_cpu_share": results.viewers,
        "tab_p99_ratio_largest_to_smallest": results.ratios,
        "tab_p50_ratio_largest_to_smallest": results.median_ratios,
        "settle_seconds_after_load": results.settle_seconds,
        "server_mean_ms": results.server_means,
    }
    (output / "bench.json").write_text(json.dumps(data, indent=2))
    plot(results, output / "bench.png")
    print(f"\nwritten: {output / 'bench.json'}, {output / 'bench.png'}")


def plot(results: Results, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (fresh_axis, query_axis) = plt.subplots(1, 2, figsize=(13, 5))
    fresh = sorted(results.freshness)
    fresh_axis.plot(fresh, [i / max(1, len(fresh) - 1) for i in range(len(fresh))])
    fresh_axis.axvline(2.0, color="red", linestyle="--", label="bar: p99 <= 2 s")
    fresh_axis.set(title="Freshness: ingest ack -> visible (CDF)", xlabel="seconds", ylabel="fraction")
    fresh_axis.legend()
    names = list(results.queries)
    query_axis.boxplot(
        [[s * 1e3 for s in results.queries[n]] for n in names], orientation="horizontal", tick_labels=names
    )
    query_axis.axvline(50, color="red", linestyle="--", label="widget bar 50 ms")
    query_axis.axvline(150, color="orange", linestyle="--", label="tab bar 150 ms")
    query_axis.set(title="Query latency (gRPC)", xlabel="milliseconds")
    query_axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", action="store_true", help="the CI-sized run (about 10 minutes)")
    parser.add_argument("--output", type=Path, default=Path("bench-results"))
    parser.add_argument("--query-calls", type=int, help="calls per widget and tab (p99 needs 100)")
    args = parser.parse_args()
    size = SHORT if args.short else FULL
    if args.query_calls:
        size = dataclasses.replace(size, query_calls=args.query_calls)
    with tempfile.TemporaryDirectory(prefix="bench-stack-") as data_dir:
        settings = load_settings(
            StackSettings, {"CR_STACK_DATA_DIR": data_dir, "CR_STACK_METRICS_PORT": str(free_ports(3))}
        )
        os.environ["CR_LOG_LEVEL"] = "WARNING"
        stack = Stack(settings, f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}")
        try:
            stack.start()
            results = asyncio.run(measure(stack, size))
        finally:
            stack.stop()
    report(results, size, args.output)


if __name__ == "__main__":
    main()
