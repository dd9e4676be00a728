"""Base of every entity of a satellite: one device, available while the link is up."""

from __future__ import annotations

from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity import Entity, EntityDescription

from . import RealtimeVoiceConfigEntry
from .const import DOMAIN


class RealtimeVoiceEntity(Entity):
    _attr_has_entity_name = True
    _attr_should_poll = False

    def __init__(self, entry: RealtimeVoiceConfigEntry, description: EntityDescription) -> None:
        self.entity_description = description
        self._entry = entry
        self._link = entry.runtime_data.link
        self._manager = entry.runtime_data.manager
        self._attr_unique_id = f"{entry.unique_id or entry.entry_id}-{description.key}"
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, entry.unique_id or entry.entry_id)}
        )

    @property
    def available(self) -> bool:
        return self._link.available

    async def async_added_to_hass(self) -> None:
        await super().async_added_to_hass()
        self.async_on_remove(self._link.async_add_availability_listener(self.async_write_ha_state))
        self.async_on_remove(self._link.async_add_info_listener(self.async_write_ha_state))
        self.async_on_remove(self._manager.async_add_state_listener(self.async_write_ha_state))
