"""What the logbook shows for a change made by a tool call: the satellite as its cause."""

from __future__ import annotations

import json
from typing import Any

import pytest
from homeassistant.components import logbook
from homeassistant.components.recorder import Recorder
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)
from pytest_homeassistant_custom_component.typing import WebSocketGenerator

from custom_components.realtime_voice.tools import logbook as tools_logbook

from .test_tools_support import SATELLITE_ENTITY, SATELLITE_NAME, async_setup_house


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(recorder_mock: Recorder) -> None:
    """Replace the package's autouse fixture: the recorder must start before hass does."""


async def test_logbook_names_the_satellite_as_cause(
    hass: HomeAssistant, hass_ws_client: WebSocketGenerator
) -> None:
    """light.kitchen's entry says: triggered by the Kitchen satellite calling light__turn_on."""
    assert await async_setup_component(hass, "logbook", {})
    house = await async_setup_house(hass)
    # What HA does for the integration's logbook platform, which re-exports this module's function.
    logbook._process_logbook_platform(hass, "realtime_voice", tools_logbook)
    toolset = await house.toolset(services=["light.turn_on"])
    await async_wait_recording_done(hass)
    start = hass.states.get("light.kitchen").last_changed

    result = await toolset.async_call(
        "light__turn_on", json.dumps({"entity_id": ["light.kitchen"]}), call_id="c1"
    )
    await hass.async_block_till_done()
    await async_wait_recording_done(hass)

    assert result == {"success": True}
    client = await hass_ws_client()
    await client.send_json(
        {
            "id": 1,
            "type": "logbook/get_events",
            "start_time": start.isoformat(),
            "entity_ids": ["light.kitchen"],
        }
    )
    response = await client.receive_json()
    assert response["success"], response
    entries: list[dict[str, Any]] = response["result"]
    light_on = [
        e for e in entries if e.get("entity_id") == "light.kitchen" and e.get("state") == "on"
    ]
    assert len(light_on) == 1, entries
    assert light_on[0]["context_event_type"] == "realtime_voice_tool_call_started"
    assert light_on[0]["context_domain"] == "realtime_voice"
    assert light_on[0]["context_entity_id"] == SATELLITE_ENTITY
    assert light_on[0]["context_name"] == SATELLITE_NAME
    assert light_on[0]["context_message"] == "called tool light__turn_on"

    # The call itself is an entry of its own.
    await client.send_json(
        {
            "id": 2,
            "type": "logbook/get_events",
            "start_time": start.isoformat(),
            "entity_ids": [SATELLITE_ENTITY],
        }
    )
    response = await client.receive_json()
    assert [(e["name"], e["message"]) for e in response["result"]] == [
        (SATELLITE_NAME, "called tool light__turn_on")
    ]
