"""At start-up, services wait for JetStream, then create the stream or bring it to the
configured definition (idempotent)."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import pytest

from campaignreports import jetstream
from campaignreports.settings import CommonSettings, load_settings
from campaignreports.stack.processes import NatsServer, nats_cluster

pytestmark = pytest.mark.timeout(60)


def settings_for(server: NatsServer, name: str, **extra: str) -> CommonSettings:
    return load_settings(
        CommonSettings,
        {"CR_NATS_URL": server.url, "CR_STREAM_NAME": name, "CR_STREAM_SUBJECT": f"t.{name}", **extra},
    )


async def test_created_then_updated_from_settings(nats_server: NatsServer) -> None:
    name = f"S_{uuid.uuid4().hex[:8]}"
    first = settings_for(
        nats_server, name, CR_STREAM_MAX_AGE_DAYS="2", CR_STREAM_DUPLICATE_WINDOW_SECONDS="60"
    )
    nc = await jetstream.connect(first, "test")
    try:
        js = nc.jetstream()
        await jetstream.ensure_stream(js, first)
        await jetstream.ensure_stream(js, first)  # idempotent
        config = (await js.stream_info(name)).config
        assert config.max_age == 2 * 86_400 and config.duplicate_window == 60
        assert config.subjects == [f"t.{name}.*"] and config.max_msg_size == jetstream.MAX_MESSAGE_BYTES
        changed = settings_for(nats_server, name, CR_STREAM_MAX_AGE_DAYS="7", CR_STREAM_MAX_BYTES="1000000")
        await jetstream.ensure_stream(js, changed)
        config = (await js.stream_info(name)).config
        assert config.max_age == 7 * 86_400 and config.max_bytes == 1_000_000
    finally:
        await jetstream.close(nc)


async def test_a_change_jetstream_cannot_make_is_a_clear_error(nats_server: NatsServer) -> None:
    name = f"S_{uuid.uuid4().hex[:8]}"
    nc = await jetstream.connect(settings_for(nats_server, name), "test")
    try:
        js = nc.jetstream()
        await jetstream.ensure_stream(js, settings_for(nats_server, name))
        with pytest.raises(
            jetstream.StreamDefinitionError, match=r"can not change storage type.*CR_STREAM_STORAGE"
        ):
            await jetstream.ensure_stream(js, settings_for(nats_server, name, CR_STREAM_STORAGE="memory"))
    finally:
        await jetstream.close(nc)


async def test_waits_for_a_cluster_to_elect_its_leader_then_names_the_setting(tmp_path: Path) -> None:
    """A lone member of a 3-node cluster never has a JetStream leader: the connection waits for
    CR_NATS_STARTUP_WAIT_SECONDS, then fails saying which setting bounded the wait."""
    lone = nats_cluster(tmp_path)[0].start()
    try:
        settings = settings_for(lone, "S_lone", CR_NATS_STARTUP_WAIT_SECONDS="2")
        started = time.monotonic()
        with pytest.raises(RuntimeError, match="CR_NATS_STARTUP_WAIT_SECONDS"):
            await jetstream.connect(settings, "test")
        assert time.monotonic() - started >= 2
    finally:
        lone.stop()


async def test_a_replicated_stream_waits_for_enough_peers_to_be_placed(tmp_path: Path) -> None:
    """Two of three members have a leader but cannot place three replicas: creating the stream
    waits for the third member instead of failing with "no suitable peers for placement"."""
    members = nats_cluster(tmp_path)
    for member in members[:2]:
        member.start()
    try:
        settings = settings_for(
            members[0], f"S_{uuid.uuid4().hex[:8]}", CR_STREAM_REPLICAS="3", CR_NATS_STARTUP_WAIT_SECONDS="30"
        )
        nc = await jetstream.connect(settings, "test")
        try:
            creating = asyncio.create_task(jetstream.ensure_stream(nc.jetstream(), settings))
            await asyncio.sleep(1.5)
            assert not creating.done(), "the stream cannot have three replicas on two servers"
            members[2].start()
            await asyncio.wait_for(creating, 30)
            info = await nc.jetstream().stream_info(settings.stream_name)
            assert info.config.num_replicas == 3
        finally:
            await jetstream.close(nc)
    finally:
        for member in members:
            member.stop()
