"""A state query tool over the exposed entities, offered together with service tools."""

from __future__ import annotations

from typing import Any

from homeassistant.core import Context, HomeAssistant
from homeassistant.helpers import config_validation as cv

from ..schema_library import vol
from .base import Tool, ToolSpec, ensure_exposed, validate_with_schema
from .results import entity_summary

_SCHEMA = vol.Schema({vol.Required("entity_id"): vol.All(cv.ensure_list, [cv.entity_id])})


class EntityStateTool(Tool):
    """Returns state and useful attributes of exposed entities.

    The Assist API brings GetLiveContext for this; service tools alone would leave the model
    blind to the result of what it did, hence this small tool of our own.
    """

    def __init__(self, hass: HomeAssistant, name: str, exposed_entity_ids: list[str]) -> None:
        """Describe the tool; the enum tells the model which ids exist and may be read."""
        self._hass = hass
        items: dict[str, Any] = {"type": "string"}
        if exposed_entity_ids:
            items["enum"] = exposed_entity_ids
        self.spec = ToolSpec(
            name=name,
            description=(
                "Get the current state and useful attributes (brightness, temperature, unit, "
                "position, ...) of Home Assistant entities exposed to you."
            ),
            parameters={
                "type": "object",
                "properties": {
                    "entity_id": {
                        "type": "array",
                        "items": items,
                        "description": "Entity ids to read, e.g. sensor.living_room_temperature",
                    }
                },
                "required": ["entity_id"],
            },
        )

    def validate(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """Well-formed ids of existing, exposed entities only."""
        validated = validate_with_schema(_SCHEMA, arguments)
        ensure_exposed(self._hass, validated["entity_id"])
        return validated

    async def async_run(
        self, arguments: dict[str, Any], context: Context, call_id: str
    ) -> dict[str, Any]:
        """Read the states."""
        states = [self._hass.states.get(entity_id) for entity_id in arguments["entity_id"]]
        return {"entities": [entity_summary(state) for state in states if state is not None]}
