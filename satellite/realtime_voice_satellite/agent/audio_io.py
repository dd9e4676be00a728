"""Where the satellite's audio comes from and goes to: sound devices or WAV files, one interface.

An :class:`AudioSource` yields int16 mono blocks at its ``rate``; an :class:`AudioSink` pulls
int16 mono blocks at its ``rate`` from a ``pull(frames)`` function (the player), which returns
None when nothing is playing. Devices run through ``sounddevice`` (imported lazily: a machine
without PortAudio can still use the WAV files); their callbacks run on PortAudio's thread and hand
audio to the event loop with ``call_soon_threadsafe``, never blocking, or (``attach``) straight to
a consumer such as the agent's capture worker. Audio lost on the way is logged (:class:`DropReport`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..audio.wav import WavWriter, read_wav
from ..link.log_limit import RateLimitedLog
from . import portaudio

_LOGGER = logging.getLogger(__name__)

Pull = Callable[[int], np.ndarray | None]
REOPEN_INTERVAL_S = 2.0  # how often a vanished device is looked for
WATCH_INTERVAL_S = 0.5  # how often an open device is checked
STALL_S = 1.5  # no callback for this long: the device is gone even if PortAudio did not say so
DROP_LOG_INTERVAL_S = 60.0

# why microphone audio was lost
LOOP_BEHIND = "the event loop did not take it in time"
INPUT_OVERFLOW = "input overflow in the sound device"
QUEUE_FULL = "processing queue full"


class AudioDeviceError(RuntimeError):
    """A device that cannot be found or opened; the message names it."""


class AudioSource(Protocol):
    rate: int

    async def start(self) -> None: ...

    async def read(self) -> np.ndarray: ...

    async def stop(self) -> None: ...


Consumer = Callable[[np.ndarray, float, bool], None]


@runtime_checkable
class PushSource(AudioSource, Protocol):
    """A source that can hand its blocks to a consumer on its own thread (``DeviceSource``)."""

    def attach(self, consumer: Consumer | None) -> None: ...


class AudioSink(Protocol):
    rate: int

    async def start(self, pull: Pull) -> None: ...

    async def stop(self) -> None: ...


class DropReport:
    """Audio lost (``what``, in ``unit``s: microphone blocks by default), as warnings: the first
    loss at once, then at most one line every ``interval_s`` (:class:`RateLimitedLog`) with what
    was lost since the line before, by cause. Used from one thread."""

    def __init__(
        self,
        *,
        what: str = "microphone audio",
        unit: str = "block",
        interval_s: float = DROP_LOG_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._what = what.replace("%", "%%")
        self._unit = unit.replace("%", "%%")
        self._log = RateLimitedLog(_LOGGER, interval_s, clock=clock)
        self._clock = clock
        self.interval_s = interval_s
        self.total = 0
        self._unlogged: dict[str, int] = {}
        self._since = 0.0

    def lost(self, reason: str, blocks: int = 1) -> None:
        if blocks <= 0:
            return
        now = self._clock()
        if not self._unlogged:
            self._since = now
        self.total += blocks
        self._unlogged[reason] = self._unlogged.get(reason, 0) + blocks
        count = sum(self._unlogged.values())
        causes = ", ".join(f"{n} {cause}" for cause, n in self._unlogged.items())
        if self.total == count:  # the first line
            logged = self._log.log(
                "lost",
                f"{self._what} lost: %d {self._unit}%s (%s); further losses are logged at most "
                "once every %g s",
                count,
                "" if count == 1 else "s",
                reason if len(self._unlogged) == 1 else causes,
                self.interval_s,
            )
        else:
            logged = self._log.log(
                "lost",
                f"{self._what} lost: %d {self._unit}s in the last %.0f s (%s); %d in all",
                count,
                now - self._since,
                causes,
                self.total,
            )
        if logged:
            self._unlogged = {}


# --- WAV files ---------------------------------------------------------------------------------


class WavFileSource:
    """A WAV file paced in real time (``speed`` times), then silence for ever."""

    def __init__(self, path: str | Path, *, block_ms: int = 20, speed: float = 1.0) -> None:
        self.path = Path(path)
        self.samples, self.rate = read_wav(self.path)
        self.block = self.rate * block_ms // 1000
        self._period = block_ms / 1000 / speed
        self._position = 0
        self._next_due = 0.0

    @property
    def finished(self) -> bool:
        """True once the file has been read to its end (the source goes on with silence)."""
        return self._position >= len(self.samples)

    async def start(self) -> None:
        self._next_due = asyncio.get_running_loop().time()

    async def read(self) -> np.ndarray:
        loop = asyncio.get_running_loop()
        await asyncio.sleep(max(0.0, self._next_due - loop.time()))
        self._next_due += self._period
        block = self.samples[self._position : self._position + self.block]
        self._position += self.block
        if len(block) < self.block:
            block = np.concatenate([block, np.zeros(self.block - len(block), np.int16)])
        return block

    async def stop(self) -> None:
        return None


class WavFileSink:
    """Pulls a block every ``block_ms`` in real time and appends what plays to a growing WAV."""

    def __init__(
        self, path: str | Path, rate: int = 24_000, *, block_ms: int = 20, speed: float = 1.0
    ) -> None:
        self.path = Path(path)
        self.rate = rate
        self.block = rate * block_ms // 1000
        self._period = block_ms / 1000 / speed
        self._writer: WavWriter | None = None
        self._task: asyncio.Task[None] | None = None
        self.on_block: Callable[[np.ndarray], None] | None = None  # sees every block played

    async def start(self, pull: Pull) -> None:
        self._writer = WavWriter(self.path, self.rate)
        self._task = asyncio.create_task(self._run(pull), name="wav-sink")

    async def _run(self, pull: Pull) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        while True:
            due += self._period
            await asyncio.sleep(max(0.0, due - loop.time()))
            block = pull(self.block)
            if block is None:
                continue  # nothing playing: the file holds only what was played
            assert self._writer is not None
            self._writer.write(block)
            if self.on_block is not None:
                self.on_block(block)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._writer is not None:
            self._writer.close()
            self._writer = None


# --- sound devices -----------------------------------------------------------------------------


def _sounddevice() -> Any:
    try:
        import sounddevice
    except OSError as err:  # PortAudio missing
        raise AudioDeviceError(portaudio.missing(err)) from err
    return sounddevice


def _device_info(device: str | int | None, kind: str) -> Any:
    sd = _sounddevice()
    try:
        return sd.query_devices(device, kind)
    except ValueError as err:  # a name that matches no device, or a device of the other kind
        raise AudioDeviceError(f"audio.{kind}_device: {err}") from err
    except sd.PortAudioError as err:  # an index PortAudio does not list, or no default device
        which = f"default {kind} device" if device is None else f"{kind} device {device!r}"
        raise AudioDeviceError(f"audio.{kind}_device: no {which} ({err})") from err


def native_rate(device: str | int | None, kind: str) -> int:
    """The device's default sample rate (no resampling inside PortAudio or ALSA's plug layer)."""
    return int(_device_info(device, kind)["default_samplerate"])


class _DeviceStream:
    """Opens a PortAudio stream and reopens it when the device vanishes and comes back."""

    kind = "input"

    def __init__(self, device: str | int | None, rate: int | None, block_ms: int) -> None:
        self.device = device
        self.rate = rate or native_rate(device, self.kind)
        # An index is a position in PortAudio's list: when a device goes, the ones after it move
        # up. The device reopened is the one the index named at the start, wherever it is then.
        self._name = str(_device_info(device, self.kind)["name"]) if type(device) is int else None
        self.block = self.rate * block_ms // 1000
        self._stream: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._watch: asyncio.Task[None] | None = None
        self._lost = False
        self._last_callback = time.monotonic()  # written on PortAudio's thread: a float, atomic
        self.reopened = 0

    def _open(self) -> Any:
        sd = _sounddevice()
        stream_class = sd.InputStream if self.kind == "input" else sd.OutputStream
        return stream_class(
            device=self._listed_device(),
            samplerate=self.rate,
            blocksize=self.block,
            channels=1,
            dtype="int16",
            callback=self._callback,
            finished_callback=self._on_finished,
        )

    def _open_started(self) -> Any:
        """A started stream; one that opened but would not start is closed, not leaked."""
        stream = self._open()
        self._last_callback = time.monotonic()
        try:
            stream.start()
        except BaseException:
            with contextlib.suppress(Exception):
                stream.close()
            raise
        return stream

    def _listed_device(self) -> str | int | None:
        """What to open now: ``device``, but an index only while it names the same device."""
        if self._name is None:
            return self.device
        sd = _sounddevice()
        with contextlib.suppress(ValueError, sd.PortAudioError):
            if sd.query_devices(self.device, self.kind)["name"] == self._name:
                return self.device
        try:
            info = sd.query_devices(self._name, self.kind)  # listed elsewhere now?
        except (ValueError, sd.PortAudioError):
            info = None
        if info is None or info["name"] != self._name:  # a name query also matches parts
            raise ValueError(f"no {self.kind} device named {self._name!r}")
        return int(info["index"])

    def _callback(self, data: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        raise NotImplementedError

    async def _start(self) -> None:
        self._loop = asyncio.get_running_loop()
        try:
            self._stream = self._open_started()
            _OPEN.add(self)
        except Exception as err:
            raise AudioDeviceError(
                f"audio.{self.kind}_device {self.device!r}: {portaudio.explain(err, self.kind)}"
            ) from err
        self._watch = asyncio.create_task(self._watch_device(), name=f"{self.kind}-device-watch")

    def _on_finished(self) -> None:
        """PortAudio ended the stream on its own: the device went away."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._mark_lost)

    def _mark_lost(self) -> None:
        self._lost = True

    async def _watch_device(self) -> None:
        while True:
            await asyncio.sleep(WATCH_INTERVAL_S)
            stalled = time.monotonic() - self._last_callback > STALL_S
            if not self._lost and not stalled and self._stream is not None and self._stream.active:
                continue
            _LOGGER.warning(
                "%s device %r is gone (%s); waiting for it to come back",
                self.kind,
                self.device,
                f"no audio for {STALL_S:.1f} s" if stalled else "stream ended",
            )
            with contextlib.suppress(Exception):
                self._stream.close()
            self._stream = None
            _OPEN.discard(self)
            while self._stream is None:
                await asyncio.sleep(REOPEN_INTERVAL_S)
                try:
                    _rescan_devices()
                    stream = self._open_started()
                except Exception as err:
                    _LOGGER.debug("%s device %r not back yet: %s", self.kind, self.device, err)
                    continue
                self._stream = stream
                _OPEN.add(self)
                self._lost = False
                self.reopened += 1
                _LOGGER.warning("%s device %r is back", self.kind, self.device)

    async def stop(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
            self._watch = None
        _OPEN.discard(self)
        stream, self._stream = self._stream, None
        if stream is not None:
            # close() alone: it discards what is buffered. stop() first would wait for the device
            # to play or deliver it, which a device that went quiet never does (PortAudio waited
            # 47 s for a stalled input and for ever for an output, blocking the event loop).
            try:
                stream.close()
            except Exception as err:  # a device that is gone may fail this too; it is closed
                _LOGGER.debug("%s device %r: closing: %s", self.kind, self.device, err)


_OPEN: set[_DeviceStream] = set()


def _rescan_devices() -> None:
    """PortAudio lists devices once at start; a re-plugged USB device needs a fresh list.

    Re-initialising PortAudio would break the streams still open, so it happens only when none
    is (e.g. one USB headset with microphone and speaker unplugged); otherwise the old list is
    tried, which finds devices that came back under their old number.
    """
    if _OPEN:
        return
    sd = _sounddevice()
    with contextlib.suppress(Exception):
        sd._terminate()
        sd._initialize()


class DeviceSource(_DeviceStream):
    """Microphone through sounddevice; blocks queue up on the event loop (oldest dropped if full),
    or go to a consumer (:meth:`attach`)."""

    kind = "input"

    def __init__(
        self,
        device: str | int | None = None,
        rate: int | None = None,
        *,
        block_ms: int = 20,
        max_blocks: int = 50,
    ) -> None:
        super().__init__(device, rate, block_ms)
        self._blocks: deque[np.ndarray] = deque(maxlen=max_blocks)
        self._ready = asyncio.Event()
        self._consumer: Consumer | None = None
        self.input_overflows = 0  # PortAudio's flag (written on its thread)
        self.dropped = 0  # blocks the event loop did not read in time (written on the loop)
        self.drops = DropReport()  # the event loop's, for the blocks read with ``read``

    @property
    def overflows(self) -> int:
        """Blocks lost: by the device (input overflow) or because the loop fell behind."""
        return self.input_overflows + self.dropped

    def attach(self, consumer: Consumer | None) -> None:
        """Hand each block to ``consumer(block, captured_at, overflowed)`` on PortAudio's thread
        instead of queueing it for :meth:`read` (``captured_at``: ``time.monotonic()``, the event
        loop's clock; ``overflowed``: the device lost audio before it). The consumer must not
        block, and logs the losses it is told of."""
        self._consumer = consumer

    def _callback(self, indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        # PortAudio's thread: copy and hand over, nothing that can block.
        now = self._last_callback = time.monotonic()
        overflowed = bool(status and status.input_overflow)
        if overflowed:
            self.input_overflows += 1
        block = indata[:, 0].copy()
        consumer = self._consumer
        if consumer is not None:
            consumer(block, now, overflowed)
            return
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._deliver, block, overflowed)

    def _deliver(self, block: np.ndarray, overflowed: bool = False) -> None:
        if overflowed:
            self.drops.lost(INPUT_OVERFLOW)
        if len(self._blocks) == self._blocks.maxlen:
            self.dropped += 1  # the loop fell behind: the oldest block is dropped
            self.drops.lost(LOOP_BEHIND)
        self._blocks.append(block)
        self._ready.set()

    async def start(self) -> None:
        await self._start()

    async def read(self) -> np.ndarray:
        while not self._blocks:
            self._ready.clear()
            await self._ready.wait()
        return self._blocks.popleft()


class DeviceSink(_DeviceStream):
    """Speaker through sounddevice; its callback pulls from the player on PortAudio's thread."""

    kind = "output"

    def __init__(
        self, device: str | int | None = None, rate: int | None = None, *, block_ms: int = 20
    ) -> None:
        super().__init__(device, rate, block_ms)
        self._pull: Pull | None = None

    def _callback(self, outdata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        self._last_callback = time.monotonic()
        block = self._pull(frames) if self._pull is not None else None
        if block is None:
            outdata.fill(0)
        else:
            outdata[:, 0] = block

    async def start(self, pull: Pull) -> None:
        self._pull = pull
        await self._start()
