"""A TCP proxy in front of a real nats-server that can break one named client connection.

Every client connection is piped to the server unchanged; the proxy reads the client's first
line (`CONNECT {...}`) to learn the connection's `name` (each service names its connections).
A test can then, for one name:
- `cut`: drop its connections and refuse new ones for a while (a network partition: the
  client keeps reconnecting);
- `close_for_good`: send what nats-server sends on a protocol violation
  (`-ERR 'maximum control line exceeded'`) and drop it: nats-py closes such a connection and
  never reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field


@dataclass
class _Piped:
    name: str
    client: asyncio.StreamWriter
    server: asyncio.StreamWriter


@dataclass
class NatsProxy:
    upstream_port: int
    connections: list[_Piped] = field(default_factory=list)
    _blocked_until: dict[str, float] = field(default_factory=dict)
    _server: asyncio.Server | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for piped in self.connections:
            piped.client.close()
            piped.server.close()

    def names(self) -> set[str]:
        return {p.name for p in self.connections if not p.client.is_closing()}

    async def cut(self, name: str, seconds: float) -> None:
        self._blocked_until[name] = time.monotonic() + seconds
        for piped in self._of(name):
            piped.client.close()
            piped.server.close()

    async def close_for_good(self, name: str) -> None:
        for piped in self._of(name):
            piped.client.write(b"-ERR 'maximum control line exceeded'\r\n")
            with contextlib.suppress(ConnectionError):
                await piped.client.drain()
            piped.client.close()
            piped.server.close()

    def _of(self, name: str) -> list[_Piped]:
        found = [p for p in self.connections if p.name == name and not p.client.is_closing()]
        assert found, f"no open NATS connection named {name!r}; open: {sorted(self.names())}"
        return found

    async def _accept(self, client_reader: asyncio.StreamReader, client: asyncio.StreamWriter) -> None:
        server_reader, server = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        to_client = asyncio.create_task(self._pipe(server_reader, client))
        try:
            first = await client_reader.readline()  # CONNECT {...}, after the server's INFO
        except ConnectionError:
            first = b""
        name = ""
        if first.startswith(b"CONNECT "):
            with contextlib.suppress(ValueError):
                name = json.loads(first[len(b"CONNECT ") :]).get("name", "")
        if not first or time.monotonic() < self._blocked_until.get(name, 0):
            client.close()
            server.close()
            to_client.cancel()
            return
        self.connections.append(_Piped(name, client, server))
        server.write(first)
        await self._pipe(client_reader, server)
        to_client.cancel()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()
