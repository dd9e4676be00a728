"""The satellite's capture processing (#14 item 5), for the satellite area of ``realtime-voice bench``.

- CPU per audio second of the capture processing (DSP, the wake word ``hey_jarvis`` and the stop
  word ``alexa``, as while an answer plays, when both run) on espeak-ng speech and pauses fed in
  20 ms blocks at 22.05 kHz, with the wake and stop words on one openWakeWord front end; baseline:
  the same with a front end each (as before), in the same run. The same pair with microWakeWord
  (its models of the same names on one feature front end, and on one each). The thread's CPU
  time, the best of ``REPEATS``.
- the event loop's latency for a microphone block (capture -> the agent's decision on it), the
  maximum, with the loop blocked for ``BLOCKED_S`` while the wake word is said; baseline: the same
  run without the block. The microphone is a thread that hands 20 ms blocks to the agent as a
  sound device's callback does; next to it, the share of captured blocks the agent decided on.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from realtime_voice_core.link import SatelliteLinkClient
from realtime_voice_satellite.agent.audio_io import Consumer, WavFileSink
from realtime_voice_satellite.agent.build import build_agent
from realtime_voice_satellite.agent.config import parse_config, with_overrides
from realtime_voice_satellite.agent.hearing import Heard, Hearing, HearingState
from realtime_voice_satellite.audio import DspChain
from realtime_voice_satellite.wakeword import WakeWordDetector
from realtime_voice_satellite.wakeword.detector import EngineName, create_front_end

from . import Figure

KEY = "bench-access-key-0123456789"
BLOCK_MS = 20
REPEATS = 3
BLOCKED_S = 1.0
SPEED = 2.0  # the microphone thread runs twice as fast as real time


def _speech(say: Callable[[str], tuple[np.ndarray, int]]) -> tuple[np.ndarray, int]:
    """The wake word, a command, the stop word and other speech, with pauses (about 9 s)."""
    parts: list[np.ndarray] = []
    rate = 0
    for text in ("hey jarvis", "turn on the light in the kitchen", "alexa", "what time is it"):
        samples, rate = say(text)
        parts += [np.zeros(rate, np.int16), samples]
    return np.concatenate([*parts, np.zeros(rate, np.int16)]), rate


def _cpu_per_audio_second(
    audio: np.ndarray, rate: int, *, shared: bool, engine: EngineName = "openwakeword"
) -> float:
    """ms of this thread's CPU per second of audio, hearing as while an answer plays."""
    front = create_front_end(["hey_jarvis", "alexa"], engine=engine) if shared else None
    wake = WakeWordDetector(["hey_jarvis"], 0.5, engine=engine, front_end=front)
    stop = WakeWordDetector(["alexa"], 0.8, engine=engine, front_end=front)
    hearing = Hearing(DspChain(rate), wake, stop_detector=stop)
    state = HearingState(
        speaking=True,
        thresholds=(0.5,),
        guarded_thresholds=(0.8,),
        active=frozenset({"hey_jarvis"}),
        stop_words_on=True,
    )
    block = rate * BLOCK_MS // 1000
    started = time.thread_time()
    for start in range(0, len(audio), block):
        hearing.hear(audio[start : start + block], 0.0, state)
    cpu = time.thread_time() - started
    for detector in (wake, stop):
        detector.close()
    if front is not None:
        front.close()
    return cpu * 1000 / (len(audio) / rate)


