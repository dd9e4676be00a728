"""microWakeWord (pymicro-wakeword) as a second engine: small streaming models, 30 ms steps.

The engine is used as pymicro-wakeword ships it (its quantized streaming models keep state
inside the interpreter, so they are not run through ``tflite.TfLiteModel``); scores are the
models' sliding-window means, one per inference.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .engine import ScoreFrame, WakeWordError, looks_like_path

SAMPLE_RATE = 16_000
FEATURE_STEP_SAMPLES = 160  # 10 ms per feature frame


def builtin_models() -> tuple[str, ...]:
    from pymicro_wakeword import Model

    return tuple(m.value for m in Model)


def resolve_config(model: str | Path) -> Path:
    """A built-in name, a model's .json config, or a .tflite next to its .json -> the .json."""
    from pymicro_wakeword import microwakeword as mww

    if not looks_like_path(model):
        if str(model) not in builtin_models():
            raise WakeWordError(
                f"unknown microWakeWord model {str(model)!r}; built-in models: "
                f"{', '.join(builtin_models())} (or give the path of a model's .json file)"
            )
        return Path(mww._MODELS_DIR) / f"{model}.json"
    path = Path(model).expanduser()
    if path.suffix == ".tflite":
        path = path.with_suffix(".json")
    if path.suffix != ".json":
        raise WakeWordError(f"{model}: a microWakeWord model is given by its .json file")
    if not path.is_file():
        raise WakeWordError(f"{path}: no such file (a microWakeWord model needs its .json)")
    return path


class MicroWakeWordEngine:
    """Several microWakeWord models, each with its own feature frontend (``WakeWordEngine``)."""

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
        self._features = [MicroWakeWordFeatures() for _ in self._models]
        self._samples = 0

    def process(self, samples_16k: np.ndarray) -> list[ScoreFrame]:
        data = np.asarray(samples_16k, dtype="<i2").tobytes()
        per_model: list[list[float]] = []
        for model, features in zip(self._models, self._features, strict=True):
            scores: list[float] = []
            for feature in features.process_streaming(data):
                prob = model.process_streaming_prob(feature)
                if not model._features:  # an inference ran (its input buffer was consumed)
                    scores.append(0.0 if prob is None else float(prob))
            per_model.append(scores)
        # every model strides by the same number of feature frames in practice; pair them up
        steps = min(len(s) for s in per_model)
        total = self._samples + len(samples_16k)
        stride = self._models[0].stride * FEATURE_STEP_SAMPLES
        frames = [
            ScoreFrame(
                (total - (steps - 1 - i) * stride) / SAMPLE_RATE,
                tuple(s[i] for s in per_model),
            )
            for i in range(steps)
        ]
        self._samples = total
        return frames

    def reset(self) -> None:
        for model, features in zip(self._models, self._features, strict=True):
            model.reset()
            features.reset()
        self._samples = 0

    def close(self) -> None:
        for model in self._models:
            model.close()
