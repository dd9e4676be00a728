"""Compact, JSON-safe results the model can speak from."""

from __future__ import annotations

from typing import Any

from homeassistant.core import State
from homeassistant.helpers.json import json_dumps
from homeassistant.util.json import json_loads_object

# Longest result text handed to the model (about 3k tokens).
MAX_RESULT_CHARS = 12_000

# Attributes worth speaking about; the rest (icons, supported_features, lists of modes, ...)
# would only cost tokens. Extends the set HA's Assist API uses for its live context.
USEFUL_ATTRIBUTES = frozenset(
    {
        "unit_of_measurement",
        "device_class",
        "temperature",
        "current_temperature",
        "target_temp_high",
        "target_temp_low",
        "temperature_unit",
        "hvac_action",
        "humidity",
        "current_humidity",
        "brightness",
        "color_mode",
        "color_temp_kelvin",
        "rgb_color",
        "effect",
        "percentage",
        "preset_mode",
        "fan_mode",
        "current_position",
        "current_tilt_position",
        "volume_level",
        "is_volume_muted",
        "media_title",
        "media_artist",
        "media_album_name",
        "source",
        "battery_level",
    }
)


def error_result(code: str, message: str) -> dict[str, Any]:
    """The one shape of every refusal and failure."""
    return {"error": {"code": code, "message": message}}


def compact_result(result: dict[str, Any], max_chars: int = MAX_RESULT_CHARS) -> dict[str, Any]:
    """JSON-safe result (datetimes, sets, enums, ... become JSON types), cut when too long.

    A long answer (a week of calendar events, a forecast) would eat the session's context; the
    model gets the start of it and is told that the rest was cut.
    """
    text = json_dumps(result)
    if len(text) <= max_chars:
        return json_loads_object(text)
    cut: dict[str, Any] = {"truncated": True, "preview": text[:max_chars]}
    if "success" in result:
        cut["success"] = result["success"]
    return cut


def entity_summary(state: State) -> dict[str, Any]:
    """State and useful attributes of one entity (made JSON-safe with the whole result)."""
    summary: dict[str, Any] = {
        "entity_id": state.entity_id,
        "name": state.name,
        "state": state.state,
    }
    attributes = {
        key: value
        for key, value in state.attributes.items()
        if key in USEFUL_ATTRIBUTES and value is not None
    }
    if attributes:
        summary["attributes"] = attributes
    return summary
