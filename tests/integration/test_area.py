"""Area awareness (#15 item 3): the satellite's device and area reach the tools' context, so "turn on
the lights" acts on the lights of the satellite's area, and a light named from another room still
works; the Broadcast tool reaches the other satellites."""

from __future__ import annotations

import pytest
from homeassistant.components.homeassistant.exposed_entities import async_expose_entity
from homeassistant.core import HomeAssistant
from homeassistant.helpers import area_registry as ar
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import intent

from custom_components.realtime_voice.const import DOMAIN
from custom_components.realtime_voice.tone import chime_pcm
from realtime_voice_satellite.link import protocol
from tests.realtime_standin import StandinConfig, StandinServer, ToolScript
from tests.realtime_standin.audio import speech

from .conftest import API_KEY, entry_for
from .link_satellite import LinkSatellite, silence, tone
from .test_tools_support import async_setup_lights
from .waiting import collect, load_entry, wait_until


async def two_rooms(hass: HomeAssistant) -> None:
    """A kitchen light and a bedroom light in their areas, both exposed."""
    await async_setup_lights(hass)
    areas, entities = ar.async_get(hass), er.async_get(hass)
    for room in ("kitchen", "bedroom"):
        area = areas.async_get_or_create(room.title())
        entities.async_update_entity(f"light.{room}", area_id=area.id)
        async_expose_entity(hass, "conversation", f"light.{room}", True)


def place(hass: HomeAssistant, entry_id: str, room: str) -> None:
    """The user puts the satellite's device in a room (Settings > Devices)."""
    area = ar.async_get(hass).async_get_area_by_name(room)
    assert area is not None
    devices = dr.async_get(hass)
    (device,) = dr.async_entries_for_config_entry(devices, entry_id)
    devices.async_update_device(device.id, area_id=area.id)


async def command_in_the_bedroom(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite
) -> None:
    """Two rooms, the satellite placed in the bedroom, one spoken command run to its end."""
    await two_rooms(hass)
    entry = entry_for(standin, satellite, llm_hass_api=["assist"])
    await load_entry(hass, entry)
    place(hass, entry.entry_id, "Bedroom")
    ended = collect(hass, f"{DOMAIN}_conversation_ended")
    await satellite.say(tone(0.8) + silence(1.0))
    await wait_until(lambda: bool(ended), within=15)


def config(*tools: ToolScript) -> StandinConfig:
    return StandinConfig(endpoint="ga", api_key=API_KEY, tools=tools)


@pytest.mark.parametrize(
    "standin_config",
    # What the model does when told where it is: the area from the prompt, with the domain.
    [config(ToolScript("HassTurnOn", {"domain": ["light"], "area": "Bedroom"}, "Lights on."))],
)
async def test_the_lights_are_those_of_the_satellites_area(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite
) -> None:
    await command_in_the_bedroom(hass, standin, satellite)  # "turn on the lights"
    assert hass.states.get("light.bedroom").state == "on"
    assert hass.states.get("light.kitchen").state == "off"
    # The model was told where it is: the device's area reached the Assist API's context. (The
    # newest session may have just been opened for the next conversation and not yet been given
    # its instructions: they must reach it too.)
    told = (
        "You are in area Bedroom and all generic commands like 'turn on the lights' should target"
        " this area."
    )
    await wait_until(lambda: told in standin.sessions()[-1]["instructions"], within=10)


@pytest.mark.parametrize(
    "standin_config",
    [config(ToolScript("HassTurnOn", {"name": "Kitchen light"}, "The kitchen light is on."))],
)
async def test_a_light_of_another_room_by_name(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite
) -> None:
    await command_in_the_bedroom(hass, standin, satellite)  # "turn on the kitchen light"
    assert hass.states.get("light.kitchen").state == "on"
    assert hass.states.get("light.bedroom").state == "off"


async def test_broadcast_reaches_the_other_satellites(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite
) -> None:
    """HA's Broadcast intent (its sentences "broadcast ..."; HA 2026's Assist API no longer offers
    it to models) announces on every satellite that supports announcements but the one spoken to."""
    bedroom = LinkSatellite(name="Bedroom", satellite_id="bedroom-0002")
    await bedroom.start()
    try:
        kitchen_entry = entry_for(standin, satellite)
        await load_entry(hass, kitchen_entry)
        await load_entry(hass, entry_for(standin, bedroom))
        (kitchen_device,) = dr.async_entries_for_config_entry(
            dr.async_get(hass), kitchen_entry.entry_id
        )
        await intent.async_handle(
            hass,
            "test",
            intent.INTENT_BROADCAST,
            {"message": {"value": "Dinner is ready"}},
            device_id=kitchen_device.id,
        )
        (stream_id,) = [
            c.stream_id
            for c in bedroom.commands
            if isinstance(c, protocol.PlayStart) and c.kind == "announcement"
        ]
        # The chime, then the message in the model's voice.
        assert len(bedroom.played[stream_id]) == len(chime_pcm()) + len(
            speech("Dinner is ready", "tone")
        )
        assert not any(
            isinstance(c, protocol.PlayStart) and c.kind == "announcement"
            for c in satellite.commands
        )
    finally:
        await bedroom.stop()


@pytest.mark.parametrize(
    "standin_config",
    [
        config(
            ToolScript(
                "assist_satellite__announce",
                {"entity_id": ["assist_satellite.bedroom"], "message": "Dinner is ready"},
                "I told the bedroom.",
            )
        )
    ],
)
async def test_the_model_announces_on_another_satellite_through_the_announce_action(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite
) -> None:
    """The model's broadcast in HA 2026: the announce action as a service tool, the other
    satellites exposed (docs/tools.md)."""
    bedroom = LinkSatellite(name="Bedroom", satellite_id="bedroom-0002")
    await bedroom.start()
    try:
        await load_entry(hass, entry_for(standin, bedroom))
        async_expose_entity(hass, "conversation", "assist_satellite.bedroom", True)
        await load_entry(
            hass, entry_for(standin, satellite, tool_services=["assist_satellite.announce"])
        )
        ended = collect(hass, f"{DOMAIN}_conversation_ended")
        await satellite.say(tone(0.8) + silence(1.0))  # "tell the bedroom dinner is ready"
        await wait_until(lambda: bool(ended), within=20)
        (stream_id,) = [
            c.stream_id
            for c in bedroom.commands
            if isinstance(c, protocol.PlayStart) and c.kind == "announcement"
        ]
        assert len(bedroom.played[stream_id]) == len(chime_pcm()) + len(
            speech("Dinner is ready", "tone")
        )
        assert ended[0].data["assistant"] == ["I told the bedroom."]
    finally:
        await bedroom.stop()
