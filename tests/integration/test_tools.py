"""The tools layer in real HA: LLM API tools, service tools, refusals, limits, events."""

from __future__ import annotations

import json
from typing import Any

import pytest
from homeassistant.const import EVENT_CALL_SERVICE
from homeassistant.core import Context, HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import service as service_helper
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockUser, async_capture_events

from custom_components.realtime_voice.tools import (
    EVENT_TOOL_CALL_STARTED,
    EVENT_TOOL_CALLED,
)
from custom_components.realtime_voice.tools.logbook import describe_tool_call_started
from custom_components.realtime_voice.tools.selection import is_dangerous

from .test_tools_support import (
    SATELLITE_ENTITY,
    SATELLITE_NAME,
    House,
    assist_tool_name,
    async_setup_house,
)


@pytest.fixture
async def house(hass: HomeAssistant) -> House:
    """Lights, scripts and a satellite in the test's hass."""
    return await async_setup_house(hass)


def _service_calls(hass: HomeAssistant, events: list[Any], domain: str) -> list[Any]:
    return [e for e in events if e.data["domain"] == domain]


async def test_assist_api_tool_turns_on_light(house: House) -> None:
    """HassTurnOn from the Assist API runs through APIInstance.async_call_tool."""
    hass = house.hass
    toolset = await house.toolset(llm_api_ids=["assist"])
    turn_on = assist_tool_name(toolset, "HassTurnOn")
    assert "Kitchen light" in toolset.prompt
    assert "Bedroom light" not in toolset.prompt

    result = await toolset.async_call(turn_on, json.dumps({"name": "Kitchen light"}), call_id="c1")

    assert result["response_type"] == "action_done", result
    assert result["data"]["success"][0]["id"] == "light.kitchen"
    assert hass.states.get("light.kitchen").state == "on"


async def test_assist_api_tool_cannot_reach_unexposed_light(house: House) -> None:
    """The Assist API's own exposure check holds through our layer."""
    hass = house.hass
    toolset = await house.toolset(llm_api_ids=["assist"])

    result = await toolset.async_call(
        assist_tool_name(toolset, "HassTurnOn"), json.dumps({"name": "Bedroom light"}), call_id="c1"
    )

    assert result["error"]["code"] == "failed"
    assert "Bedroom light" in result["error"]["message"]
    assert hass.states.get("light.bedroom").state == "off"


async def test_service_tool_turns_on_light_with_brightness(house: House) -> None:
    """light__turn_on runs light.turn_on and reports the new state."""
    hass = house.hass
    toolset = await house.toolset(services=["light.turn_on"])
    spec = next(s for s in toolset.definitions if s.name == "light__turn_on")
    assert spec.parameters["required"] == ["entity_id"]
    assert spec.parameters["properties"]["entity_id"]["items"]["enum"] == ["light.kitchen"]
    assert spec.parameters["properties"]["brightness_pct"]["maximum"] == 100
    assert "light.turn_on" in spec.description

    result = await toolset.async_call(
        "light__turn_on",
        json.dumps({"entity_id": ["light.kitchen"], "brightness_pct": 50}),
        call_id="c1",
    )

    assert result == {"success": True}
    await hass.async_block_till_done()
    state = hass.states.get("light.kitchen")
    assert state.state == "on"
    assert state.attributes["brightness"] == 128


async def test_service_tool_refuses_unexposed_entity_and_changes_nothing(house: House) -> None:
    """light.bedroom is not exposed: refused before any service runs."""
    hass = house.hass
    calls = async_capture_events(hass, EVENT_CALL_SERVICE)
    toolset = await house.toolset(services=["light.turn_on", "light.turn_off"])

    result = await toolset.async_call(
        "light__turn_on",
        json.dumps({"entity_id": ["light.kitchen", "light.bedroom"]}),
        call_id="c1",
    )
    await hass.async_block_till_done()

    assert result["error"]["code"] == "entity_not_exposed"
    assert "light.bedroom" in result["error"]["message"]
    assert "light.kitchen" not in result["error"]["message"]
    assert hass.states.get("light.bedroom").state == "off"
    assert hass.states.get("light.kitchen").state == "off"
    assert _service_calls(hass, calls, "light") == []


