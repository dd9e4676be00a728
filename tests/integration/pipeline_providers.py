"""A speech-to-text and a text-to-speech provider registered in the test HA as HA's own tests do it
(an integration ``test`` with stt and tts entity platforms, set up from a config entry), and an
Assist pipeline that uses them with HA's default conversation agent.

The STT keeps what it heard (format and audio) and answers with the transcript the test sets; the
TTS answers every message with a 22050 Hz WAV tone (HA's ffmpeg converts it to the format asked
for): so a test can check what the pipeline's STT got and what reached the satellite.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import wave
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from homeassistant.components import stt, tts
from homeassistant.components.assist_pipeline import Pipeline, async_create_default_pipeline
from homeassistant.config_entries import ConfigEntry, ConfigFlow
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    MockModule,
    MockPlatform,
    mock_config_flow,
    mock_integration,
    mock_platform,
)

TTS_RATE = 22050
TTS_TONE_HZ = 440.0
TTS_SECONDS = 1.0


# Fixtures the pipeline tests import (a module of their own needs them by name).
@pytest.fixture
def hass_config_dir(hass_tmp_config_dir: str) -> str:
    """HA's tts keeps its cache in the config directory: a temporary one."""
    return hass_tmp_config_dir


@pytest.fixture(autouse=True)
def quick_probes(monkeypatch: pytest.MonkeyPatch) -> None:
    """The primary is probed every 0.3 s (5 s, then longer, in use)."""
    monkeypatch.setattr(
        "custom_components.realtime_voice.core.conversation.fallback.backoff_delays",
        lambda *_args: itertools.repeat(0.3),
    )


def tone_wav(
    seconds: float = TTS_SECONDS,
    rate: int = TTS_RATE,
    hz: float = TTS_TONE_HZ,
    *,
    channels: int = 1,
    width: int = 2,
) -> bytes:
    """A WAV of a tone: 16-bit mono by default; ``width`` 1 is unsigned 8-bit, as WAV has it."""
    t = np.arange(int(seconds * rate)) / rate
    wave_form = 0.3 * np.sin(2 * np.pi * hz * t)
    if width == 1:
        samples = (128 + 127 * wave_form).astype(np.uint8)
    else:
        samples = (wave_form * (2 ** (8 * width - 1) - 1)).astype(f"<i{width}")
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(width)
        wav.setframerate(rate)
        wav.writeframes(np.repeat(samples, channels).tobytes())
    return out.getvalue()


def dominant_hz(pcm: bytes, rate: int) -> float:
    samples = np.frombuffer(pcm, dtype=np.int16).astype(np.float64)
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[int(np.argmax(spectrum))])


@dataclass
class Heard:
    metadata: stt.SpeechMetadata
    audio: bytes


class ScriptedSTT(stt.SpeechToTextEntity):
    _attr_name = "Test STT"

    def __init__(self) -> None:
        self.transcript = "turn on the kitchen light"
        self.heard: list[Heard] = []
        self.fail = False  # the provider reports a failure

    @property
    def supported_languages(self) -> list[str]:
        return ["en"]

    @property
    def supported_formats(self) -> list[stt.AudioFormats]:
        return [stt.AudioFormats.WAV]

    @property
    def supported_codecs(self) -> list[stt.AudioCodecs]:
        return [stt.AudioCodecs.PCM]

    @property
    def supported_bit_rates(self) -> list[stt.AudioBitRates]:
        return [stt.AudioBitRates.BITRATE_16]

    @property
    def supported_sample_rates(self) -> list[stt.AudioSampleRates]:
        return [stt.AudioSampleRates.SAMPLERATE_16000]

    @property
    def supported_channels(self) -> list[stt.AudioChannels]:
        return [stt.AudioChannels.CHANNEL_MONO]

    async def async_process_audio_stream(
        self, metadata: stt.SpeechMetadata, stream: AsyncIterable[bytes]
    ) -> stt.SpeechResult:
        audio = bytearray()
        async for chunk in stream:
            audio.extend(chunk)
        self.heard.append(Heard(metadata, bytes(audio)))
        if self.fail:
            return stt.SpeechResult(None, stt.SpeechResultState.ERROR)
        return stt.SpeechResult(self.transcript, stt.SpeechResultState.SUCCESS)


class ToneTTS(tts.TextToSpeechEntity):
    _attr_name = "Test TTS"
    _attr_supported_languages = ["en"]
    _attr_default_language = "en"

    def __init__(self) -> None:
        self.messages: list[str] = []
        self.answer: tts.TtsAudioType | None = None  # set: what it answers instead of the tone

    @property
    def supported_options(self) -> list[str]:
        return [tts.ATTR_VOICE]

    def get_tts_audio(
        self, message: str, language: str, options: dict[str, Any]
    ) -> tts.TtsAudioType:
        self.messages.append(message)
        return self.answer or ("wav", tone_wav())


@dataclass
class Providers:
    stt: ScriptedSTT = field(default_factory=ScriptedSTT)
    tts: ToneTTS = field(default_factory=ToneTTS)
    pipeline: Pipeline | None = None


class ProvidersFlow(ConfigFlow):
    """HA sets up a config entry only for an integration with a config flow."""

    VERSION = 1


@contextlib.asynccontextmanager
async def providers_in(hass: HomeAssistant) -> AsyncIterator[Providers]:
    """The test providers, and a pipeline "Test pipeline" with them and HA's default agent."""
    with mock_config_flow("test", ProvidersFlow):
        yield await _async_setup_providers(hass)


async def _async_setup_providers(hass: HomeAssistant) -> Providers:
    providers = Providers()

    async def setup_entry(hass: HomeAssistant, entry: ConfigEntry) -> bool:
        await hass.config_entries.async_forward_entry_setups(entry, [Platform.STT, Platform.TTS])
        return True

    async def setup_stt(
        hass: HomeAssistant, entry: ConfigEntry, add: AddConfigEntryEntitiesCallback
    ) -> None:
        add([providers.stt])

    async def setup_tts(
        hass: HomeAssistant, entry: ConfigEntry, add: AddConfigEntryEntitiesCallback
    ) -> None:
        add([providers.tts])

    mock_integration(hass, MockModule("test", async_setup_entry=setup_entry))
    mock_platform(hass, "test.stt", MockPlatform(async_setup_entry=setup_stt))
    mock_platform(hass, "test.tts", MockPlatform(async_setup_entry=setup_tts))
    mock_platform(hass, "test.config_flow")
    entry = MockConfigEntry(domain="test")
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert await async_setup_component(hass, "assist_pipeline", {})
    providers.pipeline = await async_create_default_pipeline(
        hass,
        stt_engine_id=providers.stt.entity_id,
        tts_engine_id=providers.tts.entity_id,
        pipeline_name="Test pipeline",
    )
    return providers
