"""The satellite's speaker volume."""

from __future__ import annotations

from homeassistant.components.number import NumberEntity, NumberEntityDescription, NumberMode
from homeassistant.const import PERCENTAGE, EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from . import RealtimeVoiceConfigEntry
from .entity import RealtimeVoiceEntity

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


class RealtimeVoiceVolume(RealtimeVoiceEntity, NumberEntity):
    @property
    def native_value(self) -> float | None:
        info = self._link.info
        return None if info is None else round(info.volume * 100)

    async def async_set_native_value(self, value: float) -> None:
        await self._link.set_volume(value / 100)