async def test_invalid_arguments_refused_before_the_service_runs(house: House) -> None:
    """Schema violations name the bad key and value; the service never runs."""
    hass = house.hass
    calls = async_capture_events(hass, EVENT_CALL_SERVICE)
    toolset = await house.toolset(services=["light.turn_on"])

    too_bright = await toolset.async_call(
        "light__turn_on",
        json.dumps({"entity_id": ["light.kitchen"], "brightness_pct": 300}),
        call_id="c1",
    )
    unknown_key = await toolset.async_call(
        "light__turn_on",
        json.dumps({"entity_id": ["light.kitchen"], "colour": "red"}),
        call_id="c2",
    )
    no_target = await toolset.async_call("light__turn_on", "{}", call_id="c3")
    not_json = await toolset.async_call("light__turn_on", "{entity_id:", call_id="c4")
    not_object = await toolset.async_call("light__turn_on", "[1, 2]", call_id="c5")
    await hass.async_block_till_done()

    assert too_bright["error"]["code"] == "invalid_arguments"
    assert "brightness_pct" in too_bright["error"]["message"]
    assert "300" in too_bright["error"]["message"]
    assert unknown_key["error"]["code"] == "invalid_arguments"
    assert "colour" in unknown_key["error"]["message"]
    assert no_target["error"]["code"] == "invalid_arguments"
    assert "entity_id" in no_target["error"]["message"]
    assert not_json["error"]["code"] == "invalid_json"
    assert not_object["error"]["code"] == "invalid_arguments"
    assert _service_calls(hass, calls, "light") == []
    assert hass.states.get("light.kitchen").state == "off"


async def test_service_own_schema_checked_before_running(house: House) -> None:
    """brightness and brightness_pct exclude each other in light.turn_on's own schema."""
    hass = house.hass
    calls = async_capture_events(hass, EVENT_CALL_SERVICE)
    toolset = await house.toolset(services=["light.turn_on"])

    result = await toolset.async_call(
        "light__turn_on",
        json.dumps({"entity_id": ["light.kitchen"], "brightness": 10, "brightness_pct": 50}),
        call_id="c1",
    )
    await hass.async_block_till_done()

    assert result["error"]["code"] == "invalid_arguments", result
    assert "brightness" in result["error"]["message"]
    assert _service_calls(hass, calls, "light") == []


async def test_dangerous_services_are_not_offered_nor_callable(house: House) -> None:
    """homeassistant.* stays out even when selected, unless explicitly allowed and named."""
    hass = house.hass
    calls = async_capture_events(hass, EVENT_CALL_SERVICE)
    toolset = await house.toolset(services=["homeassistant.*", "*.turn_on", "light.turn_off"])
    names = {spec.name for spec in toolset.definitions}

    assert not any(name.startswith("homeassistant__") for name in names)
    assert {"light__turn_on", "light__turn_off"} <= names
    result = await toolset.async_call("homeassistant__restart", "{}", call_id="c1")
    await hass.async_block_till_done()
    assert result["error"]["code"] == "unknown_tool"
    assert _service_calls(hass, calls, "homeassistant") == []

    # Allowed but matched only through a wildcard domain: still not offered.
    wildcard = await house.toolset(
        services=["*.restart", "*.reload_core_config"], allow_dangerous_services=True
    )
    assert not any(s.name.startswith("homeassistant__") for s in wildcard.definitions)

    # Allowed and named explicitly: offered.
    explicit = await house.toolset(
        services=["homeassistant.reload_core_config"], allow_dangerous_services=True
    )
    assert "homeassistant__reload_core_config" in {s.name for s in explicit.definitions}


