"""Audio sources and sinks: WAV files for real; sound devices through a stand-in for sounddevice.

There is no sound card here, so ``FakeSoundDevice`` plays PortAudio's part as sounddevice exposes
it: streams run their callback on their own thread once per block, end with ``finished_callback``
when the device is unplugged, and a device that is gone cannot be queried or opened.
"""

from __future__ import annotations

import asyncio
import threading
import time
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from realtime_voice_satellite.agent import audio_io
from realtime_voice_satellite.agent.audio_io import (
    AudioDeviceError,
    DeviceSink,
    DeviceSource,
    WavFileSink,
    WavFileSource,
)
from realtime_voice_satellite.agent.player import Player
from realtime_voice_satellite.audio import write_wav
from tests.helpers import audio
from tests.helpers.waiting import wait_until


class FakeStream:
    def __init__(
        self,
        sd: FakeSoundDevice,
        kind: str,
        *,
        device: Any,
        samplerate: int,
        blocksize: int,
        channels: int,
        dtype: str,
        callback: Any,
        finished_callback: Any,
    ) -> None:
        if not sd.plugged:
            raise sd.PortAudioError(f"Error opening {kind} stream: device unavailable")
        assert (channels, dtype) == (1, "int16")
        self.sd, self.kind, self.rate, self.block = sd, kind, samplerate, blocksize
        self.callback, self.finished_callback = callback, finished_callback
        self.active = False
        self.closed = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.position = 0
        sd.streams.append(self)

    def start(self) -> None:
        if self.sd.start_fails:  # opened, but PortAudio cannot start it (device busy)
            raise self.sd.PortAudioError("Error starting stream: Device unavailable")
        self.active = True
        self._thread = threading.Thread(target=self._run)
        self._thread.start()

    def _run(self) -> None:
        period = self.block / self.rate
        while not self._stop.wait(period):
            if not self.sd.plugged:  # PortAudio ends the stream and tells the finished callback
                self.active = False
                self.finished_callback()
                return
            if self.sd.stalled:  # some ALSA drivers: the stream stays "active" but goes quiet
                continue
            if self.kind == "input":
                seconds = self.block / self.rate
                data = audio.tone16(1000, seconds, self.rate, 8000, start=self.position)
                data = data.reshape(-1, 1)
                self.callback(data, self.block, None, None)
            else:
                out = np.zeros((self.block, 1), np.int16)
                self.callback(out, self.block, None, None)
                self.sd.played.append(out[:, 0].copy())
            self.position += self.block

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        self.active = False

    def close(self) -> None:
        self.stop()
        self.closed = True


class FakeSoundDevice:
    class PortAudioError(Exception):
        pass

    def __init__(self) -> None:
        self.plugged = True
        self.stalled = False
        self.start_fails = False
        self.streams: list[FakeStream] = []
        self.played: list[np.ndarray] = []

    def query_devices(self, device: Any, kind: str) -> dict[str, Any]:
        if not self.plugged or device not in (None, "USB", 1):
            raise ValueError(f"No {kind} device matching {device!r}")
        return {"name": "USB Audio", "default_samplerate": 48000.0}

    def InputStream(self, **kwargs: Any) -> FakeStream:
        return FakeStream(self, "input", **kwargs)

    def OutputStream(self, **kwargs: Any) -> FakeStream:
        return FakeStream(self, "output", **kwargs)

    def _terminate(self) -> None:
        pass

    def _initialize(self) -> None:
        pass


@pytest.fixture
def sd(monkeypatch: pytest.MonkeyPatch) -> FakeSoundDevice:
    fake = FakeSoundDevice()
    monkeypatch.setattr(audio_io, "_sounddevice", lambda: fake)
    monkeypatch.setattr(audio_io, "REOPEN_INTERVAL_S", 0.05)
    monkeypatch.setattr(audio_io, "WATCH_INTERVAL_S", 0.02)
    monkeypatch.setattr(audio_io, "STALL_S", 0.2)
    return fake


async def test_device_source_at_native_rate_hands_blocks_to_the_loop(sd: FakeSoundDevice) -> None:
    source = DeviceSource("USB", block_ms=20)
    assert source.rate == 48000
    await source.start()
    try:
        blocks = [await asyncio.wait_for(source.read(), 1) for _ in range(5)]
    finally:
        await source.stop()
    assert all(b.dtype == np.int16 and len(b) == 960 for b in blocks)
    # consecutive blocks of the same sine: nothing lost or reordered in the hand-over
    joined = np.concatenate(blocks).astype(float)
    expected = audio.tone16(1000, len(joined) / 48000, 48000, 8000)
    assert np.abs(joined - expected).max() <= 1


