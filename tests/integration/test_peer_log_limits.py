"""What a satellite holding the key can make HA log is rate-limited (#23 item 5): a flood of
stop words, of error reports and of link drops gives a few lines each, not one per event."""

from __future__ import annotations

import logging

import pytest
from homeassistant.core import HomeAssistant

from custom_components.realtime_voice.const import EVENT_WAKE_WORD_DETECTED
from realtime_voice_satellite.link import protocol
from tests.realtime_standin import StandinServer

from .conftest import entry_for
from .link_satellite import LinkSatellite
from .waiting import collect, load_entry, wait_until

pytestmark = pytest.mark.timeout(90)


async def test_a_flood_from_the_satellite_is_a_few_lines(
    hass: HomeAssistant, standin: StandinServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="custom_components.realtime_voice")
    satellite = LinkSatellite()
    await satellite.start()
    try:
        entry = entry_for(standin, satellite)
        await load_entry(hass, entry)
        assert satellite.server is not None
        for n in range(300):
            await satellite.server.send_event(protocol.StopWord("stop", 0.9, f"answer-{n}"))
            await satellite.server.send_event(protocol.Error("bad_command", f"flood {n}"))
        # HA handles the satellite's events in order: once it has this one, it had the flood
        woken = collect(hass, EVENT_WAKE_WORD_DETECTED)
        await satellite.server.send_event(protocol.Wake("hey_jarvis", 0.9, 1.0))
        await wait_until(lambda: bool(woken), within=20)
        await entry.runtime_data.manager.async_stop_conversation()
        assert await hass.config_entries.async_unload(entry.entry_id)
    finally:
        await satellite.stop()
    messages = [r.getMessage() for r in caplog.records]
    stop_words = [m for m in messages if m.startswith("Stop word stop on Kitchen")]
    reports = [m for m in messages if m.startswith("Satellite Kitchen reports bad_command")]
    assert 1 <= len(stop_words) <= 3, stop_words
    assert 1 <= len(reports) <= 3, reports


async def test_a_satellite_that_keeps_dropping_the_link_is_a_few_lines(
    hass: HomeAssistant, standin: StandinServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Seven drops, each back within about a second (HA's first retry): at most four lines a
    minute of each kind."""
    caplog.set_level(logging.INFO, logger="custom_components.realtime_voice")
    satellite = LinkSatellite()
    await satellite.start()
    port = satellite.port
    try:
        entry = entry_for(standin, satellite)
        await load_entry(hass, entry, wait_for_session=False)
        link = entry.runtime_data.manager.link
        for _ in range(7):
            await satellite.stop()
            await wait_until(lambda: not link.available)
            await satellite.start(port)
            await wait_until(lambda: link.available)
        assert await hass.config_entries.async_unload(entry.entry_id)
    finally:
        await satellite.stop()
    messages = [r.getMessage() for r in caplog.records]
    lost = [m for m in messages if m.startswith("Link to satellite Kitchen lost")]
    back = [m for m in messages if m.startswith("Link to satellite Kitchen is back")]
    assert 1 <= len(lost) <= 4, lost
    assert 1 <= len(back) <= 4, back