async def test_per_turn_limit_refuses_extra_calls(house: House) -> None:
    """After max_calls_per_turn, calls are refused until start_turn()."""
    hass = house.hass
    toolset = await house.toolset(
        services=["light.turn_on", "light.turn_off"], max_calls_per_turn=2
    )
    kitchen = json.dumps({"entity_id": ["light.kitchen"]})

    assert (await toolset.async_call("light__turn_on", kitchen, call_id="c1"))["success"]
    assert (await toolset.async_call("light__turn_off", kitchen, call_id="c2"))["success"]
    third = await toolset.async_call("light__turn_on", kitchen, call_id="c3")

    assert third["error"]["code"] == "too_many_calls"
    assert "2" in third["error"]["message"]
    assert hass.states.get("light.kitchen").state == "off"

    toolset.start_turn()
    assert (await toolset.async_call("light__turn_on", kitchen, call_id="c4"))["success"]
    await hass.async_block_till_done()
    assert hass.states.get("light.kitchen").state == "on"


async def test_call_timeout(house: House) -> None:
    """A script that takes longer than the timeout is stopped and reported."""
    hass = house.hass
    toolset = await house.toolset(services=["script.slow"], call_timeout_s=0.2)

    result = await toolset.async_call("script__slow", "{}", call_id="c1")

    assert result["error"]["code"] == "timeout"
    assert "0.2" in result["error"]["message"]
    await hass.async_block_till_done()
    assert hass.states.get("script.slow").state == "off"


async def test_script_response_is_returned(house: House) -> None:
    """A service with a response (a script ending in stop/response_variable) returns it."""
    toolset = await house.toolset(services=["script.*"])
    spec = next(s for s in toolset.definitions if s.name == "script__movie")
    assert spec.parameters["properties"]["level"]["maximum"] == 100
    assert spec.parameters["required"] == ["level"]
    assert "Movie scene" in spec.description

    result = await toolset.async_call("script__movie", json.dumps({"level": 20}), call_id="c1")

    assert result == {"success": True, "response": {"dimmed_to": 20.0}}


async def test_state_tool_reads_exposed_entities_only(house: House) -> None:
    """get_entity_state gives state + useful attributes, and refuses hidden entities."""
    hass = house.hass
    toolset = await house.toolset(services=["light.turn_on"])
    await toolset.async_call(
        "light__turn_on",
        json.dumps({"entity_id": "light.kitchen", "brightness_pct": 100}),
        call_id="c0",
    )
    await hass.async_block_till_done()
    spec = next(s for s in toolset.definitions if s.name == "get_entity_state")
    assert "light.bedroom" not in spec.parameters["properties"]["entity_id"]["items"]["enum"]

    state = await toolset.async_call(
        "get_entity_state", json.dumps({"entity_id": ["light.kitchen"]}), call_id="c1"
    )
    hidden = await toolset.async_call(
        "get_entity_state", json.dumps({"entity_id": ["light.bedroom"]}), call_id="c2"
    )
    missing = await toolset.async_call(
        "get_entity_state", json.dumps({"entity_id": ["light.garage"]}), call_id="c3"
    )

    assert state["entities"][0]["state"] == "on"
    assert state["entities"][0]["attributes"]["brightness"] == 255
    assert hidden["error"]["code"] == "entity_not_exposed"
    assert missing["error"]["code"] in {"not_found", "entity_not_exposed"}
    assert hass.states.get("light.bedroom").state == "off"


