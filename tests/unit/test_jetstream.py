"""The stored-round notice: what the aggregator announces and the query service reads."""

from __future__ import annotations

import pytest

from campaignreports.jetstream import MAX_NOTICE_CAMPAIGNS, decode_stored_notice, encode_stored_notice


def test_a_notice_names_each_campaign_once() -> None:
    pairs = [("t1", "spring"), ("t2", "spring"), ("t1", "spring")]
    assert decode_stored_notice(encode_stored_notice(pairs)) == {("t1", "spring"), ("t2", "spring")}


def test_ids_with_any_characters_come_back_unchanged() -> None:
    pairs = [('t\x1f"]', "c\\n,é")]
    assert decode_stored_notice(encode_stored_notice(pairs)) == set(pairs)


def test_a_round_of_too_many_campaigns_means_any_campaign() -> None:
    many = [("t", f"c{i}") for i in range(MAX_NOTICE_CAMPAIGNS + 1)]
    assert decode_stored_notice(encode_stored_notice(many)) is None
    assert decode_stored_notice(encode_stored_notice(many[:MAX_NOTICE_CAMPAIGNS])) == set(many[:-1])


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not json",
        b'{"t": "c"}',
        b'[["t"]]',
        b'[["t", 1]]',
        b"[" + b'["t", "c"],' * 2000 + b'["t", "c"]]',
    ],
)
def test_a_notice_that_cannot_be_read_means_any_campaign(data: bytes) -> None:
    assert decode_stored_notice(data) is None
