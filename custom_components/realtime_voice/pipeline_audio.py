"""Audio between the satellite's link (PCM16 mono 24 kHz) and an Assist pipeline: the user's speech
resampled to the 16 kHz its speech-to-text takes, and its text-to-speech answer as link audio.

Resampling uses ``audioop.ratecv`` (audioop-lts, a requirement of Home Assistant itself in every
supported release): it is what HA's own assist_pipeline websocket API uses for the same job, it keeps
its state between chunks (no clicks at chunk borders) and adds no latency. soxr is not shipped by
every supported release, and an ffmpeg process per turn would buffer the user's words.

The answer: the pipeline's TTS is asked for WAV in the link's format (``TTS_OPTIONS``, as ESPHome
and Wyoming satellites ask for theirs), which HA's tts converts with its ffmpeg when the engine
speaks another; the WAV header is read with the standard ``wave`` module, and a stream that still
comes in another format is converted here.
"""

from __future__ import annotations

import io
import wave
from collections.abc import AsyncIterator
from typing import Any

import audioop
from homeassistant.components import tts

from .core.conversation import CHUNK_BYTES
from .core.link import protocol

PIPELINE_RATE = 16000  # what HA's pipeline STT takes (assist_pipeline.SAMPLE_RATE)
SAMPLE_BYTES = protocol.AUDIO_SAMPLE_BYTES

TTS_OPTIONS: dict[str, Any] = {
    tts.ATTR_PREFERRED_FORMAT: "wav",
    tts.ATTR_PREFERRED_SAMPLE_RATE: protocol.AUDIO_RATE,
    tts.ATTR_PREFERRED_SAMPLE_CHANNELS: 1,
    tts.ATTR_PREFERRED_SAMPLE_BYTES: SAMPLE_BYTES,
}
# A WAV header longer than this is not one (a stream that is not WAV).
MAX_HEADER_BYTES = 64 * 1024


class TtsAudioError(Exception):
    """The TTS answer cannot be played (not WAV)."""


class SpeechResampler:
    """The user's speech, link audio in, pipeline STT audio out, chunk by chunk."""

    def __init__(self) -> None:
        self._state: Any = None

    def convert(self, pcm: bytes) -> bytes:
        if not pcm:
            return b""
        out, self._state = audioop.ratecv(
            pcm, SAMPLE_BYTES, 1, protocol.AUDIO_RATE, PIPELINE_RATE, self._state
        )
        return out


class _ToLink:
    """Converts PCM of a WAV's format to the link's."""

    def __init__(self, rate: int, width: int, channels: int) -> None:
        self._rate, self._width, self._channels = rate, width, channels
        self._state: Any = None
        self._pending = b""

    def convert(self, data: bytes) -> bytes:
        data = self._pending + data
        frame = self._width * self._channels
        whole = len(data) - len(data) % frame
        data, self._pending = data[:whole], data[whole:]
        if not data:
            return b""
        if self._width != SAMPLE_BYTES:
            data = audioop.lin2lin(data, self._width, SAMPLE_BYTES)
        if self._channels == 2:
            data = audioop.tomono(data, SAMPLE_BYTES, 0.5, 0.5)
        elif self._channels != 1:
            raise TtsAudioError(f"{self._channels} channels")
        if self._rate != protocol.AUDIO_RATE:
            data, self._state = audioop.ratecv(
                data, SAMPLE_BYTES, 1, self._rate, protocol.AUDIO_RATE, self._state
            )
        return data


async def async_tts_pcm(stream: tts.ResultStream) -> AsyncIterator[bytes]:
    """The TTS result as link audio, in chunks of at most CHUNK_BYTES, as it is synthesized."""
    if stream.extension != "wav":
        raise TtsAudioError(f"the TTS answer is {stream.extension}, not WAV")
    header = b""
    convert: _ToLink | None = None
    async for chunk in stream.async_stream_result():
        data = chunk
        if convert is None:
            header += chunk
            try:
                buffer = io.BytesIO(header)
                with wave.open(buffer, "rb") as wav:
                    convert = _ToLink(wav.getframerate(), wav.getsampwidth(), wav.getnchannels())
                    data = header[buffer.tell() :]
            except (EOFError, wave.Error) as err:
                if len(header) > MAX_HEADER_BYTES:
                    raise TtsAudioError(f"no WAV header: {err}") from err
                continue
        pcm = convert.convert(data)
        for start in range(0, len(pcm), CHUNK_BYTES):
            yield pcm[start : start + CHUNK_BYTES]
