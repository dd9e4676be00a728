"""Today's DSP stages beside pywebrtc-audio's (issue #28 item 3): the high-pass, noise suppression
and gain control of ``DspChain`` against WebRTC's high-pass filter, noise suppressor and AGC2.

Stage by stage: each pair is two chains that differ in that one stage only (the rest as today),
fed the same 48 kHz audio in 20 ms chunks:

* detection, on the wake-word bench's espeak corpus (every built-in model, 12 clips each, clean,
  10 dB and 0 dB SNR) through the same ``WakeWordDetector`` at each model's defaults, and false
  accepts on the same 0.1 h of other speech and noise (``REALTIME_VOICE_BENCH_FA_HOURS``);
* cost, on 60 s of that speech and noise: both chains take turns chunk by chunk (who goes first
  rotating, as in :mod:`.audio`), so that they meet the same load; ``ROUNDS`` rounds, each figure
  the median over them, with the spread (max - min) beside it: the test machine's 2 cores are
  shared.

The candidates are put into today's chain in place of its stage, at the same point and rate, so
that nothing else differs: WebRTC's high-pass (``AudioProcessor(high_pass_filter=True)``, it has
no stand-alone one) at the microphone's rate before the level meter; its noise suppressor at
16 kHz on the wake path, in whole 10 ms frames (it pads a partial frame with zeros, which a stream
cannot have); its AGC2 (``GainController``) at the microphone's rate where today's AGC runs, with
``AgcConfig``'s ``max_gain_db``. Each wraps one call per chunk. The noise suppressor at level 1
(its default, up to 12 dB) and level 3 (up to 21 dB; speex is set to up to 30 dB).
"""

from __future__ import annotations

import math
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

import numpy as np

from realtime_voice_satellite.audio.dsp import AgcConfig, DspChain
from realtime_voice_satellite.wakeword.detector import Detection, WakeWordDetector
from realtime_voice_satellite.wakeword.openwakeword import BUILTIN_MODELS

from .. import corpus as corpus_module
from . import Figure

RATE = 48_000
CHUNK = RATE // 50  # 20 ms
COST_SECONDS = 60.0
ROUNDS = 5
FA_SEGMENT_S = 360.0
_FULL_SCALE = 32768.0


class WebRtcHighPass:
    """WebRTC's high-pass filter in the place of ``HighPass``: int16 or float samples times
    ``scale`` in, float32 in int16 units out. The library pads a partial 10 ms frame with zeros:
    right for the bench, whose 20 ms chunks are whole frames but for a clip's last chunk, not for
    a stream of chunks of any length (the chain's contract), which would need a frame held."""

    def __init__(self, rate: int) -> None:
        import pywebrtc_audio

        self._processor = pywebrtc_audio.AudioProcessor(rate, high_pass_filter=True)

    def reset(self) -> None:
        self._processor.reset()

    def __call__(self, x: np.ndarray, scale: float = 1.0) -> np.ndarray:
        samples = x if x.dtype == np.int16 else np.rint(x * scale).astype(np.int16)
        return self._processor.process(samples).astype(np.float32)


class WebRtcNoiseSuppressor:
    """WebRTC's noise suppressor in the place of ``noise.NoiseSuppressor``, with its framing:
    16 kHz int16, whole 10 ms frames in one call, up to one frame held."""

    FRAME = 160

    def __init__(self, level: int) -> None:
        import pywebrtc_audio

        self._processor = pywebrtc_audio.NoiseSuppressor(16_000, level=level)
        self._pending = np.zeros(0, dtype=np.int16)

    def held(self) -> np.ndarray:
        return self._pending

    def __call__(self, samples_16k: np.ndarray, last: bool = False) -> np.ndarray:
        pending = (
            np.concatenate((self._pending, samples_16k)) if len(self._pending) else samples_16k
        )
        usable = len(pending) - len(pending) % self.FRAME
        if last and usable < len(pending):
            tail = len(pending) - usable
            padded = np.concatenate((pending, np.zeros(self.FRAME - tail, dtype=np.int16)))
            self._pending = np.zeros(0, dtype=np.int16)
            return self._processor.process(padded)[: len(pending)]
        self._pending = np.array(pending[usable:], dtype=np.int16)
        if not usable:
            return np.zeros(0, dtype=np.int16)
        return self._processor.process(np.ascontiguousarray(pending[:usable]))


