"""The Assist pipeline selects on the satellite's device, as ESPHome and Wyoming satellites have
them: which pipeline the satellite's conversations run through in pipeline mode (pipeline_brain.py)
and how soon the pipeline decides that the user finished speaking."""

from __future__ import annotations

from homeassistant.components.assist_pipeline.select import (
    AssistPipelineSelect,
    VadSensitivitySelect,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from . import RealtimeVoiceConfigEntry
from .const import DOMAIN
from .pipeline_brain import unique_id_prefix

# Settings kept by HA (restored, no I/O): no updates to limit.
PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: RealtimeVoiceConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    async_add_entities(
        [RealtimeVoicePipelineSelect(hass, entry), RealtimeVoiceVadSensitivitySelect(hass, entry)]
    )


def _device(entry: RealtimeVoiceConfigEntry) -> DeviceInfo:
    return DeviceInfo(identifiers={(DOMAIN, unique_id_prefix(entry))})


class RealtimeVoicePipelineSelect(AssistPipelineSelect):
    """Unique id ``<prefix>-pipeline``: HA's assist_pipeline finds it by that."""

    _attr_has_entity_name = True

    def __init__(self, hass: HomeAssistant, entry: RealtimeVoiceConfigEntry) -> None:
        super().__init__(hass, DOMAIN, unique_id_prefix(entry))
        self._attr_device_info = _device(entry)


class RealtimeVoiceVadSensitivitySelect(VadSensitivitySelect):
    """Unique id ``<prefix>-vad_sensitivity``."""

    _attr_has_entity_name = True

    def __init__(self, hass: HomeAssistant, entry: RealtimeVoiceConfigEntry) -> None:
        super().__init__(hass, unique_id_prefix(entry))
        self._attr_device_info = _device(entry)
