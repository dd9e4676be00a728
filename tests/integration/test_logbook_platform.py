"""HA loads the integration's logbook platform: tool-call events are described with the satellite."""

from __future__ import annotations

import pytest
from homeassistant.components.logbook import DOMAIN as LOGBOOK
from homeassistant.components.recorder import Recorder
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component

from tests.realtime_standin import StandinServer

from .conftest import entry_for
from .link_satellite import LinkSatellite


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(
    recorder_mock: Recorder, enable_custom_integrations: None, socket_enabled: None
) -> None:
    """Replace the package's autouse fixture: the recorder must start before hass does."""


async def test_logbook_platform_describes_tool_calls(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite
) -> None:
    entry = entry_for(standin, satellite)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert await async_setup_component(hass, "logbook", {})
    await hass.async_block_till_done()
    describers = hass.data[LOGBOOK].external_events
    domain, describe = describers["realtime_voice_tool_call_started"]
    assert domain == "realtime_voice"
    assert callable(describe)
    assert await hass.config_entries.async_unload(entry.entry_id)
