"""A satellite that goes away while HA sends it a command: the command fails as "offline"
(SatelliteOfflineError, which every caller expects), not with the link's own error and a traceback
in HA's log (seen as "Error handling AudioDelta" when a satellite stopped during an answer)."""

from __future__ import annotations

import asyncio

from homeassistant.core import HomeAssistant

from custom_components.realtime_voice.satellite_link import SatelliteOfflineError
from tests.realtime_standin import StandinServer

from .conftest import entry_for
from .link_satellite import LinkSatellite
from .waiting import load_entry


async def test_a_command_to_a_satellite_that_just_went_away_is_offline(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite
) -> None:
    entry = entry_for(standin, satellite)
    await load_entry(hass, entry)
    link = entry.runtime_data.link
    assert link.available
    # Audio streams to the satellite as it closes its end: every frame sent after that fails as
    # offline, whether HA's reader has heard of the close yet or not.
    stopping = asyncio.create_task(satellite.stop())
    failures: list[type[BaseException]] = []
    while len(failures) < 20:
        try:
            await link.play_audio(b"\0\0" * 480)
        except Exception as err:
            failures.append(type(err))
        await asyncio.sleep(0)
    await stopping
    assert set(failures) == {SatelliteOfflineError}
