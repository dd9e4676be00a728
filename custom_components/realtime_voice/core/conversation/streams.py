"""Everything the satellite plays goes through one stream sender: answers, announcements (their
sound, media and spoken message), timer rings, the error tone and music.

A stream's life: a stream id, ``play_start``, its audio (sent as it comes, or paced at most a few
seconds ahead of what the satellite has played so that it never holds a whole file), ``play_end``,
then the satellite's report that it played it (``playback_finished`` or ``playback_stopped``),
waited for at most the audio not played yet plus a grace. The tracker knows each stream by its id
(an answer's stream id is its answer id): the satellite's reports find it there.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ..link import protocol
from .ports import SatelliteLink

BYTES_PER_MS = protocol.AUDIO_RATE * protocol.AUDIO_SAMPLE_BYTES // 1000  # PCM16 mono 24 kHz
CHUNK_BYTES = 100 * BYTES_PER_MS  # what a paced stream sends at a time
# After the end of a stream's audio, how long its report may take beyond what was not played yet.
FINISH_GRACE_S = 10.0

_PREFIXES: dict[protocol.PlayKind, str] = {
    "response": "answer",
    "announcement": "announce",
    "chime": "error",
    "media": "media",
}


@dataclass
class Playback:
    """One stream on the satellite."""

    stream_id: str
    kind: protocol.PlayKind
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

    def __bool__(self) -> bool:
        return bool(self._streams)

    def add(self, playback: Playback) -> Playback:
        self._streams[playback.stream_id] = playback
        return playback

    def get(self, stream_id: str | None) -> Playback | None:
        return None if stream_id is None else self._streams.get(stream_id)

    def answers(self) -> list[Playback]:
        return [p for p in self._streams.values() if p.kind == "response"]

    def announcement(self) -> Playback | None:
        """The announcement playing now, if one is."""
        return next((p for p in self._streams.values() if p.kind == "announcement"), None)

    def remove(self, stream_id: str, played_ms: int = 0) -> Playback | None:
        """Forget a stream; whoever waits for it learns ``played_ms``."""
        playback = self._streams.pop(stream_id, None)
        if playback is not None and playback.finished is not None and not playback.finished.done():
            playback.finished.set_result(played_ms)
        return playback

    def remove_all(self) -> None:
        """The satellite is gone or stopped everything: nothing will report playback."""
        for stream_id in list(self._streams):
            self.remove(stream_id)


class Stream:
    """One stream being sent (made by StreamSender.open)."""

    def __init__(
        self,
        link: SatelliteLink,
        tracker: PlaybackTracker,
        playback: Playback,
        *,
        lead_s: float | None,
        wanted: Callable[[], bool],
    ) -> None:
        self._link = link
        self._tracker = tracker
        self.playback = playback
        self._lead_s = lead_s
        self._wanted = wanted
        self._send: Callable[[bytes], Awaitable[None]] = (
            link.play_media_audio if playback.kind == "media" else link.play_audio
        )
        self._first_send: float | None = None
        self._stopped = False

    @property
    def stream_id(self) -> str:
        return self.playback.stream_id

    @property
    def wanted(self) -> bool:
        """False once the user stopped it or the satellite ended it: nothing more is sent."""
        return (
            not self.playback.stop_word
            and self._tracker.get(self.stream_id) is self.playback
            and self._wanted()
        )

    async def start(self) -> None:
        self.playback.started = True
        await self._link.play_start(self.stream_id, self.playback.kind)

    async def send(self, pcm: bytes, *, paced: bool = True) -> None:
        """Send ``pcm``: as it is, or (a stream opened with a lead, ``paced``) in chunks of
        CHUNK_BYTES at most the lead ahead of what the satellite has played, counted from the
        first send."""
        loop = asyncio.get_running_loop()
        if self._first_send is None:
            self._first_send = loop.time()
        if self._lead_s is None or not paced:
            self.playback.add_audio(pcm)
            await self._send(pcm)
            return
        for start in range(0, len(pcm), CHUNK_BYTES):
            if not self.wanted:
                return
            ahead = self.unplayed_s
            if ahead > self._lead_s:
                await asyncio.sleep(ahead - self._lead_s)
            chunk = pcm[start : start + CHUNK_BYTES]
            self.playback.add_audio(chunk)
            await self._send(chunk)

    async def end(self) -> None:
        """No more audio comes (the satellite plays what it has, then reports)."""
        if not self.playback.ended:
            self.playback.ended = True
            await self._link.play_end(self.stream_id)

    async def stop(self) -> None:
        """Silence it now (the satellite reports what it played)."""
        self.playback.ended = self._stopped = True
        await self._link.stop_playback(self.stream_id)

    async def finished(self, grace_s: float = FINISH_GRACE_S) -> int:
        """The satellite's report (played ms), waited for at most what was not played yet plus
        ``grace_s``; TimeoutError after that."""
        assert self.playback.finished is not None
        async with asyncio.timeout(self.unplayed_s + grace_s):
            return await asyncio.shield(self.playback.finished)

    def close(self) -> None:
        """Forget it (whoever waits for its report learns 0 ms)."""
        self._tracker.remove(self.stream_id)

    @property
    def unplayed_s(self) -> float:
        """How much of what was sent the satellite has not played yet (at most)."""
        if self._first_send is None or self._stopped:
            return 0.0
        elapsed = asyncio.get_running_loop().time() - self._first_send
        return max(0.0, self.playback.audio_ms / 1000 - elapsed)


class StreamSender:
    """Opens the satellite's streams; the one place that sends play_start, audio and play_end."""

    def __init__(self, link: SatelliteLink, tracker: PlaybackTracker | None = None) -> None:
        self._link = link
        self.playbacks = tracker if tracker is not None else PlaybackTracker()

    def open(
        self,
        kind: protocol.PlayKind,
        *,
        stream_id: str | None = None,
        lead_s: float | None = None,
        wanted: Callable[[], bool] = lambda: True,
    ) -> Stream:
        """A new stream, tracked until the satellite reports it (or ``close``); ``lead_s``: paced
        sending; ``wanted``: False stops paced sending (besides the stop word and the report)."""
        playback = Playback(
            stream_id=stream_id or f"{_PREFIXES[kind]}-{uuid.uuid4().hex[:12]}",
            kind=kind,
            finished=asyncio.get_running_loop().create_future(),
        )
        self.playbacks.add(playback)
        return Stream(self._link, self.playbacks, playback, lead_s=lead_s, wanted=wanted)

    def get(self, stream_id: str) -> Stream | None:
        """The stream of an answer, to send its audio (None: not wanted, or not known)."""
        playback = self.playbacks.get(stream_id)
        if playback is None:
            return None
        return Stream(self._link, self.playbacks, playback, lead_s=None, wanted=lambda: True)

    async def stop(self, stream_id: str) -> None:
        """Silence a stream now (the satellite reports what it played)."""
        if (stream := self.get(stream_id)) is not None:
            await stream.stop()

    async def play_once(self, kind: protocol.PlayKind, pcm: bytes) -> None:
        """A short sound, whole, not tracked (the error tone: nothing waits for its report)."""
        stream_id = f"{_PREFIXES[kind]}-{uuid.uuid4().hex[:12]}"
        await self._link.play_start(stream_id, kind)
        await self._link.play_audio(pcm)
        await self._link.play_end(stream_id)
