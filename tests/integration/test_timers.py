"""Timers (#15 item 2): the satellite is a timer device of HA's intent timers, so the model gets the
timer tools; a finished timer rings on the satellite, then its name is spoken; the stop word
silences it; a timer that finishes while the satellite is offline rings when it is back."""

from __future__ import annotations

import asyncio
import json

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.helpers import intent

from custom_components.realtime_voice.const import DOMAIN
from custom_components.realtime_voice.tone import ring_pcm
from realtime_voice_satellite.link import protocol
from tests.realtime_standin import StandinConfig, StandinServer, ToolScript
from tests.realtime_standin.audio import speech
from tests.realtime_standin.server import offered_name

from .conftest import API_KEY, entry_for
from .link_satellite import LinkSatellite, silence, tone
from .waiting import collect, load_entry, wait_until

SATELLITE = "assist_satellite.kitchen"
RING_S = 1.0


@pytest.fixture(autouse=True)
def short_ring(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("custom_components.realtime_voice.timers.RING_SECONDS", RING_S)


def announcements(satellite: LinkSatellite) -> list[str]:
    return [
        c.stream_id
        for c in satellite.commands
        if isinstance(c, protocol.PlayStart) and c.kind == "announcement"
    ]


async def start_timer(hass: HomeAssistant, entry_id: str, seconds: int, name: str) -> None:
    """What the model's HassStartTimer call does, for this satellite's device."""
    device_id = hass.config_entries.async_get_entry(entry_id).runtime_data.device_id
    await intent.async_handle(
        hass,
        "test",
        intent.INTENT_START_TIMER,
        {"seconds": {"value": seconds}, "name": {"value": name}},
        device_id=device_id,
    )


@pytest.mark.parametrize(
    "standin_config",
    [
        StandinConfig(
            endpoint="ga",
            api_key=API_KEY,
            tools=(ToolScript("HassStartTimer", {"seconds": 2, "name": "pasta"}, "Timer set."),),
        )
    ],
)
async def test_the_model_sets_a_timer_that_rings_then_says_its_name(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite
) -> None:
    entry = entry_for(standin, satellite, llm_hass_api=["assist"])
    await load_entry(hass, entry)
    session = standin.sessions()[-1]
    tools = set(session["tools"])
    assert offered_name("HassStartTimer", tools) is not None
    assert "not able to start timers" not in session["instructions"]

    ended = collect(hass, f"{DOMAIN}_conversation_ended")
    await satellite.say(tone(0.8) + silence(1.0))  # "set a pasta timer for two seconds"
    await wait_until(lambda: bool(ended), within=10)
    timers = hass.states.get(SATELLITE).attributes["timers"]
    assert [(t["name"], t["seconds"]) for t in timers] == [("pasta", 2)]

    await wait_until(lambda: bool(announcements(satellite)), within=10)
    (stream_id,) = announcements(satellite)
    await wait_until(lambda: protocol.PlayEnd(stream_id=stream_id) in satellite.commands, 10)
    # The ring, then the name in the model's voice.
    assert len(satellite.played[stream_id]) == len(ring_pcm(RING_S)) + len(
        speech("The pasta timer is done.", "tone")
    )
    await wait_until(lambda: hass.states.get(SATELLITE).attributes["timers"] == [])


async def test_the_stop_word_silences_the_ring(
    hass: HomeAssistant, standin: StandinServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("custom_components.realtime_voice.timers.RING_SECONDS", 30.0)
    monkeypatch.setattr("custom_components.realtime_voice.announcer.MEDIA_LEAD_S", 1.0)
    satellite = LinkSatellite(finish_playback=False)
    await satellite.start()
    try:
        entry = entry_for(standin, satellite)
        await load_entry(hass, entry)
        await start_timer(hass, entry.entry_id, 1, "tea")
        await wait_until(lambda: bool(announcements(satellite)), within=10)
        (stream_id,) = announcements(satellite)
        await wait_until(lambda: len(satellite.played[stream_id]) > 0)
        await satellite.stop_word(played_ms=500)
        await wait_until(lambda: hass.states.get(SATELLITE).state == "idle", within=5)
        # Nothing more was sent: no 30 s of ringing, no name spoken.
        sent = len(satellite.played[stream_id])
        await asyncio.sleep(1.5)
        assert len(satellite.played[stream_id]) == sent < 5 * 48_000
        assert not standin.received_of("response.create")
    finally:
        await satellite.stop()


async def test_a_timer_that_finished_offline_rings_when_the_satellite_is_back(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite
) -> None:
    entry = entry_for(standin, satellite)
    await load_entry(hass, entry)
    await start_timer(hass, entry.entry_id, 1, "bread")
    port = satellite.port
    await satellite.stop()
    await wait_until(lambda: not entry.runtime_data.link.available, within=5)
    await asyncio.sleep(1.5)  # it finishes while the satellite is away
    assert entry.runtime_data.timers.running == {}
    satellite.commands.clear()
    await satellite.start(port)
    await wait_until(lambda: bool(announcements(satellite)), within=20)
    (stream_id,) = announcements(satellite)
    await wait_until(lambda: protocol.PlayEnd(stream_id=stream_id) in satellite.commands, 10)
    assert len(satellite.played[stream_id]) == len(ring_pcm(RING_S)) + len(
        speech("The bread timer is done.", "tone")
    )


@pytest.mark.parametrize(
    ("arguments", "started"),
    [({"seconds": 0}, False), ({"hours": 100_000}, False), ({"minutes": 5}, True)],
)
async def test_a_timer_of_zero_or_absurd_length_is_refused_to_the_model(
    hass: HomeAssistant,
    standin: StandinServer,
    satellite: LinkSatellite,
    arguments: dict[str, int],
    started: bool,
) -> None:
    entry = entry_for(standin, satellite, llm_hass_api=["assist"])
    await load_entry(hass, entry)
    toolset = entry.runtime_data.manager.keeper.toolset
    assert toolset is not None
    name = offered_name("HassStartTimer", set(toolset.tools))
    assert name is not None
    result = await toolset.async_call(name, json.dumps(arguments), call_id="c1")
    if started:
        assert "error" not in result, result
        assert len(entry.runtime_data.timers.running) == 1
    else:
        assert result["error"]["code"] == "invalid_arguments"
        assert "nothing was started" in result["error"]["message"]
        assert entry.runtime_data.timers.running == {}
