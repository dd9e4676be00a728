"""An automation's announcement is never lost (#12 defects 1-3): it waits for an open conversation to
end (a follow-up window nobody spoke in gives way at once), it is not cut short by the context reset
after a conversation, and long media is streamed in bounded link frames, with a clear limit."""

from __future__ import annotations

import asyncio
import subprocess

import numpy as np
import pytest
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from pytest_homeassistant_custom_component.test_util.aiohttp import AiohttpClientMocker

from realtime_voice_satellite.link import protocol
from tests.helpers import audio
from tests.realtime_standin import StandinConfig, StandinServer
from tests.realtime_standin.audio import speech

from .conftest import API_KEY, entry_for
from .link_satellite import LinkSatellite, silence, tone
from .waiting import collect, load_entry, wait_until

SATELLITE = "assist_satellite.kitchen"
MESSAGE = "The washing machine has finished."


def announce(hass: HomeAssistant, **data: object) -> asyncio.Task[object]:
    """The announce action as an automation calls it, running in the background."""
    return hass.async_create_task(
        hass.services.async_call(
            "assist_satellite",
            "announce",
            {"preannounce": False, **data},
            target={"entity_id": SATELLITE},
            blocking=True,
        )
    )


def announcement_streams(satellite: LinkSatellite) -> list[str]:
    return [
        c.stream_id
        for c in satellite.commands
        if isinstance(c, protocol.PlayStart) and c.kind == "announcement"
    ]


async def test_announcement_during_the_follow_up_window_plays_at_once(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite
) -> None:
    entry = entry_for(standin, satellite, follow_up_seconds=30.0)
    await load_entry(hass, entry)
    ended = collect(hass, "realtime_voice_conversation_ended")
    await satellite.say(tone(0.8) + silence(1.0))
    # The answer has played; the satellite listens for a follow-up nobody has started yet.
    await wait_until(lambda: protocol.Listen() in satellite.commands)
    await wait_until(lambda: hass.states.get(SATELLITE).state == "listening")

    await asyncio.wait_for(announce(hass, message=MESSAGE), timeout=10)
    assert [e.data["reason"] for e in ended] == ["announcement"]
    (stream_id,) = announcement_streams(satellite)
    assert len(satellite.played[stream_id]) == len(speech(MESSAGE, "tone"))
    assert hass.states.get(SATELLITE).state == "idle"


async def test_announcement_waits_for_the_answer_to_finish_playing(
    hass: HomeAssistant, standin: StandinServer
) -> None:
    satellite = LinkSatellite(finish_playback=False)
    await satellite.start()
    try:
        entry = entry_for(standin, satellite)
        await load_entry(hass, entry)
        ended = collect(hass, "realtime_voice_conversation_ended")
        await satellite.say(tone(0.8) + silence(1.0))
        await wait_until(lambda: hass.states.get(SATELLITE).state == "responding")
        await wait_until(lambda: standin.responses_done >= 1)

        pending = announce(hass, message=MESSAGE)
        await asyncio.sleep(0.5)
        assert not pending.done(), "the announcement must wait, not fail"
        assert announcement_streams(satellite) == []

        # The satellite finishes playing the answer: the conversation ends, the announcement plays.
        (answer,) = satellite.played
        assert satellite.server is not None
        await satellite.server.send_event(
            protocol.PlaybackFinished(
                stream_id=answer, played_ms=len(satellite.played[answer]) // 48
            )
        )
        await wait_until(lambda: bool(announcement_streams(satellite)))
        (stream_id,) = announcement_streams(satellite)
        await wait_until(lambda: protocol.PlayEnd(stream_id=stream_id) in satellite.commands)
        await satellite.server.send_event(
            protocol.PlaybackFinished(
                stream_id=stream_id, played_ms=len(satellite.played[stream_id]) // 48
            )
        )
        await asyncio.wait_for(pending, timeout=10)
        assert [e.data["reason"] for e in ended] == ["done"]
        assert len(satellite.played[stream_id]) == len(speech(MESSAGE, "tone"))
    finally:
        await satellite.stop()


