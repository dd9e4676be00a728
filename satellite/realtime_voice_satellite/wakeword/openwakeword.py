"""openWakeWord with the models of pyopen-wakeword, run through ``tflite.TfLiteModel``.

The pipeline and its buffering follow pyopen-wakeword 1.1 step for step (mel spectrogram every
80 ms, one embedding of the last 76 mel frames per step, classifiers on the last N embeddings, and
8 s of silence at the start to fill the buffers), so its scores equal the shipped engine's. What
differs: the mel spectrogram is computed with numpy (``melspec.py``: the same function as
``melspectrogram.tflite``, within the model's own float32 rounding; ``mel="tflite"`` runs the
model), the embedding computed incrementally in numpy (``embedding.py``: only the rows of each
layer that the 8 new mel frames change, within float32 rounding of ``embedding_model.tflite``;
``embedding="tflite"`` runs the model), one thread and XNNPACK per interpreter, an audio buffer
of one step instead of a 10 s array shifted on every call, a mel buffer that keeps only what a
step can read, the silent prefill computed once per engine, not per reset, and the quiet gate
(``quiet_gate_dbfs``), which skips the embedding while everything a score depends on is quiet
and catches up when sound returns: the scores equal, bit for bit, those of an engine that never
skips (with ``embedding="incremental"`` as long as the BLAS computes a row of a matrix product
the same way in products of the same shape, as OpenBLAS does; see ``embedding.py``).
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from .embedding import EmbeddingModelError, IncrementalEmbedding
from .engine import ScoreFrame, WakeWordError, looks_like_path
from .melspec import MelSpectrogram
from .tflite import TfLiteError, TfLiteModel

SAMPLE_RATE = 16_000
STEP_SAMPLES = 1280  # 80 ms
MEL_WINDOW_SAMPLES = 1760  # one step plus the STFT's overlap
MEL_FRAMES_PER_STEP = 8
NUM_MELS = 32
EMBEDDING_WINDOW = 76  # mel frames per embedding (775 ms)
EMBEDDING_FEATURES = 96
PREFILL_SAMPLES = 8 * SAMPLE_RATE
_MEL_SLACK_STEPS = 32  # steps of mel frames appended before the buffer's kept tail moves

MelFrontEnd = Literal["numpy", "tflite"]
MEL_FRONT_ENDS: tuple[str, ...] = ("numpy", "tflite")
EmbeddingBackEnd = Literal["incremental", "tflite"]
EMBEDDING_BACK_ENDS: tuple[str, ...] = ("incremental", "tflite")

_LOGGER = logging.getLogger(__name__)

# A step (80 ms) quieter than this is "quiet"; when everything a score depends on is quiet (about
# 2.2 s), the embedding model is not run. Far below speech at any distance a wake word is heard
# from; a microphone's own noise is usually lower (-70 dBFS and below). None: always run.
DEFAULT_QUIET_GATE_DBFS = -60.0

BUILTIN_MODELS: tuple[str, ...] = ("okay_nabu", "hey_jarvis", "alexa", "hey_mycroft", "hey_rhasspy")


def models_dir() -> Path:
    """The built-in models (and the feature models) inside the pyopen-wakeword package."""
    import pyopen_wakeword

    return Path(pyopen_wakeword.__file__).parent / "models"


def resolve_model(model: str | Path) -> Path:
    """A built-in model name or a model file path -> an existing file, or a WakeWordError."""
    if not looks_like_path(model):
        if str(model) not in BUILTIN_MODELS:
            raise WakeWordError(
                f"unknown wake word model {str(model)!r}; built-in models: "
                f"{', '.join(BUILTIN_MODELS)} (or give the path of a .tflite or .onnx file)"
            )
        return models_dir() / f"{model}.tflite"
    path = Path(model).expanduser()
    if path.suffix not in (".tflite", ".onnx"):
        raise WakeWordError(f"{path}: an openWakeWord model must be a .tflite or .onnx file")
    if not path.is_file():
        raise WakeWordError(f"{path}: no such model file")
    return path


class _OnnxClassifier:
    """A classifier in ONNX form, for custom models trained with openWakeWord's own tools."""

    def __init__(self, path: Path) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        model_input = self._session.get_inputs()[0]
        self._input_name = model_input.name
        self.input_shape = (1, int(model_input.shape[1]), EMBEDDING_FEATURES)

    def run(self, x: np.ndarray) -> np.ndarray:
        return self._session.run(None, {self._input_name: x.astype(np.float32)})[0]

    def close(self) -> None:
        self._session = None


