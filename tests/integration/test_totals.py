"""The token and cost sensors are running totals that never go down (#12 defect 8): HA's long-term
statistics would count a drop to 0 on every reload (each options change reloads) as negative usage."""

from __future__ import annotations

import pytest
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import async_mock_restore_state_shutdown_restart

from tests.realtime_standin import StandinServer

from .conftest import entry_for
from .link_satellite import LinkSatellite, silence, tone
from .waiting import collect, load_entry, wait_until

TOKENS, COST = "sensor.kitchen_tokens", "sensor.kitchen_cost"


def totals(hass: HomeAssistant) -> tuple[float, float]:
    return float(hass.states.get(TOKENS).state), float(hass.states.get(COST).state)


async def converse(hass: HomeAssistant, satellite: LinkSatellite) -> None:
    """One question and its answer."""
    ended = collect(hass, "realtime_voice_conversation_ended")
    await satellite.say(tone(0.8) + silence(1.0))
    await wait_until(lambda: bool(ended), within=15)


async def test_totals_survive_reload_and_restart(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite
) -> None:
    entry = entry_for(standin, satellite)
    await load_entry(hass, entry)
    assert hass.states.get(TOKENS).attributes["state_class"] == "total_increasing"
    assert hass.states.get(COST).attributes["state_class"] == "total"  # monetary: total only
    assert "last_reset" not in hass.states.get(COST).attributes  # a total that never resets
    await converse(hass, satellite)
    first = totals(hass)
    assert first[0] > 0
    assert first[1] > 0

    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    await wait_until(lambda: entry.runtime_data.manager.session is not None)
    assert totals(hass) == first

    await converse(hass, satellite)
    second = totals(hass)
    assert second[0] > first[0]
    assert second[1] > first[1]

    # HA restarts: the stored states come back.
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    await async_mock_restore_state_shutdown_restart(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert totals(hass) == pytest.approx(second)
    assert await hass.config_entries.async_unload(entry.entry_id)
