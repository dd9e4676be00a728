"""What anyone on the LAN can place between Home Assistant and a satellite, beside a relay of bytes
(``tests.helpers.network.TcpRelay``).

``TerminatingRelay`` ends TLS itself with its own certificate and relays
the WebSocket messages, as a man in the middle would: it may rewrite the certificate fingerprint in
``auth`` to the satellite's, and may answer ``auth`` itself with a made-up ``auth_ok``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Self

from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from realtime_voice_satellite.agent.certificate import ensure_certificate
from realtime_voice_satellite.link.tls import client_context, server_context


class TerminatingRelay:
    def __init__(
        self,
        target_port: int,
        folder: Path,
        *,
        rewrite_certificate: str | None = None,
        fake_auth_ok: bool = False,
        both_ways: bool = False,
    ) -> None:
        self._target_port = target_port
        self.certificate = ensure_certificate(folder, "relay")
        self._rewrite = rewrite_certificate
        self._fake_auth_ok = fake_auth_ok
        # after the first message, relay the client's too (pairing's confirmation)
        self._both_ways = both_ways
        self._server: Server | None = None
        self.from_satellite: list[str | bytes] = []

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._server = await serve(
            self._relay,
            "127.0.0.1",
            0,
            ssl=server_context(self.certificate),
            compression=None,
        )

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def _relay(self, downstream: ServerConnection) -> None:
        async with connect(
            f"wss://127.0.0.1:{self._target_port}/",
            ssl=client_context(),
            compression=None,
            proxy=None,
        ) as upstream:
            hello = await upstream.recv()
            await downstream.send(hello)
            auth = json.loads(await downstream.recv())
            if self._fake_auth_ok:
                await downstream.send(json.dumps({"type": "auth_ok", "proof": "ab" * 32}))
                with contextlib.suppress(ConnectionClosed):
                    await downstream.recv()
                return
            if self._rewrite is not None:
                auth["certificate"] = self._rewrite
            await upstream.send(json.dumps(auth))
            if self._both_ways:
                forward = asyncio.create_task(self._forward(downstream, upstream))
            with contextlib.suppress(ConnectionClosed):
                async for message in upstream:
                    self.from_satellite.append(message)
                    await downstream.send(message)
            if self._both_ways:
                forward.cancel()

    @staticmethod
    async def _forward(downstream: ServerConnection, upstream: ClientConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for message in downstream:
                await upstream.send(message)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