def _load_classifier(path: Path) -> TfLiteModel | _OnnxClassifier:
    if path.suffix == ".onnx":
        if importlib.util.find_spec("onnxruntime") is None:
            raise WakeWordError(
                f"{path}: .onnx models need onnxruntime, which is not installed "
                "(pip install onnxruntime), or use the .tflite form of the model"
            )
        try:
            return _OnnxClassifier(path)
        except Exception as err:  # onnxruntime raises its own exception types
            raise WakeWordError(f"{path}: onnxruntime cannot load it ({err})") from err
    try:
        model = TfLiteModel(path)
    except TfLiteError as err:
        raise WakeWordError(str(err)) from err
    shape = model.input_shape
    if len(shape) != 3 or shape[2] != EMBEDDING_FEATURES or model.output_shape[-1] != 1:
        model.close()
        raise WakeWordError(
            f"{path}: not an openWakeWord classifier (input {shape}, wanted [1, N, 96])"
        )
    return model


class _Classifier:
    """One wake word: scores the last ``window`` embeddings, once per new embedding."""

    def __init__(self, name: str, model: TfLiteModel | _OnnxClassifier) -> None:
        self.name = name
        self.model = model
        self.window = model.input_shape[1]
        # one push per embedding, so no more than ``window`` are ever pending
        self.embeddings = np.zeros((self.window, EMBEDDING_FEATURES), dtype=np.float32)
        self.pending = 0  # embeddings not yet at the end of a scored window

    def push(self, embedding: np.ndarray, score: bool = True) -> float | None:
        self.embeddings[:-1] = self.embeddings[1:]
        self.embeddings[-1] = embedding
        self.pending = min(self.window, self.pending + 1)
        if self.pending < self.window:
            return None
        start = self.window - self.pending
        window = self.embeddings[start : start + self.window]
        self.pending -= 1
        if not score:
            return None
        return float(self.model.run(window[np.newaxis]).reshape(-1)[0])

    def state(self) -> tuple[np.ndarray, int]:
        return self.embeddings.copy(), self.pending

    def restore(self, state: tuple[np.ndarray, int]) -> None:
        self.embeddings[:] = state[0]
        self.pending = state[1]


@dataclass(slots=True)
class _FrontEndState:
    audio: np.ndarray
    mels: np.ndarray
    mel_end: int
    mel_count: int
    pending_mels: int
    consumed: int
    embedding: tuple[int | None, list[np.ndarray]] | None


@dataclass(frozen=True, slots=True)
class _Push:
    """One embedding for the classifiers: ``scored``, a score for audio up to ``t`` seconds;
    otherwise only pushed into their windows (the silent prefill, a quiet-gate catch-up)."""

    t: float
    embedding: np.ndarray
    scored: bool


class _TfLiteMels:
    """The mel front end as pyopen-wakeword runs it: ``melspectrogram.tflite``, then ``/10 + 2``."""

    def __init__(self, threads: int | None, xnnpack: bool) -> None:
        self.model = TfLiteModel(
            models_dir() / "melspectrogram.tflite",
            input_shape=(1, MEL_WINDOW_SAMPLES),
            threads=threads,
            xnnpack=xnnpack,
        )

    def __call__(self, window: np.ndarray) -> np.ndarray:
        return self.model.run(window).reshape(MEL_FRAMES_PER_STEP, NUM_MELS) / 10 + 2

    def close(self) -> None:
        self.model.close()


