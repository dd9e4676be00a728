"""The satellite's speaker as a media player (#15 item 4), through HA's media_player actions: music on
the media stream (under the voice, which the satellite ducks it for), pause and resume where it was,
stop, the volume shared with the volume number, announce: true, and a clear error for bad media."""

from __future__ import annotations

import asyncio

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from pytest_homeassistant_custom_component.test_util.aiohttp import AiohttpClientMocker

from realtime_voice_satellite.link import protocol
from tests.helpers import audio
from tests.realtime_standin import StandinServer
from tests.realtime_standin.audio import speech

from .conftest import entry_for
from .link_satellite import LinkSatellite
from .waiting import load_entry, wait_until

SPEAKER = "media_player.kitchen_speaker"
SONG = "http://example.invalid/song.wav"


def song_wav(seconds: float) -> bytes:
    return audio.wav_bytes(audio.tone_pcm(seconds, 24_000, 330, 8000 / 32767), 24_000)


def starts(satellite: LinkSatellite, kind: str) -> list[str]:
    return [
        c.stream_id
        for c in satellite.commands
        if isinstance(c, protocol.PlayStart) and c.kind == kind
    ]


async def call(hass: HomeAssistant, service: str, **data: object) -> None:
    await hass.services.async_call(
        "media_player", service, {"entity_id": SPEAKER, **data}, blocking=True
    )


@pytest.fixture(autouse=True)
def send_ahead(monkeypatch: pytest.MonkeyPatch) -> None:
    # The test satellite plays instantly: let HA send a song ahead instead of pacing it.
    monkeypatch.setattr("custom_components.realtime_voice.media_player.MEDIA_LEAD_S", 600.0)


async def test_a_song_plays_on_the_media_stream_to_the_end(
    hass: HomeAssistant,
    standin: StandinServer,
    satellite: LinkSatellite,
    aioclient_mock: AiohttpClientMocker,
) -> None:
    await load_entry(hass, entry_for(standin, satellite))
    aioclient_mock.get(SONG, content=song_wav(2.0))
    assert hass.states.get(SPEAKER).state == "idle"
    await call(hass, "play_media", media_content_id=SONG, media_content_type="music")
    await wait_until(lambda: bool(starts(satellite, "media")))
    (stream_id,) = starts(satellite, "media")
    await wait_until(lambda: hass.states.get(SPEAKER).state == "idle")
    assert len(satellite.played[stream_id]) == 2 * 24_000 * 2
    assert protocol.PlayEnd(stream_id=stream_id) in satellite.commands


async def test_pause_resumes_where_it_was_and_announcements_play_over_the_music(
    hass: HomeAssistant,
    standin: StandinServer,
    aioclient_mock: AiohttpClientMocker,
) -> None:
    # This satellite reports the music's end only when stopped (a long song still playing).
    satellite = LinkSatellite(finish_playback=False)
    await satellite.start()
    try:
        await load_entry(hass, entry_for(standin, satellite))
        aioclient_mock.get(SONG, content=song_wav(10.0))
        await call(hass, "play_media", media_content_id=SONG, media_content_type="music")
        await wait_until(lambda: bool(starts(satellite, "media")))
        (first,) = starts(satellite, "media")
        assert hass.states.get(SPEAKER).state == "playing"
        await wait_until(lambda: protocol.PlayEnd(stream_id=first) in satellite.commands)

        # An announcement while the music plays: on the voice stream, the music is not stopped.
        satellite.finish_playback = True
        announce = hass.async_create_task(
            hass.services.async_call(
                "assist_satellite",
                "announce",
                {"message": "Dinner is ready", "preannounce": False},
                target={"entity_id": "assist_satellite.kitchen"},
                blocking=True,
            )
        )
        await asyncio.wait_for(announce, 10)
        assert starts(satellite, "announcement")
        assert protocol.StopPlayback(stream_id=first) not in satellite.commands
        assert hass.states.get(SPEAKER).state == "playing"
        satellite.finish_playback = False

        # Pause: the satellite stops and reports how far it played (all 10 s here); play resumes
        # from there, so only what was not heard is sent again.
        satellite.played[first] = satellite.played[first][: 4 * 24_000 * 2]  # it played 4 s
        await call(hass, "media_pause")
        assert protocol.StopPlayback(stream_id=first) in satellite.commands
        assert hass.states.get(SPEAKER).state == "paused"
        await call(hass, "media_play")
        await wait_until(lambda: len(starts(satellite, "media")) == 2)
        second = starts(satellite, "media")[-1]
        assert second != first
        await wait_until(lambda: protocol.PlayEnd(stream_id=second) in satellite.commands)
        assert len(satellite.played[second]) == pytest.approx(6 * 24_000 * 2, rel=0.01)

        await call(hass, "media_stop")
        assert hass.states.get(SPEAKER).state == "idle"
        assert protocol.StopPlayback(stream_id=second) in satellite.commands
    finally:
        await satellite.stop()


async def test_volume_is_the_satellites_and_announce_true_is_an_announcement(
    hass: HomeAssistant,
    standin: StandinServer,
    satellite: LinkSatellite,
    aioclient_mock: AiohttpClientMocker,
) -> None:
    await load_entry(hass, entry_for(standin, satellite))
    await call(hass, "volume_set", volume_level=0.3)
    await wait_until(lambda: protocol.SetVolume(volume=0.3) in satellite.commands)
    await wait_until(lambda: hass.states.get("number.kitchen_volume").state == "30")
    assert hass.states.get(SPEAKER).attributes["volume_level"] == 0.3

    aioclient_mock.get("http://example.invalid/doorbell.wav", content=song_wav(0.5))
    await call(
        hass,
        "play_media",
        media_content_id="http://example.invalid/doorbell.wav",
        media_content_type="music",
        announce=True,
    )
    await wait_until(lambda: bool(starts(satellite, "announcement")))
    assert starts(satellite, "media") == []
    (stream_id,) = starts(satellite, "announcement")
    assert len(satellite.played[stream_id]) == 24_000  # 0.5 s, no chime


async def test_media_that_cannot_be_played_says_why(
    hass: HomeAssistant,
    standin: StandinServer,
    satellite: LinkSatellite,
    aioclient_mock: AiohttpClientMocker,
) -> None:
    await load_entry(hass, entry_for(standin, satellite))
    aioclient_mock.get("http://example.invalid/missing.mp3", status=404)
    aioclient_mock.get("http://example.invalid/garbage.mp3", content=b"not audio" * 100)
    with pytest.raises(HomeAssistantError, match="HTTP 404"):
        await call(
            hass,
            "play_media",
            media_content_id="http://example.invalid/missing.mp3",
            media_content_type="music",
        )
    with pytest.raises(HomeAssistantError, match="Cannot decode"):
        await call(
            hass,
            "play_media",
            media_content_id="http://example.invalid/garbage.mp3",
            media_content_type="music",
        )
    assert starts(satellite, "media") == []
    assert hass.states.get(SPEAKER).state == "idle"
    # Everything else still works.
    await hass.services.async_call(
        "assist_satellite",
        "announce",
        {"message": "Still here", "preannounce": False},
        target={"entity_id": "assist_satellite.kitchen"},
        blocking=True,
    )
    (stream_id,) = starts(satellite, "announcement")
    assert len(satellite.played[stream_id]) == len(speech("Still here", "tone"))
