"""One OpenTelemetry setup for every service.

Providers are created per process and handed to the code that needs them (no global
provider is installed), which keeps tests able to run several services in one process with
their own exporters. With `OTEL_EXPORTER_OTLP_ENDPOINT` set, spans and metrics go to that OTLP
collector; otherwise nothing is exported. Trace context crosses NATS in message headers
(W3C `traceparent`), see `inject_headers` / `extract_context`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_PROPAGATOR = TraceContextTextMapPropagator()


@dataclass
class Telemetry:
    """The tracer and meter of one service, and the providers to flush at shutdown."""

    tracer_provider: TracerProvider
    meter_provider: MeterProvider

    def tracer(self, name: str) -> trace.Tracer:
        return self.tracer_provider.get_tracer(name)

    def meter(self, name: str) -> metrics.Meter:
        return self.meter_provider.get_meter(name)

    def shutdown(self) -> None:
        """Flush whatever is buffered; called last on the way out."""
        self.tracer_provider.force_flush()
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()


def setup_telemetry(
    service_name: str,
    environ: Mapping[str, str] | None = None,
    extra_span_processors: Sequence[SpanProcessor] = (),
    extra_metric_readers: Sequence[MetricReader] = (),
) -> Telemetry:
    """Create the providers; export over OTLP only when an endpoint is configured."""
    environ = os.environ if environ is None else environ
    resource = Resource.create({"service.name": environ.get("OTEL_SERVICE_NAME", service_name)})
    tracer_provider = TracerProvider(resource=resource)
    readers: list[MetricReader] = list(extra_metric_readers)
    if environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        readers.append(PeriodicExportingMetricReader(OTLPMetricExporter()))
        logging.getLogger(__name__).info("exporting telemetry over OTLP")
    for processor in extra_span_processors:
        tracer_provider.add_span_processor(processor)
    return Telemetry(tracer_provider, MeterProvider(resource=resource, metric_readers=readers))


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
    invocation_metadata: Sequence[tuple[str, str | bytes]] | None,
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
            size = len(record.args[0]) if isinstance(record.args, tuple) and record.args else 0
            record.msg, record.args = "a metadata value is not UTF-8 (%d bytes, withheld)", (size,)
            record.exc_info, record.exc_text = None, None
        return True


def withhold_secrets_from_grpc_logs() -> None:
    """Install the filter above on gRPC's own logger (idempotent; every server calls it)."""
    logger = logging.getLogger("grpc._cython.cygrpc")
    if not any(isinstance(f, _WithholdUndecodableMetadata) for f in logger.filters):
        logger.addFilter(_WithholdUndecodableMetadata())


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
