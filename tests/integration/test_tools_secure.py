"""#23 item 1 and 2 in the tools layer, in real HA: calls that open the house are held for the
user's yes (whatever the model says), and services that fetch a URL the model picks are never
offered through a wildcard and refuse URLs the user did not allow."""

from __future__ import annotations

import json
from typing import Any

import pytest
from homeassistant.components.homeassistant.exposed_entities import async_expose_entity
from homeassistant.components.media_player import MediaPlayerEntityFeature
from homeassistant.core import HomeAssistant
from homeassistant.helpers import service as service_helper
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import async_capture_events

from custom_components.realtime_voice.tools import EVENT_TOOL_CALL_STARTED, EVENT_TOOL_CALLED
from custom_components.realtime_voice.tools.secure import (
    Confirmation,
    confirmation_of,
    spoken_digits,
)
from custom_components.realtime_voice.tools.selection import fetches_urls, is_dangerous

from .secure_house import ALARM, BLIND, GARAGE, LOCK
from .test_tools_support import House, assist_tool_name, async_setup_house


@pytest.fixture
async def house(hass: HomeAssistant) -> House:
    return await async_setup_house(hass, secure_devices=True)


def states(hass: HomeAssistant) -> dict[str, str]:
    return {e: hass.states.get(e).state for e in (LOCK, GARAGE, BLIND, ALARM)}


CLOSED = {LOCK: "locked", GARAGE: "closed", BLIND: "closed", ALARM: "armed_away"}


@pytest.mark.parametrize(
    ("intent", "arguments", "target"),
    [
        ("HassTurnOff", {"name": "Front door"}, LOCK),  # HA unlocks a lock on turn_off
        ("HassTurnOn", {"name": "Garage door"}, GARAGE),  # and opens a cover on turn_on
        ("HassTurnOff", {"domain": ["lock"]}, LOCK),  # every lock there is, by domain
        ("HassTurnOn", {"device_class": ["garage"], "domain": ["cover"]}, GARAGE),
    ],
)
async def test_assist_intents_that_open_the_house_are_held(
    house: House, intent: str, arguments: dict[str, Any], target: str
) -> None:
    """The outside tests' reproduction: default tools, HassTurnOff on the front door."""
    hass = house.hass
    started = async_capture_events(hass, EVENT_TOOL_CALL_STARTED)
    called = async_capture_events(hass, EVENT_TOOL_CALLED)
    toolset = await house.toolset(llm_api_ids=["assist"])
    result = await toolset.async_call(
        assist_tool_name(toolset, intent), json.dumps(arguments), call_id="c1"
    )
    await hass.async_block_till_done()

    assert result["status"] == "confirmation_required", result
    assert target in result["targets"]
    assert "Nothing was done" in result["message"]
    assert states(hass) == CLOSED
    assert started == []  # nothing ran
    assert called[0].data["result"]["status"] == "confirmation_required"
    held = toolset.take_held()
    assert held is not None
    assert target in held.targets
    assert toolset.take_held() is None  # handed over once


async def test_safe_directions_run_without_a_question(house: House) -> None:
    """Locking, closing and a blind need no yes."""
    hass = house.hass
    await hass.services.async_call(
        "input_boolean",
        "turn_off",
        blocking=True,
        target={"entity_id": ["input_boolean.front_door_locked"]},
    )
    await hass.services.async_call(
        "input_boolean",
        "turn_on",
        blocking=True,
        target={"entity_id": ["input_boolean.garage_door"]},
    )
    await hass.async_block_till_done()
    toolset = await house.toolset(llm_api_ids=["assist"])
    for intent, name in (
        ("HassTurnOn", "Front door"),  # locks
        ("HassTurnOff", "Garage door"),  # closes
        ("HassTurnOn", "Kitchen blind"),  # opens a blind: not a way into the house
    ):
        result = await toolset.async_call(
            assist_tool_name(toolset, intent), json.dumps({"name": name}), call_id=intent
        )
        assert "status" not in result, (intent, name, result)
        assert "error" not in result, (intent, name, result)
    await hass.async_block_till_done()
    assert toolset.take_held() is None
    assert states(hass) == {LOCK: "locked", GARAGE: "closed", BLIND: "open", ALARM: "armed_away"}


