"""What the satellite plays, keyed by stream id: answers (whose stream id is the response id) and
announcements (a stream of their own; a spoken one's out-of-band response is bound to it)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from .core.link import protocol

BYTES_PER_MS = protocol.AUDIO_RATE * protocol.AUDIO_SAMPLE_BYTES // 1000  # PCM16 mono 24 kHz


@dataclass
class Playback:
    """One stream on the satellite."""

    stream_id: str
    kind: protocol.PlayKind
    item_id: str | None = None  # the answer's conversation item (for truncation)
    content_index: int = 0
    started: bool = False  # play_start was sent
    ended: bool = False  # play_end was sent
    audio_ms: float = 0.0
    finished: asyncio.Future[int] | None = None  # played_ms, when the satellite reports the end
    stop_word: bool = False  # the user said the stop word during it

    def add_audio(self, pcm: bytes) -> None:
        self.audio_ms += len(pcm) / BYTES_PER_MS


class PlaybackTracker:
    """The streams the satellite plays or is about to play."""

    def __init__(self) -> None:
        self._streams: dict[str, Playback] = {}
        self._responses: dict[str, str] = {}  # out-of-band response id -> announcement stream id

    def __bool__(self) -> bool:
        return bool(self._streams)

    def add(self, playback: Playback) -> Playback:
        self._streams[playback.stream_id] = playback
        return playback

    def bind_response(self, response_id: str, stream_id: str) -> None:
        """The audio of ``response_id`` (an announcement spoken by the model) goes to ``stream_id``."""
        self._responses[response_id] = stream_id

    def for_response(self, response_id: str) -> Playback | None:
        return self._streams.get(self._responses.get(response_id, response_id))

    def get(self, stream_id: str | None) -> Playback | None:
        return None if stream_id is None else self._streams.get(stream_id)

    def answers(self) -> list[Playback]:
        return [p for p in self._streams.values() if p.kind == "response"]

    def remove(self, stream_id: str, played_ms: int = 0) -> Playback | None:
        """Forget a stream; whoever waits for it learns ``played_ms``."""
        playback = self._streams.pop(stream_id, None)
        for response_id in [r for r, s in self._responses.items() if s == stream_id]:
            del self._responses[response_id]
        if playback is not None and playback.finished is not None and not playback.finished.done():
            playback.finished.set_result(played_ms)
        return playback

    def remove_all(self) -> None:
        """The satellite is gone or stopped everything: nothing will report playback."""
        for stream_id in list(self._streams):
            self.remove(stream_id)


class PacedSender:
    """Sends a stream's audio at most ``lead_s`` ahead of what the satellite has played (counted
    from the first send), so that the satellite never has to hold a whole file."""

    def __init__(
        self,
        send: Callable[[bytes], Awaitable[None]],
        playback: Playback,
        lead_s: float,
        *,
        wanted: Callable[[], bool] = lambda: True,
    ) -> None:
        self._send = send
        self._playback = playback
        self._lead_s = lead_s
        self._wanted = wanted  # False once the stream was stopped: nothing more is sent
        self._started: float | None = None

    async def send(self, pcm: bytes, chunk_bytes: int) -> None:
        loop = asyncio.get_running_loop()
        if self._started is None:
            self._started = loop.time()
        for start in range(0, len(pcm), chunk_bytes):
            if not self._wanted():
                return
            ahead = self._playback.audio_ms / 1000 - (loop.time() - self._started)
            if ahead > self._lead_s:
                await asyncio.sleep(ahead - self._lead_s)
            chunk = pcm[start : start + chunk_bytes]
            self._playback.add_audio(chunk)
            await self._send(chunk)

    @property
    def unplayed_s(self) -> float:
        """How much of what was sent the satellite has not played yet (at most)."""
        if self._started is None:
            return 0.0
        elapsed = asyncio.get_running_loop().time() - self._started
        return max(0.0, self._playback.audio_ms / 1000 - elapsed)
