"""Satellite figures for ``realtime-voice bench``: the real agent and link on loopback.

- wake -> first audio on the link: from the detector's detection (in the agent) to the first audio
  frame received by a real :class:`SatelliteLinkClient`, over many wakes of a WAV file played four
  times faster than real time; baseline: one audio frame through the same idle link.
- stop_playback -> playback_stopped: what a barge-in or HA's stop costs on the link and player.
- the capture processing's CPU and the microphone's latency through a blocked loop: ``capture.py``.
- play_start -> sound: from HA's first answer audio to the first block the (real-time) speaker
  plays: the link, the jitter buffer's 60 ms prebuffer (filled at once here, as the Realtime API
  sends faster than real time) and up to one 20 ms output block.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from realtime_voice_core.link import Audio, SatelliteLinkClient
from realtime_voice_core.link import protocol as p
from realtime_voice_satellite.agent.audio_io import WavFileSink, WavFileSource
from realtime_voice_satellite.agent.build import build_agent
from realtime_voice_satellite.agent.config import parse_config, with_overrides
from realtime_voice_satellite.audio import read_wav, write_wav

from . import Figure, capture

KEY = "bench-access-key-0123456789"
WAKES = 15
SPEED = 4.0


def _say(text: str, directory: Path) -> tuple[np.ndarray, int]:
    path = directory / f"{abs(hash(text))}.wav"
    subprocess.run(["espeak-ng", "-w", str(path), text], check=True, capture_output=True)
    return read_wav(path)


def _script(directory: Path) -> Path:
    wake, rate = _say("hey jarvis", directory)
    command, _ = _say("turn on the light", directory)
    gap = np.zeros(int(0.1 * rate), np.int16)
    rest = np.zeros(int(2.2 * rate), np.int16)  # longer than the refractory period
    parts = [np.zeros(int(1.5 * rate), np.int16)]
    for _ in range(WAKES):
        parts += [wake, gap, command, rest]
    path = directory / "wakes.wav"
    write_wav(path, np.concatenate(parts), rate)
    return path


class _WakeClock(logging.Handler):
    """When the agent acted on the last detection: its "wake word" log line, written as it
    decides to wake (the agent keeps no timing for the benchmark)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.at = 0.0

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg.startswith("wake word %s (score"):
            self.at = time.perf_counter()

    @contextlib.contextmanager
    def watching(self, logger: logging.Logger) -> Iterator[None]:
        level, propagate = logger.level, logger.propagate
        logger.setLevel(logging.INFO)
        logger.propagate = False  # the bench's own output stays as it was
        logger.addHandler(self)
        try:
            yield
        finally:
            logger.removeHandler(self)
            logger.setLevel(level)
            logger.propagate = propagate


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q))


async def _measure(directory: Path) -> dict[str, list[float]]:
    config = parse_config(
        f"link: {{access_key: {KEY}, host: 127.0.0.1}}\nzeroconf: {{enabled: false}}\n"
        "conversation: {chime: false}\naudio: {output_rate: 24000, prebuffer_ms: 60}\n",
        "bench",
    )
    config = with_overrides(config, link={"port": 0})
    # The microphone runs SPEED times faster than real time (more wakes per second); the speaker
    # runs in real time, as a sound card would pull it.
    sink = WavFileSink(directory / "out.wav", 24000)
    agent = build_agent(config, WavFileSource(_script(directory), speed=SPEED), sink)
    sounding = asyncio.Event()

    def on_block(block: np.ndarray) -> None:
        if block.any():
            sounding.set()

    sink.on_block = on_block
    await agent.start()
    client = SatelliteLinkClient("127.0.0.1", agent.server.port, KEY)
    results: dict[str, list[float]] = {"wake": [], "link": [], "stop": [], "sound": []}
    try:
        await client.connect()
        events = client.events()
        # Baseline: one 20 ms frame through the idle link.
        for _ in range(50):
            sent = time.perf_counter()
            await agent.server.send_audio(b"\0" * p.AUDIO_FRAME_BYTES)
            async for event in events:
                if isinstance(event, Audio):
                    results["link"].append((time.perf_counter() - sent) * 1000)
                    break
        wake_seen = False
        clock = _WakeClock()
        with clock.watching(logging.getLogger(type(agent).__module__)):
            async with asyncio.timeout(WAKES * 3.5 / SPEED + 20):
                async for event in events:
                    if isinstance(event, p.Wake):
                        wake_seen = True
                    elif isinstance(event, Audio) and wake_seen:
                        results["wake"].append((time.perf_counter() - clock.at) * 1000)
                        wake_seen = False
                        await client.stop_listening()
                        if len(results["wake"]) == WAKES:
                            break
        # Stop latency: start an answer, stop it, time the playback_stopped event.
        tone = (np.sin(np.arange(48000) / 5) * 3000).astype("<i2").tobytes()
        for i in range(20):
            await client.play_start(f"s{i}")
            await client.play_audio(tone)
            await asyncio.sleep(0.05)
            sent = time.perf_counter()
            await client.stop_playback(f"s{i}")
            async for event in events:
                if isinstance(event, p.PlaybackStopped):
                    results["stop"].append((time.perf_counter() - sent) * 1000)
                    break
        # Answer latency: from HA's play_start and first audio to sound leaving the speaker.
        for i in range(10):
            await asyncio.sleep(0.1)
            sounding.clear()
            sent = time.perf_counter()
            await client.play_start(f"a{i}")
            await client.play_audio(tone[: p.AUDIO_FRAME_BYTES * 5])
            await client.play_end(f"a{i}")
            await asyncio.wait_for(sounding.wait(), 2)
            results["sound"].append((time.perf_counter() - sent) * 1000)
            async for event in events:
                if isinstance(event, p.PlaybackFinished):
                    break
    finally:
        await client.close()
        await agent.stop()
    return results


def collect() -> list[Figure]:
    if shutil.which("espeak-ng") is None:
        logging.getLogger(__name__).warning("satellite bench skipped: espeak-ng is not installed")
        return []
    with tempfile.TemporaryDirectory() as tmp:
        results = asyncio.run(_measure(Path(tmp)))
        capture_figures = capture.collect_from(lambda text: _say(text, Path(tmp)), Path(tmp))
    logging.getLogger(__name__).debug("wake latencies (ms): %s", results["wake"])
    link_p50 = _percentile(results["link"], 50)
    figures = []
    if results["wake"]:
        figures += [
            Figure(
                "satellite: wake detection -> first audio on the link p50",
                _percentile(results["wake"], 50),
                "ms",
                "< 20 ms",
                link_p50,
            ),
            Figure(
                "satellite: wake detection -> first audio on the link p99",
                _percentile(results["wake"], 99),
                "ms",
                "< 20 ms",
                _percentile(results["link"], 99),
            ),
        ]
    figures += [
        Figure(
            "satellite: stop_playback -> playback_stopped p50",
            _percentile(results["stop"], 50),
            "ms",
            None,
            link_p50,
        ),
        Figure(
            "satellite: play_start + 100 ms of audio -> sound at the speaker p50",
            _percentile(results["sound"], 50),
            "ms",
            None,
            link_p50,
        ),
    ]
    return figures + capture_figures


if __name__ == "__main__":  # pragma: no cover
    with contextlib.suppress(KeyboardInterrupt):
        logging.basicConfig(level=logging.WARNING)
        for figure in collect():
            print(figure)
