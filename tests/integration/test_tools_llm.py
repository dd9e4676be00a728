"""Several LLM APIs at once, name clashes, and how failures of a tool reach the model."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from homeassistant.core import Context, HomeAssistant
from homeassistant.exceptions import (
    HomeAssistantError,
    ServiceNotFound,
    ServiceValidationError,
    Unauthorized,
)
from homeassistant.helpers import llm
from homeassistant.util.json import JsonObjectType
from pytest_homeassistant_custom_component.common import MockUser

from custom_components.realtime_voice.schema_library import vol
from custom_components.realtime_voice.tools import (
    CONF_LLM_HASS_API,
    tool_options_schema,
    validate_tool_options,
)
from custom_components.realtime_voice.tools.results import MAX_RESULT_CHARS

from .test_tools_support import House, assist_tool_name, async_setup_house


class EchoTool(llm.Tool):
    """Does what its arguments say: answer, raise, or sleep; records what it was called with."""

    def __init__(self, name: str) -> None:
        """A tool with one required text field and one optional mode."""
        self.name = name
        self.description = f"Test tool {name}"
        self.parameters = vol.Schema(
            {
                vol.Required("text"): str,
                vol.Optional("mode"): vol.In(
                    [
                        "ok",
                        "ha_error",
                        "validation",
                        "not_found",
                        "unauthorized",
                        "crash",
                        "slow",
                        "long",
                        "invalid",
                        "tool_error",
                    ]
                ),
            }
        )
        self.calls: list[tuple[dict[str, Any], llm.LLMContext, str]] = []

    async def async_call(
        self, hass: HomeAssistant, tool_input: llm.ToolInput, llm_context: llm.LLMContext
    ) -> JsonObjectType:
        """Behave as asked."""
        self.calls.append((tool_input.tool_args, llm_context, tool_input.id))
        mode = tool_input.tool_args.get("mode", "ok")
        if mode == "ha_error":
            raise HomeAssistantError("the device did not answer")
        if mode == "validation":
            raise ServiceValidationError("text too long")
        if mode == "unauthorized":
            raise Unauthorized
        if mode == "not_found":
            raise ServiceNotFound("light", "blink")
        if mode == "crash":
            raise RuntimeError("bug")
        if mode == "invalid":
            raise vol.Invalid("bad value", path=["text"])
        if mode == "tool_error":  # a failure the tool reports itself (HA 2026.10+)
            return llm.ToolResult(data={"error": "no timer is running"}, error=True)
        if mode == "long":
            return as_tool_result({"success": True, "result": "word " * 5000})
        if mode == "slow":
            await asyncio.sleep(5)
        # A datetime is not JSON: the toolset must make the result JSON-safe.
        return as_tool_result(
            {"echo": tool_input.tool_args["text"], "at": datetime(2026, 1, 2, tzinfo=UTC)}  # type: ignore[dict-item]
        )


def as_tool_result(data: JsonObjectType) -> Any:
    """What a tool returns in this HA: ``llm.ToolResult`` (2026.10+) or the dict itself."""
    tool_result = getattr(llm, "ToolResult", None)
    return data if tool_result is None else tool_result(data=data)


class EchoAPI(llm.API):
    """A real LLM API registered with HA, whose first tool clashes with Assist's HassTurnOn."""

    def __init__(self, hass: HomeAssistant, clashing_name: str) -> None:
        """Two tools: one named as Assist's HassTurnOn (clash) and echo."""
        super().__init__(hass=hass, id="echo_api", name="Echo")
        self.tools = [EchoTool(clashing_name), EchoTool("echo")]

    async def async_get_api_instance(self, llm_context: llm.LLMContext) -> llm.APIInstance:
        """An instance with a prompt."""
        return llm.APIInstance(
            api=self, api_prompt="Echo API prompt.", llm_context=llm_context, tools=self.tools
        )


@pytest.fixture
async def house_and_api(hass: HomeAssistant) -> tuple[House, EchoAPI]:
    """The house with the Echo API registered next to Assist."""
    house = await async_setup_house(hass)
    assist_only = await house.toolset(llm_api_ids=["assist"])
    api = EchoAPI(hass, assist_tool_name(assist_only, "HassTurnOn"))
    llm.async_register_api(hass, api)
    return house, api


