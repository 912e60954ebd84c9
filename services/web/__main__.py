"""`python -m campaignreports.web`: the reference web dashboard (started by `make run`)."""

from __future__ import annotations

from aiohttp import web

from campaignreports.service import run_main, stop_event_on_signals
from campaignreports.telemetry import setup_telemetry
from campaignreports.web.application import application, channel_to
from campaignreports.web.settings import WebSettings

SERVICE = "campaign-reports-web"


async def run(settings: WebSettings) -> None:
    telemetry = setup_telemetry(SERVICE, metrics_listen=settings.metrics_listen)
    channel = channel_to(settings)
    runner = web.AppRunner(application(settings, channel), shutdown_timeout=settings.shutdown_grace_seconds)
    await runner.setup()
    host, _, port = settings.web_listen.rpartition(":")
    await web.TCPSite(runner, host.strip("[]"), int(port)).start()
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
