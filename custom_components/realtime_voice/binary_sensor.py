"""Whether the link to the satellite is up (diagnostic; always available itself)."""

from __future__ import annotations

from homeassistant.components.binary_sensor import (
    BinarySensorDeviceClass,
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from . import RealtimeVoiceConfigEntry
from .entity import RealtimeVoiceEntity

# Read-only and pushed by the link: no updates to limit.
PARALLEL_UPDATES = 0

LINK = BinarySensorEntityDescription(
    key="link",
    translation_key="link",
    device_class=BinarySensorDeviceClass.CONNECTIVITY,
    entity_category=EntityCategory.DIAGNOSTIC,
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: RealtimeVoiceConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    async_add_entities([RealtimeVoiceLinkSensor(entry, LINK)])


class RealtimeVoiceLinkSensor(RealtimeVoiceEntity, BinarySensorEntity):
    @property
    def available(self) -> bool:
        return True

    @property
    def is_on(self) -> bool:
        return self._link.available