class ThreadedMicrophone:
    """A microphone whose blocks come on a thread of its own, as a sound device's callbacks do:
    the agent attaches to it as to a ``DeviceSource``."""

    def __init__(self, samples: np.ndarray, rate: int) -> None:
        self.samples = samples
        self.rate = rate
        self.block = rate * BLOCK_MS // 1000
        self.captured = 0
        self._consumer: Consumer | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-microphone", daemon=True)

    def attach(self, consumer: Consumer | None) -> None:
        self._consumer = consumer

    async def start(self) -> None:
        self._thread.start()

    async def read(self) -> np.ndarray:  # pragma: no cover - the agent attaches instead
        raise NotImplementedError

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.to_thread(self._thread.join)

    @property
    def seconds(self) -> float:
        return self.captured * self.block / self.rate

    def _run(self) -> None:
        period = BLOCK_MS / 1000 / SPEED
        due = time.monotonic()
        position = 0
        while not self._stop.is_set():
            due += period
            time.sleep(max(0.0, due - time.monotonic()))
            block = self.samples[position : position + self.block]
            position += self.block
            if len(block) < self.block:
                block = np.concatenate([block, np.zeros(self.block - len(block), np.int16)])
            consumer = self._consumer
            if consumer is not None:
                self.captured += 1
                consumer(block, time.monotonic(), False)


async def _block_latency(
    audio: np.ndarray, rate: int, directory: Path, *, blocked: bool
) -> tuple[float, float]:
    """(the largest capture -> decision delay in ms, % of captured blocks decided on)."""
    config = parse_config(
        f"link: {{access_key: {KEY}, host: 127.0.0.1}}\nzeroconf: {{enabled: false}}\n"
        "conversation: {chime: false}\naudio: {output_rate: 24000, echo_cancellation: off}\n",
        "bench",
    )
    config = with_overrides(config, link={"port": 0})
    microphone = ThreadedMicrophone(audio, rate)
    agent = build_agent(config, microphone, WavFileSink(directory / "out.wav", 24000))
    delays: list[float] = []
    act = agent._act

    def timed(heard: Heard) -> None:
        delays.append(time.monotonic() - heard.captured_at)
        act(heard)

    agent._act = timed  # type: ignore[method-assign]
    await agent.start()
    client = SatelliteLinkClient("127.0.0.1", agent.server.port, KEY)
    try:
        await client.connect()
        # just before the wake word (at 1 s); the microphone's thread has no event to wait on
        while microphone.seconds < 0.9:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        if blocked:
            time.sleep(BLOCKED_S)  # noqa: ASYNC251 - the point: nothing on the loop runs
        while microphone.seconds < len(audio) / rate:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        captured = microphone.captured
        async with asyncio.timeout(5):
            while len(delays) < captured:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
    finally:
        await client.close()
        await agent.stop()
    return max(delays) * 1000, 100 * min(len(delays), captured) / captured


def collect_from(say: Callable[[str], tuple[np.ndarray, int]], directory: Path) -> list[Figure]:
    audio, rate = _speech(say)
    shared = min(_cpu_per_audio_second(audio, rate, shared=True) for _ in range(REPEATS))
    separate = min(_cpu_per_audio_second(audio, rate, shared=False) for _ in range(REPEATS))
    micro = {
        shared: min(
            _cpu_per_audio_second(audio, rate, shared=shared, engine="microwakeword")
            for _ in range(REPEATS)
        )
        for shared in (True, False)
    }
    free_delay, free_share = asyncio.run(_block_latency(audio, rate, directory, blocked=False))
    blocked_delay, blocked_share = asyncio.run(_block_latency(audio, rate, directory, blocked=True))
    return [
        Figure(
            "satellite: capture CPU per audio s, wake + stop words, shared",
            shared,
            "ms/s",
            None,
            separate,
        ),
        Figure(
            "satellite: capture CPU per audio s, wake + stop words, shared, microWakeWord",
            micro[True],
            "ms/s",
            None,
            micro[False],
        ),
        Figure(
            f"satellite: mic block -> decision, max, loop blocked {BLOCKED_S:g} s",
            blocked_delay,
            "ms",
            None,
            free_delay,
        ),
        Figure(
            f"satellite: mic blocks decided on, loop blocked {BLOCKED_S:g} s",
            blocked_share,
            "%",
            "100 %",
            free_share,
        ),
    ]
