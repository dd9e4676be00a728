"""What the speaker really played, as the echo canceller's reference (and the simulated room's).

:class:`PlaybackTap` wraps the player's ``read`` that the output pulls from: every block handed
to the device (silence when nothing plays) is recorded, at the device's rate and when the device
takes it, not as the answer was decoded. Each :class:`PlayedAudio` keeps the last seconds of it
at its own rate for one reader that follows ``margin_s`` behind the newest sample: the margin
absorbs the jitter between the output's and the microphone's blocks, so that the reader takes a
continuous signal.

A reader never waits: a reference that runs dry (a stalled output device) reads as silence, and
one that drifts more than ``resync_s`` from where it should be (a device clock that drifts, a
microphone that fell behind, an output that comes back after a stall) is re-anchored
``margin_s`` behind the newest sample. The canceller then re-converges; the microphone never stops.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable

import numpy as np
import soxr

Pull = Callable[[int], np.ndarray | None]


class PlayedAudio:
    """The last ``keep_s`` of what was played, at ``rate``, for one reader; while ``counts``
    returns False, what plays is recorded as silence."""

    def __init__(
        self,
        played_rate: int,
        rate: int,
        *,
        margin_s: float = 0.06,
        keep_s: float = 2.0,
        resync_s: float = 0.25,
        counts: Callable[[], bool] | None = None,
    ) -> None:
        self.counts = counts
        self.played_rate = played_rate
        self.rate = rate
        self.margin = round(margin_s * rate)
        self.resync = round(resync_s * rate)
        self._ring = np.zeros(round(keep_s * rate), dtype=np.int16)
        self._lock = threading.Lock()
        self._written = 0  # samples ever written (the ring holds the last len(_ring))
        self._read: int | None = None  # the reader's position, in the same count
        self._last_written = 0
        self._resampler: soxr.ResampleStream | None = None
        self._sound_end = 0  # ``_written`` after the last block that counted as sound
        self._taken = 0  # frames the output took, at ``played_rate``
        self._made = 0  # samples made of them, at ``rate``
        self.dry_samples = 0  # asked for but not played yet: read as silence
        # the rates' smallest whole period: so many frames at ``played_rate`` make exactly
        # ``_period_out`` samples at ``rate``
        common = math.gcd(played_rate, rate)
        self._period_in = played_rate // common
        self._period_out = rate // common
        self.resyncs = 0

    # --- the output's side (any thread) --------------------------------------------------------

    def write(self, block: np.ndarray | None, frames: int) -> None:
        """One block the output took (``frames`` samples at ``played_rate``); None: silence."""
        self._taken += frames
        if block is None or (self.counts is not None and not self.counts()):
            self._write_silence()
            return
        if self.played_rate == self.rate:
            samples = block
        else:
            if self._resampler is None:
                self._resampler = soxr.ResampleStream(self.played_rate, self.rate, 1, dtype="int16")
                # Start where a whole resampling period began (the silence was topped up to
                # there), the frames since as zeros: the reference keeps its phase to the
                # sample's fraction across answers (a linear echo canceller, converged on it,
                # removes nothing once it has moved by a third of a sample).
                since = (self._taken - frames) % self._period_in
                if since:
                    block = np.concatenate((np.zeros(since, dtype=block.dtype), block))
            samples = self._resampler.resample_chunk(block)
        self._append(samples)
        self._sound_end = self._written

    def _write_silence(self) -> None:
        # Silence needs no resampler. The one that ran gives back what it holds (its delay), and
        # the silence fills up to what the output took in all, at our rate: the count never
        # drifts, however often sound starts and stops (a fresh resampler's first output is
        # short by its delay; without the top-up every answer moved the reference by it).
        if self._resampler is not None:
            self._append(self._resampler.resample_chunk(np.zeros(0, np.int16), last=True))
            self._resampler = None
        due = self._taken // self._period_in * self._period_out - self._made
        if due > 0:
            self._append(np.zeros(due, dtype=np.int16))

    def _append(self, samples: np.ndarray) -> None:
        n = len(samples)
        if not n:
            return
        self._made += n
        size = len(self._ring)
        with self._lock:
            if n > size:  # only the last ``size`` samples can be kept
                self._written += n - size
                samples = samples[-size:]
                n = size
            start = self._written % size
            first = min(n, size - start)
            self._ring[start : start + first] = samples[:first]
            if first < n:
                self._ring[: n - first] = samples[first:]
            self._written += n

    # --- the reader's side -------------------------------------------------------------------

    @property
    def written(self) -> int:
        """Samples ever written: where the newest one is (for ``read``'s ``as_of``)."""
        return self._written

    @property
    def lead(self) -> int:
        """Samples played beyond the reader's position (negative: the reader is ahead)."""
        return self._written - (self._read if self._read is not None else self._written)

    def silent(self, n: int, *, as_of: int | None = None) -> bool:
        """True, and the ``n`` samples passed, when the next ``n`` are silence; else False and
        nothing read. Cheaper than reading them, for a reader that is idle: no lock, no copy.
        The reader is let go (the next read re-anchors ``margin`` behind the newest sample,
        as the first one does), so only sound within that margin of the newest sample counts;
        a block the output is writing meanwhile is in the margin of the next call. ``as_of``
        as for :meth:`read`."""
        written = self._written if as_of is None else min(as_of, self._written)
        if self._sound_end > written - self.margin - n:
            return False
        self._read = None
        return True

    def _position(self, n: int, written: int) -> int:
        """Where the next read of ``n`` starts (re-anchored if it must be); under the lock."""
        position = self._read
        behind = written - (position + n) if position is not None else 0
        resumed = written != self._last_written
        self._last_written = written
        if (
            position is None
            or behind > self.margin + self.resync  # the microphone fell behind, or drift
            or (behind < -self.resync and resumed)  # the output is back after a stall
        ):
            if position is not None:
                self.resyncs += 1
            # the read ends ``margin`` behind the newest sample (before the first: silence)
            position = written - self.margin - n
        return position

    def read(self, n: int, *, as_of: int | None = None) -> np.ndarray:
        """The next ``n`` samples for the reader; silence for what was not played (yet).
        ``as_of``: read as if only that many samples had been written (``written`` when the
        microphone block was captured, for a reader that processes it later)."""
        with self._lock:
            written = self._written if as_of is None else min(as_of, self._written)
            position = self._position(n, written)
            self._read = position + n
            out = np.zeros(n, dtype=np.int16)
            size = len(self._ring)
            first = max(position, self._written - size, 0)  # older samples are gone
            last = min(position + n, written)
            if last > first:
                self._copy(out, first - position, first, last - first)
            if position + n > written:
                self.dry_samples += min(n, position + n - written)
        return out

    def _copy(self, out: np.ndarray, at: int, start: int, n: int) -> None:
        size = len(self._ring)
        index = start % size
        first = min(n, size - index)
        out[at : at + first] = self._ring[index : index + first]
        if first < n:
            out[at + first : at + n] = self._ring[: n - first]


class PlaybackTap:
    """Wraps the output's pull: every block it takes also goes to each :class:`PlayedAudio`."""

    def __init__(self, pull: Pull, played_rate: int) -> None:
        self._pull = pull
        self.played_rate = played_rate
        self._readers: list[PlayedAudio] = []

    def reader(
        self, rate: int, *, margin_s: float = 0.06, counts: Callable[[], bool] | None = None
    ) -> PlayedAudio:
        played = PlayedAudio(self.played_rate, rate, margin_s=margin_s, counts=counts)
        self._readers = [*self._readers, played]  # the output thread iterates a stable list
        return played

    def __call__(self, frames: int) -> np.ndarray | None:
        block = self._pull(frames)
        for reader in self._readers:
            reader.write(block, frames)
        return block
