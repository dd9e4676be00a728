"""Tools of HA's LLM APIs (Assist and any other registered API), as openai_conversation uses them."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable, Collection
from typing import Any

from homeassistant.core import Context, HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import intent, llm

from ..schema_library import to_json_schema
from .base import Tool, ToolRefusal, ToolSpec, validate_with_schema
from .const import ERR_INVALID_ARGUMENTS, TIMER_SECONDS_RANGE
from .names import ToolNamer
from .options import requires_admin
from .secure import secure_intent_targets

_LOGGER = logging.getLogger(__name__)


# openai_conversation leaves these out of a tool's top level (OpenAI refuses them there).
UNSUPPORTED_TOP_LEVEL_KEYS = frozenset({"oneOf", "anyOf", "allOf", "enum", "not"})


def openai_tool_parameters(
    tool: llm.Tool, custom_serializer: Callable[[Any], Any] | None
) -> dict[str, Any]:
    """The tool's parameters as openai_conversation's _format_tool gives them in the same release."""
    schema = to_json_schema(tool.parameters, custom_serializer)
    return {k: v for k, v in schema.items() if k not in UNSUPPORTED_TOP_LEVEL_KEYS}


class LLMApiTool(Tool):
    """One tool of an APIInstance; calls go through APIInstance.async_call_tool."""

    def __init__(
        self, hass: HomeAssistant, name: str, api_instance: llm.APIInstance, tool: llm.Tool
    ) -> None:
        """Describe the tool the way openai_conversation does (its schema converter)."""
        self._hass = hass
        self._api_instance = api_instance
        self._tool = tool
        self.spec = ToolSpec(
            name=name,
            description=tool.description or f"Home Assistant tool {tool.name}",
            parameters=openai_tool_parameters(tool, api_instance.custom_serializer),
        )

    def validate(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """Check against the tool's schema; the tool itself gets the arguments as the model sent them."""
        validated = validate_with_schema(self._tool.parameters, arguments)
        if self._tool.name.rsplit("__", 1)[-1] == intent.INTENT_START_TIMER:
            check_timer_length(validated)
        return arguments

    def secure_targets(self, arguments: dict[str, Any], marked: Collection[str]) -> list[str]:
        """An intent: the secure entities its slots may reach; a script: itself, when marked."""
        tool = self._tool
        while isinstance(tool, llm.NamespacedTool):
            tool = tool.tool
        if isinstance(tool, llm.IntentTool):
            # HA 2026.5's IntentTool has no intent_type; its name is the intent's.
            intent_type = getattr(tool, "intent_type", None) or tool.name.rsplit("__", 1)[-1]
            return secure_intent_targets(self._hass, intent_type, arguments, marked)
        # Scripts are tools of the Assist API ("script__movie" since 2026.10, "movie" before).
        script = f"script.{tool.name.removeprefix('script__')}"
        return [script] if script in marked else []

    async def async_run(
        self, arguments: dict[str, Any], context: Context, call_id: str
    ) -> dict[str, Any]:
        """Call through a copy of the API instance that carries this call's context."""
        llm_context = dataclasses.replace(self._api_instance.llm_context, context=context)
        instance = dataclasses.replace(self._api_instance, llm_context=llm_context)
        result = await instance.async_call_tool(
            llm.ToolInput(tool_name=self._tool.name, tool_args=arguments, id=call_id)
        )
        return tool_result_data(result)


def check_timer_length(arguments: dict[str, Any]) -> None:
    """HA starts a timer of 0 seconds or of years; the satellite's owner asked for neither."""
    seconds = sum(
        int(arguments.get(unit) or 0) * factor
        for unit, factor in (("hours", 3600), ("minutes", 60), ("seconds", 1))
    )
    low, high = TIMER_SECONDS_RANGE
    if not low <= seconds <= high:
        raise ToolRefusal(
            ERR_INVALID_ARGUMENTS,
            f"A timer of {seconds} s: timers run from {low} s to {high // 3600} hours; "
            "nothing was started.",
        )


def tool_result_data(result: Any) -> dict[str, Any]:
    """What a tool returned, as a dict; a result marked as an error raises HomeAssistantError.

    HA 2026.10 and later return ``llm.ToolResult(data, error)``; 2026.5 returns the dict itself.
    """
    tool_result_type = getattr(llm, "ToolResult", None)
    if tool_result_type is None or not isinstance(result, tool_result_type):
        return dict(result)
    if result.error:
        raise HomeAssistantError(json.dumps(result.data, default=str))
    return dict(result.data)


async def async_build_llm_api_tools(
    hass: HomeAssistant,
    api_ids: list[str],
    llm_context: llm.LLMContext,
    *,
    namer: ToolNamer,
    prompts: list[str],
    warnings: list[str],
) -> list[LLMApiTool]:
    """Tools of each API in `api_ids`; their prompts go to `prompts`, unknown APIs to `warnings`.

    A tool whose name an earlier API already took is offered as "<api id>__<name>".
    """
    tools: list[LLMApiTool] = []
    apis = {api.id: api for api in llm.async_get_apis(hass)}
    for api_id in api_ids:
        api = apis.get(api_id)
        if (
            api is not None
            and requires_admin(api)
            and not await _async_is_admin(hass, llm_context.context)
        ):
            # HA 2026.11 refuses it too (Unauthorized); say why instead.
            warnings.append(
                f"LLM API {api_id} needs an admin user; the satellite's conversations run"
                " without a user"
            )
            continue
        try:
            instance = await llm.async_get_api(hass, api_id, llm_context)
        except HomeAssistantError as err:
            _LOGGER.warning("LLM API %s is not available: %s", api_id, err)
            warnings.append(f"LLM API {api_id} is not available: {err}")
            continue
        if instance.api_prompt:
            prompts.append(instance.api_prompt)
        for tool in instance.tools:
            tools.append(LLMApiTool(hass, namer.claim(tool.name, prefix=api_id), instance, tool))
    return tools


async def _async_is_admin(hass: HomeAssistant, context: Context | None) -> bool:
    if context is None or context.user_id is None:
        return False
    user = await hass.auth.async_get_user(context.user_id)
    return user is not None and user.is_admin
