"""HA's mute switch and volume are what the satellite gets on every connect (#12 defect 12): after a
power cut the satellite starts with its satellite.yaml's defaults (unmuted), and HA applies its own
state again; the state also survives reloads and HA restarts."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_mock_restore_state_shutdown_restart,
)

from realtime_voice_satellite.link import protocol
from tests.realtime_standin import StandinServer

from .conftest import entry_for
from .link_satellite import LinkSatellite
from .link_timing import reconnect_quickly
from .waiting import load_entry, wait_until


async def mute_and_set_volume(hass: HomeAssistant, satellite: LinkSatellite) -> None:
    """What the user does in HA: mute the satellite and turn its volume down to 35%."""
    await hass.services.async_call(
        "switch", "turn_on", {"entity_id": "switch.kitchen_mute"}, blocking=True
    )
    await hass.services.async_call(
        "number", "set_value", {"entity_id": "number.kitchen_volume", "value": 35}, blocking=True
    )
    await wait_until(lambda: satellite.info.muted and satellite.info.volume == pytest.approx(0.35))


async def power_cut(satellite: LinkSatellite, off_for: float = 0.0) -> None:
    """The satellite goes off (for ``off_for`` seconds) and comes back with its satellite.yaml's
    defaults."""
    port = satellite.port
    await satellite.stop()
    await asyncio.sleep(off_for)
    satellite.commands.clear()
    satellite.info = replace(satellite.info, muted=False, volume=0.8, state="idle")
    await satellite.start(port)


def states(hass: HomeAssistant) -> tuple[str, str]:
    return hass.states.get("switch.kitchen_mute").state, hass.states.get(
        "number.kitchen_volume"
    ).state


async def test_mute_and_volume_are_applied_again_after_a_power_cut(
    hass: HomeAssistant,
    standin: StandinServer,
    satellite: LinkSatellite,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reconnect_quickly(monkeypatch)
    entry = entry_for(standin, satellite)
    await load_entry(hass, entry, wait_for_session=False)
    await mute_and_set_volume(hass, satellite)

    await power_cut(satellite, off_for=0.5)  # HA retries a few times meanwhile
    await wait_until(lambda: entry.runtime_data.link.reconnects == 1, within=20)
    await wait_until(lambda: satellite.info.muted and satellite.info.volume == pytest.approx(0.35))
    assert protocol.SetMute(muted=True) in satellite.commands
    await wait_until(lambda: states(hass) == ("on", "35"))
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_mute_and_volume_survive_a_reload_and_a_restart(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite
) -> None:
    entry: MockConfigEntry = entry_for(standin, satellite)
    await load_entry(hass, entry, wait_for_session=False)
    await mute_and_set_volume(hass, satellite)

    # A reload (every options change): the new link applies HA's state, the entities keep it.
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    await wait_until(lambda: states(hass) == ("on", "35"))

    # HA stops (the entities' states are stored), the satellite loses power meanwhile, HA starts.
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    await async_mock_restore_state_shutdown_restart(hass)
    await power_cut(satellite)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await wait_until(lambda: satellite.info.muted and satellite.info.volume == pytest.approx(0.35))
    assert protocol.SetMute(muted=True) in satellite.commands
    assert protocol.SetVolume(volume=0.35) in satellite.commands
    assert states(hass) == ("on", "35")
    assert await hass.config_entries.async_unload(entry.entry_id)