async def test_a_stream_that_will_not_start_is_closed_not_leaked(sd: FakeSoundDevice) -> None:
    source = DeviceSource("USB", block_ms=20)
    sd.start_fails = True
    with pytest.raises(AudioDeviceError, match="Error starting stream"):
        await source.start()
    (stream,) = sd.streams
    assert stream.closed
    # and while it keeps failing after an unplug, each reopen attempt closes its stream too
    sd.start_fails = False
    await source.start()
    try:
        sd.plugged = False
        await asyncio.sleep(0.1)
        sd.start_fails = True
        sd.plugged = True
        await asyncio.sleep(0.3)
        attempts = sd.streams[2:]
        assert attempts
        assert all(s.closed for s in attempts)
        sd.start_fails = False
        await asyncio.wait_for(source.read(), 2)  # and it comes back once it starts
    finally:
        await source.stop()
    assert all(s.closed for s in sd.streams)


async def test_unknown_device_is_named_in_the_error(sd: FakeSoundDevice) -> None:
    with pytest.raises(
        AudioDeviceError, match=r"audio.input_device: No input device matching 'Webcam'"
    ):
        DeviceSource("Webcam")


async def test_unplugged_device_is_reported_and_reopened(
    sd: FakeSoundDevice, caplog: pytest.LogCaptureFixture
) -> None:
    source = DeviceSource("USB", block_ms=10)
    await source.start()
    try:
        await asyncio.wait_for(source.read(), 1)
        sd.plugged = False
        await asyncio.sleep(0.2)
        assert "input device 'USB' is gone" in caplog.text
        assert source.reopened == 0
        sd.plugged = True
        # the watcher has no event to wait on
        await wait_until(lambda: source.reopened > 0, within=2, every=0.02)
        while source._blocks:
            source._blocks.popleft()
        assert len(await asyncio.wait_for(source.read(), 1)) == 480  # audio flows again
        assert "input device 'USB' is back" in caplog.text
    finally:
        await source.stop()


async def test_a_stream_that_goes_quiet_is_reopened(
    sd: FakeSoundDevice, caplog: pytest.LogCaptureFixture
) -> None:
    sink = DeviceSink("USB", 24000, block_ms=10)
    await sink.start(lambda frames: None)
    try:
        sd.stalled = True
        await asyncio.sleep(0.4)
        assert "output device 'USB' is gone (no audio for 0.2 s)" in caplog.text
        sd.stalled = False
        # the watcher has no event to wait on
        await wait_until(lambda: sink.reopened > 0, within=2, every=0.02)
        assert sd.streams[-1].active
        assert not sd.streams[0].active  # the quiet one was closed
    finally:
        await sink.stop()


async def test_device_sink_pulls_the_player_on_its_thread(sd: FakeSoundDevice) -> None:
    sink = DeviceSink(1, 24000, block_ms=20)
    done = asyncio.Event()
    player = Player(24000, prebuffer_ms=0, on_finished=lambda *a: done.set())
    audio = (np.arange(4800) % 100 * 50).astype(np.int16)
    player.start("s", "response")
    player.feed(audio.astype("<i2").tobytes())
    player.end("s")
    await sink.start(player.read)
    try:
        await asyncio.wait_for(done.wait(), 2)
    finally:
        await sink.stop()
    played = np.concatenate(sd.played)
    start = int(np.flatnonzero(played)[0]) - 1  # the sample 0 of the ramp is 0 itself
    assert np.array_equal(played[start : start + len(audio)], audio)


async def test_wav_source_is_paced_and_goes_on_with_silence(tmp_path: Path) -> None:
    path = tmp_path / "in.wav"
    write_wav(path, np.full(1600, 1000, np.int16), 16000)  # 0.1 s
    source = WavFileSource(path, block_ms=20, speed=2.0)
    await source.start()
    started = time.perf_counter()
    blocks = [await source.read() for _ in range(10)]  # 0.2 s of audio at twice real time
    elapsed = time.perf_counter() - started
    assert 0.07 < elapsed < 0.3
    assert all(len(b) == 320 for b in blocks)
    assert all(b.all() for b in blocks[:5])
    assert not any(b.any() for b in blocks[5:])
    assert source.finished


async def test_wav_sink_grows_with_what_is_played_only(tmp_path: Path) -> None:
    path = tmp_path / "out.wav"
    sink = WavFileSink(path, 24000, block_ms=20, speed=4.0)
    done = asyncio.Event()
    player = Player(24000, prebuffer_ms=0, on_finished=lambda *a: done.set())
    await sink.start(player.read)
    try:
        await asyncio.sleep(0.05)  # nothing playing: nothing written
        assert path.stat().st_size <= 44  # at most a WAV header
        player.start("s", "response")
        player.feed(np.full(2400, 300, "<i2").tobytes())
        player.end("s")
        await asyncio.wait_for(done.wait(), 2)
        with wave.open(str(path)) as w:  # readable while the sink is still open
            assert w.getframerate() == 24000
            frames = np.frombuffer(w.readframes(w.getnframes()), "<i2")
    finally:
        await sink.stop()
    assert np.count_nonzero(frames == 300) == 2400
    assert len(frames) == 2880  # whole blocks: 6 of 480 samples
