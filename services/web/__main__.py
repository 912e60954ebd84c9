"""`python -m campaignreports.web`: the reference web dashboard (started by `make run`)."""

from __future__ import annotations

from aiohttp import web

from campaignreports.service import run_main, stop_event_on_signals
from campaignreports.web.app import application, channel_to
from campaignreports.web.settings import WebSettings


async def run(settings: WebSettings) -> None:
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


def main() -> None:
    run_main(WebSettings, run)


if __name__ == "__main__":
    main()
