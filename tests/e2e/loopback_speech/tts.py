"""Test only: the text-to-speech of tests/e2e/loopback_speech (a legacy provider, which the
integration loads): espeak-ng's voice as a WAV."""

from __future__ import annotations

import asyncio
from typing import Any

from homeassistant.components.tts import Provider, TtsAudioType
from homeassistant.core import HomeAssistant


async def async_get_engine(
    hass: HomeAssistant, config: dict[str, Any], discovery_info: dict[str, Any] | None = None
) -> Provider:
    return E2ETextToSpeech()


class E2ETextToSpeech(Provider):
    def __init__(self) -> None:
        self.name = "E2E speech"

    @property
    def default_language(self) -> str:
        return "en"

    @property
    def supported_languages(self) -> list[str]:
        return ["en"]

    async def async_get_tts_audio(
        self, message: str, language: str, options: dict[str, Any]
    ) -> TtsAudioType:
        process = await asyncio.create_subprocess_exec(
            "espeak-ng",
            "--stdout",
            message,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        wav, error = await process.communicate()
        if process.returncode != 0 or not wav:
            raise RuntimeError(f"espeak-ng failed: {error.decode(errors='replace')}")
        return "wav", wav
