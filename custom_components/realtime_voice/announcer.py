"""Announcements: one at a time, in the order asked, never lost to a conversation.

An announcement waits (at most ANNOUNCEMENT_WAIT_S) for an open conversation to end; a follow-up
window in which nobody has spoken gives way at once. It then plays on a stream of its own: the
preannounce sound, then media (streamed as it is decoded, paced a few seconds ahead of playback) or the
message spoken by the model out of band (it does not enter the conversation). The call returns when
the satellite reports that it played.

An announcement is never dropped silently: when the satellite goes offline before it played whole (a
restart, a power cut, the network), it is played again from the start once the satellite is back, if
that is within ANNOUNCEMENT_RESUME_S; otherwise the action fails with `announcement_interrupted`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from homeassistant.exceptions import HomeAssistantError

from .const import DOMAIN
from .conversation_state import ConversationState
from .core.realtime import RealtimeError
from .media import CHUNK_BYTES, async_read_media, async_stream_media
from .playback import PacedSender, Playback
from .satellite_link import SatelliteOfflineError
from .tone import chime_pcm

if TYPE_CHECKING:
    from .session_manager import SessionManager

_LOGGER = logging.getLogger(__name__)

ANNOUNCE_INSTRUCTIONS = (
    "Read the following announcement aloud exactly as written, in your normal voice, and say nothing "
    "else:\n{message}"
)
# How long an announcement waits for a conversation to end before the action fails.
ANNOUNCEMENT_WAIT_S = 60.0
# Media is sent at most this far ahead of what the satellite has played.
MEDIA_LEAD_S = 3.0
# How long after the end of an announcement's audio we wait for the satellite to report it played.
PLAYBACK_GRACE_S = 10.0
# How long the model may take to speak an announcement.
SPOKEN_TIMEOUT_S = 60.0
# How long an announcement cut off by the satellite going offline waits for it to come back.
ANNOUNCEMENT_RESUME_S = 60.0
# How often an announcement cut off by the Realtime connection dropping is spoken again.
SPOKEN_ATTEMPTS = 3


class SpokenCutError(Exception):
    """The Realtime connection dropped while the model spoke the announcement: only part of it
    reached the satellite."""


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


class Announcer:
    """Plays one satellite's announcements."""

    def __init__(self, manager: SessionManager) -> None:
        self._manager = manager
        self._turn = asyncio.Lock()
        self.current: Playback | None = None
        self._spoken: asyncio.Future[None] | None = None

    @property
    def _name(self) -> str:
        return self._manager.link.name

    def _error(self, key: str, **placeholders: str) -> HomeAssistantError:
        return HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key=key,
            translation_placeholders={"name": self._name, **placeholders},
        )

    async def async_announce(self, announcement: Announcement) -> None:
        if not self._manager.link.available:
            raise self._error("satellite_offline")
        try:
            async with asyncio.timeout(ANNOUNCEMENT_WAIT_S):
                await self._turn.acquire()
                try:
                    await self._manager.async_take_turn_for_announcement()
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
            self.current = None
            if announcement.listen_after and not playback.stop_word:
                # Straight from announcing to listening (no idle in between for automations).
                await self._manager.async_start_conversation(
                    "ask_question" if question else "start_conversation",
                    extra_prompt=announcement.extra_prompt
                    or (f"You just said: {announcement.message}" if announcement.message else None),
                    question=question,
                )
        finally:
            self.current = None
            if question is not None and not question.done() and not self._manager.conversation:
                question.set_result(None)  # stopped by the user, or failed: no answer
            self._manager.announcement_finished()
            self._turn.release()

    async def _play_whole(self, announcement: Announcement) -> Playback:
        """Play it; played again from the start when the satellite dropped before it played whole
        and is back within ANNOUNCEMENT_RESUME_S."""
        link = self._manager.link
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
                except SpokenCutError as err:
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
                self.current = None
                self._manager.announcement_finished()  # nothing plays while it is away
                try:
                    async with asyncio.timeout(ANNOUNCEMENT_RESUME_S):
                        await back.wait()
                except TimeoutError as err:
                    raise self._error(
                        "announcement_interrupted", seconds=f"{ANNOUNCEMENT_RESUME_S:g}"
                    ) from err
                try:
                    async with asyncio.timeout(ANNOUNCEMENT_WAIT_S):
                        await self._manager.async_take_turn_for_announcement()
                except TimeoutError as err:
                    raise self._error(
                        "announcement_wait_timeout", seconds=f"{ANNOUNCEMENT_WAIT_S:g}"
                    ) from err
        finally:
            unlisten()

    async def _play(self, announcement: Announcement) -> Playback:
        link = self._manager.link
        playback = Playback(
            stream_id=f"announce-{uuid.uuid4().hex[:12]}",
            kind="announcement",
            started=True,
            finished=asyncio.get_running_loop().create_future(),
        )
        self.current = self._manager.playbacks.add(playback)
        started = asyncio.get_running_loop().time()
        sender = PacedSender(
            link.play_audio, playback, MEDIA_LEAD_S, wanted=lambda: self._still_playing(playback)
        )
        try:
            await link.play_start(playback.stream_id, "announcement")
            if announcement.sound is not None:
                await sender.send(announcement.sound, CHUNK_BYTES)
            elif announcement.preannounce:
                if announcement.preannounce_media_id:
                    sound = await async_read_media(
                        self._manager.hass, announcement.preannounce_media_id
                    )
                else:
                    sound = chime_pcm()
                await sender.send(sound, CHUNK_BYTES)
            if announcement.media_id:
                await self._send_media(sender, playback, announcement.media_id)
            elif announcement.message and self._still_playing(playback):
                await self._speak(announcement.message)
            await self._end_stream(playback)
            remaining = playback.audio_ms / 1000 - (asyncio.get_running_loop().time() - started)
            assert playback.finished is not None
            async with asyncio.timeout(max(0.0, remaining) + PLAYBACK_GRACE_S):
                await playback.finished
        except SatelliteOfflineError as err:
            raise self._error("satellite_offline") from err
        except TimeoutError as err:
            raise self._error("announcement_not_played") from err
        except SpokenCutError:
            playback.ended = True  # the part played stops: it plays again from the start
            with contextlib.suppress(SatelliteOfflineError):
                await link.stop_playback(playback.stream_id)
            raise
        finally:
            if not playback.ended:
                with contextlib.suppress(SatelliteOfflineError):
                    await self._end_stream(playback)
            self._manager.playbacks.remove(playback.stream_id)
        return playback

    def _still_playing(self, playback: Playback) -> bool:
        """False once the user stopped it (stop word, wake word) or the satellite ended it."""
        return (
            self._manager.state == ConversationState.ANNOUNCING
            and not playback.stop_word
            and self._manager.playbacks.get(playback.stream_id) is playback
        )

    async def _send_media(self, sender: PacedSender, playback: Playback, media_id: str) -> None:
        chunks: AsyncIterator[bytes] = async_stream_media(self._manager.hass, media_id)
        try:
            async for chunk in chunks:
                if not self._still_playing(playback):
                    break
                await sender.send(chunk, CHUNK_BYTES)
        finally:
            await chunks.aclose()  # type: ignore[attr-defined]

    async def _end_stream(self, playback: Playback) -> None:
        playback.ended = True
        await self._manager.link.play_end(playback.stream_id)

    async def _speak(self, message: str) -> None:
        try:
            session = await self._manager.keeper.async_open()
        except RealtimeError as err:
            raise self._error("announcement_session_unavailable", error=str(err)) from err
        self._spoken = asyncio.get_running_loop().create_future()
        try:
            await session.create_response(
                instructions=ANNOUNCE_INSTRUCTIONS.format(message=message), out_of_band=True
            )
            reconnects = session.metrics.reconnects  # sent: on the connection that counts
            async with asyncio.timeout(SPOKEN_TIMEOUT_S):
                await self._spoken
            if session.reconnecting or session.metrics.reconnects != reconnects:
                raise SpokenCutError  # the connection dropped while the model spoke it
        except TimeoutError as err:
            raise self._error("announcement_not_played") from err
        except RealtimeError as err:
            raise self._error("announcement_session_unavailable", error=str(err)) from err
        finally:
            self._spoken = None

    def spoken(self) -> None:
        """The model finished speaking the announcement (or it was stopped)."""
        if self._spoken is not None and not self._spoken.done():
            self._spoken.set_result(None)

    def stop_word(self, stream_id: str | None) -> bool:
        """The stop word: True if it stopped the announcement playing now."""
        playback = self.current
        if playback is None or stream_id not in (None, playback.stream_id):
            return False
        playback.stop_word = True
        self.spoken()  # its remaining audio is not wanted
        return True
