"""Sensors: active model and interface (shows the fallback), last response latency, tokens, cost.

The model is the one that answers now (or next): the Live model on a Live satellite, the Realtime
model while Realtime answers for it, the pipeline's name while the Assist pipeline does
(session_manager.py ``answering_model``). Live's cost is its usage seconds at the registry's price
per minute (live_brain.py ``_bill``), added to the tokens' cost.

Tokens and cost are running totals over the satellite's life, not per session: the brain and the
engine count from 0 each time the entry is set up, and the sensors add what they showed before
(restored from HA's state store after a reload or a restart). So a total never goes down and HA's
long-term statistics never see negative usage. Tokens are TOTAL_INCREASING; cost is TOTAL (the only
state class HA allows for a monetary sensor) without last_reset, which HA reads as a total that is
never reset.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from homeassistant.components.sensor import (
    RestoreSensor,
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import EntityCategory, UnitOfTime
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from . import RealtimeVoiceConfigEntry
from .core.realtime import UNAVAILABLE_CAUSES
from .entity import RealtimeVoiceEntity
from .live_brain import CAUSE_NO_ACCESS
from .session_keeper import Figures

# Read-only and pushed by the link: no updates to limit.
PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class RealtimeVoiceSensorDescription(SensorEntityDescription):
    value: Callable[[Figures], Any]
    attributes: Callable[[Figures], dict[str, Any]] | None = None
    running_total: bool = False  # adds up across reloads and restarts


SENSORS: tuple[RealtimeVoiceSensorDescription, ...] = (
    RealtimeVoiceSensorDescription(
        key="model",
        translation_key="model",
        entity_category=EntityCategory.DIAGNOSTIC,
        value=lambda f: f.model,
        attributes=lambda f: {
            "fallback": f.fallback_reason is not None,
            "fallback_reason": f.fallback_reason,
        },
    ),
    RealtimeVoiceSensorDescription(
        key="interface",
        translation_key="interface",
        device_class=SensorDeviceClass.ENUM,
        options=["ga", "beta"],
        entity_category=EntityCategory.DIAGNOSTIC,
        value=lambda f: f.interface,
    ),
    RealtimeVoiceSensorDescription(
        key="response_latency",
        translation_key="response_latency",
        device_class=SensorDeviceClass.DURATION,
        native_unit_of_measurement=UnitOfTime.MILLISECONDS,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        # a new state every answer, of interest when tuning the network or the model: the
        # recorder keeps it only for those who enable it
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value=lambda f: None if f.last_latency_ms is None else round(f.last_latency_ms, 1),
    ),
    RealtimeVoiceSensorDescription(
        key="tokens",
        translation_key="tokens",
        native_unit_of_measurement="tokens",
        state_class=SensorStateClass.TOTAL_INCREASING,
        value=lambda f: f.total_tokens,
        running_total=True,
    ),
    RealtimeVoiceSensorDescription(
        key="cost",
        translation_key="cost",
        device_class=SensorDeviceClass.MONETARY,
        native_unit_of_measurement="USD",
        state_class=SensorStateClass.TOTAL,
        suggested_display_precision=4,
        value=lambda f: f.total_cost_usd,
        running_total=True,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: RealtimeVoiceConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    async_add_entities(
        (RealtimeVoiceTotalSensor if d.running_total else RealtimeVoiceSensor)(entry, d)
        for d in SENSORS
    )
    if entry.runtime_data.manager.fallback is not None:
        async_add_entities([PipelineFallbackSensor(entry, PIPELINE_FALLBACK)])


class RealtimeVoiceSensor(RealtimeVoiceEntity, SensorEntity):
    entity_description: RealtimeVoiceSensorDescription

    @property
    def native_value(self) -> Any:
        return self.entity_description.value(self._manager.figures)

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        if self.entity_description.attributes is None:
            return None
        return self.entity_description.attributes(self._manager.figures)


class RealtimeVoiceTotalSensor(RealtimeVoiceSensor, RestoreSensor):
    """A running total: what this set-up counted plus what the sensor showed before it."""

    _before: float = 0

    async def async_added_to_hass(self) -> None:
        await super().async_added_to_hass()
        stored = await self.async_get_last_sensor_data()
        if stored is not None and isinstance(stored.native_value, int | float):
            self._before = stored.native_value

    @property
    def native_value(self) -> float:
        total = self._before + self.entity_description.value(self._manager.figures)
        return round(total, 6) if isinstance(total, float) else total


# Why the Assist pipeline answers for the Realtime endpoint or for GPT-Live.
FALLBACK_CAUSES = (*UNAVAILABLE_CAUSES, CAUSE_NO_ACCESS)

# The modes with the pipeline as a fallback only: "off" while Realtime (or Live) answers, else why
# the Assist pipeline does (the cause, translated).
PIPELINE_FALLBACK = SensorEntityDescription(
    key="pipeline_fallback",
    translation_key="pipeline_fallback",
    device_class=SensorDeviceClass.ENUM,
    options=["off", *FALLBACK_CAUSES],
    entity_category=EntityCategory.DIAGNOSTIC,
)


class PipelineFallbackSensor(RealtimeVoiceEntity, SensorEntity):
    @property
    def native_value(self) -> str:
        fallback = self._manager.fallback
        cause = None if fallback is None else fallback.status.cause
        return "off" if cause is None else cause

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        fallback = self._manager.fallback
        if fallback is None:
            return {}
        status = fallback.status
        return {
            "since": None if status.since is None else status.since.isoformat(),
            "switches": status.switches,
            "last_cause": status.last_cause,
        }
