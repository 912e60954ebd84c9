"""`make bench-ingest`: events/s the ingest service accepts, beside JetStream's raw rate.

Runs a real nats-server and the ingest service as its own process (production mode), and
drives it from this process over gRPC with pre-serialised requests, so the client spends
little CPU per event. Figures:

- raw limit: nats-py publishing batched JetStream messages (1,000 events each), pipelined;
- unary Ingest with batches of 1, 100 and 1,000 events, many calls in flight;
- IngestStream with 1,000-event requests.

Everything shares the machine's cores (client, ingest, nats-server), as in the embedded stack.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import grpc
import nats
from grpc_health.v1 import health_pb2, health_pb2_grpc

from campaignreports.stack.processes import NatsServer, free_port
from campaignreports.stream.v1 import event_batch_pb2
from campaignreports.v1 import event_pb2, ingest_service_pb2

INGEST = "/campaignreports.v1.IngestService/Ingest"
INGEST_STREAM = "/campaignreports.v1.IngestService/IngestStream"


@dataclass
class Figure:
    name: str
    events_per_second: float
    limit_name: str = ""
    limit_events_per_second: float = 0.0

    @property
    def ratio(self) -> float | None:
        return self.events_per_second / self.limit_events_per_second if self.limit_events_per_second else None

    def as_dict(self) -> dict[str, object]:
        return asdict(self) | {"ratio": self.ratio}


def make_events(count: int) -> list[event_pb2.Event]:
    now = datetime.now(UTC)
    events = []
    for i in range(count):
        event = event_pb2.Event(
            event_id=str(uuid.uuid4()),
            tenant_id="bench",
            campaign_id="bench-campaign",
            message_id="m-1",
            channel=event_pb2.CHANNEL_EMAIL,
            type=event_pb2.EVENT_TYPE_DELIVERED if i % 3 else event_pb2.EVENT_TYPE_SENT,
            profile_id=f"profile-{i}",
            recipient_domain="example.com",
        )
        event.occurred_at.FromDatetime(now)
        events.append(event)
    return events


def requests(batch: int, pool_events: int) -> list[bytes]:
    """Distinct pre-serialised requests (distinct event ids), cycled by the load loops."""
    count = max(1, pool_events // batch)
    return [
        ingest_service_pb2.IngestRequest(events=make_events(batch)).SerializeToString() for _ in range(count)
    ]


async def raw_jetstream(url: str, seconds: float, batch: int = 1_000, inflight: int = 16) -> Figure:
    """The limit: nats-py publishing batched messages to a JetStream stream, pipelined."""
    nc = await nats.connect(url)
    js = nc.jetstream()
    stream = f"RAW_{uuid.uuid4().hex[:8]}"
    await js.add_stream(name=stream, subjects=[f"raw.{stream}"])
    payloads = [event_batch_pb2.EventBatch(events=make_events(batch)).SerializeToString() for _ in range(20)]
    sent = 0
    deadline = time.perf_counter() + seconds
    start = time.perf_counter()

    async def publisher(offset: int) -> None:
        nonlocal sent
        i = offset
        while time.perf_counter() < deadline:
            await js.publish(f"raw.{stream}", payloads[i % len(payloads)])
            sent += batch
            i += 1

    await asyncio.gather(*(publisher(i) for i in range(inflight)))
    elapsed = time.perf_counter() - start
    await js.delete_stream(stream)
    await nc.close()
    return Figure(f"raw nats-py JetStream publish ({batch} events/msg)", sent / elapsed)


async def unary(address: str, batch: int, concurrency: int, seconds: float, pool: list[bytes]) -> Figure:
    async with grpc.aio.insecure_channel(address) as channel:
        call = channel.unary_unary(INGEST)
        accepted = 0
        deadline = time.perf_counter() + seconds
        start = time.perf_counter()

        async def worker(offset: int) -> None:
            nonlocal accepted
            i = offset
            while time.perf_counter() < deadline:
                reply = ingest_service_pb2.IngestResponse.FromString(await call(pool[i % len(pool)]))
                accepted += reply.accepted
                i += concurrency

        await asyncio.gather(*(worker(i) for i in range(concurrency)))
        elapsed = time.perf_counter() - start
    return Figure(f"Ingest, batches of {batch} ({concurrency} calls in flight)", accepted / elapsed)


async def stream(address: str, seconds: float, pool: list[bytes], streams: int = 2) -> Figure:
    async with grpc.aio.insecure_channel(address) as channel:
        accepted = 0
        deadline = time.perf_counter() + seconds
        start = time.perf_counter()

        async def one(offset: int) -> None:
            nonlocal accepted

            async def produce() -> AsyncIterator[bytes]:
                i = offset
                while time.perf_counter() < deadline:
                    yield pool[i % len(pool)]
                    i += streams

            async for raw in channel.stream_stream(INGEST_STREAM)(produce()):
                accepted += ingest_service_pb2.IngestResponse.FromString(raw).accepted

        await asyncio.gather(*(one(i) for i in range(streams)))
        elapsed = time.perf_counter() - start
    return Figure(f"IngestStream, 1000-event requests ({streams} streams)", accepted / elapsed)


def wait_serving(address: str, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"ingest exited with code {process.returncode}")
        with grpc.insecure_channel(address) as channel:
            try:
                reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=1)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
        time.sleep(0.1)
    raise TimeoutError("ingest did not report SERVING")


def rss_mib(pid: int, field: str = "VmRSS") -> float:
    """A process's resident memory in MiB: all of it (`VmRSS`), or its share in files mapped
    (`RssFile`: program code, the embedded engine's library) or anonymous (`RssAnon`: heaps)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    return 0.0


async def measure(nats_url: str, address: str, seconds: float, pool_events: int) -> list[Figure]:
    print(f"measuring, {seconds:.0f} s per figure ...", file=sys.stderr)
    limit = await raw_jetstream(nats_url, seconds)
    figures = [limit]
    for batch, concurrency in ((1, 64), (100, 32), (1_000, 8)):
        figures.append(await unary(address, batch, concurrency, seconds, requests(batch, pool_events)))
    figures.append(await stream(address, seconds, requests(1_000, pool_events)))
    for figure in figures[1:]:
        figure.limit_name, figure.limit_events_per_second = limit.name, limit.events_per_second
    return figures


def run(seconds: float, pool_events: int) -> tuple[list[Figure], dict[str, float]]:
    """Start nats-server and the ingest service, measure, stop them."""
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        nats_server = NatsServer(Path(tmp) / "nats").start()
        address = f"127.0.0.1:{free_port()}"
        env = {"CR_NATS_URL": nats_server.url, "CR_INGEST_LISTEN": address, "CR_LOG_LEVEL": "WARNING"}
        ingest = subprocess.Popen([sys.executable, "-m", "campaignreports.ingest"], env={**os.environ, **env})
        try:
            wait_serving(address, ingest)
            figures = asyncio.run(measure(nats_server.url, address, seconds, pool_events))
            assert nats_server.process is not None
            memory = {
                "ingest_rss_mib": rss_mib(ingest.pid),
                "nats_server_rss_mib": rss_mib(nats_server.process.pid),
            }
        finally:
            ingest.send_signal(signal.SIGTERM)
            ingest.wait(30)
            nats_server.stop()
    return figures, memory


def print_table(figures: list[Figure], memory: dict[str, float], unit: str = "events/s") -> None:
    print(f"\n{'figure':<62} {unit:>12} {'of raw limit':>13}")
    for figure in figures:
        ratio = f"{figure.ratio:.0%}" if figure.ratio is not None else "(limit)"
        print(f"{figure.name:<62} {figure.events_per_second:>12,.0f} {ratio:>13}")
    for name, value in memory.items():
        print(f"{name:<62} {value:>12.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each figure")
    parser.add_argument("--pool-events", type=int, default=200_000, help="distinct events to cycle")
    parser.add_argument("--output", type=Path, default=Path("bench-results/ingest.json"))
    args = parser.parse_args()
    figures, memory = run(args.seconds, args.pool_events)
    print_table(figures, memory)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(
        json.dumps(
            {
                "figures": [asdict(f) | {"ratio": f.ratio} for f in figures],
                "memory": memory,
                "cores": os.cpu_count(),
            },
            indent=2,
        )
    )
    print(f"\nwritten: {args.output}")


if __name__ == "__main__":
    main()
