"""Test only (tests/e2e): a speech-to-text and a text-to-speech for the Assist pipeline, as HA's own
tests use test providers. The e2e stack's hass has no cloud and no Whisper or Piper. (No digit in
the name: HA's TTS cache takes only ``[a-z_]`` engine names.)

Speech-to-text (stt.py) reads the whole utterance the pipeline streams to it and returns the text
that the test set with the service ``loopback_speech.set_transcript``; it fires
``loopback_speech_heard`` with how much audio it got, so that a test sees that the utterance reached it whole. Text-to-speech
(tts.py) speaks with espeak-ng: real audio, as a WAV.
"""

from __future__ import annotations

from dataclasses import dataclass

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant, ServiceCall
from homeassistant.helpers.discovery import async_load_platform
from homeassistant.helpers.typing import ConfigType

DOMAIN = "loopback_speech"
EVENT_HEARD = "loopback_speech_heard"


@dataclass
class Speech:
    transcript: str = ""


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    speech = hass.data[DOMAIN] = Speech()

    async def set_transcript(call: ServiceCall) -> None:
        speech.transcript = str(call.data["text"])

    hass.services.async_register(DOMAIN, "set_transcript", set_transcript)
    # legacy providers (no config entry), set up as HA's discovery does it
    for platform in (Platform.STT, Platform.TTS):
        hass.async_create_task(async_load_platform(hass, platform, DOMAIN, {}, config))
    return True
