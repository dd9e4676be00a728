"""Home Assistant as tools for the Realtime model: LLM APIs and user-selected services.

What the integration calls:

    toolset = await async_build_toolset(
        hass,
        llm_api_ids=["assist"],          # option llm_hass_api
        services=["light.turn_on", "script.*"],  # option tool_services (fnmatch patterns)
        allow_dangerous_services=False,  # option allow_dangerous_services
        max_calls_per_turn=5,            # option max_tool_calls_per_turn
        call_timeout_s=10.0,             # option tool_call_timeout
        device_id=satellite_device_id,   # area for the Assist prompt; shown in events/logbook
        satellite_name="Kitchen satellite",
        language=hass.config.language,
        context=None,                    # parent context of the calls, if any
    )
    # or: async_build_toolset(hass, **asdict(tool_settings(entry.options)), device_id=..., ...)

    toolset.definitions  # list[ToolSpec(name, description, parameters)] -> core ToolDefinition
    toolset.prompt       # the LLM APIs' prompts (+ a line on service tools) for the instructions
    toolset.warnings     # what could not be offered and why (for logs / repairs)
    toolset.start_turn()  # at each new user turn: resets the per-turn call counter
    result = await toolset.async_call(name, arguments_json, call_id=call_id)
    # -> JSON-serialisable dict for function_call_output; never raises for a bad call:
    #    {"error": {"code": ..., "message": ...}} says why, and nothing was changed.

Options flow: `tool_options_schema(hass, entry.options)` gives the fields;
`validate_tool_options(hass, user_input)` gives (errors, description_placeholders);
`normalize_tool_options(user_input)` gives the values to store. The logbook platform re-exports
`tools.logbook.async_describe_events`.

Every call fires `realtime_voice_tool_called` (name, arguments, call_id, device_id, entity_id,
satellite, and result or error); accepted calls also fire `realtime_voice_tool_call_started` first.
"""

from __future__ import annotations

from .base import ToolSpec
from .const import (
    CONF_ALLOW_DANGEROUS_SERVICES,
    CONF_LLM_HASS_API,
    CONF_MAX_TOOL_CALLS_PER_TURN,
    CONF_MEDIA_HOSTS,
    CONF_SECURE_ENTITIES,
    CONF_SECURE_PIN,
    CONF_TOOL_CALL_TIMEOUT,
    CONF_TOOL_SERVICES,
    EVENT_TOOL_CALL_STARTED,
    EVENT_TOOL_CALLED,
)
from .options import (
    ToolSettings,
    normalize_tool_options,
    tool_options_schema,
    tool_settings,
    validate_tool_options,
)
from .toolset import Toolset, async_build_toolset

__all__ = [
    "CONF_ALLOW_DANGEROUS_SERVICES",
    "CONF_LLM_HASS_API",
    "CONF_MAX_TOOL_CALLS_PER_TURN",
    "CONF_MEDIA_HOSTS",
    "CONF_SECURE_ENTITIES",
    "CONF_SECURE_PIN",
    "CONF_TOOL_CALL_TIMEOUT",
    "CONF_TOOL_SERVICES",
    "EVENT_TOOL_CALLED",
    "EVENT_TOOL_CALL_STARTED",
    "ToolSettings",
    "ToolSpec",
    "Toolset",
    "async_build_toolset",
    "normalize_tool_options",
    "tool_options_schema",
    "tool_settings",
    "validate_tool_options",
]
