"""Test only: the speech-to-text of tests/e2e/loopback_speech (a legacy provider, which the
integration loads). It "hears" the transcript the test set."""

from __future__ import annotations

from collections.abc import AsyncIterable
from typing import Any

from homeassistant.components.stt import (
    AudioBitRates,
    AudioChannels,
    AudioCodecs,
    AudioFormats,
    AudioSampleRates,
    Provider,
    SpeechMetadata,
    SpeechResult,
    SpeechResultState,
)
from homeassistant.core import HomeAssistant

from . import DOMAIN, EVENT_HEARD, Speech

BYTES_PER_S = 16_000 * 2  # what the pipeline streams: 16 kHz PCM16 mono


async def async_get_engine(
    hass: HomeAssistant, config: dict[str, Any], discovery_info: dict[str, Any] | None = None
) -> Provider:
    return E2ESpeechToText()


class E2ESpeechToText(Provider):
    @property
    def supported_languages(self) -> list[str]:
        return ["en"]

    @property
    def supported_formats(self) -> list[AudioFormats]:
        return [AudioFormats.WAV]

    @property
    def supported_codecs(self) -> list[AudioCodecs]:
        return [AudioCodecs.PCM]

    @property
    def supported_bit_rates(self) -> list[AudioBitRates]:
        return [AudioBitRates.BITRATE_16]

    @property
    def supported_sample_rates(self) -> list[AudioSampleRates]:
        return [AudioSampleRates.SAMPLERATE_16000]

    @property
    def supported_channels(self) -> list[AudioChannels]:
        return [AudioChannels.CHANNEL_MONO]

    async def async_process_audio_stream(
        self, metadata: SpeechMetadata, stream: AsyncIterable[bytes]
    ) -> SpeechResult:
        received = 0
        async for chunk in stream:
            received += len(chunk)
        assert self.hass is not None
        speech: Speech = self.hass.data[DOMAIN]
        self.hass.bus.async_fire(
            EVENT_HEARD, {"text": speech.transcript, "audio_s": round(received / BYTES_PER_S, 2)}
        )
        if not received or not speech.transcript:
            return SpeechResult(None, SpeechResultState.ERROR)
        return SpeechResult(speech.transcript, SpeechResultState.SUCCESS)
