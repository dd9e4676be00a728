"""What the Realtime session is told: the instructions (a template), the tools of the exposed
entities and allowed services, and the prompt of a start_conversation."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from homeassistant.core import Context, HomeAssistant
from homeassistant.helpers import template

from .const import CONF_INSTRUCTIONS, DEFAULT_INSTRUCTIONS
from .core.realtime import SessionDescription, ToolDefinition, TurnDetection
from .tools import Toolset, async_build_toolset, tool_settings

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class Described:
    """A session description and the toolset that runs its tools."""

    description: SessionDescription
    toolset: Toolset


async def async_describe_session(
    hass: HomeAssistant,
    options: Mapping[str, Any],
    *,
    device_id: str | None,
    satellite_name: str,
    extra_prompt: str | None = None,
    hold_responses: bool = False,
) -> Described:
    """The description and toolset of a satellite's session; ``hold_responses`` while HA waits for
    the user's answer (ask_question, a secure call's confirmation): the model does not respond to
    the user's words by itself, so nothing it would do on them happens."""
    instructions = template.Template(
        options.get(CONF_INSTRUCTIONS, DEFAULT_INSTRUCTIONS), hass
    ).async_render(parse_result=False)
    toolset = await async_build_toolset(
        hass,
        **asdict(tool_settings(options)),
        device_id=device_id,
        satellite_name=satellite_name,
        language=hass.config.language,
        context=Context(),
    )
    for warning in toolset.warnings:
        _LOGGER.warning("Tools for %s: %s", satellite_name, warning)
    parts = [instructions]
    if toolset.prompt:
        parts.append(toolset.prompt)
    if extra_prompt:
        parts.append(extra_prompt)
    tools = tuple(
        ToolDefinition(spec.name, spec.description, spec.parameters) for spec in toolset.definitions
    )
    return Described(
        SessionDescription(
            instructions="\n\n".join(parts),
            tools=tools,
            turn_detection=TurnDetection(create_response=not hold_responses),
        ),
        toolset,
    )
