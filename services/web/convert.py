"""Pure translations for the web layer: query-string parameters and JSON bodies to request
protos, protos to JSON for the page, widgets to CSV, and a download's file name.

Everything from a request is hostile: a parameter or body that cannot be read is a
ParameterError naming it (HTTP 400), never an exception of the parser; text written into a CSV
cell cannot become a spreadsheet formula; a file name cannot break its header."""

from __future__ import annotations

import csv
import io
import json
import re
import urllib.parse
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from google.protobuf import json_format, timestamp_pb2

from campaignreports.domain.events import CHANNEL_KEYS, EVENT_TYPE_KEYS, PLATFORM_KEYS
from campaignreports.v1 import dashboard_service_pb2, query_service_pb2

GRANULARITIES = {
    "hour": query_service_pb2.GRANULARITY_HOUR,
    "day": query_service_pb2.GRANULARITY_DAY,
    "week": query_service_pb2.GRANULARITY_WEEK,
    "month": query_service_pb2.GRANULARITY_MONTH,
}
# A live window's display buckets (its series only; the totals are the same).
LIVE_GRANULARITIES = {
    "minute": query_service_pb2.GRANULARITY_MINUTE,
    "5min": query_service_pb2.GRANULARITY_FIVE_MINUTES,
    "15min": query_service_pb2.GRANULARITY_FIFTEEN_MINUTES,
    "hour": query_service_pb2.GRANULARITY_HOUR,
}


class ParameterError(ValueError):
    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter


def _instant(parameters: Mapping[str, str], name: str) -> datetime:
    raw = parameters.get(name, "")
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise ParameterError(name, f"{name} must be an ISO date or date-time, e.g. 2026-11-01") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def window(parameters: Mapping[str, str]) -> query_service_pb2.TimeWindow:
    """`window=live` (default) with `granularity=minute` (default), `5min`, `15min` or `hour`, or
    `window=range&start=..&end=..&timezone=..&granularity=day`.

    Dates without a time are local midnights in `timezone`: the query service widens the range to
    whole buckets of that zone, so a date-only range covers whole local days.
    """
    if parameters.get("window", "live") == "live":
        live = parameters.get("granularity", "minute")
        if live not in LIVE_GRANULARITIES:
            raise ParameterError(
                "granularity", f"a live granularity is one of {', '.join(LIVE_GRANULARITIES)}"
            )
        return query_service_pb2.TimeWindow(
            live=query_service_pb2.LiveWindow(granularity=LIVE_GRANULARITIES[live])
        )
    granularity = parameters.get("granularity", "day")
    if granularity not in GRANULARITIES:
        raise ParameterError("granularity", f"granularity must be one of {', '.join(GRANULARITIES)}")
    time_range = query_service_pb2.TimeRange(
        timezone=parameters.get("timezone", "UTC"), granularity=GRANULARITIES[granularity]
    )
    time_range.start.FromDatetime(_instant(parameters, "start"))
    time_range.end.FromDatetime(_instant(parameters, "end"))
    return query_service_pb2.TimeWindow(range=time_range)


def report_request(tenant_id: str, parameters: Mapping[str, str]) -> query_service_pb2.GetReportRequest:
    return query_service_pb2.GetReportRequest(
        tenant_id=tenant_id,
        campaign_id=parameters.get("campaign", ""),
        tab=parameters.get("tab", "email"),
        window=window(parameters),
        locale=parameters.get("locale", "en"),
        include_machine_activity=parameters.get("machine") == "1",
        message_id=parameters.get("message_id", ""),
        currency=parameters.get("currency", ""),
    )


# The recipients export's enum parameters: the stored keys the API shows as row keys.
_RECIPIENT_ENUMS = {
    "type": ("event_type", EVENT_TYPE_KEYS),
    "channel": ("channel", CHANNEL_KEYS),
    "platform": ("platform", PLATFORM_KEYS),
}
# Its text filters, named as the request's fields (and the catalog's dimensions).
_RECIPIENT_FILTERS = ("url", "recipient_domain", "reason", "treatment_id", "message_id")


