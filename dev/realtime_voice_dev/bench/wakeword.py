"""Wake-word benchmark: idle CPU cost and detection / false accepts on an espeak-ng corpus.

Baselines are measured in the same run: pyopen-wakeword as shipped (its default interpreter
options, fed 16 kHz audio directly, no DSP) beside our chain (48 kHz microphone audio through
``DspChain`` and ``WakeWordDetector``) for the CPU cost; for detection, the bare engine gets the
same audio resampled to 16 kHz, without the DSP chain, and its raw scores go through the same
decision rule (``WakeWordDetector.detect``) with the same settings: each model's defaults
(``detector.RECOMMENDED``), as the figure names say. So the comparison measures only what our
chain changes (DSP, resampling, streaming, the quiet gate). The corpus is synthesized with
espeak-ng (``realtime_voice_dev.corpus``); without espeak-ng, only the CPU figures are produced. The false accept corpus is 0.1 h by default;
``REALTIME_VOICE_BENCH_FA_HOURS=1`` runs a full hour.
"""

from __future__ import annotations

import math
import os
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np

from realtime_voice_satellite.audio.dsp import DspChain
from realtime_voice_satellite.wakeword.detector import Detection, WakeWordDetector
from realtime_voice_satellite.wakeword.openwakeword import (
    BUILTIN_MODELS,
    EMBEDDING_WINDOW,
    MEL_WINDOW_SAMPLES,
    NUM_MELS,
    STEP_SAMPLES,
    OpenWakeWordEngine,
    models_dir,
)
from realtime_voice_satellite.wakeword.tflite import TfLiteModel

from .. import corpus as corpus_module
from . import Figure

MIC_RATE = 48_000
IDLE_MODEL = "okay_nabu"
IDLE_SECONDS = 30.0
FA_SEGMENT_S = 360.0


def _corpus() -> ModuleType | None:
    return corpus_module if shutil.which("espeak-ng") else None


def _cpu_per_audio_second(run: Callable[[], object], seconds: float) -> float:
    start = time.process_time()  # all threads of the process: the shipped runtime uses many
    run()
    return (time.process_time() - start) / seconds


class _Shipped:
    """pyopen-wakeword exactly as its own CLI uses it."""

    def __init__(self, models: list[str]) -> None:
        from pyopen_wakeword import Model, OpenWakeWord, OpenWakeWordFeatures

        self.features = OpenWakeWordFeatures.from_builtin()
        self.models = [OpenWakeWord.from_builtin(Model(m)) for m in models]

    def scores(self, audio_16k: np.ndarray, chunk: int = 320) -> list[list[float]]:
        """Per model, every score (80 ms steps, the 8 s silent prefill first)."""
        out: list[list[float]] = [[] for _ in self.models]
        for start in range(0, len(audio_16k), chunk):
            data = audio_16k[start : start + chunk].tobytes()
            for embedding in self.features.process_streaming(data):
                for i, model in enumerate(self.models):
                    out[i].extend(model.process_streaming(embedding))
        return out

    def reset(self) -> None:
        self.features.reset()
        for model in self.models:
            model.reset()

    def close(self) -> None:
        self.features.close()
        for model in self.models:
            model.close()


def _through_chain(detector: WakeWordDetector, audio: np.ndarray, rate: int) -> list[str]:
    chain = DspChain(rate)
    step = rate // 50
    found = []
    for start in range(0, len(audio), step):
        found += detector.process(chain.process(audio[start : start + step]).wake_16k)
    found += detector.process(chain.flush().wake_16k)
    return [d.model for d in found]


def _defaults(detector: WakeWordDetector, model: str) -> str:
    """How a figure names the settings both sides use, e.g. ``alexa's defaults 0.5/2``."""
    i = detector.names.index(model)
    return (
        f"{model}'s defaults {detector.thresholds[i]:g}/{detector.trigger_levels[i]} "
        "(threshold/trigger level) for both"
    )


def _shipped_cost(audio_16k: np.ndarray) -> float:
    shipped = _Shipped([IDLE_MODEL])
    shipped.scores(np.zeros(STEP_SAMPLES, np.int16))  # its 8 s prefill, outside the timing
    cost = _cpu_per_audio_second(lambda: shipped.scores(audio_16k), len(audio_16k) / 16_000)
    shipped.close()
    return cost


