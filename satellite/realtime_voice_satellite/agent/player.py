"""Playback: a jitter buffer between the link (24 kHz PCM16 in bursts) and the output's callback.

The asyncio side calls :meth:`Player.start`, :meth:`feed`, :meth:`end` and :meth:`stop`; the
output (a PortAudio thread or the WAV sink's task) calls :meth:`read` once per block. A stream
starts sounding once ``prebuffer_ms`` are buffered (or its end is known); an underrun pads with
silence and buffers again; :meth:`stop` takes effect at the next block. When a stream has played
out, ``on_finished(stream_id, played_ms)`` runs on the event loop.

The buffer holds at most ``max_buffered_s`` seconds of audio (HA sends answers faster than real time
and paces media a few seconds ahead): what a peer sends beyond is dropped, logged at most every 10 s,
so that no stream can grow the satellite's memory without end.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import soxr

from ..link.log_limit import RateLimitedLog
from ..link.protocol import AUDIO_RATE, PlayKind

_LOGGER = logging.getLogger(__name__)

# Three minutes: longer than any spoken answer, about 17 MB at 48 kHz.
MAX_BUFFERED_S = 180.0


@dataclass(slots=True)
class _Stream:
    stream_id: str
    kind: PlayKind
    ended: bool = False
    prebuffering: bool = True
    played: int = 0  # output samples handed to the device
    underruns: int = 0
    done: bool = False  # played out; ``current`` until the event loop has heard of it


@dataclass(frozen=True, slots=True)
class Stopped:
    stream_id: str
    kind: PlayKind
    played_ms: int


class Player:
    def __init__(
        self,
        output_rate: int,
        *,
        prebuffer_ms: int = 120,
        volume: float = 1.0,
        on_finished: Callable[[str, PlayKind, int], None] | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
        max_buffered_s: float = MAX_BUFFERED_S,
    ) -> None:
        self.output_rate = output_rate
        self.max_buffered = int(output_rate * max_buffered_s)
        self.dropped = 0  # output samples dropped because the buffer was full
        self._log = RateLimitedLog(_LOGGER)
        self.prebuffer = output_rate * prebuffer_ms // 1000
        self.volume = volume
        self.underruns = 0
        self.on_finished = on_finished  # settable: the agent's, once it is made
        self._loop = loop
        self._lock = threading.Lock()  # read() runs on the audio thread
        self._stream: _Stream | None = None
        self._chunks: deque[np.ndarray] = deque()
        self._buffered = 0
        self._resampler: soxr.ResampleStream | None = None

    # --- event-loop side -----------------------------------------------------------------------

    @property
    def current(self) -> tuple[str, PlayKind] | None:
        stream = self._stream
        return None if stream is None else (stream.stream_id, stream.kind)

    @property
    def speaking(self) -> bool:
        """An answer or announcement plays (a chime is not speaking)."""
        stream = self._stream
        return stream is not None and stream.kind != "chime"

    @property
    def position_ms(self) -> float:
        """How much of the current stream has gone to the output."""
        stream = self._stream
        return 0.0 if stream is None else stream.played * 1000 / self.output_rate

    @property
    def buffered_ms(self) -> float:
        return self._buffered * 1000 / self.output_rate

    def start(self, stream_id: str, kind: PlayKind) -> Stopped | None:
        """Begin a new stream; the one playing (if any) stops and is returned."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        with self._lock:
            replaced = self._stop_locked()
            self._stream = _Stream(stream_id, kind)
            self._resampler = (
                None
                if self.output_rate == AUDIO_RATE
                else soxr.ResampleStream(
                    AUDIO_RATE, self.output_rate, 1, dtype="int16", quality="HQ"
                )
            )
        return replaced

    def feed(self, pcm: bytes) -> None:
        """Audio of the current stream (PCM16 LE mono 24 kHz); dropped when no stream is open."""
        if self._stream is None or self._stream.ended:
            return
        samples = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2").astype(np.int16)
        if self._resampler is not None:
            samples = self._resampler.resample_chunk(samples)
        with self._lock:
            if self._stream is None or not len(samples):
                return
            room = self.max_buffered - self._buffered
            if len(samples) > room:
                dropped = len(samples) - max(room, 0)
                self.dropped += dropped
                samples = samples[: max(room, 0)]
                self._log.log(
                    "full",
                    "playback buffer full (%.0f s): dropping audio of stream %s (%.0f s so far)",
                    self.max_buffered / self.output_rate,
                    self._stream.stream_id,
                    self.dropped / self.output_rate,
                )
                if not len(samples):
                    return
            self._chunks.append(samples)
            self._buffered += len(samples)

    def end(self, stream_id: str) -> None:
        """No more audio for ``stream_id``: it finishes when the buffer has played."""
        stream = self._stream
        if stream is None or stream.stream_id != stream_id:
            return
        tail = (
            self._resampler.resample_chunk(np.zeros(0, np.int16), last=True)
            if self._resampler
            else None
        )
        with self._lock:
            if tail is not None and len(tail):
                self._chunks.append(tail)
                self._buffered += len(tail)
            stream.ended = True

    def stop(self) -> Stopped | None:
        """Stop now (the output plays silence from its next block); returns what was stopped."""
        with self._lock:
            return self._stop_locked()

    def _stop_locked(self) -> Stopped | None:
        stream = self._stream
        self._stream = None
        self._chunks.clear()
        self._buffered = 0
        if stream is None:
            return None
        return Stopped(stream.stream_id, stream.kind, stream.played * 1000 // self.output_rate)

    # --- output side (any thread) --------------------------------------------------------------

    def read(self, frames: int) -> np.ndarray | None:
        """The next ``frames`` samples, or None when nothing is playing (the output plays silence)."""
        finished: _Stream | None = None
        with self._lock:
            stream = self._stream
            if stream is None or stream.done:
                return None
            if stream.prebuffering:
                if self._buffered < self.prebuffer and not stream.ended:
                    return np.zeros(frames, np.int16)
                stream.prebuffering = False
            out = np.zeros(frames, np.int16)
            filled = 0
            while filled < frames and self._chunks:
                chunk = self._chunks[0]
                take = min(frames - filled, len(chunk))
                out[filled : filled + take] = chunk[:take]
                filled += take
                if take == len(chunk):
                    self._chunks.popleft()
                else:
                    self._chunks[0] = chunk[take:]
            self._buffered -= filled
            stream.played += filled
            if filled < frames:
                if stream.ended:
                    stream.done = True
                    finished = stream
                else:
                    stream.underruns += 1
                    self.underruns += 1
                    stream.prebuffering = True  # let the buffer fill again before going on
        if finished is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(self._complete, finished)
        if self.volume != 1.0:
            return (out.astype(np.float32) * self.volume).astype(np.int16)
        return out

    def _complete(self, stream: _Stream) -> None:
        """On the event loop: the stream has played out (unless stopped or replaced meanwhile)."""
        with self._lock:
            if self._stream is not stream:
                return
            self._stream = None
        if self.on_finished is not None:
            self.on_finished(
                stream.stream_id, stream.kind, stream.played * 1000 // self.output_rate
            )
