"""The tools' part of the options flow: fields, offered services, validation, stored values."""

from __future__ import annotations

from typing import Any

import probatio
import pytest
from homeassistant.core import HomeAssistant
from homeassistant.helpers import config_validation as cv

from custom_components.realtime_voice.schema_library import vol
from custom_components.realtime_voice.tools import (
    CONF_ALLOW_DANGEROUS_SERVICES,
    CONF_LLM_HASS_API,
    CONF_MAX_TOOL_CALLS_PER_TURN,
    CONF_MEDIA_HOSTS,
    CONF_SECURE_ENTITIES,
    CONF_SECURE_PIN,
    CONF_TOOL_CALL_TIMEOUT,
    CONF_TOOL_SERVICES,
    normalize_tool_options,
    tool_options_schema,
    tool_settings,
    validate_tool_options,
)

from .test_tools_support import async_setup_house


def _serialized(schema: dict[Any, Any]) -> dict[str, dict[str, Any]]:
    """The form as the frontend receives it (what the flow manager sends)."""
    fields = probatio.to_field_list(vol.Schema(schema), custom_serializer=cv.custom_serializer)
    return {field["name"]: field for field in fields}


@pytest.fixture
async def hass_with_house(hass: HomeAssistant) -> HomeAssistant:
    """Real services registered: light, script, input_*, homeassistant."""
    await async_setup_house(hass)
    return hass


async def test_fields_and_defaults(hass_with_house: HomeAssistant) -> None:
    """Defaults: Assist on, no services, dangerous off, 5 calls, 10 s."""
    form = _serialized(tool_options_schema(hass_with_house, {}))

    assert list(form) == [
        CONF_LLM_HASS_API,
        CONF_TOOL_SERVICES,
        CONF_ALLOW_DANGEROUS_SERVICES,
        CONF_MAX_TOOL_CALLS_PER_TURN,
        CONF_TOOL_CALL_TIMEOUT,
        CONF_SECURE_ENTITIES,
        CONF_SECURE_PIN,
        CONF_MEDIA_HOSTS,
    ]
    # The PIN is typed like a password: never shown in the form.
    assert form[CONF_SECURE_PIN]["selector"]["text"]["type"] == "password"
    assert form[CONF_SECURE_ENTITIES]["description"] == {"suggested_value": []}
    apis = form[CONF_LLM_HASS_API]
    assert apis["description"] == {"suggested_value": ["assist"]}
    assert {"value": "assist", "label": "Assist"} in apis["selector"]["select"]["options"]
    assert apis["selector"]["select"]["multiple"] is True
    services = form[CONF_TOOL_SERVICES]["selector"]["select"]
    assert services["custom_value"] is True
    assert services["multiple"] is True
    assert form[CONF_TOOL_SERVICES]["description"] == {"suggested_value": []}
    assert form[CONF_ALLOW_DANGEROUS_SERVICES]["default"] is False
    assert form[CONF_MAX_TOOL_CALLS_PER_TURN]["default"] == 5
    assert form[CONF_TOOL_CALL_TIMEOUT]["default"] == 10.0
    assert form[CONF_TOOL_CALL_TIMEOUT]["selector"]["number"]["unit_of_measurement"] == "s"


async def test_offered_services_exclude_the_deny_list(hass_with_house: HomeAssistant) -> None:
    """light.turn_on and script.* are offered; homeassistant.* never is."""
    form = _serialized(tool_options_schema(hass_with_house, {}))
    values = [o["value"] for o in form[CONF_TOOL_SERVICES]["selector"]["select"]["options"]]

    assert "light.turn_on" in values
    assert "light.*" in values
    assert "script.*" in values
    assert "script.movie" in values
    assert not [v for v in values if v.startswith("homeassistant.")]


async def test_existing_options_prefill_and_dangerous_switch(
    hass_with_house: HomeAssistant,
) -> None:
    """Current values are suggested; the dangerous switch is shown with its current value."""
    options = {
        CONF_LLM_HASS_API: [],
        CONF_TOOL_SERVICES: ["light.turn_on"],
        CONF_ALLOW_DANGEROUS_SERVICES: False,
        CONF_MAX_TOOL_CALLS_PER_TURN: 3,
        CONF_TOOL_CALL_TIMEOUT: 4.5,
    }
    form = _serialized(tool_options_schema(hass_with_house, options))
    assert form[CONF_LLM_HASS_API]["description"] == {"suggested_value": []}
    assert form[CONF_TOOL_SERVICES]["description"] == {"suggested_value": ["light.turn_on"]}
    # always shown now that HA deprecated advanced mode; off unless the user turned it on
    assert form[CONF_ALLOW_DANGEROUS_SERVICES]["default"] is False
    assert form[CONF_MAX_TOOL_CALLS_PER_TURN]["default"] == 3

    turned_on = {**options, CONF_ALLOW_DANGEROUS_SERVICES: True}
    form = _serialized(tool_options_schema(hass_with_house, turned_on))
    assert form[CONF_ALLOW_DANGEROUS_SERVICES]["default"] is True


