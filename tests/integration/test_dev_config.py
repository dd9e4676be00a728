"""config/configuration.yaml (scripts/develop, the demo, the end-to-end tests) makes its demo entities
in this Home Assistant: HA 2026 creates nothing from the legacy `light: - platform: template`."""

from __future__ import annotations

from pathlib import Path

from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from homeassistant.util.yaml import load_yaml_dict

CONFIG = Path(__file__).parents[2] / "config" / "configuration.yaml"


async def test_demo_light_switch_and_lock_exist_and_act(hass: HomeAssistant) -> None:
    config = await hass.async_add_executor_job(load_yaml_dict, CONFIG)
    assert "light" not in config  # the legacy platform format
    assert "switch" not in config
    for domain in ("input_boolean", "template"):
        assert await async_setup_component(hass, domain, {domain: config[domain]})
    await hass.async_block_till_done()

    light = hass.states.get("light.kitchen")
    switch = hass.states.get("switch.coffee_machine")
    assert light is not None
    assert light.name == "Kitchen light"
    assert switch is not None
    assert switch.name == "Coffee machine"
    assert light.state == switch.state == "off"

    await hass.services.async_call(
        "light", "turn_on", {"entity_id": "light.kitchen"}, blocking=True
    )
    await hass.services.async_call(
        "switch", "turn_on", {"entity_id": "switch.coffee_machine"}, blocking=True
    )
    await hass.async_block_till_done()
    assert hass.states.get("input_boolean.kitchen_light_power").state == "on"
    assert hass.states.get("light.kitchen").state == "on"
    assert hass.states.get("switch.coffee_machine").state == "on"
    # The demo's secure device: a lock that starts locked (#23: it opens only after a spoken yes).
    door = hass.states.get("lock.front_door")
    assert door is not None
    assert door.name == "Front door"
    assert door.state == "locked"
    await hass.services.async_call(
        "lock", "unlock", {"entity_id": "lock.front_door"}, blocking=True
    )
    await hass.async_block_till_done()
    assert hass.states.get("lock.front_door").state == "unlocked"