async def test_event_per_call_and_context_of_changes(
    house: House, hass_admin_user: MockUser
) -> None:
    """Every call fires realtime_voice_tool_called; changes carry the started event's context."""
    hass = house.hass
    called = async_capture_events(hass, EVENT_TOOL_CALLED)
    started = async_capture_events(hass, EVENT_TOOL_CALL_STARTED)
    parent = Context(user_id=hass_admin_user.id)
    toolset = await house.toolset(services=["light.turn_on"], context=parent)

    ok = await toolset.async_call(
        "light__turn_on", json.dumps({"entity_id": ["light.kitchen"]}), call_id="c1"
    )
    refused = await toolset.async_call(
        "light__turn_on", json.dumps({"entity_id": ["light.bedroom"]}), call_id="c2"
    )
    await hass.async_block_till_done()

    assert [e.data["call_id"] for e in called] == ["c1", "c2"]
    first, second = called
    assert first.data["name"] == "light__turn_on"
    assert first.data["arguments"] == {"entity_id": ["light.kitchen"]}
    assert first.data["result"] == ok
    assert "error" not in first.data
    assert first.data["device_id"] == house.device_id
    assert first.data["entity_id"] == SATELLITE_ENTITY
    assert first.data["satellite"] == SATELLITE_NAME
    assert second.data["error"] == refused["error"]
    assert "result" not in second.data

    assert len(started) == 1  # only the accepted call ran
    light_context = hass.states.get("light.kitchen").context
    assert light_context.id == started[0].context.id == first.context.id
    assert light_context.origin_event is started[0]
    assert light_context.parent_id == parent.id
    assert light_context.user_id == hass_admin_user.id


async def test_user_without_permission_is_refused(
    house: House, hass_read_only_user: MockUser
) -> None:
    """With a parent context of a read-only user, HA's own permission check refuses the call."""
    hass = house.hass
    toolset = await house.toolset(
        services=["light.turn_on"], context=Context(user_id=hass_read_only_user.id)
    )

    result = await toolset.async_call(
        "light__turn_on", json.dumps({"entity_id": ["light.kitchen"]}), call_id="c1"
    )
    await hass.async_block_till_done()

    assert result["error"]["code"] == "unauthorized"
    assert hass.states.get("light.kitchen").state == "off"


async def test_entity_fields_limited_and_area_fields_left_out(house: House) -> None:
    """Entity selector fields are checked for exposure; area/device fields never reach the model."""
    hass = house.hass
    toolset = await house.toolset(services=["script.flash", "script.room"])
    specs = {spec.name: spec for spec in toolset.definitions}

    assert "script__room" not in specs  # its required area field could reach unexposed lights
    assert any("script.room" in w and "'area'" in w for w in toolset.warnings)
    assert set(specs["script__flash"].parameters["properties"]) == {"which"}  # device dropped

    hidden = await toolset.async_call(
        "script__flash", json.dumps({"which": "light.bedroom"}), call_id="c1"
    )
    device = await toolset.async_call(
        "script__flash", json.dumps({"which": "light.kitchen", "device": "abc"}), call_id="c2"
    )
    ok = await toolset.async_call(
        "script__flash", json.dumps({"which": "light.kitchen"}), call_id="c3"
    )
    await hass.async_block_till_done()

    assert hidden["error"]["code"] == "entity_not_exposed"
    assert device["error"]["code"] == "invalid_arguments"
    assert ok == {"success": True, "response": {}}
    assert hass.states.get("light.kitchen").state == "on"
    assert hass.states.get("light.bedroom").state == "off"


async def test_service_removed_after_build_is_refused(house: House) -> None:
    """A tool whose service went away says so instead of failing obscurely."""
    hass = house.hass
    toolset = await house.toolset(services=["script.movie"])
    hass.services.async_remove("script", "movie")

    result = await toolset.async_call("script__movie", json.dumps({"level": 5}), call_id="c1")

    assert result["error"]["code"] == "not_found"
    assert "script.movie" in result["error"]["message"]


async def test_satellite_without_device(house: House) -> None:
    """Without a device the events still fire; the logbook entry then names no entity."""
    hass = house.hass
    called = async_capture_events(hass, EVENT_TOOL_CALLED)
    started = async_capture_events(hass, EVENT_TOOL_CALL_STARTED)
    toolset = await house.toolset(services=["light.turn_on"], device_id=None)

    result = await toolset.async_call(
        "light__turn_on", json.dumps({"entity_id": "light.kitchen"}), call_id="c1"
    )
    await hass.async_block_till_done()

    assert result == {"success": True}
    assert called[0].data["device_id"] is None
    assert called[0].data["entity_id"] is None
    assert describe_tool_call_started(started[0]) == {
        "name": SATELLITE_NAME,
        "message": "called tool light__turn_on",
    }


