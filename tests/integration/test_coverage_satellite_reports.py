"""What a satellite reports as failed reaches Home Assistant's log, naming the command, and the link
stays up (the real link server on the satellite's side; its command handler fails as a broken
mixer would)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pytest
from homeassistant.core import HomeAssistant

from realtime_voice_satellite.link import protocol
from tests.realtime_standin import StandinServer

from .conftest import entry_for
from .link_satellite import LinkSatellite
from .waiting import load_entry, wait_until


@dataclass
class BrokenMixerSatellite(LinkSatellite):
    """Its sound card refuses volume changes; everything else works."""

    async def on_command(self, command: protocol.Command) -> None:
        if isinstance(command, protocol.SetVolume):
            self.commands.append(command)
            raise OSError("ALSA: mixer control 'Master' not found")
        await super().on_command(command)


async def test_a_command_the_satellite_fails_is_logged_and_the_link_stays(
    hass: HomeAssistant, standin: StandinServer, caplog: pytest.LogCaptureFixture
) -> None:
    satellite = BrokenMixerSatellite()
    await satellite.start()
    try:
        await load_entry(hass, entry_for(standin, satellite), wait_for_session=False)
        await hass.services.async_call(
            "number",
            "set_value",
            {"entity_id": "number.kitchen_volume", "value": 0.3},
            blocking=True,
        )
        await wait_until(lambda: "Satellite Kitchen reports command_failed" in caplog.text)
        (report,) = [
            r
            for r in caplog.records
            if r.name.startswith("custom_components.realtime_voice")
            and "reports command_failed" in r.getMessage()
        ]
        assert report.levelno == logging.WARNING
        assert "set_volume" in report.getMessage()
        assert "mixer control 'Master' not found" in report.getMessage()
        # The link is still up, and other commands still work.
        assert hass.states.get("binary_sensor.kitchen_link").state == "on"
        await hass.services.async_call(
            "switch", "turn_on", {"entity_id": "switch.kitchen_mute"}, blocking=True
        )
        await wait_until(lambda: protocol.SetMute(muted=True) in satellite.commands)
    finally:
        await satellite.stop()