class WebRtcAgc:
    """AGC2 in the place of today's AGC and limiter: float32 in int16 units, scaled in place;
    whole 10 ms frames as with :class:`WebRtcHighPass`."""

    def __init__(self, rate: int, config: AgcConfig) -> None:
        import pywebrtc_audio

        self._controller = pywebrtc_audio.GainController(rate, max_gain_db=config.max_gain_db)

    def __call__(self, x: np.ndarray, level_dbfs: float, seconds: float) -> np.ndarray:
        x /= np.float32(_FULL_SCALE)
        x[...] = self._controller.process(x)
        x *= np.float32(_FULL_SCALE)
        return x


@dataclass(frozen=True, slots=True)
class Pair:
    stage: str  # how a figure names the stage and the candidate
    today: Callable[[], DspChain]
    candidate: Callable[[], DspChain]


def _with_highpass() -> DspChain:
    chain = DspChain(RATE)
    # the candidate takes the high-pass's place (it is reset with the chain, like it)
    chain._highpass = WebRtcHighPass(RATE)  # type: ignore[assignment]
    return chain


def _with_noise(level: int) -> Callable[[], DspChain]:
    def make() -> DspChain:
        chain = DspChain(RATE, noise_suppression=True)
        chain._denoise = WebRtcNoiseSuppressor(level)  # type: ignore[assignment]
        return chain

    return make


def _with_agc() -> DspChain:
    chain = DspChain(RATE, agc=AgcConfig())
    chain._agc = WebRtcAgc(RATE, AgcConfig())  # type: ignore[assignment]
    return chain


PAIRS: tuple[Pair, ...] = (
    Pair(
        "high-pass: WebRTC's (fixed cutoff); baseline today's 80 Hz Butterworth",
        lambda: DspChain(RATE),
        _with_highpass,
    ),
    Pair(
        "noise suppression: WebRTC NS level 1 (12 dB); baseline pyspeex-noise (30 dB)",
        lambda: DspChain(RATE, noise_suppression=True),
        _with_noise(1),
    ),
    Pair(
        "noise suppression: WebRTC NS level 3 (21 dB); baseline pyspeex-noise (30 dB)",
        lambda: DspChain(RATE, noise_suppression=True),
        _with_noise(3),
    ),
    Pair(
        "AGC: WebRTC AGC2; baseline today's AGC and limiter",
        lambda: DspChain(RATE, agc=AgcConfig()),
        _with_agc,
    ),
)


def _corpus() -> ModuleType | None:
    return corpus_module if shutil.which("espeak-ng") else None


def _detections(chain: DspChain, detector: WakeWordDetector, audio: np.ndarray) -> list[Detection]:
    found: list[Detection] = []
    for start in range(0, len(audio), CHUNK):
        found += detector.process(chain.process(audio[start : start + CHUNK]).wake_16k)
    found += detector.process(chain.flush().wake_16k)
    return found


def _cost(pair: Pair, audio: np.ndarray) -> dict[str, dict[str, list[float]]]:
    """Per side, per measure (CPU ms per audio s, p50 and p99 per chunk on the wall clock and on
    the thread's CPU clock), one value per round; both sides take turns chunk by chunk."""
    chunks = len(audio) // CHUNK
    seconds = chunks * CHUNK / RATE
    out: dict[str, dict[str, list[float]]] = {"today": {}, "candidate": {}}
    for _ in range(ROUNDS):
        sides = {"today": pair.today(), "candidate": pair.candidate()}
        names = list(sides)
        wall = {name: np.empty(chunks) for name in names}
        cpu = {name: np.empty(chunks) for name in names}
        for i in range(chunks):
            chunk = audio[i * CHUNK : (i + 1) * CHUNK].copy()
            for turn in range(len(names)):
                name = names[(i + turn) % len(names)]
                process = sides[name].process
                wall_start = time.perf_counter_ns()
                cpu_start = time.thread_time_ns()
                process(chunk)
                cpu[name][i] = time.thread_time_ns() - cpu_start
                wall[name][i] = time.perf_counter_ns() - wall_start
        for name in names:
            values = {
                "cpu ms per audio s": float(cpu[name].sum()) / 1e6 / seconds,
                "p50 us": float(np.percentile(wall[name], 50)) / 1e3,
                "p99 us": float(np.percentile(wall[name], 99)) / 1e3,
                "thread CPU p99 us": float(np.percentile(cpu[name], 99)) / 1e3,
            }
            for measure, value in values.items():
                out[name].setdefault(measure, []).append(value)
    return out


