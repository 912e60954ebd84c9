from __future__ import annotations

from dataclasses import dataclass

from campaignreports.settings import ListenAddress, ProcessSettings, env


@dataclass(frozen=True)
class WebSettings(ProcessSettings):
    """The web dashboard is a gRPC client: it needs no NATS or ClickHouse settings."""

    web_listen: ListenAddress = env(
        "CR_WEB_LISTEN", ListenAddress("127.0.0.1:8080"), doc="Address of the web dashboard (HTTP)."
    )
    query_address: str = env(
        "CR_WEB_QUERY_ADDRESS",
        "127.0.0.1:50052",
        doc="Web dashboard: the QueryService / DashboardService to call.",
    )
    tenant_id: str = env("CR_WEB_TENANT", "demo", doc="Web dashboard: the tenant whose campaigns it shows.")
    api_key: str = env(
        "CR_WEB_API_KEY",
        "",
        doc="Web dashboard: API key it sends to the query service (query, dashboard).",
        secret=True,
    )
    query_tls_ca_file: str = env(
        "CR_WEB_QUERY_TLS_CA_FILE", "", doc="Web dashboard: CA to verify the query service with (TLS)."
    )
