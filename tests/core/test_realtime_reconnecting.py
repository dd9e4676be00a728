"""While the connection is being made again after a drop, what only makes sense on the old one
(cancel, clear, truncate) returns at once instead of waiting for the new connection (#23 item 7:
the turn that the drop cut must end at once, not when the service is back)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from realtime_voice_core.realtime import (
    Reconnected,
    Reconnecting,
    SessionDescription,
    open_session,
)
from tests.helpers.waiting import wait_until
from tests.realtime_standin import StandinConfig, StandinServer
from tests.realtime_standin.testing import events_until, settings_for

pytestmark = pytest.mark.usefixtures("socket_enabled")  # loopback only (HA's test plugin)


def said(server: StandinServer, text: str) -> bool:
    return any(text in str(e) for e in server.received_of("conversation.item.create"))


@pytest.fixture
async def server() -> AsyncIterator[StandinServer]:
    async with StandinServer(StandinConfig(endpoint="ga")) as running:
        yield running
        assert running.violations == []


async def test_cancel_clear_and_truncate_do_not_wait_for_the_new_connection(
    server: StandinServer,
) -> None:
    session = await open_session(
        settings_for(
            server.url,
            model_selection="new",
            connect_timeout=10.0,
            reconnect_initial_delay=0.5,
            reconnect_max_delay=1.0,
        ),
        SessionDescription(instructions="Be brief.", turn_detection=None),
    )
    try:
        assert not session.reconnecting
        server.go_down(2.0)  # an outage: new connections refused (HTTP 503) for 2 s
        await events_until(session, lambda e: isinstance(e, Reconnecting), within=5)
        assert session.reconnecting
        started = time.monotonic()
        await session.cancel_response()
        await session.clear_audio()
        await session.truncate("item_gone", 0, 100)
        assert time.monotonic() - started < 0.5
        # Other sends still wait for the new connection, and it comes once the outage is over.
        await asyncio.wait_for(session.add_user_text("Still there?"), 15)
        await events_until(session, lambda e: isinstance(e, Reconnected), within=15)
        assert not session.reconnecting
        # nothing to await
        await wait_until(lambda: said(server, "Still there?"), within=5, every=0.05)
    finally:
        await session.close()
