from __future__ import annotations

from dataclasses import dataclass

from campaignreports.settings import CommonSettings, ListenAddress, env, is_identifier


@dataclass(frozen=True)
class QuerySettings(CommonSettings):
    query_listen: ListenAddress = env(
        "CR_QUERY_LISTEN", ListenAddress("127.0.0.1:50052"), doc="Address of the QueryService gRPC server."
    )
    watch_interval_seconds: float = env(
        "CR_QUERY_WATCH_INTERVAL_SECONDS",
        5.0,
        doc="WatchReport reads a report again when the aggregator stores events of its campaign and "
        "when the live window moves on (each minute); also this often, in case a notice was lost. "
        "Streams showing the same report share their reads.",
    )
    max_watchers: int = env(
        "CR_QUERY_MAX_WATCHERS", 256, doc="WatchReport streams served at once; more are RESOURCE_EXHAUSTED."
    )
    max_concurrent_rpcs: int = env(
        "CR_QUERY_MAX_CONCURRENT_RPCS",
        512,
        doc="Calls (WatchReport streams included) the query server serves at once; more: RESOURCE_EXHAUSTED.",
    )
    max_rows: int = env(
        "CR_QUERY_MAX_ROWS", 1000, doc="Most rows a breakdown widget returns (top-N widgets return fewer)."
    )
    read_whole_values: int = env(
        "CR_QUERY_READ_WHOLE_VALUES",
        100,
        doc="A top-N widget reads its dimension whole and ranks the values itself when the last read "
        "of it (same campaign, message and window) found at most this many values; else it first "
        "reads which values it shows. Same rows either way; 0: always read those first.",
    )
    read_clients: int = env(
        "CR_QUERY_READ_CLIENTS",
        3,
        doc="Report reads run at once, each on a ClickHouse client of its own: the reads of one tab "
        "run side by side, and further reads wait for a free client.",
    )
    dashboard_bucket: str = env(
        "CR_QUERY_DASHBOARD_BUCKET",
        "CAMPAIGN_REPORTS_DASHBOARDS",
        doc="NATS key-value bucket holding the saved dashboard layouts.",
        renamed_from="CR_DASHBOARD_BUCKET",
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.watch_interval_seconds < 0.1:
            raise ValueError("CR_QUERY_WATCH_INTERVAL_SECONDS must be at least 0.1")
        if self.max_rows < 1:
            raise ValueError("CR_QUERY_MAX_ROWS must be at least 1")
        if not 1 <= self.read_clients <= 32:
            raise ValueError("CR_QUERY_READ_CLIENTS must be between 1 and 32")
        if self.read_whole_values < 0:
            raise ValueError("CR_QUERY_READ_WHOLE_VALUES must be at least 0")
        if not is_identifier(self.dashboard_bucket):
            raise ValueError("CR_QUERY_DASHBOARD_BUCKET must match [A-Za-z_][A-Za-z0-9_]*")
