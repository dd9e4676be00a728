"""The assist_satellite entity: states, announcements, start_conversation, wake-word configuration,
and in pipeline mode the satellite's Assist pipeline runs (pipeline_brain.py).

Announcements, questions and timers' messages are spoken by the brain (the Realtime model, or the
pipeline's TTS) through the announcer, which queues them behind a conversation: so the entity
overrides the internal announce/ask_question entry points of HA's base entity. start_conversation in
pipeline mode is HA's own (the start message in the conversation's chat log, the extra prompt for the
first run); in Realtime mode the model is told both.
"""

from __future__ import annotations

from collections.abc import AsyncIterable
from typing import Any

from homeassistant.components.assist_pipeline import PipelineEvent, PipelineStage
from homeassistant.components.assist_satellite import (
    AssistSatelliteAnnouncement,
    AssistSatelliteAnswer,
    AssistSatelliteConfiguration,
    AssistSatelliteEntity,
    AssistSatelliteEntityDescription,
    AssistSatelliteEntityFeature,
    AssistSatelliteWakeWord,
)
from homeassistant.components.assist_satellite.entity import AssistSatelliteState
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from . import RealtimeVoiceConfigEntry, async_send_satellite_settings
from .answers import match_answer
from .const import CONF_WAKE_WORDS, DOMAIN
from .core.conversation import ConversationState
from .entity import RealtimeVoiceEntity
from .pipeline_audio import TTS_OPTIONS
from .pipeline_brain import unique_id_prefix

# Announcements, questions and wake-word settings may run at once: the announcer queues what must
# not overlap (announcer.py), the rest is independent.
PARALLEL_UPDATES = 0

WAKE_WORD_PHRASES = {
    "okay_nabu": "Okay Nabu",
    "hey_jarvis": "Hey Jarvis",
    "alexa": "Alexa",
    "hey_mycroft": "Hey Mycroft",
    "hey_rhasspy": "Hey Rhasspy",
}

STATE_MAP = {
    ConversationState.IDLE: AssistSatelliteState.IDLE,
    ConversationState.RESETTING: AssistSatelliteState.IDLE,
    ConversationState.LISTENING: AssistSatelliteState.LISTENING,
    ConversationState.FOLLOW_UP: AssistSatelliteState.LISTENING,
    ConversationState.PROCESSING: AssistSatelliteState.PROCESSING,
    ConversationState.RESPONDING: AssistSatelliteState.RESPONDING,
    ConversationState.ANNOUNCING: AssistSatelliteState.RESPONDING,
}


