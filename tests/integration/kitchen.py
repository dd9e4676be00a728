"""The kitchen light of the conversation tests: a template light over an input_boolean, exposed to
conversation agents, so a command really switches something in HA (the `kitchen_light` fixture in
conftest.py)."""

from __future__ import annotations

from homeassistant.components.homeassistant.exposed_entities import async_expose_entity
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component

# The template integration's own format: HA 2026 creates nothing from `light: - platform: template`.
TEMPLATE_LIGHT = {
    "template": [
        {
            "light": [
                {
                    "name": "Kitchen light",
                    "unique_id": "kitchen_light",
                    "default_entity_id": "light.kitchen",
                    "state": "{{ is_state('input_boolean.kitchen_power', 'on') }}",
                    "turn_on": {
                        "action": "input_boolean.turn_on",
                        "target": {"entity_id": "input_boolean.kitchen_power"},
                    },
                    "turn_off": {
                        "action": "input_boolean.turn_off",
                        "target": {"entity_id": "input_boolean.kitchen_power"},
                    },
                }
            ]
        }
    ]
}


async def async_set_up_kitchen_light(hass: HomeAssistant) -> str:
    assert await async_setup_component(
        hass, "input_boolean", {"input_boolean": {"kitchen_power": {}}}
    )
    assert await async_setup_component(hass, "template", TEMPLATE_LIGHT)
    await hass.async_block_till_done()
    async_expose_entity(hass, "conversation", "light.kitchen", True)
    return "light.kitchen"
