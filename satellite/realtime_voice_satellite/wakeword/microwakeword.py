"""microWakeWord (pymicro-wakeword) as a second engine: small streaming models, 30 ms steps.

The engine is used as pymicro-wakeword ships it (its quantized streaming models keep state
inside the interpreter, so they are not run through ``tflite.TfLiteModel``); scores are the
models' sliding-window means, one per inference (every 30 ms), timed at the end of the feature
frame that completed it. Models with different strides hold their last score between steps.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .engine import ScoreFrame, WakeWordError, looks_like_path

SAMPLE_RATE = 16_000
FEATURE_STEP_SAMPLES = 160  # 10 ms per feature frame
FEATURE_WINDOW_SAMPLES = 480  # each frame sees 30 ms


def builtin_models() -> tuple[str, ...]:
    from pymicro_wakeword import Model

    return tuple(m.value for m in Model)


def resolve_config(model: str | Path) -> Path:
    """A built-in name, a model's .json config, or a .tflite next to its .json -> the .json."""
    import pymicro_wakeword

    if not looks_like_path(model):
        if str(model) not in builtin_models():
            raise WakeWordError(
                f"unknown microWakeWord model {str(model)!r}; built-in models: "
                f"{', '.join(builtin_models())} (or give the path of a model's .json file)"
            )
        return Path(pymicro_wakeword.__file__).parent / "models" / f"{model}.json"
    path = Path(model).expanduser()
    if path.suffix == ".tflite":
        path = path.with_suffix(".json")
    if path.suffix != ".json":
        raise WakeWordError(f"{model}: a microWakeWord model is given by its .json file")
    if not path.is_file():
        raise WakeWordError(f"{path}: no such file (a microWakeWord model needs its .json)")
    return path


class MicroWakeWordEngine:
    """Several microWakeWord models on one feature front end (``WakeWordEngine``): every model
    reads the same 10 ms feature frames, so they are computed once for all."""

    def __init__(self, models: Sequence[str | Path]) -> None:
        from pymicro_wakeword import MicroWakeWord, MicroWakeWordFeatures

        if not models:
            raise WakeWordError("no wake word model given")
        self._models = []
        for model in models:
            config = resolve_config(model)
            try:
                self._models.append(MicroWakeWord.from_config(config))
            except (KeyError, ValueError, json.JSONDecodeError) as err:
                raise WakeWordError(f"{config}: not a microWakeWord model config ({err})") from err
        self.names = tuple(m.id for m in self._models)
        self.default_thresholds = tuple(float(m.probability_cutoff) for m in self._models)
        self._features = MicroWakeWordFeatures()
        self.feature_frames = 0  # computed since the start (for the benchmark and tests)
        self._feature_count = 0
        self._latest = [0.0] * len(self._models)  # a model's last score, held between its steps

    def process(self, samples_16k: np.ndarray) -> list[ScoreFrame]:
        data = np.asarray(samples_16k, dtype="<i2").tobytes()
        features = list(self._features.process_streaming(data))
        self.feature_frames += len(features)
        # (feature index, model, score) of every inference
        events: list[tuple[int, int, float]] = []
        for i, model in enumerate(self._models):
            for index, feature in enumerate(features, start=self._feature_count + 1):
                prob = model.process_streaming_prob(feature)
                if not model._features:  # an inference ran (its input buffer was consumed)
                    events.append((index, i, 0.0 if prob is None else float(prob)))
        self._feature_count += len(features)
        frames: list[ScoreFrame] = []
        for index, i, score in sorted(events):
            self._latest[i] = score
            t = (index * FEATURE_STEP_SAMPLES + FEATURE_WINDOW_SAMPLES - FEATURE_STEP_SAMPLES) / (
                SAMPLE_RATE
            )
            if frames and frames[-1].t == t:
                frames[-1] = ScoreFrame(t, tuple(self._latest))
            else:
                frames.append(ScoreFrame(t, tuple(self._latest)))
        return frames

    def reset(self) -> None:
        for model in self._models:
            model.reset()
        self._features.reset()
        self._feature_count = 0
        self._latest = [0.0] * len(self._models)

    def close(self) -> None:
        for model in self._models:
            model.close()
