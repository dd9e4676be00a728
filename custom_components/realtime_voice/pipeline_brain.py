"""The Assist pipeline brain: Home Assistant's own Assist pipeline (speech-to-text, the conversation
agent, text-to-speech) behind the conversation engine's brain interface (core/conversation/brain.py).

A turn runs the pipeline from STT to TTS through the satellite's assist_satellite entity, as ESPHome
and Wyoming satellites do (``async_accept_pipeline_from_satellite``): the entity passes the
pipeline's events back here (``on_pipeline_event``), and they become the engine's events.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterable, AsyncIterator, Callable
from typing import Protocol

from homeassistant.components.assist_pipeline import PipelineEvent
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant

from .core.conversation import brain as b
from .core.conversation.brain import (
    BrainAbilities,
    BrainEventHandler,
    SpeakError,
    Turn,
    TurnRefused,
)
from .session_keeper import Figures

_LOGGER = logging.getLogger(__name__)


class PipelineSatellite(Protocol):
    """The satellite's assist_satellite entity as the pipeline brain sees it."""

    async def async_run_pipeline(self, audio: AsyncIterable[bytes], *, question: bool) -> None:
        """Run the entity's pipeline from STT (to STT only for a question, else to TTS) on
        ``audio`` (16 kHz PCM16 mono); returns when the run ended."""


class PipelineBrain:
    """One satellite's conversations through Home Assistant's Assist pipeline."""

    # A pipeline run cannot be stopped part way, nor told what the user did not hear.
    abilities = BrainAbilities(cancel=False, truncate=False)

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        *,
        name: str,
        device_id: str | None,
        satellite: Callable[[], PipelineSatellite | None],
    ) -> None:
        self._hass = hass
        self._entry = entry
        self._name = name
        self._device_id = device_id
        self._satellite = satellite
        self._handler: BrainEventHandler | None = None
        self.figures = Figures()

    def attach(self, handler: BrainEventHandler) -> None:
        self._handler = handler

    async def _emit(self, event: b.BrainEvent) -> None:
        if self._handler is not None:
            await self._handler(event)

    async def start(self) -> None:
        """Nothing to open: the pipeline runs per turn."""

    async def stop(self) -> None:
        """Nothing held open."""

    async def start_turn(self, turn: Turn, take_audio: Callable[[], bytes]) -> None:
        raise TurnRefused("error: pipeline_not_ready")

    async def send_audio(self, pcm: bytes) -> None:
        """Not taken yet."""

    async def next_turn(self) -> None:
        """Nothing to prepare."""

    async def cancel(self) -> None:
        """Never called: ``abilities.cancel`` is False."""

    async def truncate(self, answer_id: str, played_ms: int) -> None:
        """Never called: ``abilities.truncate`` is False."""

    async def end_turn(self, *, answering: bool, listening: bool) -> None:
        """Nothing to end yet."""

    def drop_context(self, done: Callable[[], None]) -> None:
        done()

    def listen_at_least_s(self) -> float:
        return 0.0

    def on_pipeline_event(self, event: PipelineEvent) -> None:
        """An event of the running pipeline (from the entity)."""

    async def speak(self, text: str) -> AsyncIterator[bytes]:
        raise SpeakError("the Assist pipeline brain cannot speak yet")
        yield b""  # pragma: no cover - makes this an async generator
