"""Announcements: one at a time, in the order asked, never lost to a conversation.

An announcement waits (at most ANNOUNCEMENT_WAIT_S) for an open conversation to end; a follow-up
window in which nobody has spoken gives way at once. It then plays on a stream of its own: the
preannounce sound, then media (streamed as it is decoded, paced a few seconds ahead of playback) or the
message spoken by the brain (the Realtime brain: out of band, it does not enter the conversation). The
call returns when the satellite reports that it played.

The announcer knows the conversation engine only as ``AnnouncementTurns`` (whose turn the satellite
is) and the brain only as a ``Speaker``; its streams go through the stream sender.

An announcement is never dropped silently: when the satellite goes offline before it played whole (a
restart, a power cut, the network), it is played again from the start once the satellite is back, if
that is within ANNOUNCEMENT_RESUME_S; otherwise the action fails with `announcement_interrupted`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from homeassistant.components import tts
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError

from .const import DOMAIN
from .core.conversation import (
    Playback,
    SatelliteLink,
    SatelliteOfflineError,
    SpeakError,
    SpeechCutError,
    Stream,
    StreamSender,
)
from .media import async_read_media, async_stream_media
from .pipeline_audio import TtsAudioError, async_tts_pcm
from .tone import chime_pcm

_LOGGER = logging.getLogger(__name__)

# How long an announcement waits for a conversation to end before the action fails.
ANNOUNCEMENT_WAIT_S = 60.0
# Media is sent at most this far ahead of what the satellite has played.
MEDIA_LEAD_S = 3.0
# How long after the end of an announcement's audio we wait for the satellite to report it played.
PLAYBACK_GRACE_S = 10.0
# How long an announcement cut off by the satellite going offline waits for it to come back.
ANNOUNCEMENT_RESUME_S = 60.0
# How often an announcement cut off by the brain's connection dropping is spoken again.
SPOKEN_ATTEMPTS = 3


class AnnouncementTurns(Protocol):
    """The conversation engine as the announcer sees it: whose turn the satellite is."""

    @property
    def in_conversation(self) -> bool: ...

    @property
    def announcing(self) -> bool:
        """The satellite's turn is still the announcement's (no wake word took it)."""
        ...

    async def take_turn_for_announcement(self) -> None: ...

    def announcement_finished(self) -> None: ...

    async def start_conversation(
        self,
        reason: str,
        *,
        extra_prompt: str | None = None,
        question: asyncio.Future[str | None] | None = None,
    ) -> None: ...


class Speaker(Protocol):
    """The brain as the announcer sees it: it speaks a message."""

    def speak(self, text: str) -> AsyncIterator[bytes]: ...


@dataclass(frozen=True)
class Announcement:
    message: str = ""
    media_id: str | None = None
    preannounce: bool = True
    preannounce_media_id: str | None = None
    listen_after: bool = False  # start_conversation: listen without a wake word after it
    extra_prompt: str | None = None
    # ask_question: listen after it for the answer, which resolves this
    question: asyncio.Future[str | None] | None = None
    sound: bytes | None = None  # played instead of the preannounce sound (a timer's ring)
    # the message as HA's TTS already synthesizes it (HA's base entity resolved it, pipeline mode)
    tts_token: str | None = None


class Announcer:
    """Plays one satellite's announcements."""

    def __init__(
        self,
        hass: HomeAssistant,
        link: SatelliteLink,
        turns: AnnouncementTurns,
        streams: StreamSender,
        speaker: Speaker,
    ) -> None:
        self._hass = hass
        self._link = link
        self._turns = turns
        self._streams = streams
        self._speaker = speaker
        self._turn = asyncio.Lock()

    @property
    def _name(self) -> str:
        return self._link.name

    def _error(self, key: str, **placeholders: str) -> HomeAssistantError:
        return HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key=key,
            translation_placeholders={"name": self._name, **placeholders},
        )

    async def async_ring(self, message: str, sound: bytes) -> None:
        """A timer's ring: ``sound``, then ``message`` spoken."""
        await self.async_announce(Announcement(message, sound=sound))

    async def async_announce(self, announcement: Announcement) -> None:
        if not self._link.available:
            raise self._error("satellite_offline")
        try:
            async with asyncio.timeout(ANNOUNCEMENT_WAIT_S):
                await self._turn.acquire()
                try:
                    await self._turns.take_turn_for_announcement()
                except BaseException:
                    self._turn.release()
                    raise
        except TimeoutError as err:
            raise self._error(
                "announcement_wait_timeout", seconds=f"{ANNOUNCEMENT_WAIT_S:g}"
            ) from err
        question = announcement.question
        try:
            playback = await self._play_whole(announcement)
            if announcement.listen_after and not playback.stop_word:
                # Straight from announcing to listening (no idle in between for automations).
                await self._turns.start_conversation(
                    "ask_question" if question else "start_conversation",
                    extra_prompt=announcement.extra_prompt
                    or (f"You just said: {announcement.message}" if announcement.message else None),
                    question=question,
                )
        finally:
            if question is not None and not question.done() and not self._turns.in_conversation:
                question.set_result(None)  # stopped by the user, or failed: no answer
            self._turns.announcement_finished()
            self._turn.release()

    async def _play_whole(self, announcement: Announcement) -> Playback:
        """Play it; played again from the start when the satellite dropped before it played whole
        and is back within ANNOUNCEMENT_RESUME_S."""
        link = self._link
        back = asyncio.Event()
        drops = 0

        def on_availability() -> None:
            nonlocal drops
            if link.available:
                back.set()
            else:
                drops += 1
                back.clear()

        unlisten = link.async_add_availability_listener(on_availability)
        spoken_attempts = 0
        try:
            while True:
                drops_before = drops
                try:
                    playback = await self._play(announcement)
                except SpeechCutError as err:
                    # Played again from the start; the new connection is waited for (up to its
                    # connect timeout) by the next attempt's request.
                    spoken_attempts += 1
                    if spoken_attempts < SPOKEN_ATTEMPTS:
                        _LOGGER.info(
                            "The Realtime connection dropped during an announcement on %s; "
                            "it plays again",
                            self._name,
                        )
                        continue
                    raise self._error(
                        "announcement_session_unavailable",
                        error="the connection dropped while the announcement was spoken",
                    ) from err
                except HomeAssistantError:
                    if drops == drops_before and link.available:
                        raise
                if drops == drops_before and link.available:
                    return playback
                _LOGGER.info(
                    "The satellite %s went offline during an announcement; it plays again when "
                    "the satellite is back (within %g s)",
                    self._name,
                    ANNOUNCEMENT_RESUME_S,
                )
                self._turns.announcement_finished()  # nothing plays while it is away
                try:
                    async with asyncio.timeout(ANNOUNCEMENT_RESUME_S):
                        await back.wait()
                except TimeoutError as err:
                    raise self._error(
                        "announcement_interrupted", seconds=f"{ANNOUNCEMENT_RESUME_S:g}"
                    ) from err
                try:
                    async with asyncio.timeout(ANNOUNCEMENT_WAIT_S):
                        await self._turns.take_turn_for_announcement()
                except TimeoutError as err:
                    raise self._error(
                        "announcement_wait_timeout", seconds=f"{ANNOUNCEMENT_WAIT_S:g}"
                    ) from err
        finally:
            unlisten()

    async def _play(self, announcement: Announcement) -> Playback:
        # Stopped by the user (stop word, wake word) or ended by the satellite: no more is sent.
        stream = self._streams.open(
            "announcement", lead_s=MEDIA_LEAD_S, wanted=lambda: self._turns.announcing
        )
        try:
            await stream.start()
            if announcement.sound is not None:
                await stream.send(announcement.sound)
            elif announcement.preannounce:
                if announcement.preannounce_media_id:
                    sound = await async_read_media(self._hass, announcement.preannounce_media_id)
                else:
                    sound = chime_pcm()
                await stream.send(sound)
            if announcement.tts_token:
                await self._send_tts(stream, announcement.tts_token)
            elif announcement.media_id:
                await self._send_media(stream, announcement.media_id)
            elif announcement.message and stream.wanted:
                await self._speak(stream, announcement.message)
            await stream.end()
            await stream.finished(PLAYBACK_GRACE_S)
        except SatelliteOfflineError as err:
            raise self._error("satellite_offline") from err
        except TimeoutError as err:
            raise self._error("announcement_not_played") from err
        except SpeechCutError:
            # The part played stops: it plays again from the start.
            with contextlib.suppress(SatelliteOfflineError):
                await stream.stop()
            raise
        finally:
            if not stream.playback.ended:
                with contextlib.suppress(SatelliteOfflineError):
                    await stream.end()
            stream.close()
        return stream.playback

    async def _send_media(self, stream: Stream, media_id: str) -> None:
        chunks: AsyncIterator[bytes] = async_stream_media(self._hass, media_id)
        try:
            async for chunk in chunks:
                if not stream.wanted:
                    break
                await stream.send(chunk)
        finally:
            await chunks.aclose()  # type: ignore[attr-defined]

    async def _send_tts(self, stream: Stream, token: str) -> None:
        result = tts.async_get_stream(self._hass, token)
        if result is None:
            raise self._error("announcement_session_unavailable", error="the TTS result is gone")
        chunks = async_tts_pcm(result)
        try:
            async for chunk in chunks:
                if not stream.wanted:
                    break
                await stream.send(chunk, paced=False)
        except TtsAudioError as err:
            raise self._error("announcement_session_unavailable", error=str(err)) from err
        finally:
            await chunks.aclose()  # type: ignore[attr-defined]

    async def _speak(self, stream: Stream, message: str) -> None:
        """The message in the brain's voice, sent as it comes (the satellite plays it at once)."""
        speech = self._speaker.speak(message)
        try:
            async for pcm in speech:
                if not stream.wanted:
                    break  # its remaining audio is not wanted
                await stream.send(pcm, paced=False)
        except SpeakError as err:
            raise self._error("announcement_session_unavailable", error=str(err)) from err
        finally:
            await speech.aclose()  # type: ignore[attr-defined]
