"""Nothing lost under faults (#23 item 7), inside real Home Assistant: an announcement cut off by the
satellite going offline is played again when it is back (or the action fails, never a silent success);
timers are stored and started again after HA restarts; a Realtime connection that drops during a turn
ends it at once with the error tone and an event naming what was lost; HA stopping closes the link
with a close frame."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from typing import Any

import pytest
from homeassistant.const import EVENT_HOMEASSISTANT_STOP
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import intent
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.realtime_voice.const import DOMAIN
from realtime_voice_satellite.link import protocol
from tests.realtime_standin import StandinConfig, StandinServer
from tests.realtime_standin.audio import speech

from .conftest import API_KEY, entry_for
from .link_satellite import LinkSatellite, silence, tone
from .waiting import collect, load_entry, wait_until

SATELLITE = "assist_satellite.kitchen"
MESSAGE = "Dinner is ready."


def storage_key(entry_id: str) -> str:
    """Where the satellite's timers are stored (HA's .storage)."""
    return f"{DOMAIN}.timers.{entry_id}"


def announcements(satellite: LinkSatellite) -> list[str]:
    return [
        c.stream_id
        for c in satellite.commands
        if isinstance(c, protocol.PlayStart) and c.kind == "announcement"
    ]


def chimes(satellite: LinkSatellite) -> list[str]:
    return [
        c.stream_id
        for c in satellite.commands
        if isinstance(c, protocol.PlayStart) and c.kind == "chime"
    ]


async def announce(hass: HomeAssistant) -> None:
    await hass.services.async_call(
        "assist_satellite",
        "announce",
        {"message": MESSAGE, "preannounce": False},
        target={"entity_id": SATELLITE},
        blocking=True,
    )


# --- announcements ----------------------------------------------------------------------------------


async def announcement_sent(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite
) -> tuple[MockConfigEntry, asyncio.Task[Any], str]:
    """The entry loaded and an announcement sent whole to ``satellite`` (which has not reported it
    played): the entry, the pending action and the announcement's stream id."""
    entry = entry_for(standin, satellite)
    await load_entry(hass, entry)
    call = hass.async_create_task(announce(hass))
    await wait_until(lambda: bool(announcements(satellite)), within=10)
    (first,) = announcements(satellite)
    await wait_until(lambda: protocol.PlayEnd(stream_id=first) in satellite.commands, 10)
    return entry, call, first


async def test_an_announcement_cut_off_by_the_satellite_going_down_plays_again_when_it_is_back(
    hass: HomeAssistant, standin: StandinServer
) -> None:
    """As found: all of it was sent, the satellite went down while playing it (SIGTERM), and came
    back: the action returned success and nothing was played again."""
    satellite = LinkSatellite(finish_playback=False)  # it plays for a while, then goes down
    await satellite.start()
    try:
        entry, call, first = await announcement_sent(hass, standin, satellite)
        port = satellite.port
        await satellite.stop()
        await wait_until(lambda: not entry.runtime_data.link.available, within=5)
        await asyncio.sleep(0.5)
        assert not call.done(), "the action ended although the announcement was not played whole"
        satellite.finish_playback = True
        await satellite.start(port)
        await asyncio.wait_for(call, 20)  # success: it was played whole, the second time
        second = announcements(satellite)[-1]
        assert second != first
        assert len(satellite.played[second]) == len(speech(MESSAGE, "tone"))
        await wait_until(lambda: hass.states.get(SATELLITE).state == "idle", within=5)
    finally:
        await satellite.stop()


