"""One OpenTelemetry setup for every service, and one logging setup for every process.

Providers are created per process and handed to the code that needs them (no global
provider is installed), which keeps tests able to run several services in one process with
their own exporters. With `OTEL_EXPORTER_OTLP_ENDPOINT` set, spans and metrics go to that OTLP
collector; with a metrics address (`CR_METRICS_LISTEN`), the metrics are also served for
Prometheus to scrape at `/metrics`, from a registry of this process's own. Every process reports
its CPU time and memory (`process.cpu.time`, `process.memory.usage`). Trace context crosses NATS
in message headers (W3C `traceparent`), see `inject_headers` / `extract_context`.

Logs are text, or one JSON object per line (`CR_LOG_FORMAT=json`) carrying the service, the
current span's `trace_id` and `span_id`, and the tenant of the request being served (`TENANT`,
set by the gRPC guard once the request's identifiers are checked).
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import resource
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from campaignreports.grpctypes import Metadata

_PROPAGATOR = TraceContextTextMapPropagator()


@dataclass
class Telemetry:
    """The tracer and meter of one service, and the providers to flush at shutdown."""

    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    metrics_server: Any = field(default=None)  # the scrape endpoint's HTTP server, if any

    @property
    def metrics_address(self) -> str:
        """host:port of the scrape endpoint ('' without one)."""
        if self.metrics_server is None:
            return ""
        host, port = self.metrics_server.server_address[:2]
        return f"{host}:{port}"

    def tracer(self, name: str) -> trace.Tracer:
        return self.tracer_provider.get_tracer(name)

    def meter(self, name: str) -> metrics.Meter:
        return self.meter_provider.get_meter(name)

    def shutdown(self) -> None:
        """Flush whatever is buffered; called last on the way out."""
        self.tracer_provider.force_flush()
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()
        if self.metrics_server is not None:
            self.metrics_server.shutdown()
            self.metrics_server.server_close()


def setup_telemetry(
    service_name: str,
    environ: Mapping[str, str] | None = None,
    extra_span_processors: Sequence[SpanProcessor] = (),
    extra_metric_readers: Sequence[MetricReader] = (),
    metrics_listen: str = "",
) -> Telemetry:
    """Create the providers; export over OTLP only when an endpoint is configured, and serve the
    metrics for Prometheus on `metrics_listen` (host:port, port 0 picks one) when given."""
    environ = os.environ if environ is None else environ
    attributes = {"service.name": environ.get("OTEL_SERVICE_NAME", service_name)}
    tracer_provider = TracerProvider(resource=Resource.create(attributes))
    readers: list[MetricReader] = list(extra_metric_readers)
    server = None
    if metrics_listen:
        server, reader = _scrape_endpoint(metrics_listen)
        readers.append(reader)
    if environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        readers.append(PeriodicExportingMetricReader(OTLPMetricExporter()))
        logging.getLogger(__name__).info("exporting telemetry over OTLP")
    for processor in extra_span_processors:
        tracer_provider.add_span_processor(processor)
    meter_provider = MeterProvider(resource=Resource.create(attributes), metric_readers=readers)
    _observe_process(meter_provider.get_meter(__name__))
    return Telemetry(tracer_provider, meter_provider, server)


def _scrape_endpoint(listen: str) -> tuple[Any, MetricReader]:
    """An HTTP server answering Prometheus' scrapes with this process's metrics (its own
    registry: another service in the same process, as in tests, keeps its own)."""
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from prometheus_client import CollectorRegistry, start_http_server

    registry = CollectorRegistry(auto_describe=True)
    reader = PrometheusMetricReader(registry=registry)
    host, _, port = listen.rpartition(":")
    try:
        server, _ = start_http_server(int(port), addr=host.strip("[]") or "0.0.0.0", registry=registry)
    except OSError as exc:
        raise OSError(f"cannot serve metrics on {listen}: {exc}") from exc
    logging.getLogger(__name__).info("serving metrics on http://%s/metrics", listen)
    return server, reader


def _observe_process(meter: metrics.Meter) -> None:
    """The process's CPU time and resident memory, as the semantic conventions name them."""

    def cpu(_: metrics.CallbackOptions) -> Iterable[metrics.Observation]:
        times = os.times()
        yield metrics.Observation(times.user, {"cpu.mode": "user"})
        yield metrics.Observation(times.system, {"cpu.mode": "system"})

    def memory(_: metrics.CallbackOptions) -> Iterable[metrics.Observation]:
        yield metrics.Observation(_resident_bytes())

    meter.create_observable_counter("process.cpu.time", [cpu], unit="s", description="CPU time used")
    meter.create_observable_up_down_counter(
        "process.memory.usage", [memory], unit="By", description="Resident memory"
    )


def _resident_bytes() -> int:
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):  # not Linux: the peak is the best there is
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def inject_headers(span_context: otel_context.Context | None = None) -> dict[str, str]:
    """W3C trace headers for the current (or given) context, to put on a NATS message."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier, context=span_context)
    return carrier


def extract_context(headers: Mapping[str, str] | None) -> otel_context.Context:
    """The remote context carried by a NATS message's headers (empty if none)."""
    return _PROPAGATOR.extract(dict(headers or {}))


def links_from_traceparents(joined: str | None) -> list[trace.Link]:
    """Span links for comma-separated W3C traceparents (malformed ones are skipped)."""
    links = []
    for traceparent in (joined or "").split(","):
        span_context = trace.get_current_span(
            extract_context({"traceparent": traceparent})
        ).get_span_context()
        if span_context.is_valid:
            links.append(trace.Link(span_context))
    return links


def grpc_parent_context(
    invocation_metadata: Metadata | None,
) -> otel_context.Context:
    """The caller's trace context, when it sent W3C trace headers as gRPC metadata."""
    return _PROPAGATOR.extract(
        {key: value for key, value in invocation_metadata or () if isinstance(value, str)}
    )


class _WithholdUndecodableMetadata(logging.Filter):
    """gRPC logs a metadata value it cannot decode as UTF-8 whole, and a header with one bad byte
    may be an API key: the value is replaced by its length, and the traceback dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and record.msg.startswith("Invalid encoding on"):
            value = record.args[0] if isinstance(record.args, tuple) and record.args else b""
            size = len(value) if isinstance(value, bytes | str) else 0
            record.msg, record.args = "a metadata value is not UTF-8 (%d bytes, withheld)", (size,)
            record.exc_info, record.exc_text = None, None
        return True


def withhold_secrets_from_grpc_logs() -> None:
    """Install the filter above on gRPC's own logger (idempotent; every server calls it)."""
    logger = logging.getLogger("grpc._cython.cygrpc")
    if not any(isinstance(f, _WithholdUndecodableMetadata) for f in logger.filters):
        logger.addFilter(_WithholdUndecodableMetadata())


# The tenant of the request being served, for the log lines written while serving it.
TENANT: contextvars.ContextVar[str] = contextvars.ContextVar("tenant", default="")
LOG_FORMATS = ("text", "json")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, service, the current span's ids,
    the tenant being served, and the exception's trace when there is one. Nothing else of the
    record is written (a stray `extra` cannot carry a secret into the logs)."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "service": self._service,
        }
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            entry["trace_id"] = format(span.trace_id, "032x")
            entry["span_id"] = format(span.span_id, "016x")
        if tenant := TENANT.get():
            entry["tenant"] = tenant
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str, log_format: str = "text", service: str = "") -> None:
    """Log at `level` to standard error, as text or as JSON lines (see `JsonFormatter`)."""
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(JsonFormatter(service))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
