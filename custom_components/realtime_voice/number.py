"""The satellite's speaker volume.

HA's volume is what the satellite gets: applied on every connect (a satellite back from a power cut
starts at its satellite.yaml's volume otherwise) and restored when HA restarts or the entry reloads.
"""

from __future__ import annotations

from homeassistant.components.number import (
    NumberEntityDescription,
    NumberMode,
    RestoreNumber,
)
from homeassistant.const import PERCENTAGE, EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from . import RealtimeVoiceConfigEntry
from .entity import RealtimeVoiceEntity

# Commands go over the one link to the satellite: one at a time.
PARALLEL_UPDATES = 1

VOLUME = NumberEntityDescription(
    key="volume",
    translation_key="volume",
    native_min_value=0,
    native_max_value=100,
    native_step=5,
    native_unit_of_measurement=PERCENTAGE,
    mode=NumberMode.SLIDER,
    entity_category=EntityCategory.CONFIG,
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: RealtimeVoiceConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    async_add_entities([RealtimeVoiceVolume(entry, VOLUME)])


class RealtimeVoiceVolume(RealtimeVoiceEntity, RestoreNumber):
    @property
    def native_value(self) -> float | None:
        volume = self._link.wanted_volume
        if volume is None and self._link.info is not None:
            volume = self._link.info.volume
        return None if volume is None else round(volume * 100)

    async def async_added_to_hass(self) -> None:
        await super().async_added_to_hass()
        stored = await self.async_get_last_number_data()
        if stored is not None and stored.native_value is not None:
            await self._link.async_restore_outputs(muted=None, volume=stored.native_value / 100)
            self.async_write_ha_state()

    async def async_set_native_value(self, value: float) -> None:
        await self._link.set_volume(value / 100)
