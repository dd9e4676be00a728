"""One satellite's voice in Home Assistant: wires the link, the conversation engine, its brain and
the announcer, and is what the entities use.

The parts: the conversation engine (core/conversation/engine.py, HA-free) owns the satellite's side
of every conversation; the Realtime brain (realtime_brain.py) hears and answers; the stream sender
(core/conversation/streams.py) sends everything the satellite plays; the announcer (announcer.py)
plays announcements. This module gives them Home Assistant: the entry's options, the bus events,
the tasks.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback

from .announcer import Announcement, Announcer
from .const import (
    CONF_FOLLOW_UP_SECONDS,
    DEFAULT_FOLLOW_UP_SECONDS,
    EVENT_CONVERSATION_ENDED,
    EVENT_CONVERSATION_STARTED,
    EVENT_WAKE_WORD_DETECTED,
    MODE_LIVE,
    MODE_PIPELINE,
    MODE_REALTIME_FALLBACK,
    conversation_mode,
)
from .core.conversation import (
    Brain,
    Conversation,
    ConversationEngine,
    ConversationState,
    PlaybackTracker,
    StreamSender,
)
from .core.conversation import engine as conversation_engine
from .core.conversation.fallback import FallbackBrain, FallbackStatus
from .core.realtime import RealtimeSession
from .live_brain import LiveBrain
from .pipeline_brain import PipelineBrain, PipelineSatellite
from .realtime_brain import RealtimeBrain
from .repairs import async_report_pipeline_fallback
from .satellite_link import SatelliteConnection
from .session_keeper import Figures, SessionKeeper
from .tone import error_tone_pcm

__all__ = ["ConversationState", "Figures", "SessionManager", "conversation_mode"]

_EVENTS = {
    conversation_engine.WAKE_WORD_DETECTED: EVENT_WAKE_WORD_DETECTED,
    conversation_engine.CONVERSATION_STARTED: EVENT_CONVERSATION_STARTED,
    conversation_engine.CONVERSATION_ENDED: EVENT_CONVERSATION_ENDED,
}


class SessionManager:
    """Runs conversations and announcements for one satellite."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        link: SatelliteConnection,
        *,
        device_id: str | None = None,
    ) -> None:
        self.hass = hass
        self.entry = entry
        self.link = link
        self.device_id = device_id
        self.streams = StreamSender(link)
        # The assist_satellite entity, once added: the pipeline brain runs its pipeline through it.
        self.satellite: PipelineSatellite | None = None
        self.realtime: RealtimeBrain | None = None
        self.pipeline: PipelineBrain | None = None
        self.fallback: FallbackBrain | None = None
        self.live: LiveBrain | None = None
        self.brain = self._make_brain()
        self.engine = ConversationEngine(
            link,
            self.brain,
            self.streams,
            follow_up_s=self._follow_up_s,
            error_tone=error_tone_pcm,
            report=self._report,
            spawn=self._spawn,
            spawn_background=self._spawn_background,
        )
        self.announcer = Announcer(hass, link, self.engine, self.streams, self.brain)

    def _make_brain(self) -> Brain:
        """The brain of the entry's conversation mode."""
        mode = conversation_mode(self.options)
        if mode in (MODE_PIPELINE, MODE_REALTIME_FALLBACK):
            self.pipeline = PipelineBrain(
                self.hass,
                self.entry,
                name=self.link.name,
                device_id=self.device_id,
                satellite=lambda: self.satellite,
            )
            if mode == MODE_PIPELINE:
                return self.pipeline
        self.realtime = RealtimeBrain(
            self.hass,
            self.entry,
            name=self.link.name,
            device_id=self.device_id,
            options=lambda: self.options,
            # a refused conversation goes to the pipeline: the repair tells why, not an error
            refusal_level=logging.WARNING if self.pipeline is not None else logging.ERROR,
        )
        if mode == MODE_LIVE:
            self.live = LiveBrain(
                self.hass,
                self.entry,
                name=self.link.name,
                device_id=self.device_id,
                options=lambda: self.options,
                fallback=self.realtime,
            )
            return self.live
        if self.pipeline is None:
            return self.realtime
        self.fallback = FallbackBrain(
            self.realtime,
            self.pipeline,
            probe=self.realtime.probe,
            on_status=self._fallback_changed,
            spawn=self.hass.async_create_background_task,
            name=self.link.name,
        )
        return self.fallback

    def _fallback_changed(self, status: FallbackStatus) -> None:
        async_report_pipeline_fallback(self.hass, self.entry, status.cause)

    # --- what the entities and diagnostics read --------------------------------------------------

    @property
    def options(self) -> Mapping[str, Any]:
        """The entry's settings: the one place they are read for the conversation and the brain."""
        return {**self.entry.data, **self.entry.options}

    @property
    def state(self) -> ConversationState:
        return self.engine.state

    @property
    def conversation(self) -> Conversation | None:
        return self.engine.conversation

    @property
    def playbacks(self) -> PlaybackTracker:
        return self.streams.playbacks

    @property
    def keeper(self) -> SessionKeeper | None:
        return None if self.realtime is None else self.realtime.keeper

    @property
    def session(self) -> RealtimeSession | None:
        return None if self.realtime is None else self.realtime.session

    @property
    def figures(self) -> Figures:
        if self.realtime is not None:
            figures = self.realtime.figures
        else:
            assert self.pipeline is not None
            figures = self.pipeline.figures
        figures.conversations = self.engine.conversations
        return figures

    @callback
    def async_set_satellite(self, satellite: PipelineSatellite) -> CALLBACK_TYPE:
        """The assist_satellite entity was added: pipelines run through it until it is removed."""
        self.satellite = satellite

        def remove() -> None:
            if self.satellite is satellite:
                self.satellite = None

        return remove

    @callback
    def async_add_state_listener(self, listener: Callable[[], None]) -> CALLBACK_TYPE:
        return self.engine.add_state_listener(listener)

    # --- life cycle ----------------------------------------------------------------------------

    async def async_start(self) -> None:
        self.link.set_event_handler(self.engine.on_link_event)
        await self.brain.start()

    async def async_stop(self) -> None:
        self.engine.stop()
        await self.brain.stop()
        if self.fallback is not None:
            async_report_pipeline_fallback(self.hass, self.entry, None)

    async def async_stop_conversation(self) -> None:
        """End what is going on (the mute switch); idle stays idle."""
        await self.engine.stop_conversation()

    # --- announcements -------------------------------------------------------------------------

    async def async_announce(
        self,
        message: str,
        *,
        media_id: str | None = None,
        preannounce: bool = True,
        preannounce_media_id: str | None = None,
        listen_after: bool = False,
        extra_prompt: str | None = None,
        tts_token: str | None = None,
    ) -> None:
        """Speak ``message`` in the brain's voice (or play ``media_id``); returns when it has
        played. With ``listen_after`` (start_conversation) the satellite then listens without a
        wake word."""
        await self.announcer.async_announce(
            Announcement(
                message,
                media_id,
                preannounce,
                preannounce_media_id,
                listen_after,
                extra_prompt,
                tts_token=tts_token,
            )
        )

    async def async_ask_question(
        self,
        question: str,
        *,
        media_id: str | None = None,
        preannounce: bool = True,
        preannounce_media_id: str | None = None,
    ) -> str | None:
        """Ask, then listen without a wake word: the user's answer as heard (None: no answer before
        the conversation's watchdog ended it, or the user stopped the question)."""
        answer: asyncio.Future[str | None] = self.hass.loop.create_future()
        await self.announcer.async_announce(
            Announcement(
                question,
                media_id,
                preannounce,
                preannounce_media_id,
                listen_after=True,
                question=answer,
            )
        )
        return await answer

    # --- what the engine needs of HA -----------------------------------------------------------

    def _follow_up_s(self) -> float:
        return float(self.options.get(CONF_FOLLOW_UP_SECONDS, DEFAULT_FOLLOW_UP_SECONDS))

    def _report(self, kind: str, data: dict[str, Any]) -> None:
        self.hass.bus.async_fire(
            _EVENTS[kind], {"device_id": self.device_id, "satellite": self.link.name, **data}
        )

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> object:
        return self.hass.async_create_task(coro, name, eager_start=True)

    def _spawn_background(self, coro: Coroutine[Any, Any, None], name: str) -> object:
        return self.hass.async_create_background_task(coro, name)