async def test_two_apis_prompts_and_clashing_names(house_and_api: tuple[House, EchoAPI]) -> None:
    """Both prompts are kept; a clashing name gets the API id as prefix; calls reach the right tool."""
    house, api = house_and_api
    toolset = await house.toolset(llm_api_ids=["assist", "echo_api"])
    names = [spec.name for spec in toolset.definitions]
    assist_name = api.tools[0].name  # HassTurnOn, or intent__HassTurnOn from HA 2026.10

    assert assist_name in names
    assert f"echo_api__{assist_name}" in names
    assert "echo" in names
    assert "Echo API prompt." in toolset.prompt
    assert "HassTurnOn" in toolset.prompt  # the Assist API's prompt
    echo_spec = next(s for s in toolset.definitions if s.name == "echo")
    assert echo_spec.parameters["required"] == ["text"]

    result = await toolset.async_call(
        f"echo_api__{assist_name}", json.dumps({"text": "hi"}), call_id="call-7"
    )

    assert result == {"echo": "hi", "at": "2026-01-02T00:00:00+00:00"}
    args, llm_context, tool_call_id = api.tools[0].calls[0]
    assert args == {"text": "hi"}
    assert tool_call_id == "call-7"
    assert llm_context.device_id == house.device_id
    assert llm_context.assistant == "conversation"
    assert llm_context.context is not None
    assert house.hass.states.get("light.kitchen").state == "off"


@pytest.mark.parametrize(
    ("mode", "code", "text"),
    [
        ("ha_error", "failed", "the device did not answer"),
        ("validation", "invalid_arguments", "text too long"),
        ("unauthorized", "unauthorized", "may not"),
        ("crash", "internal_error", "HA log"),
        ("not_found", "not_found", "light.blink"),
        ("invalid", "invalid_arguments", "text"),
        ("tool_error", "failed", "no timer is running"),
    ],
)
async def test_tool_failures_become_structured_errors(
    house_and_api: tuple[House, EchoAPI], mode: str, code: str, text: str
) -> None:
    """Exceptions of a tool never reach the caller; the model gets code and message."""
    house, _ = house_and_api
    toolset = await house.toolset(llm_api_ids=["echo_api"])

    result = await toolset.async_call("echo", json.dumps({"text": "x", "mode": mode}), call_id="c")

    assert result["error"]["code"] == code
    assert text in result["error"]["message"]


async def test_llm_tool_arguments_validated_before_the_call(
    house_and_api: tuple[House, EchoAPI],
) -> None:
    """A missing required field and an unknown key are refused; the tool is not called."""
    house, api = house_and_api
    toolset = await house.toolset(llm_api_ids=["echo_api"])

    missing = await toolset.async_call("echo", json.dumps({"mode": "ok"}), call_id="c1")
    extra = await toolset.async_call("echo", json.dumps({"text": "a", "volume": 3}), call_id="c2")

    assert missing["error"]["code"] == "invalid_arguments"
    assert "text" in missing["error"]["message"]
    assert extra["error"]["code"] == "invalid_arguments"
    assert "volume" in extra["error"]["message"]
    assert api.tools[1].calls == []


async def test_llm_tool_timeout(house_and_api: tuple[House, EchoAPI]) -> None:
    """A tool slower than the timeout is cancelled and reported as timeout."""
    house, _ = house_and_api
    toolset = await house.toolset(llm_api_ids=["echo_api"], call_timeout_s=0.05)

    result = await toolset.async_call(
        "echo", json.dumps({"text": "x", "mode": "slow"}), call_id="c"
    )

    assert result["error"]["code"] == "timeout"


async def test_long_result_is_cut(house_and_api: tuple[House, EchoAPI]) -> None:
    """A result longer than the limit comes back as a marked preview, keeping success."""
    house, _ = house_and_api
    toolset = await house.toolset(llm_api_ids=["echo_api"])

    result = await toolset.async_call(
        "echo", json.dumps({"text": "x", "mode": "long"}), call_id="c"
    )

    assert result["truncated"] is True
    assert result["success"] is True
    assert len(result["preview"]) == MAX_RESULT_CHARS
    assert result["preview"].startswith('{"success":true,"result":"word word')


