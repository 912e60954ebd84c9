"""`python -m campaignreports.web`: the reference web dashboard (started by `make run`)."""

from __future__ import annotations

from campaignreports.service import run_main, stop_event_on_signals
from campaignreports.telemetry import setup_telemetry
from campaignreports.web.application import channel_to, serve
from campaignreports.web.settings import WebSettings

SERVICE = "campaign-reports-web"


async def run(settings: WebSettings) -> None:
    telemetry = setup_telemetry(SERVICE, metrics_listen=settings.metrics_listen)
    channel = channel_to(settings)
    runner = await serve(settings, channel)
    try:
        await stop_event_on_signals().wait()
    finally:
        await runner.cleanup()
        await channel.close()
        telemetry.shutdown()


def main() -> None:
    run_main(WebSettings, run, SERVICE)


if __name__ == "__main__":
    main()
