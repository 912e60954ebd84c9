"""`python -m campaignreports.ingest`: the ingest service on its own."""

from __future__ import annotations

from campaignreports import jetstream
from campaignreports.ingest.component import build, host
from campaignreports.ingest.settings import IngestSettings
from campaignreports.service import run_main, stop_event_on_signals
from campaignreports.telemetry import setup_telemetry

SERVICE = "campaign-reports-ingest"


async def run(settings: IngestSettings) -> None:
    telemetry = setup_telemetry(SERVICE, metrics_listen=settings.metrics_listen)
    nc = await jetstream.connect(settings, SERVICE)
    try:
        js = nc.jetstream()
        await jetstream.ensure_stream(js, settings)
        component = build(settings, nc, js, telemetry)
        await host(settings, component, nc, telemetry=telemetry).serve_until(stop_event_on_signals())
    finally:
        await jetstream.close(nc)
        telemetry.shutdown()


def main() -> None:
    run_main(IngestSettings, run, SERVICE)


if __name__ == "__main__":
    main()
