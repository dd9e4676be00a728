"""#23 items 1 and 3 in whole conversations inside real HA (stand-in Realtime model, the real link):
the front door opens only after the user's spoken yes (or PIN), whatever the model calls; an
announcement in between cancels; and while an automation's question waits for its answer, the
model requests no response and no tool runs, though this stand-in calls a tool on every turn."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from homeassistant.components.homeassistant.exposed_entities import async_expose_entity
from homeassistant.core import HomeAssistant

from realtime_voice_satellite.link import protocol
from tests.realtime_standin import StandinConfig, StandinServer, ToolScript

from .conftest import API_KEY, entry_for
from .link_satellite import LinkSatellite, silence, tone
from .secure_house import LOCK, async_setup_secure_devices
from .waiting import collect, load_entry, wait_until

SATELLITE = "assist_satellite.kitchen"
# A model that switches the kitchen light on whatever it hears.
CALLS_ON_EVERY_TURN = StandinConfig(
    endpoint="ga",
    api_key=API_KEY,
    transcript="The kitchen.",
    tools=(ToolScript("HassTurnOn", {"name": "Kitchen light"}, "Done."),),
)
UNLOCK = ToolScript("HassTurnOff", {"name": "Front door"}, "The front door is unlocked.")


def speech() -> bytes:
    return tone(0.8) + silence(1.0)


def kitchen_light(hass: HomeAssistant) -> None:
    """An exposed light state (nothing behind it: a call on it shows as a service call)."""
    hass.states.async_set("light.kitchen", "off", {"friendly_name": "Kitchen light"})
    async_expose_entity(hass, "conversation", "light.kitchen", True)


def listens(satellite: LinkSatellite) -> int:
    return sum(1 for c in satellite.commands if c == protocol.Listen())


async def ask_to_unlock(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite, **options: Any
) -> list[Any]:
    """Wake word, "unlock the front door": the model's call is held and the model asks; returns
    the tool_called events. The satellite then listens for the answer."""
    await async_setup_secure_devices(hass)
    await load_entry(hass, entry_for(standin, satellite, **options))
    tools = collect(hass, "realtime_voice_tool_called")
    await satellite.say(speech())
    await wait_until(lambda: bool(tools))
    assert tools[0].data["result"]["status"] == "confirmation_required"
    # The model's question played; the satellite listens for the answer though follow-up is off.
    await wait_until(lambda: listens(satellite) == 1)
    assert hass.states.get(LOCK).state == "locked"
    # The model responds to nothing the user says now: HA hears the answer.
    updates = standin.received_of("session.update")
    assert updates[-1]["session"]["audio"]["input"]["turn_detection"]["create_response"] is False
    return tools


@pytest.fixture
def standin_config() -> StandinConfig:
    return StandinConfig(
        endpoint="ga", api_key=API_KEY, transcript="Unlock the front door.", tools=(UNLOCK,)
    )


async def test_the_door_opens_after_the_users_yes(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite
) -> None:
    tools = await ask_to_unlock(hass, standin, satellite)
    calls_before = len(standin.sent_of("response.function_call_arguments.done"))
    standin.config.transcript = "Yes, please."
    await satellite.stream(speech())
    await wait_until(lambda: len(tools) == 2)
    assert hass.states.get(LOCK).state == "unlocked"
    assert tools[-1].data["confirmation"] is True
    assert tools[-1].data["result"]["response_type"] == "action_done"
    # HA ran the call itself: the model made no second call on the yes, and was told the result
    # as the output of that call, after which it spoke.
    assert len(standin.sent_of("response.function_call_arguments.done")) == calls_before
    created = [e["item"] for e in standin.received_of("conversation.item.create")]
    assert created[-2]["type"] == "function_call"
    assert created[-2]["name"] == tools[0].data["name"]
    assert created[-1]["type"] == "function_call_output"
    assert '"action_done"' in created[-1]["output"]
    await wait_until(lambda: hass.states.get(SATELLITE).state == "idle", within=15)
    # Responses flow again by themselves after the answer.
    updates = standin.received_of("session.update")
    assert updates[-1]["session"]["audio"]["input"]["turn_detection"]["create_response"] is True


@pytest.mark.parametrize(
    ("answer", "options"),
    [
        ("No, leave it locked.", {}),
        ("Turn on the kitchen light.", {}),  # something else is no yes
        ("1234.", {"secure_pin": "4321"}),  # a wrong PIN
        ("Yes.", {"secure_pin": "4321"}),  # a yes without the PIN
    ],
)
async def test_the_door_stays_locked_without_the_yes(
    hass: HomeAssistant,
    standin: StandinServer,
    satellite: LinkSatellite,
    answer: str,
    options: dict[str, Any],
) -> None:
    tools = await ask_to_unlock(hass, standin, satellite, **options)
    standin.config.transcript = answer
    await satellite.stream(speech())
    await wait_until(lambda: len(tools) == 2)
    assert tools[-1].data["error"]["code"] in ("not_confirmed", "wrong_pin")
    await wait_until(lambda: hass.states.get(SATELLITE).state == "idle", within=15)
    assert hass.states.get(LOCK).state == "locked"


async def test_the_door_opens_with_the_spoken_pin(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite
) -> None:
    ended = collect(hass, "realtime_voice_conversation_ended")
    await ask_to_unlock(hass, standin, satellite, secure_pin="4321")
    standin.config.transcript = "Four three two one."
    await satellite.stream(speech())
    await wait_until(lambda: hass.states.get(LOCK).state == "unlocked")
    # The spoken PIN is kept out of the conversation's event (and so out of HA's history).
    await wait_until(lambda: bool(ended), within=15)
    assert ended[0].data["user"][0] == "Unlock the front door."
    assert "four" not in str(ended[0].data).lower()
    assert "not kept" in ended[0].data["user"][1]


async def test_an_announcement_in_between_cancels(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite
) -> None:
    """The question is asked; an automation announces before the user answers: the call is
    dropped, and a yes after the announcement (a new conversation) opens nothing."""
    tools = await ask_to_unlock(hass, standin, satellite)
    await hass.services.async_call(
        "assist_satellite",
        "announce",
        {"entity_id": SATELLITE, "message": "The laundry is done.", "preannounce": False},
        blocking=True,
    )
    await wait_until(lambda: len(tools) == 2)
    assert tools[-1].data["error"]["code"] == "not_confirmed"
    standin.config.transcript = "Yes."
    standin.config.tools = ()
    await satellite.say(speech())
    await wait_until(lambda: hass.states.get(SATELLITE).state == "idle", within=15)
    assert hass.states.get(LOCK).state == "locked"
    assert len(tools) == 2


@pytest.mark.parametrize("standin_config", [CALLS_ON_EVERY_TURN])
async def test_nothing_acts_on_the_answer_to_an_automations_question(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite
) -> None:
    """The outside tests' case: the answer "the kitchen" made the model switch the kitchen light."""
    kitchen_light(hass)
    await load_entry(hass, entry_for(standin, satellite))
    tools = collect(hass, "realtime_voice_tool_called")
    pending = hass.async_create_task(
        hass.services.async_call(
            "assist_satellite",
            "ask_question",
            {
                "entity_id": SATELLITE,
                "question": "Which room should I clean?",
                "preannounce": False,
                "answers": [{"id": "kitchen", "sentences": ["[the] kitchen"]}],
            },
            blocking=True,
            return_response=True,
        )
    )
    await wait_until(lambda: protocol.Listen() in satellite.commands)
    await satellite.stream(speech())
    result = await asyncio.wait_for(pending, 15)
    assert result["id"] == "kitchen"
    await wait_until(lambda: hass.states.get(SATELLITE).state == "idle", within=15)
    # No response was requested for the answer, so the model called nothing.
    assert standin.sent_of("response.function_call_arguments.done") == []
    assert tools == []
    updates = standin.received_of("session.update")
    held = [
        u
        for u in updates
        if not u["session"]["audio"]["input"]["turn_detection"]["create_response"]
    ]
    assert held, "the session was not told to hold its responses"


