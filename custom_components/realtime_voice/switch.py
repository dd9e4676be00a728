"""The mute switch: a muted satellite neither wakes nor streams audio.

HA's switch is what the satellite gets: applied on every connect (a satellite back from a power cut
starts unmuted otherwise) and restored when HA restarts or the entry reloads.
"""

from __future__ import annotations

from typing import Any

from homeassistant.components.switch import SwitchEntity, SwitchEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.restore_state import ExtraStoredData, RestoredExtraData, RestoreEntity

from . import RealtimeVoiceConfigEntry
from .entity import RealtimeVoiceEntity

# Commands go over the one link to the satellite: one at a time.
PARALLEL_UPDATES = 1

MUTE = SwitchEntityDescription(key="mute", translation_key="mute")


async def async_setup_entry(
    hass: HomeAssistant,
    entry: RealtimeVoiceConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    async_add_entities([RealtimeVoiceMuteSwitch(entry, MUTE)])


class RealtimeVoiceMuteSwitch(RealtimeVoiceEntity, SwitchEntity, RestoreEntity):
    @property
    def is_on(self) -> bool | None:
        if self._link.wanted_muted is not None:
            return self._link.wanted_muted
        info = self._link.info
        return None if info is None else info.muted

    @property
    def extra_restore_state_data(self) -> ExtraStoredData | None:
        # Stored even while unavailable (the state then says "unavailable").
        return None if self.is_on is None else RestoredExtraData({"muted": self.is_on})

    async def async_added_to_hass(self) -> None:
        await super().async_added_to_hass()
        stored = await self.async_get_last_extra_data()
        muted = stored.as_dict().get("muted") if stored is not None else None
        if isinstance(muted, bool):
            await self._link.async_restore_outputs(muted=muted, volume=None)
            self.async_write_ha_state()

    async def async_turn_on(self, **kwargs: Any) -> None:
        await self._manager.async_stop_conversation()
        await self._link.set_mute(True)

    async def async_turn_off(self, **kwargs: Any) -> None:
        await self._link.set_mute(False)
