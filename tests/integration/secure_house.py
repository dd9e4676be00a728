"""A front door lock, a garage door, an alarm panel and a blind in real HA (template entities backed
by helpers: no hardware), exposed to Assist, for the secure-device tests (no tests here)."""

from __future__ import annotations

from typing import Any

from homeassistant.components.homeassistant.exposed_entities import async_expose_entity
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component

LOCK = "lock.front_door"
GARAGE = "cover.garage_door"
BLIND = "cover.kitchen_blind"
ALARM = "alarm_control_panel.house_alarm"


def _switch(entity: str, backing: str, on: str, off: str) -> dict[str, Any]:
    return {
        on: {
            "action": "input_boolean.turn_on",
            "target": {"entity_id": f"input_boolean.{backing}"},
        },
        off: {
            "action": "input_boolean.turn_off",
            "target": {"entity_id": f"input_boolean.{backing}"},
        },
    }


def _cover(name: str, backing: str, device_class: str) -> dict[str, Any]:
    return {
        "name": name,
        "unique_id": backing,
        "default_entity_id": f"cover.{backing}",
        "device_class": device_class,
        "state": f"{{{{ 'open' if is_state('input_boolean.{backing}', 'on') else 'closed' }}}}",
        **_switch(backing, backing, "open_cover", "close_cover"),
    }


TEMPLATES: dict[str, Any] = {
    "template": [
        {
            "lock": [
                {
                    "name": "Front door",
                    "unique_id": "front_door",
                    "default_entity_id": LOCK,
                    "state": "{{ is_state('input_boolean.front_door_locked', 'on') }}",
                    **_switch(LOCK, "front_door_locked", "lock", "unlock"),
                }
            ],
            "cover": [
                _cover("Garage door", "garage_door", "garage"),
                _cover("Kitchen blind", "kitchen_blind", "blind"),
            ],
        }
    ]
}

ALARM_PANEL: dict[str, Any] = {
    "template": [
        {
            "alarm_control_panel": [
                {
                    "name": "House alarm",
                    "unique_id": "house_alarm",
                    "default_entity_id": ALARM,
                    "code_arm_required": False,
                    "state": (
                        "{{ 'armed_away' if is_state('input_boolean.alarm_armed', 'on') "
                        "else 'disarmed' }}"
                    ),
                    **_switch(ALARM, "alarm_armed", "arm_away", "disarm"),
                    "trigger": {"action": "input_boolean.turn_off"},
                }
            ]
        }
    ]
}


# Merged into the house's own helpers and templates (one set-up per integration and test).
BOOLEANS: dict[str, Any] = {
    "front_door_locked": {"initial": True},
    "garage_door": {"initial": False},
    "kitchen_blind": {"initial": False},
    "alarm_armed": {"initial": True},
}
TEMPLATE_ITEMS: list[dict[str, Any]] = TEMPLATES["template"] + ALARM_PANEL["template"]
SECURE_ENTITIES = (LOCK, GARAGE, BLIND, ALARM)


def expose_secure_devices(hass: HomeAssistant) -> None:
    """The front door locked, the garage door and the blind closed, the alarm armed; all exposed."""
    for entity_id in SECURE_ENTITIES:
        assert hass.states.get(entity_id) is not None, entity_id
        async_expose_entity(hass, "conversation", entity_id, True)
    for backing in BOOLEANS:  # only the devices themselves are voice's to reach
        async_expose_entity(hass, "conversation", f"input_boolean.{backing}", False)


async def async_setup_secure_devices(hass: HomeAssistant) -> None:
    """Only the secure devices (for conversation tests that need no lights)."""
    assert await async_setup_component(hass, "input_boolean", {"input_boolean": BOOLEANS})
    assert await async_setup_component(hass, "template", {"template": TEMPLATE_ITEMS})
    await hass.async_block_till_done()
    expose_secure_devices(hass)
