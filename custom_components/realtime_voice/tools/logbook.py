"""Logbook descriptions of tool calls, so that changes made by the model show the satellite.

The integration's logbook platform (custom_components/realtime_voice/logbook.py) re-exports
`async_describe_events`. Each accepted call fires EVENT_TOOL_CALL_STARTED with the call's own
context before it runs; as the first event of that context the logbook shows it as the cause
("triggered by <satellite> ...") of every state change the call makes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from homeassistant.components.logbook.const import (
    LOGBOOK_ENTRY_ENTITY_ID,
    LOGBOOK_ENTRY_MESSAGE,
    LOGBOOK_ENTRY_NAME,
)
from homeassistant.core import Event, HomeAssistant, callback

from .const import EVENT_TOOL_CALL_STARTED

LOGBOOK_DOMAIN = "realtime_voice"


@callback
def describe_tool_call_started(event: Event) -> dict[str, Any]:
    """'<satellite> called tool <name>', pointing at the satellite entity when there is one."""
    data = event.data
    description: dict[str, Any] = {
        LOGBOOK_ENTRY_NAME: data.get("satellite") or "Realtime Voice",
        LOGBOOK_ENTRY_MESSAGE: f"called tool {data.get('name')}",
    }
    if entity_id := data.get("entity_id"):
        description[LOGBOOK_ENTRY_ENTITY_ID] = entity_id
    return description


@callback
def async_describe_events(
    hass: HomeAssistant,
    async_describe_event: Callable[[str, str, Callable[[Event], dict[str, Any]]], None],
) -> None:
    """Describe the tool call events (called by the logbook for the integration's platform)."""
    async_describe_event(LOGBOOK_DOMAIN, EVENT_TOOL_CALL_STARTED, describe_tool_call_started)