@pytest.mark.parametrize(
    ("service", "data", "held"),
    [
        ("lock.unlock", {"entity_id": [LOCK]}, True),
        ("lock.lock", {"entity_id": [LOCK]}, False),
        ("cover.open_cover", {"entity_id": [GARAGE]}, True),
        ("cover.toggle", {"entity_id": [GARAGE]}, True),
        ("cover.close_cover", {"entity_id": [GARAGE]}, False),
        ("cover.open_cover", {"entity_id": [BLIND]}, False),
        ("alarm_control_panel.alarm_disarm", {"entity_id": [ALARM]}, True),
        ("alarm_control_panel.alarm_arm_away", {"entity_id": [ALARM]}, False),
    ],
)
async def test_service_tools_on_secure_devices(
    house: House, service: str, data: dict[str, Any], held: bool
) -> None:
    """`*.*` with the dangerous switch off: disarming the alarm (the outside tests did it) is held."""
    hass = house.hass
    toolset = await house.toolset(services=["*.*"])
    name = service.replace(".", "__", 1)
    assert name in {spec.name for spec in toolset.definitions}
    result = await toolset.async_call(name, json.dumps(data), call_id="c1")
    await hass.async_block_till_done()
    assert (result.get("status") == "confirmation_required") is held, result
    assert (toolset.take_held() is not None) is held
    if held:
        assert states(hass) == CLOSED


async def test_entities_the_user_marks_are_held_for_any_action(house: House) -> None:
    """A light marked as secure in the options: even turning it on waits for the yes."""
    hass = house.hass
    toolset = await house.toolset(
        llm_api_ids=["assist"], services=["light.turn_on"], secure_entities=["light.kitchen"]
    )
    by_service = await toolset.async_call(
        "light__turn_on", json.dumps({"entity_id": ["light.kitchen"]}), call_id="c1"
    )
    by_intent = await toolset.async_call(
        assist_tool_name(toolset, "HassTurnOn"), json.dumps({"name": "Kitchen light"}), call_id="c2"
    )
    await hass.async_block_till_done()
    assert by_service["status"] == "confirmation_required"
    assert by_intent["status"] == "confirmation_required"
    assert hass.states.get("light.kitchen").state == "off"


@pytest.mark.parametrize(
    ("answer", "pin", "runs", "code"),
    [
        ("Yes, please.", None, True, None),
        ("Go ahead", None, True, None),
        ("No.", None, False, "not_confirmed"),
        ("What's the weather?", None, False, "not_confirmed"),
        (None, None, False, "not_confirmed"),  # no answer at all
        ("1234", "4321", False, "wrong_pin"),
        ("Yes.", "4321", False, "wrong_pin"),  # a PIN is set: a yes alone is not enough
        ("No, 4321", "4321", False, "not_confirmed"),
        ("Four three two one.", "4321", True, None),
        ("Yes, 4 3 2 1", "4321", True, None),
    ],
)
async def test_only_a_matched_yes_runs_the_held_call(
    house: House, answer: str | None, pin: str | None, runs: bool, code: str | None
) -> None:
    hass = house.hass
    started = async_capture_events(hass, EVENT_TOOL_CALL_STARTED)
    called = async_capture_events(hass, EVENT_TOOL_CALLED)
    toolset = await house.toolset(llm_api_ids=["assist"], secure_pin=pin)
    asked = await toolset.async_call(
        assist_tool_name(toolset, "HassTurnOff"), json.dumps({"name": "Front door"}), call_id="c1"
    )
    assert ("PIN" in asked["message"]) is (pin is not None)
    held = toolset.take_held()
    assert held is not None

    result = await toolset.async_resolve(held, answer, call_id="confirm1")
    await hass.async_block_till_done()

    assert hass.states.get(LOCK).state == ("unlocked" if runs else "locked")
    if runs:
        assert result["response_type"] == "action_done", result
        assert [e.data["confirmation"] for e in started] == [True]
    else:
        assert result["error"]["code"] == code, result
        assert started == []
    assert called[-1].data["confirmation"] is True
    assert called[-1].data["call_id"] == "confirm1"
    assert pin is None or pin not in json.dumps([e.data for e in called])  # the PIN is no event's


async def test_a_late_yes_runs_nothing(house: House) -> None:
    hass = house.hass
    toolset = await house.toolset(services=["lock.unlock"])
    await toolset.async_call("lock__unlock", json.dumps({"entity_id": [LOCK]}), call_id="c1")
    held = toolset.take_held()
    assert held is not None
    held.expires = 0.0
    result = await toolset.async_resolve(held, "Yes.", call_id="confirm1")
    await hass.async_block_till_done()
    assert result["error"]["code"] == "not_confirmed"
    assert "too late" in result["error"]["message"]
    assert hass.states.get(LOCK).state == "locked"


