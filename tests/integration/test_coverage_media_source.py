"""Media from HA's media browser (media-source IDs) on the satellite's speaker and in announcements,
the browser showing only what the speaker can play, and music that stops because the satellite went
away (real HA media_source with a local media folder; HA's HTTP fetch is mocked as in
test_media_player.py)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.core_config import async_process_ha_core_config
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.test_util.aiohttp import AiohttpClientMocker
from pytest_homeassistant_custom_component.typing import WebSocketGenerator

from realtime_voice_satellite.link import protocol
from tests.realtime_standin import StandinServer

from .conftest import entry_for
from .link_satellite import LinkSatellite
from .test_media_player import SPEAKER, call, song_wav, starts
from .waiting import load_entry, wait_until

INTERNAL_URL = "http://homeassistant.local:8123"


@pytest.fixture
async def media_folder(hass: HomeAssistant, tmp_path: Path) -> Path:
    """A local media folder as a user has one: a song, a chime and a photo."""
    (tmp_path / "song.wav").write_bytes(song_wav(1.0))
    (tmp_path / "chime.wav").write_bytes(song_wav(0.5))
    (tmp_path / "photo.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a photo")
    # media-source URLs are paths on HA's own web server: HA fetches them at its internal URL.
    await async_process_ha_core_config(hass, {"internal_url": INTERNAL_URL})
    hass.config.media_dirs = {"local": str(tmp_path)}
    assert await async_setup_component(hass, "media_source", {})
    return tmp_path


async def test_a_song_from_the_media_browser_plays_and_a_chime_announces(
    hass: HomeAssistant,
    standin: StandinServer,
    satellite: LinkSatellite,
    media_folder: Path,
    aioclient_mock: AiohttpClientMocker,
) -> None:
    await load_entry(hass, entry_for(standin, satellite))
    aioclient_mock.get(f"{INTERNAL_URL}/media/local/song.wav", content=song_wav(1.0))
    aioclient_mock.get(f"{INTERNAL_URL}/media/local/chime.wav", content=song_wav(0.5))

    await call(
        hass,
        "play_media",
        media_content_id="media-source://media_source/local/song.wav",
        media_content_type="music",
    )
    await wait_until(lambda: bool(starts(satellite, "media")))
    (stream_id,) = starts(satellite, "media")
    await wait_until(lambda: hass.states.get(SPEAKER).state == "idle")
    assert len(satellite.played[stream_id]) == 24_000 * 2
    # What HA fetched: its own signed media URL, not the media-source ID.
    fetched = [str(url) for _method, url, _data, _headers in aioclient_mock.mock_calls]
    assert fetched[0].startswith(f"{INTERNAL_URL}/media/local/song.wav?authSig=")

    await hass.services.async_call(
        "assist_satellite",
        "announce",
        {"media_id": "media-source://media_source/local/chime.wav", "preannounce": False},
        target={"entity_id": "assist_satellite.kitchen"},
        blocking=True,
    )
    (announcement,) = starts(satellite, "announcement")
    assert len(satellite.played[announcement]) == 24_000  # 0.5 s at 24 kHz, 16-bit


async def test_the_media_browser_offers_only_audio(
    hass: HomeAssistant,
    hass_ws_client: WebSocketGenerator,
    standin: StandinServer,
    satellite: LinkSatellite,
    media_folder: Path,
) -> None:
    await load_entry(hass, entry_for(standin, satellite), wait_for_session=False)
    client = await hass_ws_client(hass)
    await client.send_json_auto_id(
        {
            "type": "media_player/browse_media",
            "entity_id": SPEAKER,
            "media_content_id": "media-source://media_source/local/",
            "media_content_type": "",
        }
    )
    response = await client.receive_json()
    assert response["success"], response
    titles = sorted(child["title"] for child in response["result"]["children"])
    assert titles == ["chime.wav", "song.wav"]  # not photo.jpg


async def test_music_stops_cleanly_when_the_satellite_goes_away(
    hass: HomeAssistant,
    standin: StandinServer,
    aioclient_mock: AiohttpClientMocker,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A long song, paced to the satellite (a few seconds ahead), and the satellite is switched
    off: HA says once why the music stopped, and the speaker is idle when it is back (not
    "playing" a stream that is gone)."""
    satellite = LinkSatellite(finish_playback=False)
    await satellite.start()
    try:
        await load_entry(hass, entry_for(standin, satellite))
        aioclient_mock.get("http://example.invalid/long.wav", content=song_wav(60.0))
        await call(
            hass,
            "play_media",
            media_content_id="http://example.invalid/long.wav",
            media_content_type="music",
        )
        await wait_until(lambda: bool(starts(satellite, "media")))
        assert hass.states.get(SPEAKER).state == "playing"
        port = satellite.port
        await satellite.stop()
        await wait_until(lambda: "Media on Kitchen stopped" in caplog.text)
        (stopped,) = [r for r in caplog.records if "Media on Kitchen stopped" in r.getMessage()]
        assert stopped.levelno == logging.WARNING
        assert "offline" in stopped.getMessage()
        (stream_id,) = starts(satellite, "media")
        assert protocol.PlayEnd(stream_id=stream_id) not in satellite.commands
        assert len(satellite.played[stream_id]) < 60 * 24_000 * 2

        await satellite.start(port)
        await wait_until(lambda: hass.states.get(SPEAKER).state == "idle", within=20)
    finally:
        await satellite.stop()
