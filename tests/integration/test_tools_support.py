"""A small offline house in real HA for the tools tests (no tests here, only set-up helpers)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from homeassistant.components.homeassistant.exposed_entities import async_expose_entity
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.realtime_voice.tools import Toolset, async_build_toolset
from tests.realtime_standin.server import offered_name

from .secure_house import BOOLEANS, TEMPLATE_ITEMS, expose_secure_devices

SATELLITE_ENTITY = "assist_satellite.kitchen_satellite"
SATELLITE_NAME = "Kitchen satellite"


def _template_light(name: str, backing: str, level: str) -> dict[str, Any]:
    """A dimmable light backed by an input_boolean and an input_number: real HA, no hardware."""
    return {
        "unique_id": f"light_{backing}",
        "default_entity_id": f"light.{backing}",
        "name": name,
        "state": f"{{{{ is_state('input_boolean.{backing}', 'on') }}}}",
        "level": f"{{{{ states('input_number.{level}') | int }}}}",
        "turn_on": {
            "action": "input_boolean.turn_on",
            "target": {"entity_id": f"input_boolean.{backing}"},
        },
        "turn_off": {
            "action": "input_boolean.turn_off",
            "target": {"entity_id": f"input_boolean.{backing}"},
        },
        "set_level": [
            {
                "action": "input_boolean.turn_on",
                "target": {"entity_id": f"input_boolean.{backing}"},
            },
            {
                "action": "input_number.set_value",
                "target": {"entity_id": f"input_number.{level}"},
                "data": {"value": "{{ brightness }}"},
            },
        ],
    }


def assist_tool_name(toolset: Toolset, tool: str) -> str:
    """The name the toolset offers for one of Assist's tools (``HassTurnOn`` up to HA 2026.5,
    ``intent__HassTurnOn`` from 2026.10: HA's own name, passed on unchanged)."""
    names = {spec.name for spec in toolset.definitions}
    name = offered_name(tool, names)
    assert name is not None, f"{tool} is not among the offered tools {sorted(names)}"
    return name


@dataclass
class House:
    """What the tests act on."""

    hass: HomeAssistant
    device_id: str

    async def toolset(self, **overrides: Any) -> Toolset:
        """A toolset as the integration would build it, with test-friendly defaults."""
        kwargs: dict[str, Any] = {
            "llm_api_ids": [],
            "services": [],
            "allow_dangerous_services": False,
            "max_calls_per_turn": 5,
            "call_timeout_s": 5.0,
            "device_id": self.device_id,
            "satellite_name": SATELLITE_NAME,
            "language": "en",
            "context": None,
        }
        kwargs.update(overrides)
        return await async_build_toolset(self.hass, **kwargs)


# The kitchen and bedroom lights: dimmable template lights backed by helpers (real HA, no hardware).
TWO_LIGHTS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("input_boolean", {"input_boolean": {"kitchen": {}, "bedroom": {}}}),
    (
        "input_number",
        {
            "input_number": {
                "kitchen_level": {"min": 0, "max": 255, "initial": 0},
                "bedroom_level": {"min": 0, "max": 255, "initial": 0},
            }
        },
    ),
    (
        # the template integration's own format (HA 2026 no longer reads `light: - platform:
        # template`); default_entity_id keeps light.kitchen and light.bedroom
        "template",
        {
            "template": [
                {
                    "light": [
                        _template_light("Kitchen light", "kitchen", "kitchen_level"),
                        _template_light("Bedroom light", "bedroom", "bedroom_level"),
                    ]
                }
            ]
        },
    ),
)


async def async_setup_lights(hass: HomeAssistant) -> None:
    """light.kitchen and light.bedroom."""
    for domain, config in TWO_LIGHTS:
        assert await async_setup_component(hass, domain, config)
    await hass.async_block_till_done()


async def async_setup_house(hass: HomeAssistant, *, secure_devices: bool = False) -> House:
    """Lights (kitchen exposed, bedroom not), scripts, intents, and a satellite device; with
    ``secure_devices`` also a lock, a garage door, a blind and an alarm panel (secure_house.py)."""
    lights = TWO_LIGHTS
    if secure_devices:
        lights = (
            ("input_boolean", {"input_boolean": {**TWO_LIGHTS[0][1]["input_boolean"], **BOOLEANS}}),
            TWO_LIGHTS[1],
            ("template", {"template": TWO_LIGHTS[2][1]["template"] + TEMPLATE_ITEMS}),
        )
    for domain, config in (
        ("homeassistant", {}),
        ("intent", {}),
        # the integration's dependency; on HA 2026.10+ it brings `llm`, which registers the Assist API
        ("conversation", {}),
        *lights,
        (
            "script",
            {
                "script": {
                    "movie": {
                        "alias": "Movie scene",
                        "description": "Dim the lights for a movie",
                        "fields": {
                            "level": {
                                "description": "Brightness in percent",
                                "required": True,
                                "selector": {"number": {"min": 0, "max": 100}},
                            }
                        },
                        "sequence": [
                            {"variables": {"answer": {"dimmed_to": "{{ level }}"}}},
                            {"stop": "done", "response_variable": "answer"},
                        ],
                    },
                    "slow": {"alias": "Slow script", "sequence": [{"delay": {"seconds": 30}}]},
                    "flash": {
                        "alias": "Flash a light",
                        "fields": {
                            "which": {
                                "required": True,
                                "selector": {"entity": {"domain": "light"}},
                            },
                            "device": {"selector": {"device": {}}},
                        },
                        "sequence": [
                            {"action": "light.turn_on", "target": {"entity_id": "{{ which }}"}}
                        ],
                    },
                    "room": {
                        "alias": "Lights of a room",
                        "fields": {"area": {"required": True, "selector": {"area": {}}}},
                        "sequence": [
                            {"action": "light.turn_on", "target": {"area_id": "{{ area }}"}}
                        ],
                    },
                }
            },
        ),
    ):
        assert await async_setup_component(hass, domain, config)
    await hass.async_block_till_done()

    async_expose_entity(hass, "conversation", "light.kitchen", True)
    if secure_devices:
        expose_secure_devices(hass)
    async_expose_entity(hass, "conversation", "light.bedroom", False)
    # A script's service is offered through "script.*" only when the script is exposed (#13).
    async_expose_entity(hass, "conversation", "script.movie", True)
    for helper in (
        "input_boolean.kitchen",
        "input_boolean.bedroom",
        "input_number.kitchen_level",
        "input_number.bedroom_level",
    ):
        async_expose_entity(hass, "conversation", helper, False)

    entry = MockConfigEntry(domain="realtime_voice", title=SATELLITE_NAME)
    entry.add_to_hass(hass)
    device = dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id,
        identifiers={("realtime_voice", "sat1")},
        name=SATELLITE_NAME,
    )
    er.async_get(hass).async_get_or_create(
        "assist_satellite",
        "realtime_voice",
        "sat1",
        device_id=device.id,
        suggested_object_id="kitchen_satellite",
        config_entry=entry,
    )
    hass.states.async_set(SATELLITE_ENTITY, "idle", {"friendly_name": SATELLITE_NAME})
    return House(hass=hass, device_id=device.id)