class AdminAPI(EchoAPI):
    """An API only an admin may use, as HA 2026.11's "homeassistant" API (it manages HA itself)."""

    requires_admin = True

    def __init__(self, hass: HomeAssistant) -> None:
        """Registered under its own id."""
        super().__init__(hass, "admin_echo")
        self.id = "admin_api"
        self.name = "Admin"


async def test_api_for_admins_only_is_not_offered_to_a_satellite(
    house_and_api: tuple[House, EchoAPI],
    hass_admin_user: MockUser,
    hass_read_only_user: MockUser,
) -> None:
    """A voice conversation runs as no user: an admin-only API is left out with a warning that says
    why (HA 2026.11 itself answers only "Unauthorized"); an admin's context gets it."""
    house, _ = house_and_api
    llm.async_register_api(house.hass, AdminAPI(house.hass))

    for context in (None, Context(), Context(user_id=hass_read_only_user.id)):
        toolset = await house.toolset(llm_api_ids=["assist", "admin_api"], context=context)
        names = [spec.name for spec in toolset.definitions]
        assert "admin_echo" not in names
        assert assist_tool_name(toolset, "HassTurnOn") in names
        assert any("admin_api needs an admin user" in w for w in toolset.warnings)

    admin = await house.toolset(
        llm_api_ids=["admin_api"], context=Context(user_id=hass_admin_user.id)
    )
    assert "admin_echo" in [spec.name for spec in admin.definitions]
    assert admin.warnings == []

    # the options offer it not, and refuse it if it is asked for anyway
    form = tool_options_schema(house.hass, {})
    offered = next(v for k, v in form.items() if k == CONF_LLM_HASS_API).config["options"]
    assert "admin_api" not in [option["value"] for option in offered]
    assert "echo_api" in [option["value"] for option in offered]
    errors, placeholders = validate_tool_options(house.hass, {CONF_LLM_HASS_API: ["admin_api"]})
    assert errors == {CONF_LLM_HASS_API: "admin_llm_api"}
    assert placeholders == {"admin_llm_apis": "admin_api"}


class AnyOfTool(EchoTool):
    """Parameters whose top level is an anyOf, which OpenAI refuses there."""

    def __init__(self) -> None:
        """Either a text or a number."""
        super().__init__("either")
        self.parameters = vol.Schema(
            vol.Any({vol.Required("text"): str}, {vol.Required("number"): int})
        )


async def test_llm_tool_schemas_are_openai_conversations(
    house_and_api: tuple[House, EchoAPI],
) -> None:
    """Every tool of every API is described as openai_conversation describes it in the same release:
    its parameters converted by the schema library HA ships (probatio's to_openapi with OpenAPI
    3.1.0 from 2026.10, voluptuous_openapi's convert before) with HA's custom serializer, top-level
    oneOf/anyOf/allOf/enum/not left out."""
    house, api = house_and_api
    api.tools.append(AnyOfTool())
    llm_context = llm.LLMContext(
        platform="realtime_voice",
        context=Context(),
        language="en",
        assistant="conversation",
        device_id=house.device_id,
    )
    toolset = await house.toolset(llm_api_ids=["assist", "echo_api"])
    specs = {spec.name: spec for spec in toolset.definitions}
    try:
        import probatio

        def convert(tool: llm.Tool, serializer: Any) -> dict[str, Any]:
            return dict(
                probatio.to_openapi(
                    tool.parameters, custom_serializer=serializer, openapi_version="3.1.0"
                )
            )
    except ImportError:  # Home Assistant before probatio
        from voluptuous_openapi import convert as voluptuous_convert

        def convert(tool: llm.Tool, serializer: Any) -> dict[str, Any]:
            return dict(voluptuous_convert(tool.parameters, custom_serializer=serializer))

    compared = 0
    taken: set[str] = set()
    for api_id in ("assist", "echo_api"):
        instance = await llm.async_get_api(house.hass, api_id, llm_context)
        for tool in instance.tools:
            # a name an earlier API took is offered with the API's id in front
            name = f"{api_id}__{tool.name}" if tool.name in taken else tool.name
            taken.add(tool.name)
            expected = {
                k: v
                for k, v in convert(tool, instance.custom_serializer).items()
                if k not in {"oneOf", "anyOf", "allOf", "enum", "not"}
            }
            assert specs[name].parameters == expected, name
            compared += 1
    assert compared >= 6
    assert specs["either"].parameters == {}  # only the anyOf was there