@pytest.mark.parametrize("standin_config", [CALLS_ON_EVERY_TURN])
async def test_a_call_while_the_answer_is_awaited_is_refused(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite
) -> None:
    """Should a response come anyway while HA waits for the answer (here: asked for by the test),
    the tool call it makes is refused and nothing is switched."""
    kitchen_light(hass)
    entry = entry_for(standin, satellite)
    await load_entry(hass, entry)
    tools = collect(hass, "realtime_voice_tool_called")
    switched = collect(hass, "call_service")
    pending = hass.async_create_task(
        hass.services.async_call(
            "assist_satellite",
            "ask_question",
            {"entity_id": SATELLITE, "question": "Which room?", "preannounce": False},
            blocking=True,
            return_response=True,
        )
    )
    await wait_until(lambda: protocol.Listen() in satellite.commands)
    calls = standin.sent_of("response.function_call_arguments.done")
    await entry.runtime_data.manager.session.create_response()
    await wait_until(lambda: bool(tools) or standin.responses_done >= 1)
    await satellite.stream(speech())
    await asyncio.wait_for(pending, 15)
    await wait_until(lambda: hass.states.get(SATELLITE).state == "idle", within=15)
    if standin.sent_of("response.function_call_arguments.done") != calls:
        assert [e.data["error"]["code"] for e in tools] == ["not_now"]
    assert tools == [] or all("error" in e.data for e in tools)
    assert [e for e in switched if e.data["domain"] in ("light", "homeassistant")] == []
