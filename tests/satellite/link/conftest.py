"""The link tests' server: the real one on loopback, with the timings a module asks for."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from realtime_voice_satellite.link import LinkCertificate, SatelliteLinkServer

from .loopback import RecordingHandler, link_server, serving


@pytest.fixture
def handler() -> RecordingHandler:
    return RecordingHandler()


@pytest.fixture
def server_options() -> dict[str, Any]:
    """The server's timings (and back-off): a module overrides this fixture for its own."""
    return {"ping_interval": 0.2, "ping_timeout": 0.3, "auth_timeout": 0.5}


@pytest.fixture
async def server(
    handler: RecordingHandler, certificate: LinkCertificate, server_options: dict[str, Any]
) -> AsyncIterator[SatelliteLinkServer]:
    async with serving(link_server(certificate, handler, **server_options)) as server:
        yield server
