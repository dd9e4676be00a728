"""Nothing stays stuck (#13 item 2): each fault is injected into a running conversation, and the
satellite is usable again within 10 s with no reload, an announcement accepted right after."""

from __future__ import annotations

import asyncio

import pytest
from homeassistant.core import HomeAssistant

from realtime_voice_satellite.link import protocol
from tests.realtime_standin import StandinConfig, StandinServer
from tests.realtime_standin.audio import speech

from .conftest import API_KEY, entry_for
from .link_satellite import LinkSatellite, silence, tone
from .waiting import collect, load_entry, wait_until

SATELLITE = "assist_satellite.kitchen"
MESSAGE = "Dinner is ready."


@pytest.fixture
def standin_config() -> StandinConfig:
    # An answer that takes a while to arrive, so that faults can hit it midway.
    return StandinConfig(endpoint="ga", api_key=API_KEY, delta_interval=0.05, delta_ms=100)


async def usable_again(hass: HomeAssistant, satellite: LinkSatellite) -> None:
    """Idle within 10 s, and an announcement is accepted and played."""
    await wait_until(lambda: hass.states.get(SATELLITE).state == "idle", within=10)
    before = {
        c.stream_id
        for c in satellite.commands
        if isinstance(c, protocol.PlayStart) and c.kind == "announcement"
    }
    await asyncio.wait_for(
        hass.services.async_call(
            "assist_satellite",
            "announce",
            {"message": MESSAGE, "preannounce": False},
            target={"entity_id": SATELLITE},
            blocking=True,
        ),
        timeout=15,
    )
    (stream_id,) = {
        c.stream_id
        for c in satellite.commands
        if isinstance(c, protocol.PlayStart) and c.kind == "announcement"
    } - before
    assert len(satellite.played[stream_id]) == len(speech(MESSAGE, "tone"))


async def test_realtime_drop_in_the_middle_of_an_answer(
    hass: HomeAssistant, standin: StandinServer
) -> None:
    satellite = LinkSatellite()
    await satellite.start()
    try:
        entry = entry_for(standin, satellite)
        await load_entry(hass, entry)
        ended = collect(hass, "realtime_voice_conversation_ended")
        await satellite.say(tone(0.8) + silence(1.0))
        await wait_until(lambda: any(len(v) >= 4800 for v in satellite.played.values()))
        (answer,) = satellite.played
        assert standin.drop_connections() >= 1
        # The cut stream is ended on the satellite, which plays what it has and reports it.
        await wait_until(lambda: protocol.PlayEnd(stream_id=answer) in satellite.commands, 5)
        await wait_until(lambda: bool(ended), within=10)
        assert ended[0].data["reason"] == "done"
        await usable_again(hass, satellite)
    finally:
        await satellite.stop()


async def test_realtime_drop_while_the_user_speaks(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite
) -> None:
    entry = entry_for(standin, satellite)
    await load_entry(hass, entry)
    ended = collect(hass, "realtime_voice_conversation_ended")
    await satellite.say(tone(1.0))  # speaking, no end of speech yet
    await wait_until(lambda: bool(standin.sent_of("input_audio_buffer.speech_started")))
    standin.drop_connections()
    await wait_until(lambda: bool(ended), within=10)
    assert ended[0].data["reason"] == "connection_lost"
    # The user hears that their words were lost.
    assert [
        c for c in satellite.commands if isinstance(c, protocol.PlayStart) and c.kind == "chime"
    ]
    assert protocol.StopListening() in satellite.commands
    await usable_again(hass, satellite)


async def test_satellite_stops_listening_on_its_own(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite
) -> None:
    """A loud TV: no end of speech; the satellite's own limit ends listening (listen_end timeout)."""
    entry = entry_for(standin, satellite)
    await load_entry(hass, entry)
    ended = collect(hass, "realtime_voice_conversation_ended")
    await satellite.say(tone(1.0))
    await wait_until(lambda: bool(standin.sent_of("input_audio_buffer.speech_started")))
    assert satellite.server is not None
    await satellite.server.send_event(protocol.ListenEnd(reason="timeout"))
    await wait_until(lambda: bool(ended), within=5)
    assert ended[0].data["reason"] == "listen_timeout"
    await usable_again(hass, satellite)


async def test_listening_without_audio_ends(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite
) -> None:
    """The satellite stops streaming while HA listens (a crash that keeps the socket, a blip)."""
    entry = entry_for(standin, satellite)
    await load_entry(hass, entry)
    ended = collect(hass, "realtime_voice_conversation_ended")
    await satellite.say(tone(1.0))  # then nothing more arrives
    await wait_until(lambda: bool(ended), within=6)
    assert ended[0].data["reason"] == "no_audio"
    await usable_again(hass, satellite)


async def test_link_and_realtime_blip_during_an_answer(
    hass: HomeAssistant, standin: StandinServer
) -> None:
    """One network blip takes both connections down while the answer plays: the link keeper must
    survive the Realtime session reconnecting at the same time."""
    satellite = LinkSatellite(finish_playback=False)
    await satellite.start()
    try:
        entry = entry_for(standin, satellite)
        await load_entry(hass, entry)
        await satellite.say(tone(0.8) + silence(1.0))
        await wait_until(lambda: hass.states.get(SATELLITE).state == "responding")
        port = satellite.port
        standin.drop_connections()
        await satellite.stop()
        await wait_until(lambda: not entry.runtime_data.link.available, within=5)
        satellite.finish_playback = True
        await satellite.start(port)
        await wait_until(lambda: entry.runtime_data.link.available, within=10)
        await usable_again(hass, satellite)
        assert entry.state.value == "loaded"
    finally:
        await satellite.stop()
