"""Telemetry without servers: the JSON log line, the scrape endpoint, the settings that turn
them on."""

from __future__ import annotations

import json
import logging
import urllib.request

import pytest

from campaignreports.settings import CommonSettings, SettingsError, load_settings
from campaignreports.telemetry import TENANT, JsonFormatter, setup_telemetry


def test_a_json_line_carries_the_span_the_tenant_and_nothing_else() -> None:
    telemetry = setup_telemetry("test", {})
    record = logging.LogRecord("campaignreports.x", logging.WARNING, __file__, 1, "stored %d", (3,), None)
    record.password = "hunter2"  # an `extra` is never written
    token = TENANT.set("acme")
    try:
        with telemetry.tracer("t").start_as_current_span("call") as span:
            line = json.loads(JsonFormatter("campaign-reports-test").format(record))
    finally:
        TENANT.reset(token)
        telemetry.shutdown()
    context = span.get_span_context()
    assert line == {
        "time": line["time"],
        "level": "WARNING",
        "logger": "campaignreports.x",
        "message": "stored 3",
        "service": "campaign-reports-test",
        "trace_id": format(context.trace_id, "032x"),
        "span_id": format(context.span_id, "016x"),
        "tenant": "acme",
    }
    assert line["time"].endswith("Z")


def test_the_scrape_endpoint_serves_the_process_metrics() -> None:
    telemetry = setup_telemetry("test", {}, metrics_listen="127.0.0.1:0")
    try:
        telemetry.meter("t").create_counter("test.things").add(2, {"kind": "a"})
        with urllib.request.urlopen(f"http://{telemetry.metrics_address}/metrics", timeout=5) as response:
            text = response.read().decode()
    finally:
        telemetry.shutdown()
    assert 'test_things_total{kind="a"' in text
    assert 'process_cpu_time_seconds_total{cpu_mode="user"' in text
    assert "process_memory_usage_bytes" in text


def test_without_an_address_nothing_is_served() -> None:
    telemetry = setup_telemetry("test", {})
    assert telemetry.metrics_address == ""
    telemetry.shutdown()


@pytest.mark.parametrize(
    ("variable", "value"),
    [("CR_LOG_FORMAT", "xml"), ("CR_METRICS_LISTEN", "9464"), ("CR_METRICS_LISTEN", "a:b")],
)
def test_bad_observability_settings_name_the_variable(variable: str, value: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        load_settings(CommonSettings, {variable: value})
