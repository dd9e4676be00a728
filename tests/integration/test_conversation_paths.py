"""The conversation's other paths, with a link-level satellite (deterministic timing): follow-up
listening, barge-in truncation, start_conversation, media announcements, the legacy fallback."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from pytest_homeassistant_custom_component.test_util.aiohttp import AiohttpClientMocker

from custom_components.realtime_voice.const import DOMAIN
from realtime_voice_satellite.link import protocol
from tests.helpers import audio
from tests.realtime_standin import StandinConfig, StandinServer

from .conftest import API_KEY, entry_for
from .link_satellite import LinkSatellite, silence, tone
from .waiting import collect, load_entry, wait_until

SATELLITE = "assist_satellite.kitchen"


@pytest.mark.usefixtures("entities_enabled")
async def test_follow_up_listens_without_wake_word_then_ends(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite
) -> None:
    entry = entry_for(standin, satellite, follow_up_seconds=1.0)
    await load_entry(hass, entry)
    ended = collect(hass, "realtime_voice_conversation_ended")

    await satellite.say(tone(0.8) + silence(1.0))
    # The answer is played, then the satellite is asked to listen again (no wake word).
    await wait_until(lambda: protocol.Listen() in satellite.commands)
    assert any(isinstance(c, protocol.PlayStart) for c in satellite.commands)
    assert protocol.StopListening() in satellite.commands  # the end of speech stopped streaming
    await wait_until(lambda: hass.states.get(SATELLITE).state == "listening")
    # Nobody speaks within the follow-up window: the conversation ends.
    await wait_until(lambda: bool(ended), within=5)
    assert ended[0].data["reason"] == "no_speech"
    assert ended[0].data["user"] == ["What time is it?"]
    assert ended[0].data["assistant"] == ["It is twelve o'clock."]
    assert hass.states.get(SATELLITE).state == "idle"
    assert float(hass.states.get("sensor.kitchen_response_latency").state) >= 0


async def test_no_speech_after_wake_ends_the_conversation(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite, monkeypatch
) -> None:
    monkeypatch.setattr(
        "custom_components.realtime_voice.core.conversation.engine.NO_SPEECH_TIMEOUT_S", 0.3
    )
    entry = entry_for(standin, satellite)
    await load_entry(hass, entry)
    ended = collect(hass, "realtime_voice_conversation_ended")
    await satellite.say(silence(0.2))
    await wait_until(lambda: bool(ended))
    assert ended[0].data["reason"] == "no_speech"
    # sent before the event fired, but the satellite reads it off the link in its own time
    await wait_until(lambda: protocol.StopListening() in satellite.commands)


@pytest.fixture
def standin_config() -> StandinConfig:
    # Slow audio deltas so that the answer is still playing when the user interrupts.
    return StandinConfig(endpoint="ga", api_key=API_KEY, delta_interval=0.05, delta_ms=100)


async def test_barge_in_truncates_what_was_not_heard(
    hass: HomeAssistant, standin: StandinServer, caplog: pytest.LogCaptureFixture
) -> None:
    satellite = LinkSatellite(finish_playback=False)
    await satellite.start()
    try:
        entry = entry_for(standin, satellite)
        await load_entry(hass, entry)
        await satellite.say(tone(0.8) + silence(1.0))
        await wait_until(lambda: any(len(v) > 4800 for v in satellite.played.values()))
        assert hass.states.get(SATELLITE).state == "responding"
        # As usual, the model has finished generating while the satellite still plays the answer.
        await wait_until(lambda: standin.responses_done >= 1)

        await satellite.barge_in(played_ms=100)
        await wait_until(lambda: bool(standin.received_of("conversation.item.truncate")))
        truncate = standin.received_of("conversation.item.truncate")[0]
        assert truncate["audio_end_ms"] == 100
        assert truncate["content_index"] == 0
        assert standin.received_of("response.cancel")
        await wait_until(lambda: hass.states.get(SATELLITE).state == "listening")
        # The response had finished generating (only its playback was left): the stand-in answers
        # the cancel with response_cancel_not_active, as OpenAI does; that is no warning (#12 defect 7).
        await hass.async_block_till_done()
        ours = [
            r
            for r in caplog.records
            if r.levelno >= logging.WARNING
            and r.name.startswith("custom_components.realtime_voice")
        ]
        assert ours == [], caplog.text
        # The user's new words go to the same conversation.
        await satellite.stream(tone(0.5) + silence(1.0))
        await wait_until(lambda: len(standin.received_of("input_audio_buffer.append")) > 60)
        await entry.runtime_data.manager.async_stop_conversation()
        assert await hass.config_entries.async_unload(entry.entry_id)
    finally:
        await satellite.stop()


async def test_start_conversation_speaks_then_listens(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite
) -> None:
    entry = entry_for(standin, satellite)
    await load_entry(hass, entry)
    started = collect(hass, "realtime_voice_conversation_started")
    await hass.services.async_call(
        "assist_satellite",
        "start_conversation",
        {"start_message": "Shall I lock the back door?", "preannounce": False},
        target={"entity_id": SATELLITE},
        blocking=True,
    )
    kinds = [c.kind for c in satellite.commands if isinstance(c, protocol.PlayStart)]
    assert kinds == ["announcement"]
    await wait_until(lambda: protocol.Listen() in satellite.commands)
    assert started[0].data["reason"] == "start_conversation"
    assert hass.states.get(SATELLITE).state == "listening"
    # The question was asked out of band; the model learns of it through the instructions.
    instructions = standin.sessions()[-1]["instructions"]
    assert "Shall I lock the back door?" in instructions
    await entry.runtime_data.manager.async_stop_conversation()


def wav_bytes(seconds: float, rate: int = 16_000) -> bytes:
    """A stereo WAV file of a 440 Hz tone."""
    mono = np.frombuffer(audio.tone_pcm(seconds, rate, 440, 8000 / 32767), "<i2")
    return audio.wav_bytes(np.repeat(mono, 2).tobytes(), rate, channels=2)


async def test_announce_media_plays_the_file(
    hass: HomeAssistant,
    standin: StandinServer,
    satellite: LinkSatellite,
    aioclient_mock: AiohttpClientMocker,
) -> None:
    entry = entry_for(standin, satellite)
    await load_entry(hass, entry)
    aioclient_mock.get("http://example.invalid/doorbell.wav", content=wav_bytes(0.5))
    aioclient_mock.get("http://example.invalid/missing.wav", status=404)
    await hass.services.async_call(
        "assist_satellite",
        "announce",
        {"media_id": "http://example.invalid/doorbell.wav", "preannounce": False},
        target={"entity_id": SATELLITE},
        blocking=True,
    )
    (stream_id,) = satellite.played
    assert len(satellite.played[stream_id]) == pytest.approx(0.5 * 24_000 * 2, rel=0.01)
    # The model did not speak: no response was requested.
    assert not standin.received_of("response.create")

    # A preannounce sound of one's own plays before the media.
    aioclient_mock.get("http://example.invalid/ding.wav", content=wav_bytes(0.25))
    await hass.services.async_call(
        "assist_satellite",
        "announce",
        {
            "media_id": "http://example.invalid/doorbell.wav",
            "preannounce_media_id": "http://example.invalid/ding.wav",
        },
        target={"entity_id": SATELLITE},
        blocking=True,
    )
    second = next(s for s in satellite.played if s != stream_id)
    assert len(satellite.played[second]) == pytest.approx(0.75 * 24_000 * 2, rel=0.01)

    from homeassistant.exceptions import HomeAssistantError

    with pytest.raises(HomeAssistantError, match="HTTP 404"):
        await hass.services.async_call(
            "assist_satellite",
            "announce",
            {"media_id": "http://example.invalid/missing.wav"},
            target={"entity_id": SATELLITE},
            blocking=True,
        )


@pytest.mark.parametrize("standin_config", [StandinConfig(endpoint="beta", api_key=API_KEY)])
async def test_auto_falls_back_to_legacy_and_says_so(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite
) -> None:
    entry = entry_for(standin, satellite)
    await load_entry(hass, entry)
    assert hass.states.get("sensor.kitchen_interface").state == "beta"
    model = hass.states.get("sensor.kitchen_model")
    assert model.state == "gpt-4o-realtime-preview"
    assert model.attributes["fallback"] is True
    issue = ir.async_get(hass).async_get_issue(DOMAIN, f"legacy_fallback_{entry.entry_id}")
    assert issue is not None
    assert issue.translation_placeholders["from_model"] == "gpt-realtime"
    assert issue.translation_placeholders["to_model"] == "gpt-4o-realtime-preview"
    # The marin voice does not exist on the legacy model: the voice manager picked the fallback.
    assert entry.runtime_data.manager.session.voice == "alloy"
