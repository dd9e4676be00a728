"""A real agent on WAV files and a fake HA (the real SatelliteLinkClient) on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soxr
from scipy import signal

from realtime_voice_dev.corpus import synthesize
from realtime_voice_satellite.agent.agent import SatelliteAgent
from realtime_voice_satellite.agent.audio_io import AudioSource, WavFileSink, WavFileSource
from realtime_voice_satellite.agent.build import build_agent
from realtime_voice_satellite.agent.config import SatelliteConfig, parse_config, with_overrides
from realtime_voice_satellite.agent.room import EchoRoomSource, load_impulse_response
from realtime_voice_satellite.audio import read_wav, write_wav
from realtime_voice_satellite.link import Audio, LinkEvent, SatelliteLinkClient
from realtime_voice_satellite.link import protocol as p
from tests.helpers.audio import silence

KEY = "a-test-access-key-of-some-length"
SPEED = 2.0  # the WAV source and sink run twice as fast as real time: same timeline, half the wait
CACHE = Path(__file__).resolve().parents[1] / ".cache" / "satellite"


def speech(text: str, rate: int, voice: str = "en-us") -> np.ndarray:
    samples, source_rate = read_wav(synthesize(text, voice))
    if source_rate != rate:
        samples = soxr.resample(samples, source_rate, rate).astype(np.int16)
    return samples


@dataclass
class Script:
    """An input WAV built from parts, remembering where each part starts and ends (seconds)."""

    rate: int = 22_050
    parts: list[np.ndarray] = field(default_factory=list)
    marks: dict[str, tuple[float, float]] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return sum(len(x) for x in self.parts) / self.rate

    def add(self, samples: np.ndarray, mark: str | None = None) -> Script:
        start = self.seconds
        self.parts.append(samples)
        if mark:
            self.marks[mark] = (start, self.seconds)
        return self

    def say(self, text: str, mark: str | None = None, voice: str = "en-us") -> Script:
        return self.add(speech(text, self.rate, voice), mark)

    def pause(self, seconds: float) -> Script:
        return self.add(silence(seconds, self.rate))

    def samples(self) -> np.ndarray:
        return np.concatenate(self.parts)

    def write(self, name: str) -> Path:
        CACHE.mkdir(parents=True, exist_ok=True)
        path = CACHE / f"{name}.wav"
        write_wav(path, self.samples(), self.rate)
        return path


def command_script() -> Script:
    """The wake word, then a command, as a user says them."""
    return (
        Script()
        .pause(1.5)
        .say("hey jarvis", "wake")
        .pause(0.1)
        .say("turn on the light", "command")
        .pause(1.0)
    )


def config(**sections: dict[str, object]) -> SatelliteConfig:
    text = f"""