class OpenWakeWordFrontEnd:
    """openWakeWord's feature pipeline (mel spectrogram, embedding, quiet gate, silent prefill)
    for the classifiers of ``models``, computed once for every engine that hears the same audio.

    Engines on it (:meth:`engine`) each score some of the models; two engines never share a
    model. An engine given a block feeds it (:meth:`feed`), unless it is the block fed last (the
    same array) and the engine has not taken it yet: then it takes what the feed produced. So the
    wake words and the stop words, given the same block one after the other, cost one mel
    spectrogram and one embedding per step. An engine that is not given some blocks (the stop
    words while the satellite is not speaking) pushes their embeddings into its classifiers,
    without scoring them, with the next block it is given: its scores then equal those of an
    engine given every block, and it saved the classifiers' inference.

    ``mel="numpy"`` (the default) computes the mel spectrogram with ``melspec.MelSpectrogram``;
    ``mel="tflite"`` runs pyopen-wakeword's ``melspectrogram.tflite`` instead (for comparison:
    the scores agree within about 1e-4).

    ``embedding="incremental"`` (the default) computes ``embedding_model.tflite`` with
    ``embedding.IncrementalEmbedding``, only the rows each step adds (weights and graph read
    from the model file; a file of another structure is logged and run with TFLite);
    ``embedding="tflite"`` runs the whole model every step (for comparison: the embeddings agree
    within float32 rounding, the scores within 1e-4). ``self.embedding`` says which one runs.
    ``embeddings_computed`` counts the embeddings computed (the prefill's included).
    """

    def __init__(
        self,
        models: Sequence[str | Path],
        *,
        quiet_gate_dbfs: float | None = DEFAULT_QUIET_GATE_DBFS,
        threads: int | None = 1,
        xnnpack: bool = True,
        mel: MelFrontEnd = "numpy",
        embedding: EmbeddingBackEnd = "incremental",
    ) -> None:
        if not models:
            raise WakeWordError("no wake word model given")
        if mel not in MEL_FRONT_ENDS:
            raise WakeWordError(
                f"unknown mel front end {mel!r}; one of {', '.join(MEL_FRONT_ENDS)}"
            )
        if embedding not in EMBEDDING_BACK_ENDS:
            raise WakeWordError(
                f"unknown embedding back end {embedding!r}; one of {', '.join(EMBEDDING_BACK_ENDS)}"
            )
        paths = [resolve_model(m) for m in models]
        names = [p.stem for p in paths]
        if len(set(names)) != len(names):
            raise WakeWordError(f"the same wake word model is given twice: {names}")
        self.names = tuple(names)
        self.mel = mel
        self._mel: MelSpectrogram | _TfLiteMels = (
            MelSpectrogram(MEL_WINDOW_SAMPLES) if mel == "numpy" else _TfLiteMels(threads, xnnpack)
        )
        embedding_path = models_dir() / "embedding_model.tflite"
        self._incremental: IncrementalEmbedding | None = None
        self._embedding: TfLiteModel | None = None
        if embedding == "incremental":
            try:
                self._incremental = _incremental_embedding(embedding_path)
            except EmbeddingModelError as err:
                _LOGGER.warning("openWakeWord embedding computed by TFLite instead: %s", err)
                embedding = "tflite"
        self.embedding = embedding
        if self._incremental is None:
            self._embedding = TfLiteModel(
                embedding_path,
                input_shape=(1, EMBEDDING_WINDOW, NUM_MELS, 1),
                threads=threads,
                xnnpack=xnnpack,
            )
        self._classifiers: dict[str, _Classifier] = {}
        try:
            for name, path in zip(names, paths, strict=True):
                self._classifiers[name] = _Classifier(name, _load_classifier(path))
        except BaseException:
            self.close()
            raise
        if quiet_gate_dbfs is not None and not -120.0 <= quiet_gate_dbfs <= 0.0:
            raise WakeWordError(
                f"quiet_gate_dbfs must be between -120 and 0 dBFS (or None), got {quiet_gate_dbfs!r}"
            )
        self.quiet_gate_dbfs = quiet_gate_dbfs
        # the step's energy (sum of squares, int16 scale) below which it counts as quiet
        self._quiet_energy = (
            -1.0
            if quiet_gate_dbfs is None
            else (32768.0 * 10 ** (quiet_gate_dbfs / 20)) ** 2 * STEP_SAMPLES
        )
        longest = max(c.window for c in self._classifiers.values())
        # a score depends on the audio of its classifier's window of embeddings plus one
        # embedding's mel window (76 frames, 9.5 steps); one step more for the mel overlap
        self._quiet_steps_to_skip = longest + EMBEDDING_WINDOW // MEL_FRAMES_PER_STEP + 2
        self._max_catch_up = longest - 1
        self.embeddings_computed = 0
        self._audio: np.ndarray = np.zeros(0, dtype=np.float32)
        # Mel frames, appended at ``_mel_end``; when full, the frames a step can still read
        # (the pending ones and the catch-up's windows, each one step earlier) move to the front:
        # one small copy every _MEL_SLACK_STEPS steps instead of shifting 10 s every step.
        self._mel_keep = EMBEDDING_WINDOW + MEL_FRAMES_PER_STEP * (self._max_catch_up + 1)
        self._mels = np.zeros(
            (self._mel_keep + MEL_FRAMES_PER_STEP * _MEL_SLACK_STEPS, NUM_MELS), dtype=np.float32
        )
        self._mel_end = self._mel_keep
        self._mel_count = 0  # mel frames computed since the stream began (prefill included)
        self._pending_mels = 0
        self._quiet_steps = 0
        self._skipped = 0
        self._consumed = -PREFILL_SAMPLES  # stream position (samples) of self._audio[0]
        self._engines: list[OpenWakeWordEngine] = []
        self.blocks_fed = 0
        self._latest: np.ndarray | None = None
        # the prefill has no wake word in it: build its state once, restore it on reset()
        for push in self._pipeline(np.zeros(PREFILL_SAMPLES, dtype=np.float32), score=False):
            for classifier in self._classifiers.values():
                classifier.push(push.embedding, score=False)
        self._quiet_steps = self._skipped = 0  # the prefill is not part of the stream
        self._initial = self._state()
        self._initial_classifiers = {n: c.state() for n, c in self._classifiers.items()}

    def engine(self, models: Sequence[str | Path]) -> OpenWakeWordEngine:
        """An engine that scores ``models`` (some of this front end's) on the shared features."""
        return OpenWakeWordEngine(models, front_end=self)

    def _attach(self, engine: OpenWakeWordEngine) -> list[_Classifier]:
        taken = {n for e in self._engines for n in e.names}
        for name in engine.names:
            if name not in self._classifiers:
                raise WakeWordError(
                    f"wake word model {name!r} is not one of the shared front end's "
                    f"({', '.join(self.names)})"
                )
            if name in taken:
                raise WakeWordError(f"wake word model {name!r} already has an engine")
        self._engines.append(engine)
        return [self._classifiers[n] for n in engine.names]

    def _detach(self, engine: OpenWakeWordEngine) -> None:
        if engine in self._engines:
            self._engines.remove(engine)

    def initial_state(self, name: str) -> tuple[np.ndarray, int]:
        """A classifier's state after the prefill."""
        return self._initial_classifiers[name]

    def is_latest(self, samples: np.ndarray) -> bool:
        return samples is self._latest

    def feed(self, samples_16k: np.ndarray) -> None:
        """One block of audio: its embeddings go to every engine."""
        pushes = self._pipeline(np.asarray(samples_16k, dtype=np.float32), score=True)
        self.blocks_fed += 1
        self._latest = samples_16k
        for engine in self._engines:
            engine._queue(self.blocks_fed, pushes)

    def _state(self) -> _FrontEndState:
        return _FrontEndState(
            self._audio.copy(),
            self._mels.copy(),
            self._mel_end,
            self._mel_count,
            self._pending_mels,
            self._consumed,
            self._incremental.state() if self._incremental is not None else None,
        )

    def reset(self) -> None:
        """Back to the state after the prefill, the classifiers of every engine too."""
        initial = self._initial
        self._audio = initial.audio.copy()
        self._mels[:] = initial.mels
        self._mel_end = initial.mel_end
        self._mel_count = initial.mel_count
        self._pending_mels = initial.pending_mels
        self._consumed = initial.consumed
        self._quiet_steps = self._skipped = 0
        for name, classifier in self._classifiers.items():
            classifier.restore(self._initial_classifiers[name])
        if self._incremental is not None and initial.embedding is not None:
            self._incremental.restore(initial.embedding)
        self._latest = None
        for engine in self._engines:
            engine._forget()

    def _pipeline(self, samples: np.ndarray, *, score: bool) -> list[_Push]:
        pushes: list[_Push] = []
        held = len(self._audio)
        if held + len(samples) < MEL_WINDOW_SAMPLES:  # most calls (20 ms): no step completes
            self._audio = np.concatenate((self._audio, samples)) if held else samples.copy()
            return pushes
        audio = np.concatenate((self._audio, samples)) if held else samples
        mels = self._mels
        offset = 0
        while len(audio) - offset >= MEL_WINDOW_SAMPLES:
            window = audio[offset : offset + MEL_WINDOW_SAMPLES]
            end = self._consumed + offset + MEL_WINDOW_SAMPLES
            offset += STEP_SAMPLES
            newest = window[-STEP_SAMPLES:]
            if float(np.dot(newest, newest)) < self._quiet_energy:
                self._quiet_steps += 1
            else:
                self._quiet_steps = 0
            mel_end = self._mel_end
            if mel_end + MEL_FRAMES_PER_STEP > len(mels):
                keep = self._mel_keep
                mels[:keep] = mels[mel_end - keep : mel_end]
                mel_end = keep
            mels[mel_end : mel_end + MEL_FRAMES_PER_STEP] = self._mel(window)
            self._mel_end = mel_end = mel_end + MEL_FRAMES_PER_STEP
            self._mel_count += MEL_FRAMES_PER_STEP
            self._pending_mels += MEL_FRAMES_PER_STEP
            while self._pending_mels >= EMBEDDING_WINDOW:
                start = mel_end - self._pending_mels
                self._pending_mels -= MEL_FRAMES_PER_STEP
                if score and self._quiet_steps >= self._quiet_steps_to_skip:
                    # everything this score would see is quiet: skip the embedding (most of
                    # the cost), remember it, and compute it if a loud step comes soon enough
                    self._skipped = min(self._skipped + 1, self._max_catch_up)
                    continue
                if self._skipped:
                    pushes += self._catch_up(start)
                pushes.append(_Push(end / SAMPLE_RATE, self._embed(start), score))
        self._consumed += offset
        self._audio = audio[offset:].copy()
        return pushes

    def _embed(self, start: int) -> np.ndarray:
        self.embeddings_computed += 1
        window = self._mels[start : start + EMBEDDING_WINDOW]
        if self._incremental is not None:
            # the window's place in the stream: one step after the previous -> incremental
            position = self._mel_count - (self._mel_end - start)
            return self._incremental.embed(window, position).copy()
        assert self._embedding is not None
        return self._embedding.run(window).reshape(EMBEDDING_FEATURES).copy()

    def _catch_up(self, start: int) -> list[_Push]:
        """The skipped embeddings the classifiers' windows still need (their mel windows are
        still in the buffer, each one step earlier), so that the scores after a quiet stretch
        equal those of an engine that never skipped. When more were skipped than are caught up,
        the incremental embedding's first is computed from its window alone, which gives the
        same bits as the step-by-step computation (``embedding.py``)."""
        pushes = [
            _Push(0.0, self._embed(start - back * MEL_FRAMES_PER_STEP), False)
            for back in range(self._skipped, 0, -1)
        ]
        self._skipped = 0
        return pushes

    def close(self) -> None:
        mel = getattr(self, "_mel", None)
        if isinstance(mel, _TfLiteMels):
            mel.close()
        embedding = getattr(self, "_embedding", None)
        if embedding is not None:
            embedding.close()
        for classifier in getattr(self, "_classifiers", {}).values():
            classifier.model.close()


