"""assist_satellite.ask_question through the Realtime model (#15 item 1): the question is spoken, the
answer heard without a wake word, matched against the sentence templates (hassil) and returned; the
model does not reply to it; no answer returns the empty result, never a hang."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from homeassistant.core import HomeAssistant

from realtime_voice_satellite.link import protocol
from tests.realtime_standin import StandinConfig, StandinServer

from .conftest import API_KEY, entry_for
from .link_satellite import LinkSatellite, silence, tone
from .waiting import collect, load_entry, wait_until

SATELLITE = "assist_satellite.kitchen"
GARAGE = [
    {"id": "yes", "sentences": ["yes [please]", "sure", "close it"]},
    {"id": "no", "sentences": ["no [thanks]", "leave it [open]"]},
]


def ask(hass: HomeAssistant, answers: list[dict[str, Any]], **data: Any) -> asyncio.Task[Any]:
    return hass.async_create_task(
        hass.services.async_call(
            "assist_satellite",
            "ask_question",
            {
                "entity_id": SATELLITE,
                "question": "Do you want me to close the garage?",
                "preannounce": False,
                "answers": answers,
                **data,
            },
            blocking=True,
            return_response=True,
        )
    )


async def answer(satellite: LinkSatellite) -> None:
    """The user answers once the satellite is asked to listen (no wake word)."""
    await wait_until(lambda: protocol.Listen() in satellite.commands)
    await satellite.stream(tone(0.8) + silence(1.0))


@pytest.mark.parametrize(
    "standin_config", [StandinConfig(endpoint="ga", api_key=API_KEY, transcript="Yes please.")]
)
async def test_the_answer_is_matched_and_the_model_does_not_reply(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite
) -> None:
    entry = entry_for(standin, satellite)
    await load_entry(hass, entry)
    ended = collect(hass, "realtime_voice_conversation_ended")
    pending = ask(hass, GARAGE)
    await answer(satellite)
    result = await asyncio.wait_for(pending, 15)
    assert result == {"id": "yes", "sentence": "Yes please.", "slots": {}}
    # The question was spoken; the model's reply to the answer was cancelled, never played.
    kinds = [c.kind for c in satellite.commands if isinstance(c, protocol.PlayStart)]
    assert kinds == ["announcement"]
    await wait_until(lambda: bool(ended))
    assert ended[0].data["reason"] == "answered"
    assert ended[0].data["user"] == ["Yes please."]
    await wait_until(lambda: hass.states.get(SATELLITE).state == "idle")


@pytest.mark.parametrize(
    "standin_config",
    [StandinConfig(endpoint="ga", api_key=API_KEY, transcript="Set the timer to ten minutes")],
)
async def test_slots_of_the_matched_sentence_are_returned(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite
) -> None:
    entry = entry_for(standin, satellite)
    await load_entry(hass, entry)
    pending = ask(
        hass,
        [{"id": "timer", "sentences": ["set the timer to {minutes} minutes"]}],
        question="How long?",
    )
    await answer(satellite)
    result = await asyncio.wait_for(pending, 15)
    assert result == {
        "id": "timer",
        "sentence": "Set the timer to ten minutes",
        "slots": {"minutes": "ten"},
    }


@pytest.mark.parametrize(
    "standin_config", [StandinConfig(endpoint="ga", api_key=API_KEY, transcript="Maybe later.")]
)
async def test_an_answer_that_matches_nothing_and_no_answer(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite
) -> None:
    entry = entry_for(standin, satellite)
    await load_entry(hass, entry)
    pending = ask(hass, GARAGE)
    await answer(satellite)
    result = await asyncio.wait_for(pending, 15)
    assert result == {"id": None, "sentence": "Maybe later.", "slots": {}}

    # Nobody answers: the empty result once listening ends (here: no audio), not a hang.
    await wait_until(lambda: hass.states.get(SATELLITE).state == "idle")
    result = await asyncio.wait_for(ask(hass, GARAGE), 20)
    assert result == {"id": None, "sentence": "", "slots": {}}


@pytest.mark.parametrize(
    "standin_config", [StandinConfig(endpoint="ga", api_key=API_KEY, transcript="Blue.")]
)
async def test_a_question_without_answers_returns_what_was_heard(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite
) -> None:
    entry = entry_for(standin, satellite)
    await load_entry(hass, entry)
    pending = hass.async_create_task(
        hass.services.async_call(
            "assist_satellite",
            "ask_question",
            {"entity_id": SATELLITE, "question": "Which colour?", "preannounce": False},
            blocking=True,
            return_response=True,
        )
    )
    await answer(satellite)
    assert await asyncio.wait_for(pending, 15) == {"id": None, "sentence": "Blue.", "slots": {}}
