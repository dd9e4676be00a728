"""The link's real server and client on loopback, as the link tests set them up: a handler that
stands in for the agent, a server with the test's timings, a client for it, and a raw WebSocket
to send what the real client never would."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from websockets.asyncio.client import connect

from realtime_voice_satellite.link import (
    LinkCertificate,
    LinkHandler,
    SatelliteLinkClient,
    SatelliteLinkServer,
)
from realtime_voice_satellite.link import protocol as p
from realtime_voice_satellite.link.tls import client_context

KEY = "correct horse battery staple"


def raw_connect(port: int):  # type: ignore[no-untyped-def]
    """A WebSocket client of our own over TLS, to send what the real client never would."""
    return connect(f"wss://127.0.0.1:{port}/", ssl=client_context(), proxy=None, compression=None)


class RecordingHandler:
    """Stands in for the agent: keeps what HA sent and answers with a fixed info."""

    def __init__(self) -> None:
        self.commands: list[p.Message] = []
        self.audio: list[bytes] = []
        self.media_audio: list[bytes] = []
        self.connects = 0
        self.disconnects = asyncio.Event()

    def link_info(self) -> p.Info:
        return p.Info(
            "Kitchen",
            "kitchen-0001",
            "0.1.0",
            1,
            ["hey_jarvis"],
            ["hey_jarvis"],
            0.5,
            5.0,
            True,
            False,
            0.8,
            "idle",
        )

    async def on_command(self, command: p.Message) -> None:
        self.commands.append(command)

    def on_audio(self, pcm: bytes) -> None:
        self.audio.append(pcm)

    def on_media_audio(self, pcm: bytes) -> None:
        self.media_audio.append(pcm)

    def on_connected(self) -> None:
        self.connects += 1

    def on_disconnected(self) -> None:
        self.disconnects.set()


def link_server(
    certificate: LinkCertificate,
    handler: LinkHandler | None = None,
    *,
    access_key: str | None = KEY,
    **options: Any,
) -> SatelliteLinkServer:
    """The real server, named "Kitchen", on a port of 127.0.0.1 the OS picks; ``options`` are the
    server's own (timings, pairing, back-off). Not started: ``async with serving(...)``."""
    return SatelliteLinkServer(
        handler if handler is not None else RecordingHandler(),
        name="Kitchen",
        version="0.1.0",
        access_key=access_key,
        certificate=certificate,
        host="127.0.0.1",
        port=0,
        **options,
    )


@contextlib.asynccontextmanager
async def serving(server: SatelliteLinkServer) -> AsyncIterator[SatelliteLinkServer]:
    """``server`` started for the block, stopped after it."""
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def make_client(
    server: SatelliteLinkServer, key: str = KEY, port: int | None = None
) -> SatelliteLinkClient:
    return SatelliteLinkClient(
        "127.0.0.1",
        port or server.port,
        key,
        ping_interval=0.2,
        ping_timeout=0.3,
        connect_timeout=2.0,
    )
