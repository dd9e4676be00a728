"""The tools of one satellite's session: definitions, prompt, and guarded dispatch of calls."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from homeassistant.core import Context, HomeAssistant
from homeassistant.exceptions import (
    HomeAssistantError,
    ServiceNotFound,
    ServiceValidationError,
    Unauthorized,
)
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import llm

from ..schema_library import humanize_error, vol
from .base import Tool, ToolRefusal, ToolSpec
from .const import (
    ERR_FAILED,
    ERR_INTERNAL,
    ERR_INVALID_ARGUMENTS,
    ERR_INVALID_JSON,
    ERR_NOT_CONFIRMED,
    ERR_NOT_FOUND,
    ERR_TIMEOUT,
    ERR_TOO_MANY_CALLS,
    ERR_UNAUTHORIZED,
    ERR_UNKNOWN_TOOL,
    ERR_WRONG_PIN,
    EVENT_TOOL_CALL_STARTED,
    EVENT_TOOL_CALLED,
    EXPOSE_ASSISTANT,
    LLM_PLATFORM,
    MAX_ARGUMENTS_CHARS,
    MAX_ARGUMENTS_DEPTH,
    STATE_TOOL_NAME,
)
from .llm_tools import async_build_llm_api_tools
from .names import ToolNamer
from .results import compact_result, error_result
from .secure import Confirmation, PendingConfirmation, confirmation_of
from .service_tool import async_build_service_tools, exposed_entity_ids
from .state_tool import EntityStateTool

_LOGGER = logging.getLogger(__name__)

SATELLITE_DOMAIN = "assist_satellite"

SERVICE_TOOLS_PROMPT = (
    "Tools named like domain__service run Home Assistant actions; pass the ids of the "
    "entities to act on in entity_id. Use {state_tool} to read current states. "
    "If a tool returns an error, tell the user briefly why."
)


@dataclass(frozen=True, slots=True)
class Satellite:
    """Who is calling: shown in events and, through them, in the logbook."""

    name: str
    device_id: str | None
    entity_id: str | None


@dataclass(slots=True)
class Toolset:
    """Tool definitions and prompt for a session, and the guarded way to call them."""

    hass: HomeAssistant
    tools: dict[str, Tool]
    prompt: str
    satellite: Satellite
    max_calls_per_turn: int
    call_timeout_s: float
    parent_context: Context | None = None
    # Problems found while building (unknown LLM API, unofferable service), for logs and repairs.
    warnings: list[str] = field(default_factory=list)
    # Secure devices (secure.py): what the user marked, and the spoken PIN if one is set.
    secure_entities: frozenset[str] = frozenset()
    secure_pin: str | None = field(default=None, repr=False)
    language: str = "en"
    _calls_this_turn: int = field(default=0, init=False)
    _held: PendingConfirmation | None = field(default=None, init=False)

    @property
    def definitions(self) -> list[ToolSpec]:
        """The function tools to declare in the Realtime session."""
        return [tool.spec for tool in self.tools.values()]

    def start_turn(self) -> None:
        """Reset the per-turn call counter (call when the user starts speaking a new turn)."""
        self._calls_this_turn = 0

    async def async_call(self, name: str, arguments_json: str, *, call_id: str) -> dict[str, Any]:
        """Run one function call of the model and return the result for function_call_output.

        Never raises for a bad call: refusals and failures come back as
        {"error": {"code": ..., "message": ...}}. Refusals happen before anything runs.
        """
        arguments: Any = _shown(arguments_json)
        context: Context | None = None
        try:
            self._count_call()
            arguments = self._parse_arguments(arguments_json)
            tool = self._admit(name)
            validated = tool.validate(arguments)
            if targets := tool.secure_targets(validated, self.secure_entities):
                result = self._hold(tool, name, arguments, targets)
            else:
                context = self._call_context()
                self._fire_started(name, arguments, call_id, context)
                result = await self._run(tool, validated, context, call_id)
        except ToolRefusal as refusal:
            result = error_result(refusal.code, refusal.message)
        self._fire_called(name, arguments, call_id, result, context)
        return result

    def refuse(
        self, name: str, arguments_json: str, *, call_id: str, code: str, message: str
    ) -> dict[str, Any]:
        """Refuse a call without looking at it (the conversation allows none now); the refusal is
        an event like any call's."""
        result = error_result(code, message)
        self._fire_called(name, _shown(arguments_json), call_id, result, None)
        return result

    def take_held(self) -> PendingConfirmation | None:
        """The call the last async_call held for the user's yes, if any (once)."""
        held, self._held = self._held, None
        return held

    def _hold(
        self, tool: Tool, name: str, arguments: dict[str, Any], targets: list[str]
    ) -> dict[str, Any]:
        names = ", ".join(
            state.name if (state := self.hass.states.get(e)) is not None else e for e in targets
        )
        self._held = PendingConfirmation(
            tool=tool, name=name, arguments=arguments, targets=targets, action=names
        )
        ask = "and for the PIN" if self.secure_pin else "whether they are sure (yes or no)"
        return {
            "status": "confirmation_required",
            "targets": targets,
            "message": (
                f"Nothing was done yet: {name} on {names} needs the user's spoken confirmation. "
                f"Ask the user {ask}, in one short question, then wait: Home Assistant itself "
                "hears the answer and runs the call only if they confirm. Do not call it again."
            ),
        }

    async def async_resolve(
        self, held: PendingConfirmation, answer: str | None, *, call_id: str
    ) -> dict[str, Any]:
        """Run ``held`` if ``answer`` (the user's words right after the question) confirms it;
        else refuse. The result, like any call's, goes to the model and into the events."""
        confirmation = confirmation_of(answer, self.language, self.secure_pin)
        context: Context | None = None
        if held.expired:
            result = error_result(
                ERR_NOT_CONFIRMED, "The confirmation came too late; nothing was done."
            )
        elif confirmation is Confirmation.WRONG_PIN:
            result = error_result(ERR_WRONG_PIN, "That was not the PIN; nothing was done.")
        elif confirmation is not Confirmation.YES:
            result = error_result(ERR_NOT_CONFIRMED, "The user did not confirm; nothing was done.")
        else:
            try:
                # Checked again: exposure or the service may have changed while the user was asked.
                validated = held.tool.validate(held.arguments)
                context = self._call_context()
                self._fire_started(held.name, held.arguments, call_id, context, confirmed=True)
                result = await self._run(held.tool, validated, context, call_id)
            except ToolRefusal as refusal:
                result = error_result(refusal.code, refusal.message)
        _LOGGER.info(
            "Satellite %s: %s on %s %s",
            self.satellite.name,
            held.name,
            held.action,
            "run after the user's confirmation" if context is not None else "not confirmed",
        )
        self._fire_called(held.name, held.arguments, call_id, result, context, confirmed=True)
        return result

    def _fire_called(
        self,
        name: str,
        arguments: Any,
        call_id: str,
        result: dict[str, Any],
        context: Context | None,
        *,
        confirmed: bool = False,
    ) -> None:
        self.hass.bus.async_fire(
            EVENT_TOOL_CALLED,
            {
                **self._event_base(name, arguments, call_id),
                **({"confirmation": True} if confirmed else {}),
                **({"error": result["error"]} if "error" in result else {"result": result}),
            },
            context=context or self._call_context(),
        )

    def _count_call(self) -> None:
        # Every call counts, refused ones too, so that a model looping on bad calls is stopped.
        self._calls_this_turn += 1
        if self._calls_this_turn > self.max_calls_per_turn:
            raise ToolRefusal(
                ERR_TOO_MANY_CALLS,
                f"Limit of {self.max_calls_per_turn} tool calls per turn reached; "
                "nothing was done. Answer the user with what you have.",
            )

    @staticmethod
    def _parse_arguments(arguments_json: str) -> dict[str, Any]:
        if len(arguments_json) > MAX_ARGUMENTS_CHARS:
            raise ToolRefusal(
                ERR_INVALID_ARGUMENTS,
                f"Arguments of {len(arguments_json)} characters are more than the "
                f"{MAX_ARGUMENTS_CHARS} a tool accepts; nothing was done.",
            )
        try:
            arguments = json.loads(arguments_json or "{}")
        except json.JSONDecodeError as err:
            raise ToolRefusal(ERR_INVALID_JSON, f"Arguments are not valid JSON: {err}") from err
        except RecursionError:
            arguments = None  # nested too deep for the parser: refused below as too deep
        if arguments is None or _depth(arguments) > MAX_ARGUMENTS_DEPTH:
            raise ToolRefusal(
                ERR_INVALID_ARGUMENTS,
                f"Arguments nested deeper than {MAX_ARGUMENTS_DEPTH} levels; nothing was done.",
            )
        if not isinstance(arguments, dict):
            raise ToolRefusal(ERR_INVALID_ARGUMENTS, "Arguments must be a JSON object.")
        return arguments

    def _admit(self, name: str) -> Tool:
        if (tool := self.tools.get(name)) is None:
            raise ToolRefusal(ERR_UNKNOWN_TOOL, f"There is no tool named {name!r}.")
        return tool

    def _call_context(self) -> Context:
        parent = self.parent_context
        return Context(
            user_id=parent.user_id if parent else None,
            parent_id=parent.id if parent else None,
        )

    async def _run(
        self, tool: Tool, arguments: dict[str, Any], context: Context, call_id: str
    ) -> dict[str, Any]:
        try:
            async with asyncio.timeout(self.call_timeout_s):
                return compact_result(await tool.async_run(arguments, context, call_id))
        except TimeoutError:
            return error_result(
                ERR_TIMEOUT,
                f"Did not finish within {self.call_timeout_s:g} s; it was stopped, "
                "but part of it may have happened.",
            )
        # ServiceNotFound is a ServiceValidationError: it must come first.
        except ServiceNotFound as err:
            return error_result(ERR_NOT_FOUND, str(err))
        except ServiceValidationError as err:
            return error_result(ERR_INVALID_ARGUMENTS, str(err) or repr(err))
        except vol.Invalid as err:
            return error_result(ERR_INVALID_ARGUMENTS, humanize_error(arguments, err))
        except Unauthorized as err:
            return error_result(
                ERR_UNAUTHORIZED, f"The user of this satellite may not do this ({err!r})."
            )
        except HomeAssistantError as err:
            return error_result(ERR_FAILED, str(err) or type(err).__name__)
        except Exception:
            _LOGGER.exception("Tool %s failed", tool.spec.name)
            return error_result(ERR_INTERNAL, "The tool failed unexpectedly; see the HA log.")

    def _event_base(self, name: str, arguments: Any, call_id: str) -> dict[str, Any]:
        return {
            "name": name,
            "arguments": arguments,
            "call_id": call_id,
            "device_id": self.satellite.device_id,
            "entity_id": self.satellite.entity_id,
            "satellite": self.satellite.name,
        }

    def _fire_started(
        self,
        name: str,
        arguments: dict[str, Any],
        call_id: str,
        context: Context,
        *,
        confirmed: bool = False,
    ) -> None:
        self.hass.bus.async_fire(
            EVENT_TOOL_CALL_STARTED,
            {
                **self._event_base(name, arguments, call_id),
                **({"confirmation": True} if confirmed else {}),
            },
            context=context,
        )


