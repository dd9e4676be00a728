"""HA's link keeper never dies (issue #13): whatever a drop, a peer on the satellite's address or
its own handler throws, it logs once, backs off and reconnects; the satellite is usable again within
10 s with no reload, and an announcement is accepted right after."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import pytest
from homeassistant.core import HomeAssistant
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from custom_components.realtime_voice.core.link import protocol as ha_protocol
from custom_components.realtime_voice.core.realtime import RealtimeConnectionError
from realtime_voice_satellite.link import protocol
from realtime_voice_satellite.link.tls import server_context
from tests.realtime_standin import StandinServer

from .conftest import entry_for
from .link_satellite import CERTIFICATE, LinkSatellite
from .waiting import load_entry, wait_until


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries every 0.2-0.5 s, so that a test needs no minute of backoff."""
    from custom_components.realtime_voice.core import backoff

    original = backoff.backoff_delays
    monkeypatch.setattr(
        "custom_components.realtime_voice.satellite_link.backoff_delays",
        lambda: original(initial=0.2, maximum=0.5),
    )


def keeper_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith(("custom_components.realtime_voice", "websockets", "asyncio"))
        and (r.levelno >= logging.ERROR or r.exc_info)
    ]


async def back_and_usable(hass: HomeAssistant, entry, satellite: LinkSatellite, port: int) -> None:  # type: ignore[no-untyped-def]
    """Restart the real satellite on its port: linked again within 10 s, an announcement plays."""
    await satellite.start(port)
    await wait_until(lambda: entry.runtime_data.link.available, within=10)
    assert hass.states.get("binary_sensor.kitchen_link").state == "on"
    await hass.services.async_call(
        "assist_satellite",
        "announce",
        {"message": "Back again", "preannounce": False},
        target={"entity_id": "assist_satellite.kitchen"},
        blocking=False,
    )
    await wait_until(
        lambda: any(isinstance(c, protocol.PlayStart) for c in satellite.commands), within=10
    )


async def test_an_error_in_the_disconnect_handler_does_not_end_the_keeper(
    hass: HomeAssistant,
    standin: StandinServer,
    satellite: LinkSatellite,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A network blip during an answer: the session's handler raises RealtimeConnectionError
    ("Not connected (reconnecting)") from the made-up listen_end(disconnected)."""
    entry = entry_for(standin, satellite)
    await load_entry(hass, entry)
    link = entry.runtime_data.link
    handler = link._handler
    assert handler is not None

    async def failing(event: object) -> None:
        # the integration's own module (realtime_voice_satellite.link is the satellite's import of it)
        if isinstance(event, ha_protocol.ListenEnd) and event.reason == "disconnected":
            raise RealtimeConnectionError("Not connected (reconnecting)")
        await handler(event)  # type: ignore[arg-type]

    link.set_event_handler(failing)
    port = satellite.port
    await satellite.stop()
    await wait_until(lambda: not link.available)
    await asyncio.sleep(0.5)
    link.set_event_handler(handler)
    await back_and_usable(hass, entry, satellite, port)
    assert keeper_errors(caplog) == []
    assert "Not connected (reconnecting)" in caplog.text  # logged once, as a warning
    assert await hass.config_entries.async_unload(entry.entry_id)


BAD_HELLOS: dict[str, Callable[[], str]] = {
    "lone surrogate nonce": lambda: (
        '{"type":"hello","protocol":3,"name":"x","version":"1","nonce":"\\ud800"}'
    ),
    "deep frame": lambda: "[" * 30_000 + "]" * 30_000,
    "100k-deep frame": lambda: "[" * 100_000 + "]" * 100_000,
    "not JSON": lambda: "}{",
}


async def test_malformed_handshakes_on_the_satellites_address_do_not_end_the_keeper(
    hass: HomeAssistant,
    standin: StandinServer,
    satellite: LinkSatellite,
    caplog: pytest.LogCaptureFixture,
) -> None:
    entry = entry_for(standin, satellite)
    await load_entry(hass, entry, wait_for_session=False)
    link = entry.runtime_data.link
    port = satellite.port
    await satellite.stop()
    await wait_until(lambda: not link.available)
    for name, hello in BAD_HELLOS.items():
        answered = asyncio.Event()

        async def bad(
            connection: ServerConnection, text: str = hello(), answered: asyncio.Event = answered
        ) -> None:
            answered.set()
            with contextlib.suppress(ConnectionClosed):
                await connection.send(text)
                await connection.wait_closed()

        async with serve(bad, "127.0.0.1", port, ssl=server_context(CERTIFICATE), max_size=None):
            await asyncio.wait_for(answered.wait(), 10)
            await asyncio.sleep(0.3)
        assert not link.available, name
    await back_and_usable(hass, entry, satellite, port)
    assert keeper_errors(caplog) == []
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_an_unexpected_error_while_connecting_does_not_end_the_keeper(
    hass: HomeAssistant,
    standin: StandinServer,
    satellite: LinkSatellite,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Anything at all raised while reconnecting (here a bug stand-in in applying the settings)."""
    entry = entry_for(standin, satellite)
    await load_entry(hass, entry, wait_for_session=False)
    link = entry.runtime_data.link
    port = satellite.port
    calls = 0
    original = link._apply_settings

    async def broken(client: object) -> None:
        nonlocal calls
        calls += 1
        if calls <= 2:
            raise UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed")
        await original(client)  # type: ignore[arg-type]

    monkeypatch.setattr(link, "_apply_settings", broken)
    await satellite.stop()
    await wait_until(lambda: not link.available)
    await back_and_usable(hass, entry, satellite, port)
    assert calls >= 3
    assert keeper_errors(caplog) == []
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_a_handler_error_on_every_frame_is_logged_once_with_its_traceback(
    hass: HomeAssistant,
    standin: StandinServer,
    satellite: LinkSatellite,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A bug met on every 20 ms audio frame: one ERROR with the traceback, not fifty a second."""
    entry = entry_for(standin, satellite)
    await load_entry(hass, entry)
    link = entry.runtime_data.link

    async def failing(event: object) -> None:
        raise KeyError("a bug")

    link.set_event_handler(failing)
    assert satellite.server is not None
    for _ in range(200):  # four seconds of microphone audio
        await satellite.server.send_audio(bytes(protocol.AUDIO_FRAME_BYTES))
    await satellite.server.send_event(protocol.Wake(model="hey_jarvis", score=0.9, t=1.0))
    await wait_until(lambda: caplog.text.count("Error handling") >= 2)
    await asyncio.sleep(0.2)
    logged = [r for r in caplog.records if r.getMessage().startswith("Error handling")]
    # one per kind of event (Audio, Wake) with its traceback; of 199 repeats, one line at most
    assert [r.getMessage() for r in logged if r.exc_info] == [
        "Error handling Audio from satellite Kitchen",
        "Error handling Wake from satellite Kitchen",
    ]
    assert len(logged) <= 3
    assert link.available
    assert await hass.config_entries.async_unload(entry.entry_id)