def _our_cost(audio_48k: np.ndarray, quiet_gate_dbfs: float | None = -60.0) -> float:
    detector = WakeWordDetector([IDLE_MODEL], quiet_gate_dbfs=quiet_gate_dbfs)
    chain = DspChain(MIC_RATE)
    step = MIC_RATE // 50

    def ours() -> None:
        for start in range(0, len(audio_48k), step):
            detector.process(chain.process(audio_48k[start : start + step]).wake_16k)

    cost = _cpu_per_audio_second(ours, len(audio_48k) / MIC_RATE)
    detector.close()
    return cost


def _bare_models_cost(seconds: float, threads: int | None, xnnpack: bool) -> float:
    """The three models invoked back to back once per 80 ms step, nothing else."""
    directory = models_dir()
    mel = TfLiteModel(
        directory / "melspectrogram.tflite",
        input_shape=(1, MEL_WINDOW_SAMPLES),
        threads=threads,
        xnnpack=xnnpack,
    )
    embedding = TfLiteModel(
        directory / "embedding_model.tflite",
        input_shape=(1, EMBEDDING_WINDOW, NUM_MELS, 1),
        threads=threads,
        xnnpack=xnnpack,
    )
    classifier = TfLiteModel(directory / f"{IDLE_MODEL}.tflite", threads=threads, xnnpack=xnnpack)
    rng = np.random.default_rng(0)
    window = rng.standard_normal(MEL_WINDOW_SAMPLES).astype(np.float32) * 1000
    mels = rng.standard_normal((1, EMBEDDING_WINDOW, NUM_MELS, 1)).astype(np.float32)
    embeddings = rng.standard_normal(classifier.input_shape).astype(np.float32)

    def invoke() -> None:
        for _ in range(int(seconds * 16_000) // STEP_SAMPLES):
            mel.run(window)
            embedding.run(mels)
            classifier.run(embeddings)

    cost = _cpu_per_audio_second(invoke, seconds)
    for model in (mel, embedding, classifier):
        model.close()
    return cost


def quiet_room(seconds: float, rate: int, speech: list[np.ndarray], seed: int = 0) -> np.ndarray:
    """A quiet room: microphone noise at -70 dBFS, and one utterance every 15 s."""
    rng = np.random.default_rng(seed)
    audio = rng.standard_normal(int(seconds * rate)) * 32768 * 10 ** (-70 / 20)
    for i, at in enumerate(range(int(5 * rate), len(audio), int(15 * rate))):
        clip = speech[i % len(speech)][: len(audio) - at] if speech else np.zeros(0)
        audio[at : at + len(clip)] += clip
    return np.clip(np.rint(audio), -32768, 32767).astype(np.int16)


def _idle_figures(corpus: ModuleType | None) -> list[Figure]:
    from .audio import bench_signal

    def both_rates(make: Callable[[int], np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        return make(MIC_RATE), make(16_000)

    speech: dict[int, list[np.ndarray]] = {MIC_RATE: [], 16_000: []}
    if corpus is not None:
        for rate in speech:
            speech[rate] = [
                corpus.load(corpus.synthesize(text, voice), rate)
                for text, voice in zip(corpus.OTHER_SPEECH[:4], corpus.VOICES, strict=False)
            ]
    workloads = {
        "quiet room (-70 dBFS noise, speech every 15 s)": both_rates(
            lambda rate: quiet_room(IDLE_SECONDS, rate, speech[rate])
        ),
        "non-stop speech and noise": both_rates(
            (lambda rate: corpus.background(IDLE_SECONDS, rate, seed=11))
            if corpus is not None
            else (lambda rate: bench_signal(IDLE_SECONDS, rate))
        ),
    }
    name = f"idle CPU s per audio s, {IDLE_MODEL}; baseline pyopen-wakeword as shipped"
    figures = []
    baseline = 0.0
    for label, (audio_48k, audio_16k) in workloads.items():
        baseline = round(_shipped_cost(audio_16k), 4)
        figures.append(
            Figure(
                f"{name}: our DSP 48k + detector, {label}",
                round(_our_cost(audio_48k), 4),
                "s/s",
                "< 0.03",
                baseline,
            )
        )
    for label, threads, xnnpack in (
        ("default runtime options", None, False),
        ("1 thread + XNNPACK", 1, True),
    ):
        figures.append(
            Figure(
                f"{name}: bare models every 80 ms, {label}",
                round(_bare_models_cost(IDLE_SECONDS, threads, xnnpack), 4),
                "s/s",
                None,
                baseline,
            )
        )
    return figures


def _to_16k(audio: np.ndarray, rate: int) -> np.ndarray:
    """The bare engine's input: the same audio, resampled in one go (no DSP chain)."""
    import soxr

    out = soxr.resample(audio.astype(np.float32) / 32768, rate, 16_000, quality="HQ")
    return np.clip(np.rint(out * 32768), -32768, 32767).astype(np.int16)


def _detection_figures(corpus: ModuleType) -> list[Figure]:
    """Our chain on 48 kHz audio vs the bare engine on the same audio at 16 kHz.

    The bare engine is ``OpenWakeWordEngine`` alone: pyopen-wakeword's models and pipeline,
    whose scores equal the shipped package's (tests/satellite/wakeword/test_wakeword.py checks it), without
    the per-clip cost of the shipped package's 8 s prefill on every reset. Its scores are judged
    by ``rule``, a detector with the same (default) settings as ours whose ``detect`` gets them.
    Every built-in model, each at its own defaults (threshold and trigger level left unset).
    """
    figures = []
    models: list[str | Path] = list(BUILTIN_MODELS)
    detector = WakeWordDetector(models)
    rule = WakeWordDetector(models)  # only its decision rule is used, on the bare scores
    bare = OpenWakeWordEngine(models)
    try:
        for model in BUILTIN_MODELS:
            for snr, label in ((None, "clean"), (10.0, "10 dB SNR"), (0.0, "0 dB SNR")):
                clips = corpus.wake_clips(model, snrs=(snr,))
                ours_hits = bare_hits = 0
                for clip in clips:
                    audio = clip.render(MIC_RATE)
                    detector.reset()
                    ours_hits += model in _through_chain(detector, audio, MIC_RATE)
                    bare.reset()
                    rule.reset()
                    found = rule.detect(bare.process(_to_16k(audio, MIC_RATE)))
                    bare_hits += model in [d.model for d in found]
                figures.append(
                    Figure(
                        f"detected {model}, {label}, {len(clips)} espeak clips, "
                        f"{_defaults(detector, model)}: our chain; baseline bare engine",
                        round(100 * ours_hits / len(clips), 1),
                        "%",
                        ">= baseline",
                        round(100 * bare_hits / len(clips), 1),
                    )
                )

        hours = float(os.environ.get("REALTIME_VOICE_BENCH_FA_HOURS", "0.1"))
        # rendered and fed in segments of at most 6 minutes, one stream for each side
        segments = max(1, math.ceil(hours * 3600 / FA_SEGMENT_S))
        for resettable in (detector, rule, bare):
            resettable.reset()
        chain = DspChain(MIC_RATE)
        step = MIC_RATE // 50
        ours_found: list[Detection] = []
        bare_found: list[Detection] = []
        for k in range(segments):
            seconds = min(FA_SEGMENT_S, hours * 3600 - k * FA_SEGMENT_S)
            audio = corpus.background(seconds, MIC_RATE, seed=21 + k)
            for start in range(0, len(audio), step):
                ours_found += detector.process(chain.process(audio[start : start + step]).wake_16k)
            bare_found += rule.detect(bare.process(_to_16k(audio, MIC_RATE)))
        for model in BUILTIN_MODELS:
            figures.append(
                Figure(
                    f"false accepts/h, {model}, {hours:g} h of other speech and noise, "
                    f"{_defaults(detector, model)}: our chain; baseline bare engine",
                    round(sum(d.model == model for d in ours_found) / hours, 1),
                    "1/h",
                    "0",
                    round(sum(d.model == model for d in bare_found) / hours, 1),
                )
            )
    finally:
        detector.close()
        rule.close()
        bare.close()
    return figures


def collect() -> list[Figure]:
    corpus = _corpus()
    figures = _idle_figures(corpus)
    if corpus is None:
        print(
            "wakeword bench: no espeak-ng, detection figures skipped",
            file=sys.stderr,
        )
    else:
        figures += _detection_figures(corpus)
    return figures
