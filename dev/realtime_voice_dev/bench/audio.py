"""Benchmark of the DSP chain: time per 20 ms chunk at 48 kHz, beside the resamplers alone."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from realtime_voice_satellite.audio.dsp import (
    STREAM_RATE,
    WAKE_RATE,
    AgcConfig,
    DspChain,
    _Resampler,
)

from . import Figure

RATE = 48_000
CHUNK = RATE // 50  # 20 ms
CHUNKS = 3000  # 60 s of audio


def bench_signal(seconds: float, rate: int = RATE, seed: int = 0) -> np.ndarray:
    """Noise with tone bursts: exercises the AGC and the VAD as speech would."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    bursts = (np.sin(2 * np.pi * 0.7 * t) > 0.3) * 0.3 * np.sin(2 * np.pi * 220 * t)
    x = bursts + 0.01 * rng.standard_normal(len(t))
    return np.clip(np.rint(x * 32768), -32768, 32767).astype(np.int16)


def _per_chunk_us(
    processors: dict[str, Callable[[np.ndarray], object]],
    audio: np.ndarray,
    clock: Callable[[], int] = time.perf_counter_ns,
) -> dict[str, np.ndarray]:
    """Microseconds per chunk for each processor, taking turns chunk by chunk so that all of them
    meet the same machine load (on a shared machine a preempted chunk shows up in the wall
    clock's p99; the baseline, measured in the same turns, shows how much). Who goes first
    rotates from chunk to chunk, so that none always finds the caches as another one left them.

    Each chunk is a fresh contiguous int16 copy, as the microphone delivers it (DeviceSource
    hands over ``indata[:, 0].copy()``), and the garbage collector stays on, as in the agent."""
    names = list(processors)
    timings = {name: np.empty(CHUNKS) for name in names}
    for i in range(CHUNKS):
        chunk = audio[i * CHUNK : (i + 1) * CHUNK].copy()
        for turn in range(len(names)):
            name = names[(i + turn) % len(names)]
            process = processors[name]
            start = clock()
            process(chunk)
            timings[name][i] = clock() - start
    return {name: t / 1000.0 for name, t in timings.items()}


def _resampler_only() -> Callable[[np.ndarray], object]:
    wake, stream = _Resampler(RATE, WAKE_RATE), _Resampler(RATE, STREAM_RATE)

    def resample(chunk: np.ndarray) -> None:
        x = chunk.astype(np.float32) / 32768
        wake(x)
        stream(x)

    return resample


def collect() -> list[Figure]:
    audio = bench_signal(CHUNKS * CHUNK / RATE)
    wall = _per_chunk_us(
        {
            "soxr": _resampler_only(),
            "chain": DspChain(RATE).process,
            "agc": DspChain(RATE, agc=AgcConfig()).process,
        },
        audio,
    )
    # the thread's CPU clock leaves out the time the thread was preempted: on a loaded machine
    # a whole scheduler time slice (about 4 ms on the 2-core test VM) lands in the wall clock's
    # p99 of whichever step was running, the more often the longer the step; this clock shows
    # the chain's own cost beside it
    cpu = _per_chunk_us(
        {
            "soxr": _resampler_only(),
            "chain": DspChain(RATE).process,
            "agc": DspChain(RATE, agc=AgcConfig()).process,
        },
        audio,
        clock=time.thread_time_ns,
    )
    figures = []
    for label, timings, base, targets in (
        ("", wall["chain"], wall["soxr"], (None, "< 150")),
        (" with AGC", wall["agc"], wall["soxr"], (None, "< 150")),
        (", thread CPU clock", cpu["chain"], cpu["soxr"], (None, None)),
        (" with AGC, thread CPU clock", cpu["agc"], cpu["soxr"], (None, None)),
    ):
        for q, target in zip((50, 99), targets, strict=True):
            figures.append(
                Figure(
                    name=f"dsp chain{label} per 20 ms chunk at 48 kHz, p{q}; baseline soxr alone",
                    value=round(float(np.percentile(timings, q)), 1),
                    unit="us",
                    target=target,
                    baseline=round(float(np.percentile(base, q)), 1),
                )
            )
    return figures