def _shown(arguments_json: str) -> str:
    """What the tool_called event shows of arguments it could not use: never megabytes."""
    if len(arguments_json) <= MAX_ARGUMENTS_CHARS:
        return arguments_json
    return f"<{len(arguments_json)} characters, not shown>"


def _depth(value: Any) -> int:
    """How deep JSON ``value`` nests (iterative: no depth makes it recurse)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            stack.extend(
                (child, depth + 1) for child in (item.values() if isinstance(item, dict) else item)
            )
    return deepest


def satellite_entity_id(hass: HomeAssistant, device_id: str | None) -> str | None:
    """The assist_satellite entity of the device, if it has one."""
    if device_id is None:
        return None
    for entry in er.async_entries_for_device(er.async_get(hass), device_id):
        if entry.domain == SATELLITE_DOMAIN:
            return entry.entity_id
    return None


async def async_build_toolset(
    hass: HomeAssistant,
    *,
    llm_api_ids: list[str],
    services: list[str],
    allow_dangerous_services: bool,
    max_calls_per_turn: int,
    call_timeout_s: float,
    device_id: str | None,
    satellite_name: str,
    language: str,
    context: Context | None,
    secure_entities: list[str] | None = None,
    secure_pin: str | None = None,
    media_hosts: list[str] | None = None,
) -> Toolset:
    """Build the tools of one session; see the package docstring for the contract."""
    namer = ToolNamer()
    prompts: list[str] = []
    warnings: list[str] = []
    llm_context = llm.LLMContext(
        platform=LLM_PLATFORM,
        context=context,
        language=language,
        assistant=EXPOSE_ASSISTANT,
        device_id=device_id,
    )
    tools: list[Tool] = list(
        await async_build_llm_api_tools(
            hass, llm_api_ids, llm_context, namer=namer, prompts=prompts, warnings=warnings
        )
    )
    exposed = exposed_entity_ids(hass)
    service_tools = await async_build_service_tools(
        hass,
        services,
        allow_dangerous=allow_dangerous_services,
        namer=namer,
        exposed=exposed,
        warnings=warnings,
        media_hosts=media_hosts or (),
    )
    if service_tools:
        tools.extend(service_tools)
        state_tool = EntityStateTool(hass, namer.claim(STATE_TOOL_NAME), exposed)
        tools.append(state_tool)
        prompts.append(SERVICE_TOOLS_PROMPT.format(state_tool=state_tool.spec.name))
    for warning in warnings:
        _LOGGER.warning("Satellite %s: %s", satellite_name, warning)
    return Toolset(
        hass=hass,
        tools={tool.spec.name: tool for tool in tools},
        prompt="\n\n".join(prompts),
        satellite=Satellite(
            name=satellite_name,
            device_id=device_id,
            entity_id=satellite_entity_id(hass, device_id),
        ),
        max_calls_per_turn=max_calls_per_turn,
        call_timeout_s=call_timeout_s,
        parent_context=context,
        warnings=warnings,
        secure_entities=frozenset(secure_entities or ()),
        secure_pin=secure_pin,
        language=language,
    )
