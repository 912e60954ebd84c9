"""Typed settings read from the environment.

Each service declares a frozen dataclass whose fields carry their environment variable name in
`env(...)` metadata. `load_settings` reads them all, converts each to the field's type and fails
at start-up with the variable's name when a value is malformed, so a mis-configured Deployment
dies immediately with a readable message instead of misbehaving later. The README's variable
table is checked against these declarations by a test.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)

_MISSING = dataclasses.MISSING
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SUBJECT = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*")


def is_identifier(value: str) -> bool:
    """Whether `value` may be put into DDL or a subject, where it cannot be a bound parameter."""
    return bool(_IDENTIFIER.fullmatch(value))


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the environment variable."""


def env(name: str, default: Any = _MISSING, *, doc: str, secret: bool = False, renamed_from: str = "") -> Any:
    """Declare a settings field read from environment variable `name` (or, for one release, from
    its former name `renamed_from`, with a deprecation warning)."""
    metadata = {"env": name, "doc": doc, "secret": secret, "renamed_from": renamed_from}
    if default is _MISSING:
        return field(metadata=metadata, repr=not secret)
    return field(default=default, metadata=metadata, repr=not secret)


def _parse_bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError("expected one of true/false/1/0/yes/no/on/off")


def _parse_listen(raw: str) -> str:
    host, sep, port = raw.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError("expected host:port, e.g. 127.0.0.1:50051 or [::]:50051")
    return raw


class ListenAddress(str):
    """A `host:port` a gRPC server binds to (port 0 picks a free one)."""


_PARSERS: dict[Any, Callable[[str], Any]] = {
    str: str,
    int: int,
    float: float,
    bool: _parse_bool,
    ListenAddress: lambda raw: ListenAddress(_parse_listen(raw)),
}


def _parser_for(annotation: Any) -> Callable[[str], Any]:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        non_none = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        return _parser_for(non_none[0])
    try:
        return _PARSERS[annotation]
    except KeyError:
        raise TypeError(f"no parser for settings type {annotation!r}") from None


def load_settings(cls: type[T], environ: Mapping[str, str] | None = None) -> T:
    """Build `cls` from the environment; raise SettingsError naming the bad variable."""
    environ = os.environ if environ is None else environ
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        name = f.metadata["env"]
        raw = environ.get(name)
        former = f.metadata["renamed_from"]
        if former and former in environ:
            if raw is None:
                log.warning(
                    "%s is deprecated and will stop working in the next release: set %s", former, name
                )
                name, raw = former, environ[former]
            else:
                log.warning("%s is ignored: %s, its new name, is set", former, name)
        if raw is None or (raw == "" and f.default is not _MISSING):
            if f.default is _MISSING:
                raise SettingsError(f"{name} is required: {f.metadata['doc']}")
            continue
        try:
            value = _parser_for(hints[f.name])(raw)
        except ValueError as exc:
            shown = "<hidden>" if f.metadata["secret"] else repr(raw)
            raise SettingsError(f"{name}={shown} is invalid: {exc}") from None
        if isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
            raise SettingsError(f"{name} must not be negative")
        values[f.name] = value
    try:
        return cls(**values)
    except ValueError as exc:
        raise SettingsError(str(exc)) from None


def describe(cls: type) -> list[tuple[str, str, str]]:
    """(variable, default, description) for every field: the source of the README table."""
    rows = []
    for f in dataclasses.fields(cls):
        default = "" if f.default is _MISSING else str(f.default)
        doc = f.metadata["doc"]
        if f.metadata["renamed_from"]:
            doc += f" Formerly `{f.metadata['renamed_from']}`, still read until the next release."
        rows.append((f.metadata["env"], default, doc))
    return rows


@dataclass(frozen=True)
class ProcessSettings:
    """What every process needs, the web dashboard included: how to log and how to shut down."""

    log_level: str = env("CR_LOG_LEVEL", "INFO", doc="DEBUG, INFO, WARNING or ERROR.")
    log_format: str = env(
        "CR_LOG_FORMAT",
        "text",
        doc="`text`, or `json`: one JSON object per line with the service, trace_id, span_id and tenant.",
    )
    shutdown_grace_seconds: float = env(
        "CR_SHUTDOWN_GRACE_SECONDS", 10.0, doc="How long in-flight RPCs may finish after SIGTERM."
    )
    metrics_listen: str = env(
        "CR_METRICS_LISTEN",
        "",
        doc="host:port serving the process's metrics for Prometheus at /metrics (e.g. 0.0.0.0:9464); "
        "empty serves none (OTLP export is OTEL_EXPORTER_OTLP_ENDPOINT's).",
    )

    def __post_init__(self) -> None:
        if self.log_level.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError(f"CR_LOG_LEVEL={self.log_level!r} is invalid: use DEBUG, INFO, WARNING or ERROR")
        if self.log_format not in {"text", "json"}:
            raise ValueError(f"CR_LOG_FORMAT={self.log_format!r} is invalid: use text or json")
        if self.metrics_listen:
            try:
                _parse_listen(self.metrics_listen)
            except ValueError as exc:
                raise ValueError(f"CR_METRICS_LISTEN={self.metrics_listen!r} is invalid: {exc}") from None


