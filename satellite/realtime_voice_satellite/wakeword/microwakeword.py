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
# Inferences after which a model's streaming state no longer depends on what came before: the
# built-in models' reaches back up to 52 (measured: a model started afresh that many inferences
# early gives the same scores from then on); twice that for other models. Frames older than
# that (and the sliding window's) are dropped for an engine not given them.
REMEMBERED_INFERENCES = 104


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


class MicroWakeWordFrontEnd:
    """pymicro-features' frames (10 ms each), computed once for every engine that hears the same
    audio: the wake words and the stop words, or the own-voice guards.

    An engine given a block feeds it (:meth:`feed`), unless it is the block fed last (the same
    array) and the engine has not taken it yet: then it takes the frames the feed computed. An
    engine that is not given some blocks (the stop words while the satellite is not speaking)
    runs their last frames (as many as its models remember, ``REMEMBERED_INFERENCES``) through
    its models, without scoring them, with the next block it is given: its scores then equal
    those of an engine given every block, and the models' inference was saved meanwhile.
    ``feature_frames`` counts the frames computed; frame ``n`` (from 1, since the start or the
    last :meth:`reset`) ends ``n - 1`` steps and a window into the stream.
    """

    def __init__(self) -> None:
        from pymicro_wakeword import MicroWakeWordFeatures

        self._features = MicroWakeWordFeatures()
        self.feature_frames = 0  # computed since the start (for the benchmark and tests)
        self.position = 0  # frames since the start or the last reset
        self.blocks_fed = 0
        self._latest: np.ndarray | None = None
        self._engines: list[MicroWakeWordEngine] = []

    def engine(self, models: Sequence[str | Path]) -> MicroWakeWordEngine:
        return MicroWakeWordEngine(models, front_end=self)

    def _attach(self, engine: MicroWakeWordEngine) -> None:
        self._engines.append(engine)

    def _detach(self, engine: MicroWakeWordEngine) -> None:
        if engine in self._engines:
            self._engines.remove(engine)

    def is_latest(self, samples: np.ndarray) -> bool:
        return samples is self._latest

    def feed(self, samples_16k: np.ndarray) -> None:
        """One block of audio: its frames go to every engine."""
        data = np.asarray(samples_16k, dtype="<i2").tobytes()
        features = list(self._features.process_streaming(data))
        first = self.position + 1
        self.feature_frames += len(features)
        self.position += len(features)
        self.blocks_fed += 1
        self._latest = samples_16k
        for engine in self._engines:
            engine._queue(self.blocks_fed, first, features)

    def reset(self) -> None:
        """Start over, every engine too."""
        self._features.reset()
        self.position = 0
        self._latest = None
        for engine in self._engines:
            engine._restart()

    def close(self) -> None:
        self._engines = []


class MicroWakeWordEngine:
    """Several microWakeWord models on one feature front end (``WakeWordEngine``): every model
    reads the same 10 ms feature frames, so they are computed once for all. The front end is the
    engine's own, or a shared :class:`MicroWakeWordFrontEnd` (``front_end``).

    On a shared front end ``reset`` starts the engine's models afresh, not the front end: ``t``
    goes on counting from the front end's start.
    """

    def __init__(
        self, models: Sequence[str | Path], *, front_end: MicroWakeWordFrontEnd | None = None
    ) -> None:
        from pymicro_wakeword import MicroWakeWord

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
        # the frames of blocks this engine was not given that still change its scores
        self._keep = max(
            (REMEMBERED_INFERENCES + m.sliding_window_size + 1) * m.stride for m in self._models
        )
        self._owns_front_end = front_end is None
        self.front_end = front_end or MicroWakeWordFrontEnd()
        self.front_end._attach(self)
        self._backlog: list[tuple[int, int, np.ndarray]] = []  # (block, frame, features)
        self._queued = -1  # the block fed last, while this engine has not taken it
        self._next = self._origin = 0  # the next frame to take; where the models' strides start
        self._latest: list[float] = []
        self._forget()

    @property
    def feature_frames(self) -> int:
        return self.front_end.feature_frames

    def process(self, samples_16k: np.ndarray) -> list[ScoreFrame]:
        front = self.front_end
        if not (self._queued == front.blocks_fed and front.is_latest(samples_16k)):
            front.feed(samples_16k)
        return self._take()

    def _queue(self, block: int, first: int, features: list[np.ndarray]) -> None:
        if len(self._backlog) > self._keep:  # from blocks this engine was not given
            self._backlog = self._backlog[-self._keep :]
        self._backlog += [(block, first + i, f) for i, f in enumerate(features)]
        self._queued = block

    def _take(self) -> list[ScoreFrame]:
        backlog, self._backlog, self._queued = self._backlog, [], -1
        if not backlog:
            return []
        if backlog[0][1] != self._next:  # frames were dropped: the models' strides start over
            for model in self._models:
                model._features.clear()
        self._next = backlog[-1][1] + 1
        latest = self.front_end.blocks_fed
        # (frame, model, score, scored) of every inference
        events: list[tuple[int, int, float, bool]] = []
        for i, model in enumerate(self._models):
            for block, index, feature in backlog:
                if not model._features and (index - self._origin) % model.stride:
                    continue  # after dropped frames: from where an engine given all would stride
                prob = model.process_streaming_prob(feature)
                if not model._features:  # an inference ran (its input buffer was consumed)
                    score = 0.0 if prob is None else float(prob)
                    events.append((index, i, score, block == latest))
        frames: list[ScoreFrame] = []
        for index, i, score, scored in sorted(events):
            self._latest[i] = score
            if not scored:
                continue
            t = (index * FEATURE_STEP_SAMPLES + FEATURE_WINDOW_SAMPLES - FEATURE_STEP_SAMPLES) / (
                SAMPLE_RATE
            )
            if frames and frames[-1].t == t:
                frames[-1] = ScoreFrame(t, tuple(self._latest))
            else:
                frames.append(ScoreFrame(t, tuple(self._latest)))
        return frames

    def _restart(self) -> None:
        """The models afresh, from the front end's next frame on."""
        for model in self._models:
            model.reset()
        self._forget()

    def _forget(self) -> None:
        self._backlog = []
        self._queued = -1
        self._next = self._origin = self.front_end.position + 1
        self._latest = [0.0] * len(self._models)  # a model's last score, held between its steps

    def reset(self) -> None:
        if self._owns_front_end:
            self.front_end.reset()
        else:
            self._restart()

    def close(self) -> None:
        self.front_end._detach(self)
        for model in self._models:
            model.close()
