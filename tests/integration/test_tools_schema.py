"""The tool definitions are valid for the Realtime API (GA and beta), checked with openai's types."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import pytest
from homeassistant.components.homeassistant.exposed_entities import async_expose_entity
from homeassistant.core import HomeAssistant
from homeassistant.helpers import llm, selector
from homeassistant.setup import async_setup_component
from openai.types.beta.realtime.session_update_event import (
    SessionUpdateEvent as BetaSessionUpdateEvent,
)
from openai.types.realtime import RealtimeFunctionTool
from openai.types.realtime.session_update_event import SessionUpdateEvent
from pydantic import BaseModel

from custom_components.realtime_voice.tools import ToolSpec
from custom_components.realtime_voice.tools.names import VALID_TOOL_NAME

from .test_tools_support import House, assist_tool_name, async_setup_house

# JSON-schema keywords the Realtime API accepts in function parameters; anything else is a
# typo or a leak of HA internals (e.g. a voluptuous marker) and counts as an error.
SCHEMA_KEYWORDS = {
    "type",
    "description",
    "properties",
    "required",
    "items",
    "enum",
    "format",
    "minimum",
    "maximum",
    "minItems",
    "maxItems",
    "uniqueItems",
    "additionalProperties",
    "anyOf",
    "allOf",
    "oneOf",
    "default",
    "minLength",
    "maxLength",
    "pattern",
}
JSON_TYPES = {"object", "array", "string", "number", "integer", "boolean", "null"}


def schema_errors(schema: Any, path: str = "parameters") -> list[str]:
    """Errors of a JSON schema: undeclared keywords, bad types, required not in properties."""
    if not isinstance(schema, dict):
        return [f"{path}: not an object"]
    errors = [f"{path}: unknown keyword {key!r}" for key in schema if key not in SCHEMA_KEYWORDS]
    types = schema.get("type")
    for json_type in types if isinstance(types, list) else [types] if types else []:
        if json_type not in JSON_TYPES:
            errors.append(f"{path}: bad type {json_type!r}")
    if "enum" in schema and (not isinstance(schema["enum"], list) or not schema["enum"]):
        errors.append(f"{path}: enum must be a non-empty list")
    properties = schema.get("properties", {})
    if not isinstance(properties, dict):
        errors.append(f"{path}: properties must be an object")
        properties = {}
    for name, sub in properties.items():
        errors.extend(schema_errors(sub, f"{path}.{name}"))
    errors.extend(
        f"{path}: required {name!r} is not a property"
        for name in schema.get("required", [])
        if name not in properties
    )
    if "items" in schema:
        errors.extend(schema_errors(schema["items"], f"{path}[]"))
    for key in ("anyOf", "allOf", "oneOf"):
        for index, sub in enumerate(schema.get(key, [])):
            errors.extend(schema_errors(sub, f"{path}.{key}[{index}]"))
    if isinstance(schema.get("additionalProperties"), dict):
        errors.extend(schema_errors(schema["additionalProperties"], f"{path}.additionalProperties"))
    return errors


def function_tool(spec: ToolSpec) -> dict[str, Any]:
    """The session.update form of a tool, as the Realtime core sends ToolDefinition."""
    return {"type": "function", **asdict(spec)}


def undeclared(model: BaseModel) -> dict[str, Any]:
    """Keys the openai model does not declare (its models accept and keep them as extras)."""
    return dict(model.model_extra or {})


@pytest.fixture
async def house(hass: HomeAssistant) -> House:
    """The house plus more domains, for a wide range of service selectors."""
    built = await async_setup_house(hass)
    for domain, config in (
        ("input_select", {"input_select": {"mode": {"options": ["home", "away"]}}}),
        ("input_text", {"input_text": {"note": {}}}),
        ("input_datetime", {"input_datetime": {"alarm": {"has_date": True, "has_time": True}}}),
        ("timer", {"timer": {"tea": {"duration": 180}}}),
        ("counter", {"counter": {"cups": {}}}),
    ):
        assert await async_setup_component(hass, domain, config)
    await hass.async_block_till_done()
    for entity_id in (
        "input_select.mode",
        "input_text.note",
        "input_datetime.alarm",
        "timer.tea",
        "counter.cups",
        "script.movie",
        "input_number.kitchen_level",
    ):
        async_expose_entity(hass, "conversation", entity_id, True)
    return built


async def test_all_tools_are_valid_realtime_function_tools(house: House) -> None:
    """Assist tools plus every service HA offers here: valid for GA and beta session.update."""
    toolset = await house.toolset(llm_api_ids=["assist"], services=["*.*"], max_calls_per_turn=99)
    tools = [function_tool(spec) for spec in toolset.definitions]
    names = [tool["name"] for tool in tools]
    assert len(tools) > 30, names
    assert assist_tool_name(toolset, "HassTurnOn") in names
    assert {"light__turn_on", "input_select__select_option", "timer__start"} <= set(names)
    assert len(names) == len(set(names))

    ga = SessionUpdateEvent.model_validate(
        {"type": "session.update", "session": {"type": "realtime", "tools": tools}}
    )
    beta = BetaSessionUpdateEvent.model_validate(
        {"type": "session.update", "session": {"tools": tools}}
    )

    assert ga.session.tools is not None
    assert beta.session.tools is not None
    problems: list[str] = []
    for tool, ga_tool, beta_tool in zip(tools, ga.session.tools, beta.session.tools, strict=True):
        assert isinstance(ga_tool, RealtimeFunctionTool)
        if undeclared(ga_tool) or undeclared(beta_tool):
            problems.append(
                f"{tool['name']}: undeclared {undeclared(ga_tool) or undeclared(beta_tool)}"
            )
        if not VALID_TOOL_NAME.match(tool["name"]):
            problems.append(f"{tool['name']}: invalid name")
        if not tool["description"]:
            problems.append(f"{tool['name']}: no description")
        if tool["parameters"].get("type") != "object":
            problems.append(f"{tool['name']}: parameters are not an object schema")
        problems.extend(f"{tool['name']}: {err}" for err in schema_errors(tool["parameters"]))
    assert problems == []


async def test_selector_mapping_of_services(house: House) -> None:
    """Selectors become the JSON types the model needs, with ranges, options and descriptions."""
    toolset = await house.toolset(
        services=[
            "light.turn_on",
            "input_select.select_option",
            "timer.start",
            "input_number.set_value",
        ]
    )
    specs = {spec.name: spec.parameters for spec in toolset.definitions}
    light = specs["light__turn_on"]["properties"]
    assert light["rgb_color"]["type"] == "array"
    assert light["rgb_color"]["items"] == {"type": "number"}
    assert light["color_temp_kelvin"] == {
        "type": "number",
        "minimum": 2000,
        "maximum": 6500,
        "description": "Color temperature in Kelvin.",
    }
    assert light["effect"]["type"] == "string"
    # Fields in collapsed sections are offered too (light.turn_on's advanced_fields).
    assert light["color_name"]["type"] == "string"
    assert "red" in light["color_name"]["enum"]
    assert specs["input_select__select_option"]["properties"]["option"]["type"] == "string"
    # a duration as HA's own serializer gives it (an object of days ... milliseconds since 2026)
    duration = specs["timer__start"]["properties"]["duration"]
    expected = llm.selector_serializer(selector.DurationSelector({}))
    assert {k: v for k, v in duration.items() if k != "description"} == expected
    value = specs["input_number__set_value"]["properties"]["value"]
    assert value["type"] == "number"
    assert value["description"]


async def test_not_offered_without_exposed_target(house: House) -> None:
    """A service whose target domain has no exposed entity is left out, with a warning."""
    toolset = await house.toolset(services=["input_boolean.turn_on", "light.turn_on"])
    names = {spec.name for spec in toolset.definitions}
    assert "input_boolean__turn_on" not in names
    assert "light__turn_on" in names
    assert any("input_boolean.turn_on" in warning for warning in toolset.warnings)


async def test_unknown_selection_and_api_are_reported(house: House) -> None:
    """Nothing offered for an unknown service or API; both are named in the warnings."""
    toolset = await house.toolset(llm_api_ids=["no_such_api"], services=["nosuch.service"])
    assert toolset.definitions == []
    assert toolset.prompt == ""
    assert any("no_such_api" in warning for warning in toolset.warnings)
    assert any("nosuch.service" in warning for warning in toolset.warnings)
