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
from dataclasses import replace
from typing import Any

from homeassistant.components.assist_pipeline import PipelineNotFound
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback

from .announcer import Announcement, Announcer
from .const import (
    CONF_FOLLOW_UP_SECONDS,
    DEFAULT_FOLLOW_UP_SECONDS,
    EVENT_CONVERSATION_ENDED,
    EVENT_CONVERSATION_STARTED,
    EVENT_WAKE_WORD_DETECTED,
    LIVE_FALLBACK_PIPELINE,
    LIVE_FALLBACK_REALTIME,
    MODE_LIVE,
    MODE_PIPELINE,
    MODE_REALTIME_FALLBACK,
    conversation_mode,
    live_fallback,
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
from .pipeline_brain import PipelineBrain, PipelineSatellite, chosen_pipeline
from .realtime_brain import RealtimeBrain
from .repairs import async_report_pipeline_fallback
from .satellite_link import SatelliteConnection
from .session_keeper import Figures, SessionKeeper
from .tone import error_tone_pcm

__all__ = ["ConversationState", "Figures", "SessionManager", "conversation_mode"]

# The model sensor while the Assist pipeline answers and its pipeline cannot be found.
PIPELINE_MODEL = "assist pipeline"

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
        """The brain of the entry's conversation mode: Realtime, the pipeline, Realtime with the
        pipeline as its fallback, or Live with Realtime beside it (for what Live does not do, and
        when Live cannot answer), with the pipeline (no Realtime at all), or with both (the
        pipeline when neither Live nor Realtime can answer)."""
        mode = conversation_mode(self.options)
        backup = live_fallback(self.options) if mode == MODE_LIVE else None
        if mode in (MODE_PIPELINE, MODE_REALTIME_FALLBACK) or (
            backup is not None and backup != LIVE_FALLBACK_REALTIME
        ):
            self.pipeline = PipelineBrain(
                self.hass,
                self.entry,
                name=self.link.name,
                device_id=self.device_id,
                satellite=lambda: self.satellite,
            )
            if mode == MODE_PIPELINE:
                return self.pipeline
        if backup == LIVE_FALLBACK_PIPELINE:
            assert self.pipeline is not None
            self.live = self._make_live(None)
            return self._make_fallback(self.live, service="the GPT-Live endpoint")
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
            self.live = self._make_live(self.realtime)
            if self.pipeline is None:
                return self.live
            return self._make_fallback(self.live, service="GPT-Live and the Realtime endpoint")
        if self.pipeline is None:
            return self.realtime
        return self._make_fallback(self.realtime, service="the Realtime endpoint")

    def _make_live(self, beside: RealtimeBrain | None) -> LiveBrain:
        return LiveBrain(
            self.hass,
            self.entry,
            name=self.link.name,
            device_id=self.device_id,
            options=lambda: self.options,
            fallback=beside,
        )

    def _make_fallback(self, primary: RealtimeBrain | LiveBrain, *, service: str) -> FallbackBrain:
        """``primary`` with the Assist pipeline as its fallback."""
        assert self.pipeline is not None
        alone = isinstance(primary, LiveBrain) and primary.fallback is None
        self.fallback = FallbackBrain(
            primary,
            self.pipeline,
            probe=primary.probe,
            on_status=self._fallback_changed,
            spawn=self.hass.async_create_background_task,
            name=self.link.name,
            service=service,
            # Live alone (no Realtime beside it): HA hears questions' answers, and announcements
            # are spoken word for word, through the pipeline
            primary_takes=(lambda turn: not turn.question) if alone else lambda turn: True,
            primary_speaks=not alone,
        )
        return self.fallback

    def _fallback_changed(self, status: FallbackStatus) -> None:
        assert self.fallback is not None
        async_report_pipeline_fallback(
            self.hass, self.entry, status.cause, service=self.fallback.service
        )

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
        """What the sensors show; ``model`` is the model that answers now (or next)."""
        if self.realtime is not None:
            figures = self.realtime.figures
        elif self.live is not None:
            figures = self.live.figures
        else:
            assert self.pipeline is not None
            figures = self.pipeline.figures
        figures.conversations = self.engine.conversations
        return replace(figures, model=self.answering_model())

    def answering_model(self) -> str | None:
        """The Live model while Live answers, the Realtime model while Realtime does (Realtime's
        own legacy fallback included), the pipeline's name while the Assist pipeline does."""
        if self.fallback is not None and self.fallback.active is self.pipeline:
            return self._pipeline_name()
        if self.live is not None and (model := self.live.live_model) is not None:
            return model
        if self.realtime is not None:
            return self.realtime.figures.model
        return self._pipeline_name()

    def _pipeline_name(self) -> str:
        try:
            return chosen_pipeline(self.hass, self.entry).name
        except PipelineNotFound:
            return PIPELINE_MODEL

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
