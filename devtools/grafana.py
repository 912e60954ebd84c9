"""The Grafana dashboard of deploy/grafana/campaign-reports.json, built with Grafana's Foundation
SDK by `make docs` (a test keeps the file in step, and runs every query against a real
Prometheus scraping the stack).

Freshness and lag come first: they answer "are the reports current?". Then one row per service,
from the calls it answers to the work behind them, and the processes' CPU and memory last.
"""

from __future__ import annotations

from dataclasses import dataclass

from grafana_foundation_sdk.builders.dashboard import Dashboard, Row
from grafana_foundation_sdk.builders.prometheus import Dataquery
from grafana_foundation_sdk.builders.timeseries import Panel
from grafana_foundation_sdk.cog.encoder import JSONEncoder

UID = "campaign-reports"
INGEST = 'rpc_service="campaignreports.v1.IngestService"'
QUERY = 'rpc_service=~"campaignreports.v1.(Query|Dashboard)Service"'


@dataclass(frozen=True)
class Chart:
    title: str
    unit: str
    queries: tuple[tuple[str, str], ...]  # (PromQL, legend)
    description: str = ""


def _p99(metric: str, by: str, selector: str = "") -> str:
    inside = f"{{{selector}}}" if selector else ""
    return f"histogram_quantile(0.99, sum by (le, {by}) (rate({metric}_bucket{inside}[$__rate_interval])))"


def _calls(selector: str) -> str:
    return (
        "sum by (rpc_method, rpc_grpc_status_code) "
        f"(rate(rpc_server_duration_milliseconds_count{{{selector}}}[$__rate_interval]))"
    )


# Row title -> its charts, top to bottom.
ROWS: tuple[tuple[str, tuple[Chart, ...]], ...] = (
    (
        "Freshness and lag",
        (
            Chart(
                "Freshness by partition",
                "s",
                (("max by (partition) (aggregator_freshness_seconds)", "partition {{partition}}"),),
                "How old the newest event a report shows is while events wait; 0 when reports show "
                "every event accepted.",
            ),
            Chart(
                "Messages waiting by partition",
                "short",
                (("max by (partition) (aggregator_consumer_pending)", "partition {{partition}}"),),
                "Messages accepted by ingest and not yet stored by the aggregator.",
            ),
            Chart(
                "Oldest waiting message",
                "s",
                (
                    (
                        "max by (partition) (aggregator_consumer_pending_age_seconds)",
                        "partition {{partition}}",
                    ),
                ),
            ),
        ),
    ),
    (
        "Ingest",
        (
            Chart(
                "Events",
                "short",
                (
                    ("sum(rate(ingest_events_accepted_total[$__rate_interval]))", "accepted/s"),
                    (
                        "sum by (field) (rate(ingest_events_rejected_total[$__rate_interval]))",
                        "refused/s: {{field}}",
                    ),
                ),
            ),
            Chart("Calls by status", "reqps", ((_calls(INGEST), "{{rpc_method}} {{rpc_grpc_status_code}}"),)),
            Chart(
                "Latency p99",
                "ms",
                (
                    (_p99("rpc_server_duration_milliseconds", "rpc_method", INGEST), "{{rpc_method}}"),
                    (
                        _p99("ingest_publish_duration_milliseconds", "outcome"),
                        "JetStream publish ({{outcome}})",
                    ),
                ),
            ),
            Chart(
                "Group commit",
                "short",
                (
                    (
                        "sum(rate(ingest_batch_size_sum[$__rate_interval])) "
                        "/ sum(rate(ingest_batch_size_count[$__rate_interval]))",
                        "events per message",
                    ),
                    ("sum(ingest_publish_in_flight)", "messages in flight"),
                ),
            ),
        ),
    ),
    (
        "Aggregator",
        (
            Chart(
                "Rows",
                "short",
                (
                    ("sum(rate(aggregator_insert_rows_total[$__rate_interval]))", "inserted/s"),
                    (
                        "sum(rate(aggregator_duplicates_dropped_total[$__rate_interval]))",
                        "duplicates dropped/s",
                    ),
                ),
            ),
            Chart(
                "Insert duration p99",
                "ms",
                ((_p99("aggregator_insert_duration_milliseconds", "outcome"), "{{outcome}}"),),
            ),
            Chart(
                "Retries, dead letters, rebinds",
                "short",
                (
                    (
                        "sum by (what) (increase(aggregator_retries_total[$__rate_interval]))",
                        "retries: {{what}}",
                    ),
                    ("sum(increase(aggregator_messages_dead_total[$__rate_interval]))", "dead-lettered"),
                    ("sum(increase(aggregator_rebinds_total[$__rate_interval]))", "rebinds"),
                ),
            ),
        ),
    ),
    (
        "Query",
        (
            Chart("Calls by status", "reqps", ((_calls(QUERY), "{{rpc_method}} {{rpc_grpc_status_code}}"),)),
            Chart(
                "Widget latency p99",
                "ms",
                (
                    (
                        _p99("query_widgets_duration_milliseconds", "widget_kind, window_kind"),
                        "{{widget_kind}} ({{window_kind}})",
                    ),
                    (_p99("query_clickhouse_duration_milliseconds", "job"), "ClickHouse read"),
                ),
            ),
            Chart(
                "Live reports",
                "short",
                (
                    ("sum(query_watch_streams)", "WatchReport streams"),
                    (
                        "sum by (hit) (rate(query_shared_reads_total[$__rate_interval]))",
                        "reads/s, shared: {{hit}}",
                    ),
                ),
            ),
        ),
    ),
    (
        "Processes",
        (
            Chart(
                "CPU",
                "percentunit",
                (
                    (
                        "sum by (job, instance) (rate(process_cpu_time_seconds_total[$__rate_interval]))",
                        "{{job}} {{instance}}",
                    ),
                ),
            ),
            Chart("Memory", "bytes", (("process_memory_usage_bytes", "{{job}} {{instance}}"),)),
        ),
    ),
)


def queries() -> list[str]:
    """Every PromQL expression of the dashboard."""
    return [expression for _, charts in ROWS for chart in charts for expression, _ in chart.queries]


def dashboard() -> Dashboard:
    builder = (
        Dashboard("Campaign reports")
        .uid(UID)
        .tags(["campaign-reports"])
        .description("Freshness, lag, and each service of campaign reports (see docs/operations.md).")
        .refresh("30s")
        .time("now-3h", "now")
    )
    for title, charts in ROWS:
        builder = builder.with_row(Row(title))
        for chart in charts:
            panel = Panel().title(chart.title).unit(chart.unit).height(8).span(24 // len(charts))
            if chart.description:
                panel = panel.description(chart.description)
            for index, (expression, legend) in enumerate(chart.queries):
                query = Dataquery().expr(expression).legend_format(legend).ref_id(chr(ord("A") + index))
                panel = panel.with_target(query)
            builder = builder.with_panel(panel)
    return builder


def dashboard_json() -> str:
    return JSONEncoder(sort_keys=True, indent=2).encode(dashboard().build()) + "\n"
