"""A stand-in for a company's authenticating proxy (oauth2-proxy, an SSO gateway), for the browser
tests: the web page is reached only through it.

It signs a browser in by a session cookie (`session=<user>`, the test sets it), removes any user
header the browser sent, adds its own (`X-Forwarded-User: <user>`) to every request it passes
on, keeps the Host header (so the page's Origin check sees its own host), and streams answers
back (server-sent events included). Without a session it passes the request on unsigned, and the
web layer refuses it.
"""

from __future__ import annotations

import asyncio
import threading

import aiohttp
from aiohttp import web

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "upgrade", "te"}


class LoginProxy:
    def __init__(self, upstream: str, user_header: str) -> None:
        self._upstream = upstream
        self._user_header = user_header
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._runner: web.AppRunner
        self.port = 0

    def start(self) -> LoginProxy:
        threading.Thread(target=self._run, daemon=True, name="login-proxy").start()
        if not self._started.wait(10):
            raise RuntimeError("the login proxy did not start")
        return self

    def stop(self) -> None:
        """End open streams and the server, then the loop."""
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)

    async def _shutdown(self) -> None:
        await self._runner.cleanup()
        streams = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in streams:
            task.cancel()
        await asyncio.gather(*streams, return_exceptions=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", self._forward)
        runner = self._runner = web.AppRunner(app, shutdown_timeout=1)
        self._loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self.port = runner.addresses[0][1]
        self._started.set()
        self._loop.run_forever()

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        headers.pop(self._user_header, None)
        user = request.cookies.get("session")
        if user:
            headers[self._user_header] = user
        url = f"http://{self._upstream}{request.rel_url}"
        async with (
            aiohttp.ClientSession(auto_decompress=False) as session,
            session.request(
                request.method, url, headers=headers, data=await request.read(), allow_redirects=False
            ) as upstream,
        ):
            response = web.StreamResponse(
                status=upstream.status,
                headers={k: v for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP},
            )
            await response.prepare(request)
            try:
                async for chunk in upstream.content.iter_any():
                    await response.write(chunk)
            except (ConnectionError, aiohttp.ClientError):
                pass  # the browser or the page went away
            return response
