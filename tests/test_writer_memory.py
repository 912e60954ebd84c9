"""The writer's memory: what it holds per campaign, as its gauge reports it, bounded by max_keys."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from helpers import complete_event

from campaignreports.aggregator.consumer import write
from campaignreports.aggregator.writer import Decoded, Writer
from campaignreports.clickhouse import ClickHouse
from campaignreports.schema import Dialect, migrate
from campaignreports.settings import CommonSettings, load_settings
from campaignreports.stream import batch
from campaignreports.v1 import event_pb2

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def clickhouse(chdb_dsn: str) -> Iterator[ClickHouse]:
    database = f"writer_{uuid.uuid4().hex[:8]}"
    settings = load_settings(
        CommonSettings, {"CR_CLICKHOUSE_DSN": chdb_dsn, "CR_CLICKHOUSE_DATABASE": database}
    )
    client = ClickHouse(settings)
    migrate(client.client, Dialect(database))
    yield client
    client.close()


def _campaign(campaign: str, profiles: int) -> Decoded:
    """A SENT and a DELIVERED email per profile."""
    events: list[event_pb2.Event] = []
    for number in range(profiles):
        for kind in ("SENT", "DELIVERED"):
            event = complete_event("EMAIL", kind, "tenant", campaign)
            event.profile_id, event.message_id = f"p{number}", "m1"
            events.append(event)
    return Decoded.of(batch.from_events(events))


def test_it_holds_each_campaigns_keys_until_max_keys_evicts_the_oldest(clickhouse: ClickHouse) -> None:
    writer = Writer(clickhouse, max_keys=1)
    assert writer.held_bytes() == 0
    write(writer, _campaign("first", 300), uuid.uuid4().hex)
    first = writer.held_bytes()
    # 600 event keys (8 bytes) and 300 profile keys with their numbers (12 bytes) at least.
    assert first >= 600 * 8 + 300 * 12
    second_campaign = _campaign("second", 900)
    write(writer, second_campaign, uuid.uuid4().hex)
    # Beyond max_keys, the least recently written campaign is forgotten; the last one stays.
    second = writer.held_bytes()
    alone = Writer(clickhouse)
    write(alone, second_campaign, uuid.uuid4().hex)  # all duplicates: the state loaded, nothing new
    assert second == alone.held_bytes()
    assert second >= 1800 * 8 + 900 * 12
