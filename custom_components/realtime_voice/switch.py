"""The mute switch: a muted satellite neither wakes nor streams audio."""

from __future__ import annotations

from typing import Any

from homeassistant.components.switch import SwitchEntity, SwitchEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from . import RealtimeVoiceConfigEntry
from .entity import RealtimeVoiceEntity

MUTE = SwitchEntityDescription(key="mute", translation_key="mute")


async def async_setup_entry(
    hass: HomeAssistant,
    entry: RealtimeVoiceConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    async_add_entities([RealtimeVoiceMuteSwitch(entry, MUTE)])


class RealtimeVoiceMuteSwitch(RealtimeVoiceEntity, SwitchEntity):
    @property
    def is_on(self) -> bool | None:
        info = self._link.info
        return None if info is None else info.muted

    async def async_turn_on(self, **kwargs: Any) -> None:
        await self._manager.async_stop_conversation()
        await self._link.set_mute(True)

    async def async_turn_off(self, **kwargs: Any) -> None:
        await self._link.set_mute(False)
