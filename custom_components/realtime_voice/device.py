"""The satellite's device in HA's device registry: made at set-up from the satellite's info, and kept
up to date when the satellite reports another name or software version (after an update or a rename
in its satellite.yaml, it reconnects with a new info)."""

from __future__ import annotations

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import device_registry as dr

from .const import DOMAIN
from .core.link import protocol
from .satellite_link import SatelliteConnection


@callback
def async_register_device(
    hass: HomeAssistant, entry: ConfigEntry, info: protocol.Info
) -> dr.DeviceEntry:
    return dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id,
        identifiers={(DOMAIN, entry.unique_id or entry.entry_id)},
        name=info.name,
        manufacturer="Realtime Voice",
        model="Voice satellite",
        sw_version=info.version,
    )


@callback
def async_track_device_info(
    hass: HomeAssistant, link: SatelliteConnection, device_id: str
) -> CALLBACK_TYPE:
    """Update the device whenever the link's info names another name or version; returns the
    function that stops it. A name the user gave the device (name_by_user) stays in front."""

    @callback
    def update() -> None:
        info = link.info
        registry = dr.async_get(hass)
        device = registry.async_get(device_id)
        if info is None or not isinstance(device, dr.DeviceEntry):
            return
        if (device.name, device.sw_version) != (info.name, info.version):
            registry.async_update_device(device_id, name=info.name, sw_version=info.version)

    return link.async_add_info_listener(update)
