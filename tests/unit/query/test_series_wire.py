"""A series' points built as one array of wire bytes equal the points added one by one."""

from __future__ import annotations

import math
import random

import pytest
from google.protobuf import timestamp_pb2

from campaignreports.query.engine import SeriesValue
from campaignreports.query.servicer import _series
from campaignreports.v1 import query_service_pb2 as pb


def _one_by_one(value: SeriesValue) -> pb.Series:
    series = pb.Series(metric_id=value.metric_id, label=value.label, key=value.key)
    for at, count in zip(value.bucket_seconds, value.values, strict=True):
        series.points.add(at=timestamp_pb2.Timestamp(seconds=at), value=count)
    return series


@pytest.mark.parametrize(
    "starts",
    [
        [1_796_000_000 + 60 * i for i in range(1441)],  # a live window by minute
        [(1 << 28) + i for i in range(3)] + [(1 << 35) - 1],  # the edges of the fast path
        [0, 60, 120],  # outside it: built one by one
        [],
    ],
    ids=["live", "edges", "epoch", "empty"],
)
def test_points_built_at_once_equal_points_added_one_by_one(starts: list[int]) -> None:
    rng = random.Random(7)
    counts = [rng.choice([0.0, 1.0, 0.5, 12345.678, 1e-300, math.inf]) for _ in starts]
    value = SeriesValue("opens", "Opens", starts, counts, "https://example.com/a")
    built = _series(value)
    assert built == _one_by_one(value)
    assert [p.at.seconds for p in built.points] == starts
    assert [p.value for p in built.points] == counts
    assert built.SerializeToString(deterministic=True) == _one_by_one(value).SerializeToString(
        deterministic=True
    )
