"""Turns an engine's scores into detections: threshold, trigger level, refractory, warm-up."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar, overload

import numpy as np

from .. import platforms
from .engine import ScoreFrame, WakeWordEngine, WakeWordError, looks_like_path
from .microwakeword import MicroWakeWordFrontEnd, resolve_config
from .openwakeword import DEFAULT_QUIET_GATE_DBFS, OpenWakeWordFrontEnd
from .tflite import TfLiteError

EngineName = Literal["openwakeword", "microwakeword"]
ENGINES: tuple[str, ...] = ("openwakeword", "microwakeword")
# the features that detectors hearing the same audio share (``create_front_end``)
FrontEnd = OpenWakeWordFrontEnd | MicroWakeWordFrontEnd

# What a model uses when the caller gives no threshold or trigger level (None): for openWakeWord's
# built-in models, (threshold, trigger level) chosen on an hour of other speech and noise and the
# espeak-ng wake-phrase corpus (docs/wake-word.md has the table and how to measure it again; a
# test fails if the two disagree). Any other model: threshold 0.5 for openWakeWord, the model's
# own cutoff for microWakeWord, and trigger level 1.
RECOMMENDED: dict[str, tuple[float, int]] = {
    "okay_nabu": (0.5, 1),
    "hey_jarvis": (0.5, 1),
    "alexa": (0.5, 2),
    "hey_mycroft": (0.5, 2),
    "hey_rhasspy": (0.35, 2),
}
DEFAULT_THRESHOLD = 0.5
DEFAULT_TRIGGER_LEVEL = 1


def recommended(engine: str, model: str | Path) -> tuple[float | None, int]:
    """(threshold, trigger level) for ``model`` when none is given; a None threshold: the
    engine's own for the model (microWakeWord's cutoff in the model's ``.json``)."""
    if engine == "openwakeword" and not looks_like_path(model) and str(model) in RECOMMENDED:
        return RECOMMENDED[str(model)]
    return (DEFAULT_THRESHOLD if engine == "openwakeword" else None), DEFAULT_TRIGGER_LEVEL


@dataclass(frozen=True, slots=True)
class Detection:
    """``model`` was heard; ``t`` is the end of the triggering step, in seconds since the start
    (or the last ``reset``); ``score`` is the highest score of the triggering run."""

    model: str
    t: float
    score: float


def create_engine(
    engine: str,
    models: Sequence[str | Path],
    quiet_gate_dbfs: float | None = DEFAULT_QUIET_GATE_DBFS,
    front_end: FrontEnd | None = None,
) -> WakeWordEngine:
    """The engine (on ``front_end`` when given); a ``WakeWordError`` that says why where this
    machine cannot run it (32-bit, no runtime for the platform)."""
    _check_machine()
    if isinstance(front_end, OpenWakeWordFrontEnd) and engine != "openwakeword":
        raise WakeWordError(f"a shared openWakeWord front end cannot run {engine} models")
    if isinstance(front_end, MicroWakeWordFrontEnd) and engine != "microwakeword":
        raise WakeWordError(f"a shared microWakeWord front end cannot run {engine} models")
    if engine == "openwakeword":
        from .openwakeword import OpenWakeWordEngine

        if front_end is not None:  # its runtime is loaded: the engine only attaches
            return front_end.engine(models)
        return _loaded(lambda: OpenWakeWordEngine(models, quiet_gate_dbfs=quiet_gate_dbfs))
    if engine == "microwakeword":
        if isinstance(front_end, MicroWakeWordFrontEnd):
            return front_end.engine(models)
        from .microwakeword import MicroWakeWordEngine

        return MicroWakeWordEngine(models)
    raise WakeWordError(f"unknown wake word engine {engine!r}; engines: {', '.join(ENGINES)}")


@overload
def create_front_end(
    models: Sequence[str | Path],
    quiet_gate_dbfs: float | None = ...,
    *,
    engine: Literal["openwakeword"] = ...,
) -> OpenWakeWordFrontEnd: ...


@overload
def create_front_end(
    models: Sequence[str | Path],
    quiet_gate_dbfs: float | None = ...,
    *,
    engine: Literal["microwakeword"],
) -> MicroWakeWordFrontEnd: ...


def create_front_end(
    models: Sequence[str | Path],
    quiet_gate_dbfs: float | None = DEFAULT_QUIET_GATE_DBFS,
    *,
    engine: EngineName = "openwakeword",
) -> FrontEnd:
    """A front end of ``engine`` for detectors of ``models`` that share it (``front_end``); the
    errors are ``create_engine``'s. (microWakeWord's features do not depend on the models: they
    are only checked.)"""
    _check_machine()
    if engine == "microwakeword":
        for model in models:
            resolve_config(model)
        return MicroWakeWordFrontEnd()
    return _loaded(lambda: OpenWakeWordFrontEnd(models, quiet_gate_dbfs=quiet_gate_dbfs))


def _check_machine() -> None:
    reason = platforms.unsupported_reason(*platforms.this_machine())
    if reason is not None:
        raise WakeWordError(reason)


T = TypeVar("T")


