"""The satellite's device in HA's device registry follows what the satellite reports (#12 defect 11)."""

from __future__ import annotations

from dataclasses import replace

from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr

from tests.realtime_standin import StandinServer

from .conftest import entry_for
from .link_satellite import LinkSatellite
from .waiting import load_entry, wait_until


async def test_device_follows_a_satellite_update(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite
) -> None:
    entry = entry_for(standin, satellite)
    await load_entry(hass, entry, wait_for_session=False)
    registry = dr.async_get(hass)
    device = registry.async_get(entry.runtime_data.device_id)
    assert device is not None
    assert (device.name, device.sw_version) == ("Kitchen", "0.1.0")
    registry.async_update_device(device.id, name_by_user="Küche")  # the user's own name

    # The satellite is updated and renamed in its satellite.yaml; it restarts.
    port = satellite.port
    await satellite.stop()
    satellite.info = replace(satellite.info, version="0.2.0", name="Kitchen counter")
    await satellite.start(port)

    def device_now() -> dr.DeviceEntry:
        current = registry.async_get(device.id)
        assert current is not None
        return current

    await wait_until(lambda: device_now().sw_version == "0.2.0", within=20)
    assert device_now().name == "Kitchen counter"
    assert device_now().name_by_user == "Küche"  # HA shows the user's name still
    assert entry.runtime_data.link.reconnects == 1
    assert await hass.config_entries.async_unload(entry.entry_id)
