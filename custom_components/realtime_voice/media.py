"""Announcement media as the link's audio (PCM16 mono 24 kHz), decoded by HA's ffmpeg as it arrives.

Media is never held whole: it is fetched and decoded in a stream, and what is longer than
MAX_MEDIA_SECONDS is refused with a clear error (an announcement is not a music player).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from homeassistant.components import media_source
from homeassistant.components.ffmpeg import get_ffmpeg_manager
from homeassistant.components.media_player import async_process_play_media_url
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.aiohttp_client import async_get_clientsession

from .const import DOMAIN
from .core.conversation.streams import BYTES_PER_MS, CHUNK_BYTES
from .core.link import protocol

MAX_MEDIA_SECONDS = 600.0
_FETCH_CHUNK_BYTES = 1 << 16


def _error(key: str, **placeholders: str) -> HomeAssistantError:
    return HomeAssistantError(
        translation_domain=DOMAIN, translation_key=key, translation_placeholders=placeholders
    )


async def async_stream_media(
    hass: HomeAssistant,
    media_id: str,
    *,
    start_s: float = 0.0,
    max_seconds: float | None = None,
) -> AsyncIterator[bytes]:
    """The audio of ``media_id`` (a media-source id or a URL) in chunks of whole samples, from
    ``start_s`` on, at most ``max_seconds`` (default MAX_MEDIA_SECONDS, an announcement's limit)."""
    max_seconds = MAX_MEDIA_SECONDS if max_seconds is None else max_seconds
    url = media_id
    if media_source.is_media_source_id(media_id):
        url = (await media_source.async_resolve_media(hass, media_id, None)).url
    url = async_process_play_media_url(hass, url)
    async with async_get_clientsession(hass).get(url) as response:
        if response.status != 200:
            raise _error("media_fetch_failed", media=media_id, status=str(response.status))
        try:
            ffmpeg = await asyncio.create_subprocess_exec(
                get_ffmpeg_manager(hass).binary,
                *("-v", "error", "-i", "pipe:0", "-f", "s16le", "-ac", "1"),
                *("-ss", f"{start_s:.3f}", "-ar", str(protocol.AUDIO_RATE), "pipe:1"),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as err:
            raise _error("media_ffmpeg_missing", media=media_id, error=str(err)) from err
        assert ffmpeg.stdin is not None
        assert ffmpeg.stdout is not None
        assert ffmpeg.stderr is not None
        stdin, stdout, stderr = ffmpeg.stdin, ffmpeg.stdout, ffmpeg.stderr

        async def feed() -> None:
            with contextlib.suppress(ConnectionError):
                async for data in response.content.iter_chunked(_FETCH_CHUNK_BYTES):
                    stdin.write(data)
                    await stdin.drain()
            stdin.close()

        feeder = asyncio.create_task(feed())
        errors = asyncio.create_task(stderr.read())
        limit = int(max_seconds * 1000) * BYTES_PER_MS
        total = 0
        try:
            pending = b""
            while data := await stdout.read(CHUNK_BYTES):
                data = pending + data
                whole = len(data) - len(data) % protocol.AUDIO_SAMPLE_BYTES
                data, pending = data[:whole], data[whole:]
                if total + len(data) > limit:
                    raise _error("media_too_long", media=media_id, seconds=f"{max_seconds:g}")
                total += len(data)
                if data:
                    yield data
            await feeder
            if await ffmpeg.wait() != 0:
                message = (await errors).decode(errors="replace").strip()[:200]
                raise _error("media_decode_failed", media=media_id, error=message)
        finally:
            if ffmpeg.returncode is None:
                ffmpeg.kill()
                await ffmpeg.wait()
            for task in (feeder, errors):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                    await task


async def async_read_media(hass: HomeAssistant, media_id: str) -> bytes:
    """Short media (a preannounce sound) as one piece of audio."""
    return b"".join([chunk async for chunk in async_stream_media(hass, media_id)])