def _loaded(make: Callable[[], T]) -> T:
    try:
        return make()
    except TfLiteError as err:  # the runtime itself: missing, or not for this machine
        raise WakeWordError(str(err)) from err


class WakeWordDetector:
    """Wake words in a stream of 16 kHz int16 audio.

    A model fires when ``trigger_level`` consecutive steps score above ``threshold``, not within
    ``warmup_s`` of the start and not within ``refractory_s`` of its previous detection. ``None``
    (the default) for ``threshold`` or ``trigger_level``: each model's recommendation
    (``RECOMMENDED`` for openWakeWord's built-in models; otherwise 0.5 for openWakeWord, the
    model's own cutoff for microWakeWord, and trigger level 1). ``thresholds`` and
    ``trigger_levels`` hold the values in use, one per model (tuples; they may be reassigned);
    ``recommended_thresholds`` and ``recommended_trigger_levels`` the models' recommendations. With openWakeWord, while
    every 80 ms step a score depends on (about 2.2 s) is quieter than ``quiet_gate_dbfs``, the
    embedding model is skipped and no score is produced; the first louder step computes what was
    skipped, so scores are those of an engine that never skips. ``None`` never skips.
    ``front_end``: the engine's front end (``create_front_end``), shared with other detectors
    that hear the same audio (e.g. the wake words and the stop words); an openWakeWord one holds
    the quiet gate then.
    """

    def __init__(
        self,
        models: Sequence[str | Path],
        threshold: float | None = None,
        *,
        trigger_level: int | None = None,
        refractory_s: float = 2.0,
        warmup_s: float = 1.0,
        engine: EngineName = "openwakeword",
        quiet_gate_dbfs: float | None = DEFAULT_QUIET_GATE_DBFS,
        front_end: FrontEnd | None = None,
    ) -> None:
        if threshold is not None and not 0.0 < threshold < 1.0:
            raise WakeWordError(f"threshold must be between 0 and 1, got {threshold!r}")
        if trigger_level is not None and (
            isinstance(trigger_level, bool)
            or not isinstance(trigger_level, int)
            or trigger_level < 1
        ):
            raise WakeWordError(f"trigger_level must be an integer >= 1, got {trigger_level!r}")
        if refractory_s < 0:
            raise WakeWordError(f"refractory_s must not be negative, got {refractory_s!r}")
        if warmup_s < 0:
            raise WakeWordError(f"warmup_s must not be negative, got {warmup_s!r}")
        if isinstance(models, (str, Path)):
            models = [models]
        models = list(models)
        self._engine = create_engine(engine, models, quiet_gate_dbfs, front_end)
        own = getattr(self._engine, "default_thresholds", (DEFAULT_THRESHOLD,) * len(models))
        advice = [recommended(engine, m) for m in models]
        self.recommended_thresholds: tuple[float, ...] = tuple(
            float(own[i] if t is None else t) for i, (t, _) in enumerate(advice)
        )
        self.recommended_trigger_levels: tuple[int, ...] = tuple(level for _, level in advice)
        n = len(models)
        self.thresholds: tuple[float, ...] = (
            self.recommended_thresholds if threshold is None else (float(threshold),) * n
        )
        self.trigger_levels: tuple[int, ...] = (
            self.recommended_trigger_levels if trigger_level is None else (trigger_level,) * n
        )
        self.refractory_s = refractory_s
        self.warmup_s = warmup_s
        self.engine = engine
        self.reset()

    @property
    def names(self) -> list[str]:
        return list(self._engine.names)

    def reset(self) -> None:
        """Start over: the warm-up begins again and ``t`` counts from 0."""
        self._engine.reset()
        self._run = [0] * len(self._engine.names)
        self._run_max = [0.0] * len(self._engine.names)
        self._last = [float("-inf")] * len(self._engine.names)

    def process(self, samples_16k: np.ndarray) -> list[Detection]:
        samples = np.asarray(samples_16k)
        if samples.dtype != np.int16:
            raise ValueError(f"wake word audio must be int16 samples, got {samples.dtype}")
        return self.detect(self._engine.process(samples))

    def scores(self, samples_16k: np.ndarray) -> list[ScoreFrame]:
        """Raw scores without detection logic (for tuning and the benchmark)."""
        return self._engine.process(np.asarray(samples_16k, dtype=np.int16))

    def detect(self, frames: list[ScoreFrame]) -> list[Detection]:
        detections: list[Detection] = []
        for frame in frames:
            for i, score in enumerate(frame.scores):
                if score <= self.thresholds[i] or frame.t < self.warmup_s:
                    self._run[i] = 0
                    self._run_max[i] = 0.0
                    continue
                if frame.t - self._last[i] < self.refractory_s:
                    continue
                self._run[i] += 1
                self._run_max[i] = max(self._run_max[i], score)
                if self._run[i] >= self.trigger_levels[i]:
                    detections.append(Detection(self._engine.names[i], frame.t, self._run_max[i]))
                    self._last[i] = frame.t
                    self._run[i] = 0
                    self._run_max[i] = 0.0
        return detections

    def close(self) -> None:
        self._engine.close()