def recipients_request(
    tenant_id: str, parameters: Mapping[str, str]
) -> query_service_pb2.ListRecipientsRequest:
    """`campaign`, `type` (an event type's key: `clicked`), optionally `channel`, `platform`,
    `url`, `recipient_domain`, `reason`, `treatment_id`, `message_id`, `machine=1` and the
    report's window parameters."""
    request = query_service_pb2.ListRecipientsRequest(
        tenant_id=tenant_id,
        campaign_id=parameters.get("campaign", ""),
        window=window(parameters),
        include_machine_activity=parameters.get("machine") == "1",
        page_size=1000,
    )
    for parameter, (field, keys) in _RECIPIENT_ENUMS.items():
        key = parameters.get(parameter, "")
        if not key and parameter != "type":
            continue
        numbers = {name: number for number, name in keys.items()}
        if key not in numbers:
            raise ParameterError(parameter, f"{parameter} must be one of {', '.join(sorted(numbers))}")
        setattr(request, field, numbers[key])
    for field in _RECIPIENT_FILTERS:
        setattr(request, field, parameters.get(field, ""))
    return request


def recipients_csv(recipients: list[query_service_pb2.Recipient], *, header: bool) -> str:
    """Rows of profile id (from events, so neutralised), first and last event, events."""
    out = io.StringIO()
    writer = csv.writer(out)
    if header:
        writer.writerow(["profile_id", "first_at", "last_at", "events"])
    for recipient in recipients:
        writer.writerow(
            [
                text_cell(recipient.profile_id),
                _stamp(recipient.first_at),
                _stamp(recipient.last_at),
                recipient.events,
            ]
        )
    return out.getvalue()


def to_json(message: Any) -> dict[str, Any]:
    return json_format.MessageToDict(message, always_print_fields_with_no_presence=True)


def _stamp(timestamp: timestamp_pb2.Timestamp) -> str:
    return timestamp.ToDatetime(UTC).isoformat().replace("+00:00", "Z")


def _metric_json(metric: query_service_pb2.Metric) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "id": metric.id,
        "label": metric.label,
        "value": metric.value,
        "unit": metric.unit,
    }
    if metric.HasField("rate"):
        shown["rate"] = metric.rate
        shown["rateBaseId"] = metric.rate_base_id
    if metric.amount:
        shown["amount"], shown["currency"] = metric.amount, metric.currency
    return shown


def _widget_json(w: query_service_pb2.Widget) -> dict[str, Any]:
    return {
        "id": w.id,
        "title": w.title,
        "description": w.description,
        "kind": query_service_pb2.WidgetKind.Name(w.kind),
        "windowStart": _stamp(w.window_start),
        "windowEnd": _stamp(w.window_end),
        "metrics": [_metric_json(m) for m in w.metrics],
        "rows": [
            {"key": r.key, "label": r.label, "metrics": [_metric_json(m) for m in r.metrics]} for r in w.rows
        ],
        "series": [
            {
                "metricId": s.metric_id,
                "key": s.key,
                "label": s.label,
                "at": [p.at.seconds for p in s.points],
                "values": [p.value for p in s.points],
            }
            for s in w.series
        ],
    }


def report_json(report: query_service_pb2.Report) -> dict[str, Any]:
    """A report for the page. Series travel as two arrays (bucket starts in unix seconds, values):
    a live email tab holds ~15,000 points, which the generic proto-to-JSON takes ~0.3 s to write."""
    return {
        "tab": report.tab,
        "asOf": _stamp(report.as_of),
        "widgets": [_widget_json(w) for w in report.widgets],
    }


def overview_request(
    tenant_id: str, parameters: Mapping[str, str]
) -> query_service_pb2.GetTenantOverviewRequest:
    """The report's window, locale and machine parameters, with `sort_by`, `ascending=1` and
    `page_token`."""
    return query_service_pb2.GetTenantOverviewRequest(
        tenant_id=tenant_id,
        window=window(parameters),
        locale=parameters.get("locale", "en"),
        include_machine_activity=parameters.get("machine") == "1",
        sort_by=parameters.get("sort_by", ""),
        ascending=parameters.get("ascending") == "1",
        page_size=100,
        page_token=parameters.get("page_token", ""),
        currency=parameters.get("currency", ""),
    )


def overview_json(overview: query_service_pb2.TenantOverview) -> dict[str, Any]:
    return {
        "campaigns": [
            {"campaignId": c.campaign_id, "metrics": [_metric_json(m) for m in c.metrics]}
            for c in overview.campaigns
        ],
        "nextPageToken": overview.next_page_token,
        "totalCampaigns": overview.total_campaigns,
    }


