"""A TTS answer as link audio (pipeline_audio.py), from HA's own tts: a result stream that comes
in another WAV format than the link's (HA converts only what its preferred options ask for: with
only WAV asked, the engine's WAV comes as it made it) plays at its pitch and length; what is not
WAV is refused with a clear error."""

from __future__ import annotations

import pytest
from homeassistant.components import tts
from homeassistant.core import HomeAssistant

from custom_components.realtime_voice.pipeline_audio import (
    MAX_HEADER_BYTES,
    TTS_OPTIONS,
    TtsAudioError,
    async_tts_pcm,
)
from realtime_voice_satellite.link import protocol

from .pipeline_providers import (
    TTS_TONE_HZ,
    Providers,
    dominant_hz,
    hass_config_dir,  # noqa: F401 (fixtures)
    tone_wav,
)

ONLY_WAV = {tts.ATTR_PREFERRED_FORMAT: "wav"}


async def link_audio(
    hass: HomeAssistant, providers: Providers, message: str, options: dict
) -> bytes:
    assert providers.tts.entity_id is not None
    stream = tts.async_create_stream(hass, providers.tts.entity_id, "en", options)
    stream.async_set_message(message)
    chunks = [chunk async for chunk in async_tts_pcm(stream)]
    assert all(0 < len(chunk) <= protocol.AUDIO_FRAME_BYTES * 50 for chunk in chunks)
    return b"".join(chunks)


@pytest.mark.parametrize(
    ("rate", "channels", "width"),
    [(22050, 1, 2), (16000, 2, 2), (24000, 1, 1), (44100, 2, 4)],
)
async def test_a_wav_answer_in_another_format_plays_at_its_pitch_and_length(
    hass: HomeAssistant, providers: Providers, rate: int, channels: int, width: int
) -> None:
    providers.tts.answer = ("wav", tone_wav(1.0, rate, channels=channels, width=width))
    pcm = await link_audio(hass, providers, f"tone {rate} {channels} {width}", ONLY_WAV)
    assert abs(len(pcm) / (2 * protocol.AUDIO_RATE) - 1.0) < 0.01
    assert abs(dominant_hz(pcm, protocol.AUDIO_RATE) - TTS_TONE_HZ) < 5


async def test_the_link_format_asked_of_ha_comes_through_unchanged(
    hass: HomeAssistant, providers: Providers
) -> None:
    """With TTS_OPTIONS (as the integration asks) HA's ffmpeg makes the link's format."""
    pcm = await link_audio(hass, providers, "converted by HA", TTS_OPTIONS)
    assert abs(len(pcm) / (2 * protocol.AUDIO_RATE) - 1.0) < 0.01
    assert abs(dominant_hz(pcm, protocol.AUDIO_RATE) - TTS_TONE_HZ) < 5


async def refusal(hass: HomeAssistant, providers: Providers, message: str, options: dict) -> str:
    """The error playing ``message`` gives, once HA's tts has finished making it."""
    assert providers.tts.entity_id is not None
    stream = tts.async_create_stream(hass, providers.tts.entity_id, "en", options)
    stream.async_set_message(message)
    with pytest.raises(TtsAudioError) as refused:
        async for _ in async_tts_pcm(stream):
            pass
    async for _ in stream.async_stream_result():  # HA's tts task ends with the result
        pass
    return str(refused.value)


async def test_what_is_not_playable_wav_is_refused_with_what_it_is(
    hass: HomeAssistant, providers: Providers
) -> None:
    # no format asked: HA's default, MP3
    assert await refusal(hass, providers, "an mp3", {}) == "the TTS answer is mp3, not WAV"
    providers.tts.answer = ("wav", b"not a wav file at all " * (MAX_HEADER_BYTES // 10))
    assert (await refusal(hass, providers, "not a wav", ONLY_WAV)).startswith("no WAV header: ")
    providers.tts.answer = ("wav", tone_wav(0.2, 24000, channels=3))
    assert await refusal(hass, providers, "three channels", ONLY_WAV) == "3 channels"