async def test_announcement_that_cannot_wait_longer_says_so(
    hass: HomeAssistant,
    standin: StandinServer,
    satellite: LinkSatellite,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("custom_components.realtime_voice.announcer.ANNOUNCEMENT_WAIT_S", 0.5)
    entry = entry_for(standin, satellite, follow_up_seconds=30.0)
    await load_entry(hass, entry)
    # The user is speaking (a conversation that does not give way to an announcement).
    await satellite.say(tone(3.0))
    await wait_until(lambda: standin.received_of("input_audio_buffer.append") != [])
    await wait_until(lambda: hass.states.get(SATELLITE).state == "listening")
    with pytest.raises(HomeAssistantError, match=r"still busy after 0\.5 s") as caught:
        await announce(hass, message=MESSAGE)
    assert caught.value.translation_key == "announcement_wait_timeout"
    await entry.runtime_data.manager.async_stop_conversation()


@pytest.fixture
def standin_config() -> StandinConfig:
    # The announcement's audio arrives over a while, so that it is still being spoken while the
    # context of the conversation before it is dropped.
    return StandinConfig(endpoint="ga", api_key=API_KEY, delta_interval=0.03, delta_ms=100)


async def test_announcement_right_after_a_conversation_is_played_whole(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite
) -> None:
    entry = entry_for(standin, satellite)
    await load_entry(hass, entry)
    ended = collect(hass, "realtime_voice_conversation_ended")
    await satellite.say(tone(0.8) + silence(1.0))
    await wait_until(lambda: bool(ended))
    await asyncio.wait_for(announce(hass, message=MESSAGE), timeout=15)
    (stream_id,) = announcement_streams(satellite)
    assert len(satellite.played[stream_id]) == len(speech(MESSAGE, "tone"))
    oob = [r for r in standin.received_of("response.create") if r["response"].get("conversation")]
    assert oob, "the announcement is spoken out of band"


def wav_bytes(seconds: float, rate: int = 24_000) -> bytes:
    return audio.wav_bytes(audio.tone_pcm(seconds, rate, 440, 8000 / 32767), rate)


async def test_long_media_is_streamed_in_bounded_frames(
    hass: HomeAssistant,
    standin: StandinServer,
    satellite: LinkSatellite,
    aioclient_mock: AiohttpClientMocker,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # This satellite reports playback at once instead of in real time: let HA send the whole file
    # ahead rather than pace it over 30 s.
    monkeypatch.setattr("custom_components.realtime_voice.announcer.MEDIA_LEAD_S", 60.0)
    entry = entry_for(standin, satellite)
    await load_entry(hass, entry)
    aioclient_mock.get("http://example.invalid/story.wav", content=wav_bytes(30.0))
    await asyncio.wait_for(announce(hass, media_id="http://example.invalid/story.wav"), 30)
    (stream_id,) = announcement_streams(satellite)
    # 30 s at 24 kHz is 1.44 MB: more than one link frame may carry (1 MiB).
    assert len(satellite.played[stream_id]) == pytest.approx(30 * 24_000 * 2, rel=0.01)
    assert entry.runtime_data.link.reconnects == 0
    assert hass.states.get("binary_sensor.kitchen_link").state == "on"


async def test_media_longer_than_the_limit_is_refused_clearly(
    hass: HomeAssistant,
    standin: StandinServer,
    satellite: LinkSatellite,
    aioclient_mock: AiohttpClientMocker,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("custom_components.realtime_voice.announcer.MEDIA_LEAD_S", 60.0)
    monkeypatch.setattr("custom_components.realtime_voice.media.MAX_MEDIA_SECONDS", 5.0)
    entry = entry_for(standin, satellite)
    await load_entry(hass, entry)
    aioclient_mock.get("http://example.invalid/long.wav", content=wav_bytes(8.0))
    with pytest.raises(HomeAssistantError, match="longer than 5 s") as caught:
        await announce(hass, media_id="http://example.invalid/long.wav")
    assert caught.value.translation_key == "media_too_long"
    (stream_id,) = announcement_streams(satellite)
    # What was sent is at most the limit, and the stream was ended on the satellite.
    assert len(satellite.played[stream_id]) <= 5 * 24_000 * 2
    await wait_until(lambda: protocol.PlayEnd(stream_id=stream_id) in satellite.commands)
    assert hass.states.get(SATELLITE).state == "idle"


@pytest.fixture
def ogg_tone(tmp_path) -> bytes:
    """One second of a 440 Hz tone at 44.1 kHz, Ogg Vorbis."""
    source = tmp_path / "tone.wav"
    source.write_bytes(wav_bytes(1.0, rate=44_100))
    encoded = tmp_path / "tone.ogg"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(source), "-c:a", "libvorbis", str(encoded)], check=True
    )
    return encoded.read_bytes()


async def test_media_in_other_formats_is_decoded_and_garbage_is_refused(
    hass: HomeAssistant,
    standin: StandinServer,
    satellite: LinkSatellite,
    aioclient_mock: AiohttpClientMocker,
    ogg_tone: bytes,
) -> None:
    entry = entry_for(standin, satellite)
    await load_entry(hass, entry)
    aioclient_mock.get("http://example.invalid/tone.ogg", content=ogg_tone)
    aioclient_mock.get("http://example.invalid/garbage.mp3", content=b"not audio at all" * 100)
    await announce(hass, media_id="http://example.invalid/tone.ogg")
    (stream_id,) = announcement_streams(satellite)
    pcm = bytes(satellite.played[stream_id])
    assert len(pcm) == pytest.approx(24_000 * 2, rel=0.02)  # one second at 24 kHz
    assert np.abs(np.frombuffer(pcm, "<i2")).max() > 4000  # the tone, not silence

    with pytest.raises(HomeAssistantError, match=r"Cannot decode http://example\.invalid/garb"):
        await announce(hass, media_id="http://example.invalid/garbage.mp3")
    assert hass.states.get(SATELLITE).state == "idle"
