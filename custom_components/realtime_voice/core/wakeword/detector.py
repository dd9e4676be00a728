"""Turns an engine's scores into detections: threshold, trigger level, refractory, warm-up."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from .engine import ScoreFrame, WakeWordEngine, WakeWordError
from .openwakeword import DEFAULT_QUIET_GATE_DBFS

EngineName = Literal["openwakeword", "microwakeword"]
ENGINES: tuple[str, ...] = ("openwakeword", "microwakeword")


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
) -> WakeWordEngine:
    if engine == "openwakeword":
        from .openwakeword import OpenWakeWordEngine

        return OpenWakeWordEngine(models, quiet_gate_dbfs=quiet_gate_dbfs)
    if engine == "microwakeword":
        from .microwakeword import MicroWakeWordEngine

        return MicroWakeWordEngine(models)
    raise WakeWordError(f"unknown wake word engine {engine!r}; engines: {', '.join(ENGINES)}")


class WakeWordDetector:
    """Wake words in a stream of 16 kHz int16 audio.

    A model fires when ``trigger_level`` consecutive steps score above ``threshold`` (``None``:
    each model's own recommended cutoff, 0.5 for openWakeWord), not within ``warmup_s`` of the
    start and not within ``refractory_s`` of its previous detection. With openWakeWord, while
    every 80 ms step a score depends on (about 2.2 s) is quieter than ``quiet_gate_dbfs``, the
    embedding model is skipped and no score is produced; the first louder step computes what was
    skipped, so scores are those of an engine that never skips. ``None`` never skips.
    """

    def __init__(
        self,
        models: Sequence[str | Path],
        threshold: float | None = 0.5,
        *,
        trigger_level: int = 1,
        refractory_s: float = 2.0,
        warmup_s: float = 1.0,
        engine: EngineName = "openwakeword",
        quiet_gate_dbfs: float | None = DEFAULT_QUIET_GATE_DBFS,
    ) -> None:
        if threshold is not None and not 0.0 < threshold < 1.0:
            raise WakeWordError(f"threshold must be between 0 and 1, got {threshold!r}")
        if (
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
        self._engine = create_engine(engine, list(models), quiet_gate_dbfs)
        defaults = getattr(self._engine, "default_thresholds", (0.5,) * len(self._engine.names))
        self.thresholds = tuple(defaults if threshold is None else (threshold,) * len(defaults))
        self.trigger_level = trigger_level
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
                if self._run[i] >= self.trigger_level:
                    detections.append(Detection(self._engine.names[i], frame.t, self._run_max[i]))
                    self._last[i] = frame.t
                    self._run[i] = 0
                    self._run_max[i] = 0.0
        return detections

    def close(self) -> None:
        self._engine.close()