async def test_submitted_input_validates_and_normalizes(hass_with_house: HomeAssistant) -> None:
    """The schema accepts a typical submission; stored values have the right types."""
    schema = vol.Schema(tool_options_schema(hass_with_house, {}))
    submitted = schema(
        {
            CONF_TOOL_SERVICES: ["Light.Turn_On ", "script.*"],
            CONF_MAX_TOOL_CALLS_PER_TURN: 7,
            CONF_TOOL_CALL_TIMEOUT: 2.5,
        }
    )

    stored = normalize_tool_options(submitted)

    assert stored == {
        CONF_LLM_HASS_API: [],  # cleared multi-select: none, not the default
        CONF_TOOL_SERVICES: ["light.turn_on", "script.*"],
        CONF_ALLOW_DANGEROUS_SERVICES: False,
        CONF_MAX_TOOL_CALLS_PER_TURN: 7,
        CONF_TOOL_CALL_TIMEOUT: 2.5,
        CONF_SECURE_ENTITIES: [],
        CONF_SECURE_PIN: "",
        CONF_MEDIA_HOSTS: [],
    }
    assert isinstance(stored[CONF_MAX_TOOL_CALLS_PER_TURN], int)
    assert validate_tool_options(hass_with_house, stored) == ({}, {})
    settings = tool_settings(stored)
    assert settings.max_calls_per_turn == 7
    assert settings.llm_api_ids == []
    assert tool_settings({}).llm_api_ids == ["assist"]


async def test_secure_options_validate_and_normalize(hass_with_house: HomeAssistant) -> None:
    """#23: secure entities, the spoken PIN (digits, never echoed) and the allowed media hosts."""
    submitted = {
        CONF_SECURE_ENTITIES: ["switch.gate", "light.kitchen", "switch.gate"],
        CONF_SECURE_PIN: " 4321 ",
        CONF_MEDIA_HOSTS: [" Radio.Example.org", "nas.local"],
    }
    assert validate_tool_options(hass_with_house, submitted) == ({}, {})
    stored = normalize_tool_options(submitted)
    assert stored[CONF_SECURE_ENTITIES] == ["light.kitchen", "switch.gate"]
    assert stored[CONF_SECURE_PIN] == "4321"
    assert stored[CONF_MEDIA_HOSTS] == ["nas.local", "radio.example.org"]
    settings = tool_settings(stored)
    assert settings.secure_pin == "4321"
    assert "4321" not in repr(settings)  # the PIN is a secret: never in a repr or a log line
    assert tool_settings({}).secure_pin is None

    errors, placeholders = validate_tool_options(
        hass_with_house,
        {CONF_SECURE_PIN: "12ab", CONF_MEDIA_HOSTS: ["http://nas.local/x", "ok.example"]},
    )
    assert errors == {CONF_SECURE_PIN: "invalid_pin", CONF_MEDIA_HOSTS: "invalid_media_host"}
    assert placeholders == {"invalid_media_hosts": "http://nas.local/x"}
    assert "12ab" not in str(placeholders)


async def test_out_of_range_numbers_are_rejected(hass_with_house: HomeAssistant) -> None:
    """Limits outside the ranges fail on the field that is wrong."""
    schema = vol.Schema(tool_options_schema(hass_with_house, {}))
    with pytest.raises(vol.Invalid) as too_many:
        schema({CONF_MAX_TOOL_CALLS_PER_TURN: 100})
    assert too_many.value.path == [CONF_MAX_TOOL_CALLS_PER_TURN]
    with pytest.raises(vol.Invalid) as too_short:
        schema({CONF_TOOL_CALL_TIMEOUT: 0})
    assert too_short.value.path == [CONF_TOOL_CALL_TIMEOUT]


async def test_bad_services_and_apis_are_named(hass_with_house: HomeAssistant) -> None:
    """Malformed service entries and unknown APIs give an error key and name the values."""
    errors, placeholders = validate_tool_options(
        hass_with_house,
        {
            CONF_TOOL_SERVICES: ["light.turn_on", "turn on the lights", "light"],
            CONF_LLM_HASS_API: ["nope"],
        },
    )

    assert errors == {CONF_TOOL_SERVICES: "invalid_service", CONF_LLM_HASS_API: "unknown_llm_api"}
    assert placeholders == {
        "invalid_services": "turn on the lights, light",
        "unknown_llm_apis": "nope",
    }
