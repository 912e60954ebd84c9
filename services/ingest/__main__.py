"""`python -m campaignreports.ingest`: the ingest service on its own."""

from __future__ import annotations

from campaignreports import jetstream
from campaignreports.ingest.app import build, host
from campaignreports.ingest.settings import IngestSettings
from campaignreports.service import run_main, stop_event_on_signals
from campaignreports.telemetry import setup_telemetry


async def run(settings: IngestSettings) -> None:
    telemetry = setup_telemetry("campaign-reports-ingest")
    nc = await jetstream.connect(settings, "campaign-reports-ingest")
    try:
        js = nc.jetstream()
        await jetstream.ensure_stream(js, settings)
        await host(settings, build(settings, nc, js, telemetry), nc).serve_until(stop_event_on_signals())
    finally:
        await jetstream.close(nc)
        telemetry.shutdown()


def main() -> None:
    run_main(IngestSettings, run)


if __name__ == "__main__":
    main()