@dataclass(frozen=True)
class CommonSettings(ProcessSettings):
    """What every service needs: where NATS and ClickHouse are, besides logging and shutdown."""

    memory_release_seconds: float = env(
        "CR_MEMORY_RELEASE_SECONDS",
        15.0,
        doc="How often the process hands memory its allocators freed but kept back to the system "
        "(C heap, and the embedded ClickHouse's); 0 never does.",
    )

    nats_url: str = env(
        "CR_NATS_URL",
        "nats://127.0.0.1:4222",
        doc="NATS server URL(s), comma-separated for a cluster.",
    )
    nats_startup_wait_seconds: float = env(
        "CR_NATS_STARTUP_WAIT_SECONDS",
        60.0,
        doc="How long a service waits at start-up for JetStream to answer (a new cluster elects "
        "its leader first) before it gives up.",
    )
    nats_creds_file: str = env(
        "CR_NATS_CREDS_FILE", "", doc="NATS `.creds` file (JWT and NKey seed) to authenticate with."
    )
    nats_user: str = env("CR_NATS_USER", "", doc="NATS user name (with CR_NATS_PASSWORD).")
    nats_password: str = env("CR_NATS_PASSWORD", "", doc="NATS password.", secret=True)
    nats_token: str = env("CR_NATS_TOKEN", "", doc="NATS authentication token.", secret=True)
    nats_tls_ca_file: str = env(
        "CR_NATS_TLS_CA_FILE", "", doc="CA bundle to verify the NATS servers with (turns TLS on)."
    )
    nats_tls_cert_file: str = env(
        "CR_NATS_TLS_CERT_FILE", "", doc="Client certificate for NATS mutual TLS (with CR_NATS_TLS_KEY_FILE)."
    )
    nats_tls_key_file: str = env("CR_NATS_TLS_KEY_FILE", "", doc="Private key of CR_NATS_TLS_CERT_FILE.")
    stream_name: str = env("CR_STREAM_NAME", "CAMPAIGN_EVENTS", doc="JetStream stream holding the events.")
    stream_subject: str = env(
        "CR_STREAM_SUBJECT",
        "campaignreports.events",
        doc="Subject prefix: events go to `<prefix>.<partition>`.",
    )
    stream_partitions: int = env(
        "CR_STREAM_PARTITIONS",
        4,
        doc="Partitions of the stream (by tenant and campaign); each has one writer at a time.",
    )
    consumer_name: str = env(
        "CR_STREAM_CONSUMER_NAME",
        "aggregator",
        renamed_from="CR_CONSUMER_NAME",
        doc="Durable JetStream consumer name (partition p's is `<name>-p<p>`); the ingest service "
        "reports those consumers' lag too.",
    )
    lag_interval_seconds: float = env(
        "CR_LAG_INTERVAL_SECONDS",
        2.0,
        doc="How often the aggregator consumers' lag and freshness are read from JetStream for the metrics; "
        "0 reads none.",
    )
    dead_letter_stream: str = env(
        "CR_DEAD_LETTER_STREAM",
        "CAMPAIGN_EVENTS_DEAD",
        doc="Stream keeping messages the aggregator gave up on.",
    )
    dead_letter_subject: str = env(
        "CR_DEAD_LETTER_SUBJECT", "campaignreports.dead", doc="Subject of dead-lettered messages."
    )
    stored_subject: str = env(
        "CR_STORED_SUBJECT",
        "campaignreports.stored",
        doc="Core NATS subject on which the aggregator names the campaigns each stored round changed; "
        "open live reports read again at once instead of at their next interval.",
    )
    stream_max_age_days: float = env(
        "CR_STREAM_MAX_AGE_DAYS",
        30.0,
        doc="How long the stream keeps events (the replay horizon of `rebuild`); 0 keeps them forever.",
    )
    stream_max_bytes: int = env("CR_STREAM_MAX_BYTES", 0, doc="Size cap of the stream in bytes; 0 is no cap.")
    stream_replicas: int = env(
        "CR_STREAM_REPLICAS", 1, doc="JetStream replicas of the stream (3 on a NATS cluster)."
    )
    stream_storage: str = env("CR_STREAM_STORAGE", "file", doc="`file` (durable) or `memory`.")
    stream_duplicate_window_seconds: float = env(
        "CR_STREAM_DUPLICATE_WINDOW_SECONDS",
        120.0,
        doc="How long JetStream remembers message ids to drop republished messages.",
    )
    clickhouse_dsn: str = env(
        "CR_CLICKHOUSE_DSN",
        "chdb://.data/clickhouse",
        doc=(
            "`chdb:///abs/path` or `chdb://rel/path` (embedded engine), "
            "or `http(s)://user@host:port` (server)."
        ),
    )
    clickhouse_database: str = env(
        "CR_CLICKHOUSE_DATABASE", "campaign_reports", doc="ClickHouse database holding the tables."
    )
    clickhouse_password: str = env(
        "CR_CLICKHOUSE_PASSWORD", "", doc="ClickHouse password (kept out of the DSN and logs).", secret=True
    )
    retention_days: int = env(
        "CR_RETENTION_DAYS", 30, doc="Raw-event retention; older occurred_at values are refused at ingest."
    )
    global_retention_days: int = env(
        "CR_GLOBAL_RETENTION_DAYS",
        400,
        doc="Retention of the 15-minute, hour and day rollups behind global reports.",
    )
    clickhouse_quiet_merge_seconds: int = env(
        "CR_CLICKHOUSE_QUIET_MERGE_SECONDS",
        60,
        doc=(
            "A rollup partition left alone this long is merged into one part (0: never); "
            "applied when the schema is created or migrated."
        ),
    )
    clickhouse_raw_part_mib: int = env(
        "CR_CLICKHOUSE_RAW_PART_MIB",
        128,
        doc=(
            "Merges of the raw-event table stop at parts of this size, which spares a bulk load "
            "rewriting a whole week of events (0: the engine's own limit); applied when the schema "
            "is created or migrated."
        ),
    )
    clickhouse_cluster: str = env(
        "CR_CLICKHOUSE_CLUSTER",
        "",
        doc="ClickHouse cluster name: switches the schema to ON CLUSTER, Replicated and Distributed tables.",
    )
    api_keys_file: str = env(
        "CR_API_KEYS_FILE",
        "",
        doc="TOML file of API keys, their scopes and tenants; unset turns authentication off (loudly).",
    )
    tls_cert_file: str = env(
        "CR_TLS_CERT_FILE", "", doc="PEM certificate the gRPC server presents (with CR_TLS_KEY_FILE: TLS on)."
    )
    tls_key_file: str = env("CR_TLS_KEY_FILE", "", doc="PEM private key of CR_TLS_CERT_FILE.")
    tls_client_ca_file: str = env(
        "CR_TLS_CLIENT_CA_FILE",
        "",
        doc="PEM CA bundle: when set, clients must present a certificate it signed.",
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        # Both names end up inside DDL and subjects, where they cannot be bound as parameters.
        if not _IDENTIFIER.fullmatch(self.clickhouse_database):
            raise ValueError("CR_CLICKHOUSE_DATABASE must match [A-Za-z_][A-Za-z0-9_]*")
        for name, value in (
            ("CR_STREAM_NAME", self.stream_name),
            ("CR_DEAD_LETTER_STREAM", self.dead_letter_stream),
        ):
            if not _IDENTIFIER.fullmatch(value):
                raise ValueError(f"{name} must match [A-Za-z_][A-Za-z0-9_]*")
        if self.clickhouse_cluster and not _IDENTIFIER.fullmatch(self.clickhouse_cluster):
            raise ValueError("CR_CLICKHOUSE_CLUSTER must match [A-Za-z_][A-Za-z0-9_]*")
        if not 1 <= self.stream_partitions <= 256:
            raise ValueError("CR_STREAM_PARTITIONS must be between 1 and 256")
        if self.clickhouse_quiet_merge_seconds < 0:
            raise ValueError("CR_CLICKHOUSE_QUIET_MERGE_SECONDS must be 0 (never) or a number of seconds")
        if self.clickhouse_raw_part_mib < 0:
            raise ValueError("CR_CLICKHOUSE_RAW_PART_MIB must be 0 (the engine's limit) or a number of MiB")
        if not 1 <= self.retention_days <= self.global_retention_days:
            raise ValueError("CR_RETENTION_DAYS must be at least 1 and at most CR_GLOBAL_RETENTION_DAYS")
        if self.stream_subject.startswith(self.dead_letter_subject) or self.dead_letter_subject.startswith(
            self.stream_subject
        ):
            raise ValueError("CR_DEAD_LETTER_SUBJECT must not overlap CR_STREAM_SUBJECT")
        if any(self.stored_subject.startswith(s) for s in (self.stream_subject, self.dead_letter_subject)):
            raise ValueError(
                "CR_STORED_SUBJECT must lie outside CR_STREAM_SUBJECT and CR_DEAD_LETTER_SUBJECT"
            )
        if not _SUBJECT.fullmatch(self.stored_subject):
            raise ValueError("CR_STORED_SUBJECT must be dot-separated tokens of [A-Za-z0-9_-]")
        if self.stream_storage not in {"file", "memory"}:
            raise ValueError("CR_STREAM_STORAGE must be file or memory")
        if not 1 <= self.stream_replicas <= 5:
            raise ValueError("CR_STREAM_REPLICAS must be between 1 and 5")
        if bool(self.tls_cert_file) != bool(self.tls_key_file):
            raise ValueError("CR_TLS_CERT_FILE and CR_TLS_KEY_FILE go together")
        if self.tls_client_ca_file and not self.tls_cert_file:
            raise ValueError("CR_TLS_CLIENT_CA_FILE needs CR_TLS_CERT_FILE and CR_TLS_KEY_FILE")
        if bool(self.nats_tls_cert_file) != bool(self.nats_tls_key_file):
            raise ValueError("CR_NATS_TLS_CERT_FILE and CR_NATS_TLS_KEY_FILE go together")