name: Test satellite
link: {{access_key: {KEY}, host: 127.0.0.1, ping_interval_s: 0.5, ping_timeout_s: 1.0}}
zeroconf: {{enabled: false}}
wake_word: {{models: [hey_jarvis], threshold: 0.5, barge_in_threshold: 0.8, warmup_s: 1.0}}
audio: {{output_rate: 24000, prebuffer_ms: 60}}
conversation: {{chime: true, pre_roll_ms: 300, echo_guard_ms: 500}}
"""
    base = parse_config(text, "test.yaml")
    return with_overrides(base, link={"port": 0}, **sections)


class EchoSource(WavFileSource):
    """The room: the microphone hears the WAV plus what the speaker plays, at full level and
    ``latency_s`` after the speaker starts (its buffer and the room).

    The source and the sink are paced by separate tasks; on a loaded machine either may run late
    and catch up in a burst. Without the latency the microphone, when it ran ahead, found the
    echo not played yet and heard gaps inside words; the latency is the cushion a real device's
    output buffer gives.
    """

    def __init__(
        self, path: Path, sink_rate: int, *, latency_s: float = 0.1, **kwargs: object
    ) -> None:
        super().__init__(path, **kwargs)  # type: ignore[arg-type]
        self._resampler = soxr.ResampleStream(sink_rate, self.rate, 1, dtype="int16")
        self._pending = np.zeros(0, np.int16)
        self._latency = np.zeros(round(latency_s * self.rate), np.int16)
        self._last_heard = float("-inf")

    def hear(self, played: np.ndarray) -> None:
        now = time.monotonic()
        if not len(self._pending) and now - self._last_heard > 0.1:
            # the speaker starts after a pause: its sound reaches the microphone after the latency
            self._pending = self._latency
        self._last_heard = now
        self._pending = np.concatenate([self._pending, self._resampler.resample_chunk(played)])

    async def read(self) -> np.ndarray:
        block = await super().read()
        take = self._pending[: len(block)]
        self._pending = self._pending[len(take) :]
        mixed = block.astype(np.int32)
        mixed[: len(take)] += take
        return np.clip(mixed, -32768, 32767).astype(np.int16)


@dataclass
class Satellite:
    agent: SatelliteAgent
    client: SatelliteLinkClient
    events: asyncio.Queue[LinkEvent]
    output: Path
    log: list[LinkEvent] = field(default_factory=list)

    async def next(self, kind: type, within: float = 10.0) -> LinkEvent:
        """The next event of this type; others are kept in ``log``."""
        async with asyncio.timeout(within):
            while True:
                event = await self.events.get()
                self.log.append(event)
                if isinstance(event, kind):
                    return event

    async def until(self, wanted: LinkEvent, within: float = 10.0) -> None:
        """Wait for an event equal to ``wanted``."""
        while await self.next(type(wanted), within) != wanted:
            pass

    async def audio_until(self, kind: type, within: float = 10.0) -> tuple[bytes, LinkEvent]:
        """Collect audio until an event of this type arrives."""
        chunks: list[bytes] = []
        async with asyncio.timeout(within):
            while True:
                event = await self.events.get()
                self.log.append(event)
                if isinstance(event, Audio):
                    chunks.append(event.pcm)
                elif isinstance(event, kind):
                    return b"".join(chunks), event

    async def audio_for(self, seconds: float, within: float = 10.0) -> bytes:
        """Collect ``seconds`` of audio (at 24 kHz)."""
        chunks: list[bytes] = []
        total = 0
        async with asyncio.timeout(within):
            while total < seconds * p.AUDIO_RATE * 2:
                event = await self.events.get()
                self.log.append(event)
                if isinstance(event, Audio):
                    chunks.append(event.pcm)
                    total += len(event.pcm)
        return b"".join(chunks)

    async def play(self, stream_id: str, samples_24k: np.ndarray, chunk_ms: int = 100) -> None:
        await self.client.play_start(stream_id)
        pcm = samples_24k.astype("<i2").tobytes()
        step = p.AUDIO_RATE * 2 * chunk_ms // 1000
        for i in range(0, len(pcm), step):
            await self.client.play_audio(pcm[i : i + step])
        await self.client.play_end(stream_id)


@contextlib.asynccontextmanager
async def running_satellite(
    input_wav: Path,
    tmp_path: Path,
    cfg: SatelliteConfig | None = None,
    *,
    echo: bool = False,
    room: str | None = None,
    microphone: AudioSource | None = None,
) -> AsyncIterator[Satellite]:
    """``echo``: the test's own full-level echo; ``room``: file mode's ``--echo`` room (an
    impulse response file or ``default``), as the CLI sets it up; ``microphone``: this source
    instead of ``input_wav`` (e.g. a ``DeviceSource``)."""
    cfg = cfg or config()
    output = tmp_path / "out.wav"
    sink = WavFileSink(output, 24_000, speed=SPEED)
    source: AudioSource
    if microphone is not None:
        source = microphone
    elif room is not None:
        wav = WavFileSource(input_wav, speed=SPEED)
        source = EchoRoomSource(wav, load_impulse_response(room, wav.rate))
    elif echo:
        echo_source = EchoSource(input_wav, sink.rate, speed=SPEED)
        sink.on_block = echo_source.hear
        source = echo_source
    else:
        source = WavFileSource(input_wav, speed=SPEED)
    agent = build_agent(cfg, source, sink)
    if isinstance(source, EchoRoomSource):
        source.hear(agent.playback_tap)
    events: asyncio.Queue[LinkEvent] = asyncio.Queue()
    client = SatelliteLinkClient("127.0.0.1", 0, KEY, ping_interval=0.5, ping_timeout=1.0)
    pump: asyncio.Task[None] | None = None
    await agent.start()
    try:
        client.port = agent.server.port
        await client.connect()

        async def pump_events() -> None:
            async for event in client.events():
                events.put_nowait(event)

        pump = asyncio.create_task(pump_events())
        yield Satellite(agent, client, events, output)
    finally:
        await client.close()
        if pump is not None:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pump
        await agent.stop()


def locate(needle: np.ndarray, haystack: np.ndarray) -> tuple[int, float]:
    """Offset of ``needle`` in ``haystack`` by cross-correlation, and the normalised peak (0..1)."""
    a = needle.astype(np.float64)
    b = haystack.astype(np.float64)
    corr = signal.correlate(b, a, mode="valid", method="fft")
    offset = int(np.argmax(corr))
    window = b[offset : offset + len(a)]
    peak = float(corr[offset] / (np.linalg.norm(a) * np.linalg.norm(window) + 1e-9))
    return offset, peak


def pcm_to_samples(pcm: bytes) -> np.ndarray:
    return np.frombuffer(pcm, dtype="<i2").astype(np.int16)
