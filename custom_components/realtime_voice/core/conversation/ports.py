"""What the conversation engine and the stream sender need of the satellite link (satellite_link.py
of the integration is the real one; the engine's tests use a fake that behaves like it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from ..link import protocol


class SatelliteOfflineError(Exception):
    """A command was sent while the link is down."""


class SatelliteLink(Protocol):
    """The satellite's commands. Each raises SatelliteOfflineError while the link is down."""

    @property
    def name(self) -> str: ...

    @property
    def available(self) -> bool: ...

    def async_add_availability_listener(
        self, listener: Callable[[], None]
    ) -> Callable[[], None]: ...

    async def listen(self, timeout_s: float | None = None, *, full_duplex: bool = False) -> None:
        """``full_duplex``: the satellite keeps streaming while it speaks, until stop_listening
        (a satellite of link protocol 3 cannot: it listens as without)."""

    async def stop_listening(self) -> None: ...

    async def play_start(self, stream_id: str, kind: protocol.PlayKind = "response") -> None: ...

    async def play_audio(self, pcm: bytes) -> None: ...

    async def play_media_audio(self, pcm: bytes) -> None: ...

    async def play_end(self, stream_id: str) -> None: ...

    async def stop_playback(self, stream_id: str | None = None) -> None: ...