def _cost_figures(pair: Pair, audio: np.ndarray) -> list[Figure]:
    measured = _cost(pair, audio)
    figures = []
    for measure, unit, label in (
        ("cpu ms per audio s", "ms/s", "CPU per audio s (thread CPU clock)"),
        ("p50 us", "us", "per 20 ms chunk at 48 kHz, p50"),
        ("p99 us", "us", "per 20 ms chunk at 48 kHz, p99"),
        ("thread CPU p99 us", "us", "per 20 ms chunk at 48 kHz, thread CPU clock, p99"),
    ):
        today, candidate = measured["today"][measure], measured["candidate"][measure]
        figures.append(
            Figure(
                f"dsp stages, {pair.stage}: {label}, median of {ROUNDS} rounds",
                round(float(np.median(candidate)), 2),
                unit,
                "<= baseline",
                round(float(np.median(today)), 2),
            )
        )
        figures.append(
            Figure(
                f"dsp stages, {pair.stage}: {label}, spread (max - min) of {ROUNDS} rounds",
                round(max(candidate) - min(candidate), 2),
                unit,
                None,
                round(max(today) - min(today), 2),
            )
        )
    return figures


def _detection_figures(pair: Pair, corpus: ModuleType) -> list[Figure]:
    models = list(BUILTIN_MODELS)
    detector = WakeWordDetector(models)
    figures = []
    try:
        for snr, label in ((None, "clean"), (10.0, "10 dB SNR"), (0.0, "0 dB SNR")):
            hits = {"today": 0, "candidate": 0}
            clips = 0
            for model in models:
                for clip in corpus.wake_clips(model, snrs=(snr,)):
                    audio = clip.render(RATE)
                    clips += 1
                    for side, make in (("today", pair.today), ("candidate", pair.candidate)):
                        detector.reset()
                        found = _detections(make(), detector, audio)
                        hits[side] += model in [d.model for d in found]
            figures.append(
                Figure(
                    f"dsp stages, {pair.stage}: detected, {label}, {clips} espeak clips of "
                    f"{len(models)} models at their defaults",
                    round(100 * hits["candidate"] / clips, 1),
                    "%",
                    ">= baseline",
                    round(100 * hits["today"] / clips, 1),
                )
            )
        hours = float(os.environ.get("REALTIME_VOICE_BENCH_FA_HOURS", "0.1"))
        segments = max(1, math.ceil(hours * 3600 / FA_SEGMENT_S))
        false_accepts = {}
        for side, make in (("today", pair.today), ("candidate", pair.candidate)):
            detector.reset()
            chain = make()
            accepted: list[Detection] = []
            for k in range(segments):
                seconds = min(FA_SEGMENT_S, hours * 3600 - k * FA_SEGMENT_S)
                audio = corpus.background(seconds, RATE, seed=21 + k)
                for start in range(0, len(audio), CHUNK):
                    accepted += detector.process(
                        chain.process(audio[start : start + CHUNK]).wake_16k
                    )
            false_accepts[side] = len(accepted) / hours
        figures.append(
            Figure(
                f"dsp stages, {pair.stage}: false accepts/h, all {len(models)} models at their "
                f"defaults, {hours:g} h of other speech and noise",
                round(false_accepts["candidate"], 1),
                "1/h",
                "<= baseline",
                round(false_accepts["today"], 1),
            )
        )
    finally:
        detector.close()
    return figures


def collect() -> list[Figure]:
    corpus = _corpus()
    if corpus is None:
        from .audio import bench_signal

        print("dsp stages bench: no espeak-ng, detection figures skipped", file=sys.stderr)
        cost_audio = bench_signal(COST_SECONDS, RATE)
    else:
        cost_audio = corpus.background(COST_SECONDS, RATE, seed=11)
    figures: list[Figure] = []
    for pair in PAIRS:
        figures += _cost_figures(pair, cost_audio)
        if corpus is not None:
            figures += _detection_figures(pair, corpus)
    return figures
