"""The web page's live report stream (`/api/watch`, server-sent events over WatchReport): a quiet
stream is kept alive, and a page that went away frees its WatchReport."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import pytest
from pipeline import Pipeline, open_pipeline

from campaignreports.settings import load_settings
from campaignreports.stack.processes import NatsServer
from campaignreports.web.application import channel_to, serve
from campaignreports.web.settings import WebSettings

pytestmark = pytest.mark.timeout(60)

WATCH = "/api/watch?campaign=quiet&tab=email"


@pytest.fixture
async def one_watcher(shared_nats: NatsServer, chdb_dsn: str) -> AsyncIterator[Pipeline]:
    """A query service that serves a single WatchReport stream at a time."""
    async with open_pipeline(
        shared_nats, chdb_dsn, with_aggregator=True, CR_QUERY_MAX_WATCHERS="1"
    ) as running:
        yield running


KEEP_ALIVE = ": keep-alive"


@asynccontextmanager
async def web_process(pipeline: Pipeline) -> AsyncIterator[aiohttp.ClientSession]:
    """The page served as its process serves it (not aiohttp's test server, which cancels a
    request's handler when its client goes: a production server does not), keep-alive 0.2 s."""
    settings = load_settings(
        WebSettings,
        {
            "CR_WEB_QUERY_ADDRESS": pipeline.query_address,
            "CR_WEB_TENANT": pipeline.tenant_id,
            "CR_WEB_LISTEN": "127.0.0.1:0",
            "CR_WEB_HEARTBEAT_SECONDS": "0.2",
        },
    )
    channel = channel_to(settings)
    runner = await serve(settings, channel)
    host, port = runner.addresses[0][:2]
    try:
        async with aiohttp.ClientSession(base_url=f"http://{host}:{port}") as session:
            yield session
    finally:
        await runner.cleanup()
        await channel.close()


async def next_message(response: aiohttp.ClientResponse) -> str:
    """The stream's next server-sent message (its lines up to the blank one)."""
    lines = []
    async for raw in response.content:
        line = raw.decode().rstrip("\n")
        if not line:
            return "\n".join(lines)
        lines.append(line)
    raise AssertionError("the stream ended")


async def first_report(response: aiohttp.ClientResponse) -> str:
    """The stream's first message other than a keep-alive (a report or a failure)."""
    while (message := await next_message(response)) == KEEP_ALIVE:
        pass
    return message


async def test_a_quiet_stream_gets_keep_alive_comments(pipeline: Pipeline) -> None:
    async with web_process(pipeline) as client:
        response = await client.get(WATCH)
        assert (await asyncio.wait_for(first_report(response), 10)).startswith("data: ")
        # Nothing happens in the campaign: the next message is a comment, which pages ignore.
        assert await asyncio.wait_for(next_message(response), 5) == KEEP_ALIVE
        response.close()


async def test_a_closed_page_frees_its_watch_report(one_watcher: Pipeline) -> None:
    """With room for one WatchReport stream, a second page can only be served once the first
    page's stream has ended: the web layer notices the closed page at its next keep-alive."""
    async with web_process(one_watcher) as client:
        first = await client.get(WATCH)
        assert (await asyncio.wait_for(first_report(first), 10)).startswith("data: ")
        first.close()
        deadline = asyncio.get_running_loop().time() + 10
        while True:
            second = await client.get(WATCH)
            message = await asyncio.wait_for(first_report(second), 10)
            second.close()
            if message.startswith("data: "):
                break
            assert "RESOURCE_EXHAUSTED" in message or "limit" in message, message
            assert asyncio.get_running_loop().time() < deadline, "the closed page's stream was never freed"
            await asyncio.sleep(0.2)
