"""The satellite's speaker as a media player: music and sounds from media sources and URLs.

Media is decoded by HA's ffmpeg as it is fetched and streamed over the link on the media stream, which
the satellite plays under its voice: it ducks while the wake word is heard, during a conversation and
during announcements, and comes back after (the satellite's mixer). `announce: true` (TTS and
notifications to media players) plays as an announcement. The volume is the satellite's, shared with
its volume number. Pause stops the stream and remembers where; play resumes there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from homeassistant.components import media_source
from homeassistant.components.media_player import (
    BrowseMedia,
    MediaPlayerEntity,
    MediaPlayerEntityDescription,
    MediaPlayerEntityFeature,
    MediaPlayerState,
    MediaType,
)
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from . import RealtimeVoiceConfigEntry
from .const import DOMAIN
from .core.conversation import SatelliteOfflineError, Stream
from .entity import RealtimeVoiceEntity
from .media import async_stream_media

_LOGGER = logging.getLogger(__name__)

# Play, stop and volume go over the one link: one at a time.
PARALLEL_UPDATES = 1

MAX_MUSIC_SECONDS = 4 * 3600.0  # one stream; a longer one (a radio) stops there with an error
MEDIA_LEAD_S = 3.0  # sent at most this far ahead of what the satellite has played
FINISH_GRACE_S = 10.0
STOP_REPORT_S = 2.0  # how long a stopped stream's report (how far it played) is waited for

SPEAKER = MediaPlayerEntityDescription(key="speaker", translation_key="speaker")


async def async_setup_entry(
    hass: HomeAssistant,
    entry: RealtimeVoiceConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    async_add_entities([RealtimeVoiceSpeaker(entry)])


class RealtimeVoiceSpeaker(RealtimeVoiceEntity, MediaPlayerEntity):
    _attr_supported_features = (
        MediaPlayerEntityFeature.PLAY_MEDIA
        | MediaPlayerEntityFeature.PLAY
        | MediaPlayerEntityFeature.PAUSE
        | MediaPlayerEntityFeature.STOP
        | MediaPlayerEntityFeature.VOLUME_SET
        | MediaPlayerEntityFeature.MEDIA_ANNOUNCE
        | MediaPlayerEntityFeature.BROWSE_MEDIA
    )
    _attr_media_content_type = MediaType.MUSIC

    def __init__(self, entry: RealtimeVoiceConfigEntry) -> None:
        super().__init__(entry, SPEAKER)
        self._task: asyncio.Task[None] | None = None
        self._stream: Stream | None = None
        self._position_s = 0.0  # where a paused stream resumes
        self._stream_start_s = 0.0  # where the current stream started in the media
        self._paused = False

    # --- state ---------------------------------------------------------------------------------

    @property
    def state(self) -> MediaPlayerState:
        if self._stream is not None:
            return MediaPlayerState.PLAYING
        return MediaPlayerState.PAUSED if self._paused else MediaPlayerState.IDLE

    @property
    def volume_level(self) -> float | None:
        if self._link.wanted_volume is not None:
            return self._link.wanted_volume
        return self._link.info.volume if self._link.info is not None else None

    async def async_set_volume_level(self, volume: float) -> None:
        await self._link.set_volume(volume)

    # --- playing -------------------------------------------------------------------------------

    async def async_play_media(
        self, media_type: MediaType | str, media_id: str, **kwargs: Any
    ) -> None:
        if media_source.is_media_source_id(media_id):
            media_id = (
                await media_source.async_resolve_media(self.hass, media_id, self.entity_id)
            ).url
        if kwargs.get("announce"):
            await self._manager.async_announce("", media_id=media_id, preannounce=False)
            return
        await self._stop_stream()
        self._attr_media_content_id = media_id
        self._position_s = 0.0
        await self._start_stream(media_id, 0.0)

    async def async_media_play(self) -> None:
        if self._paused and self._attr_media_content_id:
            await self._start_stream(self._attr_media_content_id, self._position_s)

    async def async_media_pause(self) -> None:
        if self._task is not None and not self._task.done():
            await self._stop_stream()
            self._paused = True
            self.async_write_ha_state()

    async def async_media_stop(self) -> None:
        await self._stop_stream()
        self._position_s = 0.0
        self._paused = False
        self.async_write_ha_state()

    async def async_browse_media(
        self, media_content_type: MediaType | str | None = None, media_content_id: str | None = None
    ) -> BrowseMedia:
        return await media_source.async_browse_media(
            self.hass,
            media_content_id,
            content_filter=lambda item: item.media_content_type.startswith("audio/"),
        )

    async def async_will_remove_from_hass(self) -> None:
        await self._stop_stream()

    async def _start_stream(self, media_id: str, start_s: float) -> None:
        """Fetch and decode the first audio here, so that an unplayable URL fails the action; the
        rest streams in the background."""
        chunks = async_stream_media(
            self.hass, media_id, start_s=start_s, max_seconds=MAX_MUSIC_SECONDS
        )
        try:
            first = await anext(chunks)
        except StopAsyncIteration:
            await chunks.aclose()  # type: ignore[attr-defined]
            return
        except BaseException:
            await chunks.aclose()  # type: ignore[attr-defined]
            raise
        stream = self._manager.streams.open("media", lead_s=MEDIA_LEAD_S)
        try:
            await stream.start()
        except SatelliteOfflineError as err:
            stream.close()
            await chunks.aclose()  # type: ignore[attr-defined]
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="satellite_offline",
                translation_placeholders={"name": self._link.name},
            ) from err
        self._stream = stream
        self._stream_start_s = start_s
        self._paused = False
        self._task = self.hass.async_create_background_task(
            self._send(chunks, first, stream), f"realtime_voice media {stream.stream_id}"
        )
        self.async_write_ha_state()

    async def _send(self, chunks: Any, first: bytes, stream: Stream) -> None:
        try:
            await stream.send(first)
            async for chunk in chunks:
                await stream.send(chunk)
            await stream.end()
            await stream.finished(FINISH_GRACE_S)
        except (SatelliteOfflineError, HomeAssistantError, TimeoutError) as err:
            # Nobody waits for this task: say once why the music stopped.
            _LOGGER.warning("Media on %s stopped: %s", self._link.name, err)
        finally:
            await chunks.aclose()
            stream.close()
            if self._stream is stream:
                self._stream = None
            self.async_write_ha_state()

    async def _stop_stream(self) -> None:
        """Stop the stream on the satellite and learn how far it played (for pause)."""
        task, stream = self._task, self._stream
        if task is None or task.done() or stream is None:
            return
        played_ms = 0
        with contextlib.suppress(SatelliteOfflineError):
            await stream.stop()
            with contextlib.suppress(TimeoutError):
                played_ms = await stream.finished(STOP_REPORT_S)
        self._position_s = self._stream_start_s + played_ms / 1000
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