async def test_an_announcement_whose_satellite_stays_away_fails_with_a_translated_error(
    hass: HomeAssistant, standin: StandinServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("custom_components.realtime_voice.announcer.ANNOUNCEMENT_RESUME_S", 1.0)
    satellite = LinkSatellite(finish_playback=False)
    await satellite.start()
    try:
        _entry, call, _first = await announcement_sent(hass, standin, satellite)
        await satellite.stop()
        with pytest.raises(HomeAssistantError) as raised:
            await asyncio.wait_for(call, 10)
        assert raised.value.translation_key == "announcement_interrupted"
        assert raised.value.translation_placeholders == {"name": "Kitchen", "seconds": "1"}
        assert "went offline before the announcement played whole" in str(raised.value)
    finally:
        await satellite.stop()


# --- HA stopping ------------------------------------------------------------------------------------


async def test_home_assistant_stopping_closes_the_link_with_a_close_frame(
    hass: HomeAssistant,
    standin: StandinServer,
    satellite: LinkSatellite,
    caplog: pytest.LogCaptureFixture,
) -> None:
    entry = entry_for(standin, satellite)
    await load_entry(hass, entry)
    assert satellite.connected_event.is_set()
    caplog.set_level(logging.INFO, logger="realtime_voice_satellite")
    hass.bus.async_fire(EVENT_HOMEASSISTANT_STOP)
    await hass.async_block_till_done()
    await wait_until(lambda: not satellite.connected_event.is_set(), within=5)
    (line,) = [r.getMessage() for r in caplog.records if "disconnected (" in r.getMessage()]
    assert line.endswith("disconnected (1000)"), line  # a close frame, not 1006
    assert entry.runtime_data.manager.session is None  # the Realtime connection is closed too


# --- timers across a restart of HA ------------------------------------------------------------------


async def test_running_timers_are_stored(
    hass: HomeAssistant,
    standin: StandinServer,
    satellite: LinkSatellite,
    hass_storage: dict[str, Any],
) -> None:
    entry = entry_for(standin, satellite)
    await load_entry(hass, entry)
    await intent.async_handle(
        hass,
        "test",
        intent.INTENT_START_TIMER,
        {"minutes": {"value": 10}, "name": {"value": "pasta"}},
        device_id=entry.runtime_data.device_id,
    )
    key = storage_key(entry.entry_id)
    await wait_until(lambda: bool(hass_storage.get(key, {}).get("data", {}).get("timers")), 5)
    (stored,) = hass_storage[key]["data"]["timers"]
    assert stored["name"] == "pasta"
    assert stored["paused"] is False
    assert 595 <= stored["seconds_left"] <= 600
    assert abs(stored["ends_at"] - (time.time() + stored["seconds_left"])) < 5
    # Removing the satellite removes what was stored for it.
    assert await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    assert key not in hass_storage


async def test_timers_are_started_again_after_a_restart_and_ring_at_their_time(
    hass: HomeAssistant,
    standin: StandinServer,
    satellite: LinkSatellite,
    *,
    hass_storage: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """What the store held when HA stopped: a running timer (2 s left), a paused one, one that
    finished while HA was down (30 s ago) and one that finished long ago."""
    monkeypatch.setattr("custom_components.realtime_voice.timers.RING_SECONDS", 0.5)
    entry = entry_for(standin, satellite)
    now = time.time()
    running = {"id": "a", "name": "pasta", "language": "en", "seconds_left": 2, "paused": False}
    paused = {"id": "b", "name": "tea", "language": "en", "seconds_left": 300, "paused": True}
    hass_storage[storage_key(entry.entry_id)] = {
        "version": 1,
        "minor_version": 1,
        "key": storage_key(entry.entry_id),
        "data": {
            "timers": [
                {**running, "ends_at": now + 2, "finished": None},
                {**paused, "ends_at": now + 300, "finished": None},
                {"id": "c", "name": "bread", "finished": now - 30},
                {"id": "d", "name": "eggs", "finished": now - 3600},
                {"id": "e", "name": "broken"},  # damaged: skipped, the others restored
            ]
        },
    }
    await load_entry(hass, entry)
    timers = hass.states.get(SATELLITE).attributes["timers"]
    assert sorted((t["name"], t["active"]) for t in timers) == [("pasta", True), ("tea", False)]
    left = {t["name"]: t["seconds_left"] for t in timers}
    assert left["tea"] == 300  # paused: as it was
    assert 1 <= left["pasta"] <= 2  # what was left of it (set-up took a moment)
    assert "Timer broken of Kitchen could not be restored" in caplog.text

    def spoken() -> list[str]:
        return [
            e.get("response", {}).get("instructions") or ""
            for e in standin.received_of("response.create")
        ]

    # The one that finished while HA was down rings at once; the running one at its time.
    await wait_until(lambda: any("The bread timer is done." in s for s in spoken()), 10)
    await wait_until(lambda: any("The pasta timer is done." in s for s in spoken()), 10)
    assert not any("eggs" in s for s in spoken())  # too late to ring
    await wait_until(
        lambda: [t["name"] for t in hass.states.get(SATELLITE).attributes["timers"]] == ["tea"]
    )
    # A reload is not a restart: HA still has the timers, none is started twice.
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    timers = hass.states.get(SATELLITE).attributes["timers"]
    assert [(t["name"], t["active"]) for t in timers] == [("tea", False)]


# --- the Realtime connection dropping during a turn -------------------------------------------------


async def test_the_realtime_connection_dropping_while_the_user_speaks_ends_the_turn_at_once(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite
) -> None:
    """The service is unreachable for a while (an outage, not a blip): the turn ends within 2 s,
    with the error tone and the event saying what was lost, not when the connection is back."""
    entry = entry_for(standin, satellite)
    await load_entry(hass, entry)
    ended = collect(hass, f"{DOMAIN}_conversation_ended")
    await satellite.say(tone(1.0))  # speaking, no end of speech yet
    await wait_until(lambda: bool(standin.sent_of("input_audio_buffer.speech_started")))
    dropped = time.monotonic()
    standin.go_down(8.0)
    await wait_until(lambda: bool(ended), within=2)
    assert time.monotonic() - dropped < 2
    assert ended[0].data["reason"] == "connection_lost"
    assert ended[0].data["lost"] == "speech"
    assert chimes(satellite), "no error tone"
    await wait_until(lambda: protocol.StopListening() in satellite.commands, within=0.5)
    assert time.monotonic() - dropped < 2
    await wait_until(lambda: hass.states.get(SATELLITE).state == "idle", within=2)


@pytest.mark.parametrize(
    "standin_config",
    [StandinConfig(endpoint="ga", api_key=API_KEY, first_output_delay=3.0)],
)
async def test_the_realtime_connection_dropping_while_the_answer_is_awaited_ends_the_turn(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite
) -> None:
    """As found: after the user's command and before the answer; the command was lost with no
    message."""
    entry = entry_for(standin, satellite)
    await load_entry(hass, entry)
    ended = collect(hass, f"{DOMAIN}_conversation_ended")
    await satellite.say(tone(0.8) + silence(1.0))
    await wait_until(lambda: bool(standin.sent_of("response.created")), within=10)
    await wait_until(lambda: hass.states.get(SATELLITE).state == "processing", within=2)
    dropped = time.monotonic()
    standin.go_down(8.0)
    await wait_until(lambda: bool(ended), within=2)
    assert time.monotonic() - dropped < 2
    assert ended[0].data["reason"] == "connection_lost"
    assert ended[0].data["lost"] == "answer"
    assert chimes(satellite), "no error tone"
    await wait_until(lambda: hass.states.get(SATELLITE).state == "idle", within=2)


async def test_a_wake_word_while_the_realtime_service_is_down_is_answered_with_the_error_tone(
    hass: HomeAssistant,
    standin: StandinServer,
    satellite: LinkSatellite,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The connection dropped before the wake word and is not back: the user hears at once that
    their request cannot be carried out, not 8 s of silence (no speech heard) or whenever the next
    reconnect attempt comes (the attempts are 5 s apart here, as later in a long outage)."""
    monkeypatch.setattr(
        "custom_components.realtime_voice.core.realtime.session.backoff_delays",
        lambda *_args: itertools.repeat(5.0),
    )
    entry = entry_for(standin, satellite)
    await load_entry(hass, entry)
    session = entry.runtime_data.manager.session
    assert session is not None
    standin.go_down(10.0)
    await wait_until(lambda: session.reconnecting, within=2)
    await asyncio.sleep(0.5)  # the first attempt's Reconnecting met no conversation
    ended = collect(hass, f"{DOMAIN}_conversation_ended")
    woke = time.monotonic()
    await satellite.say(tone(0.5))
    await wait_until(lambda: bool(ended), within=2)
    assert time.monotonic() - woke < 2
    assert ended[0].data["reason"] == "connection_lost"
    assert ended[0].data["lost"] == "speech"
    assert chimes(satellite), "no error tone"
    await wait_until(lambda: protocol.StopListening() in satellite.commands, within=1)


@pytest.mark.parametrize(
    "standin_config",
    [StandinConfig(endpoint="ga", api_key=API_KEY, delta_interval=0.05, delta_ms=100)],
)
async def test_an_announcement_cut_off_by_the_realtime_connection_dropping_is_spoken_again(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite
) -> None:
    """The model was speaking the announcement when its connection dropped: what reached the
    satellite is stopped and the announcement is spoken again, whole, on the new connection."""
    entry = entry_for(standin, satellite)
    await load_entry(hass, entry)
    call = hass.async_create_task(announce(hass))
    await wait_until(lambda: bool(announcements(satellite)), within=10)
    (first,) = announcements(satellite)
    await wait_until(lambda: len(satellite.played[first]) >= 4800, within=10)
    assert standin.drop_connections() == 1
    await asyncio.wait_for(call, 20)
    await wait_until(lambda: protocol.StopPlayback(stream_id=first) in satellite.commands, 2)
    second = announcements(satellite)[-1]
    assert second != first
    assert len(satellite.played[second]) == len(speech(MESSAGE, "tone"))
    assert len(standin.received_of("response.create")) == 2


@pytest.mark.parametrize(
    "standin_config",
    [StandinConfig(endpoint="ga", api_key=API_KEY, delta_interval=0.05, delta_ms=100)],
)
async def test_an_announcement_the_realtime_connection_keeps_cutting_fails_clearly(
    hass: HomeAssistant,
    standin: StandinServer,
    satellite: LinkSatellite,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("custom_components.realtime_voice.announcer.SPOKEN_ATTEMPTS", 1)
    entry = entry_for(standin, satellite)
    await load_entry(hass, entry)
    call = hass.async_create_task(announce(hass))
    await wait_until(lambda: bool(announcements(satellite)), within=10)
    (first,) = announcements(satellite)
    await wait_until(lambda: len(satellite.played[first]) >= 4800, within=10)
    standin.drop_connections()
    with pytest.raises(HomeAssistantError) as raised:
        await asyncio.wait_for(call, 10)
    assert raised.value.translation_key == "announcement_session_unavailable"
    assert "the connection dropped while the announcement was spoken" in str(raised.value)
    await wait_until(lambda: protocol.StopPlayback(stream_id=first) in satellite.commands, 2)
    await wait_until(lambda: hass.states.get(SATELLITE).state == "idle", within=5)