class OpenWakeWordEngine:
    """openWakeWord models on a feature pipeline (``WakeWordEngine``): its own, or a shared
    :class:`OpenWakeWordFrontEnd` (``front_end``; the other options are then the front end's).
    ``mel``, ``embedding``: see :class:`OpenWakeWordFrontEnd`.

    On a shared front end ``reset`` starts the engine's classifiers afresh (after the prefill),
    not the front end: ``t`` goes on counting from the front end's start.
    """

    def __init__(
        self,
        models: Sequence[str | Path],
        *,
        front_end: OpenWakeWordFrontEnd | None = None,
        quiet_gate_dbfs: float | None = DEFAULT_QUIET_GATE_DBFS,
        threads: int | None = 1,
        xnnpack: bool = True,
        mel: MelFrontEnd = "numpy",
        embedding: EmbeddingBackEnd = "incremental",
    ) -> None:
        self._owns_front_end = front_end is None
        self.front_end = front_end or OpenWakeWordFrontEnd(
            models,
            quiet_gate_dbfs=quiet_gate_dbfs,
            threads=threads,
            xnnpack=xnnpack,
            mel=mel,
            embedding=embedding,
        )
        self.names = tuple(resolve_model(m).stem for m in models)
        self._classifiers = self.front_end._attach(self)
        # only the last window of embeddings of blocks this engine was not given matters
        self._keep = max((c.window for c in self._classifiers), default=0)
        self._backlog: list[tuple[int, _Push]] = []
        self._queued = -1  # the block fed last, while this engine has not taken it

    @property
    def mel(self) -> MelFrontEnd:
        return self.front_end.mel

    @property
    def embedding(self) -> EmbeddingBackEnd:
        return self.front_end.embedding

    @property
    def embeddings_computed(self) -> int:
        return self.front_end.embeddings_computed

    @property
    def _incremental(self) -> IncrementalEmbedding | None:
        return self.front_end._incremental

    def process(self, samples_16k: np.ndarray) -> list[ScoreFrame]:
        front = self.front_end
        if not (self._queued == front.blocks_fed and front.is_latest(samples_16k)):
            front.feed(samples_16k)
        return self._take()

    def _queue(self, block: int, pushes: list[_Push]) -> None:
        if len(self._backlog) > self._keep:  # from blocks this engine was not given
            self._backlog = self._backlog[-self._keep :]
        self._backlog += [(block, push) for push in pushes]
        self._queued = block

    def _take(self) -> list[ScoreFrame]:
        latest = self.front_end.blocks_fed
        frames: list[ScoreFrame] = []
        for block, push in self._backlog:
            scored = push.scored and block == latest
            scores = [c.push(push.embedding, scored) for c in self._classifiers]
            if scored and all(s is not None for s in scores):
                frames.append(ScoreFrame(push.t, tuple(scores)))  # type: ignore[arg-type]
        self._backlog = []
        self._queued = -1
        return frames

    def _forget(self) -> None:
        self._backlog = []
        self._queued = -1

    def reset(self) -> None:
        if self._owns_front_end:
            self.front_end.reset()
            return
        self._forget()
        for classifier in self._classifiers:
            classifier.restore(self.front_end.initial_state(classifier.name))

    def close(self) -> None:
        if self._owns_front_end:
            self.front_end.close()
            return
        self.front_end._detach(self)
        for classifier in self._classifiers:
            classifier.model.close()


def _incremental_embedding(path: Path) -> IncrementalEmbedding:
    """``IncrementalEmbedding`` for the engine's window and step, or ``EmbeddingModelError``."""
    embedding = IncrementalEmbedding(path, step=MEL_FRAMES_PER_STEP)
    found = (embedding.window, embedding.bands, embedding.features)
    if found != (EMBEDDING_WINDOW, NUM_MELS, EMBEDDING_FEATURES):
        raise EmbeddingModelError(
            f"{path}: {found[0]} frames of {found[1]} bands -> {found[2]} features, "
            f"not {EMBEDDING_WINDOW} of {NUM_MELS} -> {EMBEDDING_FEATURES}"
        )
    return embedding