def test_confirmation_matching_and_spoken_digits() -> None:
    assert spoken_digits("One two, 3 four") == "1234"
    assert spoken_digits("oh nine") == "09"
    assert confirmation_of("Yes!", "en-GB", None) is Confirmation.YES
    assert confirmation_of("Ja, bitte.", "de", None) is Confirmation.YES
    assert confirmation_of("Nein", "de", None) is Confirmation.NO
    assert confirmation_of("yes and also turn on the lights", "en", None) is Confirmation.NO
    assert confirmation_of("", "en", "1234") is Confirmation.NO


# -- #23 item 2: services that fetch URLs ---------------------------------------------------------

PLAYER = "media_player.radio"
URL_SERVICES = ("media_player.play_media", "assist_satellite.announce")


@pytest.fixture
async def media_house(house: House) -> House:
    """A media player that says it plays media (a state only: nothing behind it fetches), exposed."""
    hass = house.hass
    for domain in ("media_player", "notify"):
        assert await async_setup_component(hass, domain, {})
    hass.states.async_set(
        PLAYER,
        "idle",
        {"friendly_name": "Radio", "supported_features": MediaPlayerEntityFeature.PLAY_MEDIA},
    )
    async_expose_entity(hass, "conversation", PLAYER, True)
    return house


async def test_url_fetching_services_are_never_offered_through_a_wildcard(
    media_house: House,
) -> None:
    hass = media_house.hass
    registered = {
        f"{domain}.{service}"
        for domain, services in hass.services.async_services().items()
        for service in services
    }
    assert "media_player.play_media" in registered
    descriptions = await service_helper.async_get_all_descriptions(hass)
    fetching = {
        service
        for service in registered
        if fetches_urls(
            service, descriptions.get(service.split(".")[0], {}).get(service.split(".")[1])
        )
    }
    assert {"media_player.play_media", "notify.send_message"} <= fetching

    for dangerous in (False, True):
        toolset = await media_house.toolset(
            services=["*.*", "media_player.*", "lock.*"], allow_dangerous_services=dangerous
        )
        offered = {spec.name.replace("__", ".", 1) for spec in toolset.definitions}
        assert "media_player.media_play" in offered  # the player, not its URL fetching
        assert not offered & fetching, "a service that fetches URLs came through a wildcard"
        # lock.unlock and alarm_disarm are offered (behind the spoken yes); lock.open and
        # alarm_trigger only with the dangerous switch and their domain written out.
        assert {"lock.unlock", "alarm_control_panel.alarm_disarm"} <= offered
        assert ("lock.open" in offered) is dangerous
        assert "alarm_control_panel.alarm_trigger" not in offered
    assert is_dangerous("lock.open")
    assert is_dangerous("alarm_control_panel.alarm_trigger")


@pytest.mark.parametrize(
    ("media_id", "refused"),
    [
        ("http://127.0.0.1:8123/api/states", True),
        ("https://192.168.1.1/admin", True),
        ("file:///etc/passwd", True),
        ("/config/secrets.yaml", True),
        ("https://radio.example.org/stream.mp3", False),  # the host the user allowed
        ("media-source://media_source/local/doorbell.mp3", False),
    ],
)
async def test_named_play_media_takes_only_allowed_urls(
    media_house: House, media_id: str, refused: bool
) -> None:
    hass = media_house.hass
    started = async_capture_events(hass, EVENT_TOOL_CALL_STARTED)
    toolset = await media_house.toolset(
        services=["media_player.play_media"], media_hosts=["radio.example.org"]
    )
    assert "media_player__play_media" in {spec.name for spec in toolset.definitions}
    data = {
        "entity_id": [PLAYER],
        # the media selector's value names the player too
        "media": {"entity_id": PLAYER, "media_content_id": media_id, "media_content_type": "music"},
    }
    result = await toolset.async_call("media_player__play_media", json.dumps(data), call_id="c1")
    await hass.async_block_till_done()
    if refused:
        assert result["error"]["code"] == "url_not_allowed", result
        assert "media_content_id" in result["error"]["message"]
        assert started == []
    else:
        assert result.get("error", {}).get("code") != "url_not_allowed", result
        assert len(started) == 1