def compare_request(
    tenant_id: str, parameters: Mapping[str, str]
) -> query_service_pb2.CompareCampaignsRequest:
    """`campaigns` (comma-separated) and the report's parameters."""
    report = report_request(tenant_id, parameters)
    return query_service_pb2.CompareCampaignsRequest(
        tenant_id=tenant_id,
        campaign_ids=[c for c in parameters.get("campaigns", "").split(",") if c],
        tab=report.tab,
        window=report.window,
        locale=report.locale,
        include_machine_activity=report.include_machine_activity,
        currency=report.currency,
    )


def comparison_json(comparison: query_service_pb2.CampaignComparison) -> dict[str, Any]:
    return {
        "tab": comparison.tab,
        "asOf": _stamp(comparison.as_of),
        "campaigns": [
            {"campaignId": c.campaign_id, "widgets": [_widget_json(w) for w in c.widgets]}
            for c in comparison.campaigns
        ],
    }


# A revision is a NATS stream sequence: a non-negative 64-bit integer.
MAX_REVISION = 2**63 - 1


def json_body(raw: bytes) -> dict[str, Any]:
    """A request body that must be a JSON object in UTF-8."""
    try:
        body = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ParameterError("body", "the body must be UTF-8 encoded JSON") from None
    except (ValueError, RecursionError):
        raise ParameterError("body", "the body must be JSON") from None
    if not isinstance(body, dict):
        raise ParameterError("body", "the body must be a JSON object")
    return body


def revision(body: Mapping[str, Any]) -> int:
    """The revision a save is based on (0 or absent: none saved yet)."""
    value = body.get("revision", 0)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_REVISION:
        raise ParameterError("revision", "revision must be a whole number from 0 (none saved) to 2^63-1")
    return value


def placements(body: Mapping[str, Any]) -> list[dashboard_service_pb2.WidgetPlacement]:
    try:
        return [
            json_format.ParseDict(item, dashboard_service_pb2.WidgetPlacement())
            for item in body["placements"]
        ]
    except (KeyError, TypeError, AttributeError, json_format.ParseError) as exc:
        raise ParameterError(
            "placements", f"placements must be a list of widget placements ({exc})"
        ) from None


# What makes a spreadsheet read a cell as a formula (OWASP's list): such text gets a leading '.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def text_cell(text: str) -> str:
    """Event text (a reason, a domain, a URL) as a CSV cell that is never run as a formula."""
    return f"'{text}" if text.startswith(_FORMULA_START) else text


def widgets_csv(widgets: list[query_service_pb2.Widget]) -> str:
    """One CSV for any widgets: widget, row or point, metric, value, rate (empty when none), and
    the series' key for a series per value (the link of clicks over time per link). Row and
    series keys come from events, so they are neutralised (`text_cell`); numbers are ours."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["widget", "row", "metric", "value", "rate", "series"])
    for widget in widgets:
        for metric in widget.metrics:
            writer.writerow([widget.id, "", metric.id, _value(metric), _rate(metric), ""])
        for row in widget.rows:
            for metric in row.metrics:
                writer.writerow([widget.id, text_cell(row.key), metric.id, _value(metric), _rate(metric), ""])
        for series in widget.series:
            key = text_cell(series.key)
            for point in series.points:
                at = point.at.ToDatetime(UTC).isoformat().replace("+00:00", "Z")
                writer.writerow([widget.id, at, series.metric_id, _number(point.value), "", key])
    return out.getvalue()


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else repr(value)


def _value(metric: query_service_pb2.Metric) -> str:
    """A metric's value in a cell: an amount exactly, with its currency ("1234.50 EUR")."""
    return f"{metric.amount} {metric.currency}".strip() if metric.amount else _number(metric.value)


def _rate(metric: query_service_pb2.Metric) -> str:
    return repr(metric.rate) if metric.HasField("rate") else ""


_UNSAFE_IN_FILENAME = re.compile(r"[^A-Za-z0-9._-]+")


def attachment(name: str) -> str:
    """A Content-Disposition for downloading `name` (RFC 6266): an ASCII fallback with anything
    but letters, digits, dot, dash and underscore replaced, and the exact name in `filename*`."""
    fallback = _UNSAFE_IN_FILENAME.sub("_", name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{urllib.parse.quote(name, safe='')}"