async def test_device_without_satellite_entity(house: House) -> None:
    """A device that has no assist_satellite entity yet: no entity id in the events."""
    hass = house.hass
    other = dr.async_get(hass).async_get_or_create(
        config_entry_id=next(iter(hass.config_entries.async_entries("realtime_voice"))).entry_id,
        identifiers={("realtime_voice", "sat2")},
    )
    called = async_capture_events(hass, EVENT_TOOL_CALLED)
    toolset = await house.toolset(device_id=other.id)

    result = await toolset.async_call("light__turn_on", "{}", call_id="c1")
    await hass.async_block_till_done()

    assert result["error"]["code"] == "unknown_tool"
    assert called[0].data["device_id"] == other.id
    assert called[0].data["entity_id"] is None


# Integrations that register services acting on no entity, as many as load here without hardware.
TARGETLESS_PROVIDERS = (
    "persistent_notification",
    "notify",
    "automation",
    "counter",
    "input_text",
    "system_log",
    "logger",
    "backup",
)


async def test_wildcard_selects_only_services_that_act_on_exposed_entities(house: House) -> None:
    """#13: "*.*" with the dangerous-actions switch on, against every service this HA registers:
    each offered service tool targets entities (so the exposure check applies) and is off the
    deny-list; services that act on no entity are left out."""
    hass = house.hass
    for domain in TARGETLESS_PROVIDERS:
        assert await async_setup_component(hass, domain, {}), domain
    await hass.async_block_till_done()
    descriptions = await service_helper.async_get_all_descriptions(hass)
    registered = {
        f"{domain}.{service}"
        for domain, services in hass.services.async_services().items()
        for service in services
    }
    targetless = {
        f"{domain}.{service}"
        for domain, services in descriptions.items()
        for service, description in services.items()
        if not (description or {}).get("target")
    }
    assert {"persistent_notification.create", "automation.reload"} <= targetless & registered

    toolset = await house.toolset(services=["*.*"], allow_dangerous_services=True)
    offered = {
        spec.name.replace("__", ".", 1)
        for spec in toolset.definitions
        if spec.name.replace("__", ".", 1) in registered
    }
    assert "light.turn_on" in offered
    # The one exception: an exposed script, whose service stands for its entity.
    assert offered & targetless == {"script.movie"}
    assert "script.slow" not in offered  # a script that is not exposed
    assert not [s for s in offered if is_dangerous(s)]

    # Named exactly, a service without a target is offered (the user chose it knowingly).
    named = await house.toolset(services=["persistent_notification.create"])
    assert "persistent_notification__create" in {spec.name for spec in named.definitions}


async def test_huge_or_deep_arguments_are_refused_and_nothing_runs(house: House) -> None:
    """#13 bounds: 5 MB of arguments, or arguments nested 100,000 deep (which raised in
    Toolset.async_call, whose contract is never to raise), are refused before anything runs, and the
    tool_called event does not carry them."""
    hass = house.hass
    calls = async_capture_events(hass, EVENT_CALL_SERVICE)
    called = async_capture_events(hass, EVENT_TOOL_CALLED)
    toolset = await house.toolset(services=["light.turn_on"])
    huge = json.dumps({"entity_id": "light.kitchen", "effect": "x" * 5_000_000})
    deep = '{"entity_id": "light.kitchen", "x": ' + "[" * 100_000 + "]" * 100_000 + "}"
    nested = json.dumps({"entity_id": "light.kitchen", "x": [[[[[[[[[[1]]]]]]]]]]})
    for call_id, arguments in (("c1", huge), ("c2", deep), ("c3", nested)):
        toolset.start_turn()
        result = await toolset.async_call("light__turn_on", arguments, call_id=call_id)
        assert result["error"]["code"] == "invalid_arguments", result
    await hass.async_block_till_done()
    assert _service_calls(hass, calls, "light") == []
    assert hass.states.get("light.kitchen").state == "off"
    assert all(len(json.dumps(e.data, default=str)) < 20_000 for e in called)
    assert "more than the 16384" in called[0].data["error"]["message"]
