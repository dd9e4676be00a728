"""The jitter buffer between the link and the output callback."""

from __future__ import annotations

import asyncio
import logging

import numpy as np
import pytest

from realtime_voice_satellite.agent.player import Player, Stopped
from tests.helpers import audio

RATE = 24_000
BLOCK = 480  # 20 ms


def tone(seconds: float, rate: int = RATE) -> np.ndarray:
    return audio.tone16(440, seconds, rate, 10_000)


def pcm(samples: np.ndarray) -> bytes:
    return samples.astype("<i2").tobytes()


async def test_prebuffer_then_exact_audio_then_finished_with_played_ms() -> None:
    finished: list[tuple[str, str, int]] = []
    player = Player(RATE, prebuffer_ms=100, on_finished=lambda *a: finished.append(a))
    assert player.read(BLOCK) is None  # nothing playing
    player.start("s1", "response")
    audio = tone(0.5)
    player.feed(pcm(audio[:1200]))  # 50 ms: under the prebuffer
    assert not player.read(BLOCK).any()  # type: ignore[union-attr]
    player.feed(pcm(audio[1200:]))
    player.end("s1")
    out = []
    while (block := player.read(BLOCK)) is not None:
        out.append(block)
    played = np.concatenate(out)
    assert np.array_equal(played[: len(audio)], audio)
    assert not played[len(audio) :].any()
    await asyncio.sleep(0)  # on_finished runs on the loop
    assert finished == [("s1", "response", 500)]
    assert player.current is None


async def test_underrun_pads_with_silence_and_rebuffers() -> None:
    player = Player(RATE, prebuffer_ms=40)
    player.start("s", "response")
    player.feed(pcm(tone(0.06)))  # 60 ms
    blocks = [player.read(BLOCK) for _ in range(4)]
    assert all(b is not None for b in blocks)
    assert blocks[0].any()
    assert blocks[1].any()
    assert player.underruns == 1  # the third block ran dry
    assert not blocks[3].any()  # type: ignore[union-attr]  # waiting for 40 ms again
    player.feed(pcm(tone(0.04)))
    assert player.read(BLOCK).any()  # type: ignore[union-attr]


async def test_stop_takes_effect_at_the_next_block_and_reports_played_ms() -> None:
    player = Player(RATE, prebuffer_ms=0)
    player.start("s", "announcement")
    player.feed(pcm(tone(1.0)))
    for _ in range(10):
        player.read(BLOCK)
    assert player.stop() == Stopped("s", "announcement", 200)
    assert player.read(BLOCK) is None
    player.feed(pcm(tone(0.1)))  # late audio of the stopped stream is dropped
    assert player.read(BLOCK) is None


async def test_a_new_stream_replaces_the_old_one() -> None:
    player = Player(RATE, prebuffer_ms=0)
    player.start("a", "response")
    player.feed(pcm(tone(0.2)))
    player.read(BLOCK)
    assert player.start("b", "chime") == Stopped("a", "response", 20)
    assert player.current == ("b", "chime")


async def test_resamples_to_the_device_rate_and_applies_volume() -> None:
    finished: list[tuple[str, str, int]] = []
    player = Player(48_000, prebuffer_ms=0, volume=0.5, on_finished=lambda *a: finished.append(a))
    player.start("s", "response")
    player.feed(pcm(tone(0.3)))
    player.end("s")
    out = []
    while (block := player.read(960)) is not None:
        out.append(block)
    played = np.concatenate(out)
    await asyncio.sleep(0)
    assert finished[0][2] in range(295, 321)  # 0.3 s, in whole 20 ms blocks of 48 kHz
    peak = np.abs(played).max()
    assert 4500 < peak < 5500  # half of 10000
    spectrum = np.abs(np.fft.rfft(played))
    assert abs(np.argmax(spectrum) * 48_000 / len(played) - 440) < 10  # still 440 Hz at 48 kHz


async def test_read_from_another_thread() -> None:
    """The device callback runs on PortAudio's thread."""
    finished = asyncio.Event()
    player = Player(RATE, prebuffer_ms=0, on_finished=lambda *a: finished.set())
    player.start("s", "response")
    player.feed(pcm(tone(0.2)))
    player.end("s")

    def drain() -> int:
        count = 0
        while player.read(BLOCK) is not None:
            count += 1
        return count

    blocks = await asyncio.to_thread(drain)
    await asyncio.wait_for(finished.wait(), 1)
    assert blocks == 11  # 10 full blocks, then the one that ran out


async def test_buffer_holds_at_most_its_seconds_of_audio_and_logs_drops_rate_limited(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A peer sending far more than is played (issue #13: 150 MB grew the satellite by 200 MB)."""
    from realtime_voice_satellite.agent.player import MAX_BUFFERED_S

    assert MAX_BUFFERED_S <= 300
    player = Player(RATE, prebuffer_ms=0, max_buffered_s=2.0)
    player.start("s1", "response")
    second = pcm(tone(1.0))
    with caplog.at_level(logging.WARNING):
        for _ in range(600):  # ten minutes of audio at once
            player.feed(second)
    assert player.buffered_ms == 2000
    assert player.dropped == 598 * RATE
    drops = [r for r in caplog.records if "playback buffer full" in r.getMessage()]
    assert len(drops) == 1
    # what was kept plays, and room frees up as it does
    assert player.read(RATE) is not None
    player.feed(second)
    assert player.buffered_ms == 2000
    # the default: minutes, not unbounded
    assert Player(48_000).max_buffered == 48_000 * MAX_BUFFERED_S