async def async_setup_entry(
    hass: HomeAssistant,
    entry: RealtimeVoiceConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    async_add_entities([RealtimeVoiceSatellite(entry)])


class RealtimeVoiceSatellite(RealtimeVoiceEntity, AssistSatelliteEntity):
    _attr_name = None  # the device's name
    _attr_supported_features = (
        AssistSatelliteEntityFeature.ANNOUNCE | AssistSatelliteEntityFeature.START_CONVERSATION
    )

    def __init__(self, entry: RealtimeVoiceConfigEntry) -> None:
        super().__init__(entry, AssistSatelliteEntityDescription(key="assist_satellite"))
        # start_conversation in pipeline mode: HA's base entity resolves the message's media but
        # passes on no preannounce flag
        self._preannounce = True

    async def async_added_to_hass(self) -> None:
        await super().async_added_to_hass()
        self.async_on_remove(self._manager.async_add_state_listener(self._follow_manager_state))
        self.async_on_remove(self._manager.async_set_satellite(self))
        self.async_on_remove(
            self._entry.runtime_data.timers.async_add_listener(self.async_write_ha_state)
        )
        self._follow_manager_state()

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        """The satellite's running timers (HA holds them; HA 2026.11 has no timer-list entity)."""
        return {"timers": self._entry.runtime_data.timers.as_attributes()}

    @callback
    def _follow_manager_state(self) -> None:
        """The conversation engine owns the conversation; the entity's state mirrors it."""
        if self.state != STATE_MAP[self._manager.state]:
            self._set_state(STATE_MAP[self._manager.state])

    # --- the Assist pipeline (pipeline_brain.py runs it through the entity) ---------------------

    @property
    def pipeline_entity_id(self) -> str | None:
        return self._select_entity_id("pipeline")

    @property
    def vad_sensitivity_entity_id(self) -> str | None:
        return self._select_entity_id("vad_sensitivity")

    @property
    def tts_options(self) -> dict[str, Any] | None:
        """The pipeline's answer as WAV in the link's format (HA's ffmpeg converts it)."""
        return dict(TTS_OPTIONS)

    def _select_entity_id(self, key: str) -> str | None:
        return er.async_get(self.hass).async_get_entity_id(
            Platform.SELECT, DOMAIN, f"{unique_id_prefix(self._entry)}-{key}"
        )

    async def async_run_pipeline(self, audio: AsyncIterable[bytes], *, question: bool) -> None:
        await self.async_accept_pipeline_from_satellite(
            audio,
            start_stage=PipelineStage.STT,
            end_stage=PipelineStage.STT if question else PipelineStage.TTS,
        )

    def on_pipeline_event(self, event: PipelineEvent) -> None:
        """The pipeline brain hears the run's events (none come in Realtime mode)."""
        if (brain := self._manager.pipeline) is not None:
            brain.on_pipeline_event(event)

    # --- wake-word configuration ---------------------------------------------------------------

    def async_get_configuration(self) -> AssistSatelliteConfiguration:
        info = self._link.info
        available = info.wake_words_available if info else []
        active = info.wake_words_active if info else []
        return AssistSatelliteConfiguration(
            available_wake_words=[
                AssistSatelliteWakeWord(
                    id=name,
                    wake_word=WAKE_WORD_PHRASES.get(name, name.replace("_", " ").title()),
                    trained_languages=["en"],
                )
                for name in available
            ],
            active_wake_words=list(active),
            # the satellite runs every active wake word model at once
            max_active_wake_words=len(available),
        )

    async def async_set_configuration(self, config: AssistSatelliteConfiguration) -> None:
        info = self._link.info
        available = set(info.wake_words_available) if info else set()
        unknown = [w for w in config.active_wake_words if w not in available]
        if unknown:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="wake_word_unavailable",
                translation_placeholders={
                    "wake_words": ", ".join(unknown),
                    "name": self._link.name,
                    "available": ", ".join(sorted(available)),
                },
            )
        # Kept in the options so that the choice survives a satellite restart (re-sent on connect),
        # and sent to the satellite now; no reload (the Realtime session does not change).
        options = {**self._entry.options, CONF_WAKE_WORDS: list(config.active_wake_words)}
        self.hass.config_entries.async_update_entry(self._entry, options=options)
        await async_send_satellite_settings(self._link, options)

    # --- announcements -------------------------------------------------------------------------

    async def async_internal_announce(
        self,
        message: str | None = None,
        media_id: str | None = None,
        preannounce: bool = True,
        preannounce_media_id: str | None = None,
    ) -> None:
        await self._manager.async_announce(
            message or "",
            media_id=media_id,
            preannounce=preannounce,
            preannounce_media_id=preannounce_media_id,
        )

    async def async_announce(self, announcement: AssistSatelliteAnnouncement) -> None:
        await self._manager.async_announce(announcement.message)

    async def async_internal_start_conversation(
        self,
        start_message: str | None = None,
        start_media_id: str | None = None,
        extra_system_prompt: str | None = None,
        preannounce: bool = True,
        preannounce_media_id: str | None = None,
    ) -> None:
        if self._manager.pipeline is not None:
            self._preannounce = preannounce
            await super().async_internal_start_conversation(
                start_message,
                start_media_id,
                extra_system_prompt,
                preannounce,
                preannounce_media_id,  # type: ignore[arg-type]  # None: our chime
            )
            return
        await self._manager.async_announce(
            start_message or "",
            media_id=start_media_id,
            preannounce=preannounce,
            preannounce_media_id=preannounce_media_id,
            listen_after=True,
            extra_prompt=extra_system_prompt,
        )

    async def async_start_conversation(
        self, start_announcement: AssistSatelliteAnnouncement
    ) -> None:
        if self._manager.pipeline is None:
            await self._manager.async_announce(start_announcement.message, listen_after=True)
            return
        tts = start_announcement.media_id_source == "tts"
        await self._manager.async_announce(
            start_announcement.message,
            media_id=None if tts else start_announcement.media_id,
            tts_token=start_announcement.tts_token if tts else None,
            preannounce=self._preannounce,
            preannounce_media_id=start_announcement.preannounce_media_id,
            listen_after=True,
        )

    async def async_internal_ask_question(
        self,
        question: str | None = None,
        question_media_id: str | None = None,
        preannounce: bool = True,
        preannounce_media_id: str | None = None,
        answers: list[dict[str, Any]] | None = None,
    ) -> AssistSatelliteAnswer | None:
        """Ask through the model's voice, listen without a wake word, and match what the user said
        against ``answers`` (HA's base implementation waits for an STT pipeline event that a
        Realtime conversation never produces)."""
        heard = await self._manager.async_ask_question(
            question or "",
            media_id=question_media_id,
            preannounce=preannounce,
            preannounce_media_id=preannounce_media_id,
        )
        return match_answer(heard, answers, self.hass.config.language)
