"""Echo cancellation with WebRTC's AEC3 (``pywebrtc-audio``) on the 16 kHz microphone signal.

The reference is what the speaker played (:class:`Reference`, e.g. the satellite's
``PlayedAudio``), read in step with the microphone: one 10 ms frame of reference per 10 ms frame
of microphone. AEC3 finds the delay between the two itself (its estimator covers a few hundred
ms), so the reference only has to lead the echo, never lag it.

Beside AEC3 a linear canceller (:mod:`.linear_aec`) runs on the same frames: its residual and
its echo estimate's energy (``linear``, ``echo_estimates``) are what the voice barge-in listens
to, since AEC3's suppressor hides the user while the answer plays.

Like the noise suppressor, this stage works in 10 ms frames and holds up to one frame: its output
lags its input by less than 10 ms and comes in multiples of 160 samples while it runs. While the
reference has been silent for ``tail_s`` (nothing played: the satellite is idle) the canceller is
not run at all and holds nothing: :meth:`EchoCanceller.idle` passes the reference's silence
without reading it, and the microphone goes on unchanged, so that an idle satellite pays
(almost) nothing for it.
"""

from __future__ import annotations

import importlib.util
from collections import deque
from functools import cache
from typing import Protocol

import numpy as np

from .linear_aec import LinearEchoCanceller

RATE = 16_000
FRAME = 160  # 10 ms at 16 kHz
CONVERGED_S = 2.5  # of reference with sound (the silence after a chime does not teach it)
CONVERGED_ERLE_DB = 20.0  # AEC3's output this far below the microphone, over the last 0.5 s
ERLE_WINDOW = 50  # frames with sound in the reference the removal is measured over
CONVERGED_ERLE = 10 ** (CONVERGED_ERLE_DB / 10)
LINEAR_CONVERGED_DB = 20.0  # the linear canceller's echo removal at which it is heard instead
LINEAR_LOST_DB = 10.0  # ... and below which it is not any more (out of step, or a new room)
CONVERGED_FRAMES = round(CONVERGED_S * RATE / FRAME)
# after the reference ran dry or was re-anchored (a stall): frames before the echo path counts as
# known again (the uncancelled echo of a dry stretch, and AEC3 finding the new delay)
STEADY_FRAMES = 100


class Reference(Protocol):
    def read(self, n: int) -> np.ndarray:
        """The next ``n`` samples (int16, 16 kHz) the speaker played, in step with the
        microphone; silence where nothing was (or could be) played. Never blocks."""
        ...

    def silent(self, n: int) -> bool:
        """True, and the next ``n`` samples passed, when they are silence; else False and
        nothing read. Never blocks."""
        ...


@cache
def unavailable_reason() -> str | None:
    """Why pywebrtc-audio cannot be used here, or None. Installed is not enough: it must load (with
    pyspeex-noise 1.x already loaded in the same Python, both register a native type named
    AudioProcessor and the second one fails; pyspeex-noise 2.x does not clash)."""
    if importlib.util.find_spec("pywebrtc_audio") is None:
        return "pywebrtc-audio is not installed"
    try:
        import pywebrtc_audio  # noqa: F401
    except ImportError as err:
        return f"pywebrtc-audio does not load ({err}; with pyspeex-noise 1.x, install 2.x)"
    return None


def available() -> bool:
    return unavailable_reason() is None


class EchoCanceller:
    """The microphone's echo of ``reference`` removed; see the module's docstring."""

    def __init__(self, reference: Reference, *, tail_s: float = 1.0) -> None:
        if (reason := unavailable_reason()) is not None:
            raise ValueError(
                f"echo cancellation needs pywebrtc-audio: {reason} "
                "(pip install pywebrtc-audio, or set audio.echo_cancellation: off)"
            )
        self.reference = reference
        self.tail_frames = round(tail_s * RATE / FRAME)
        self.reset()

    def reset(self) -> None:
        import pywebrtc_audio

        self._aec = pywebrtc_audio.EchoCanceller(RATE)
        self._linear = LinearEchoCanceller()
        self._linear_converged = False
        self._pending = np.zeros(0, dtype=np.int16)
        self._far_pending = np.zeros(0, dtype=np.int16)  # the reference beside ``_pending``
        self._far: np.ndarray | None = None  # reference read ahead by ``idle`` for the next call
        self._quiet_frames = self.tail_frames  # frames since the reference last held sound
        self.frames_cancelled = 0
        self._sounding_frames = 0  # of those, the frames whose reference held sound
        self._removal: deque[tuple[float, float]] = deque(maxlen=ERLE_WINDOW)  # (mic, out)
        self._converged = False
        self._since_upset = STEADY_FRAMES  # frames cancelled since the reference was upset
        self._upsets = self._reference_upsets()
        self.far = np.zeros(0, dtype=np.int16)  # the reference beside the last call's output
        # beside the last call's output too: the linear canceller's residual, and per 10 ms
        # frame its echo estimate's energy (the microphone and 0 where the canceller did not run)
        self.linear = np.zeros(0, dtype=np.int16)
        self.echo_estimates = np.zeros(0)

    @property
    def converged(self) -> bool:
        """True once the reference has held sound for ``CONVERGED_S`` and AEC3's output was
        ``CONVERGED_ERLE_DB`` below the microphone over its last ``ERLE_WINDOW`` such frames;
        then for good (the user talking over an answer lowers the measure; it is not a loss of
        convergence). Before, AEC3's residual is loud enough to sound like speech: measured in a
        reverberant room 5-15 dB of removal 1-2 s into the first answer after a start, and
        counting the canceller's running time instead (the silent second after the wake chime
        included) let the first answer interrupt itself (docs/performance.md, full duplex)."""
        return self._converged

    @property
    def steady(self) -> bool:
        """False for ``STEADY_FRAMES`` of cancelling after the reference ran dry (a stalled
        output: the microphone hears echo the reference lacks, which passes uncancelled) or was
        re-anchored (the echo's delay moved: AEC3 finds it again): what the canceller leaves
        then is not the room's usual residual, and 60 ms of it were measured to make a voice
        barge-in (docs/performance.md, full duplex)."""
        return self._since_upset >= STEADY_FRAMES

    def _measure(self, mic: np.ndarray, out: np.ndarray) -> None:
        """One frame with sound in the reference, until converged: the removal over the last
        ``ERLE_WINDOW`` such frames, latched once it is reached (frame by frame, so that it does
        not depend on when ``converged`` is asked)."""
        self._removal.append((_energy(mic), _energy(out)))
        if self._sounding_frames >= CONVERGED_FRAMES:
            mic_energy = sum(m for m, _ in self._removal)
            out_energy = sum(o for _, o in self._removal)
            self._converged = mic_energy > 0 and out_energy * CONVERGED_ERLE <= mic_energy

    def _reference_upsets(self) -> int:
        """Samples the reference read as silence for lack of sound played, plus its re-anchors,
        so far (0 for a reference that does not say: it never runs dry)."""
        played = getattr(self.reference, "played", self.reference)
        return int(getattr(self.reference, "dry_samples", 0)) + int(getattr(played, "resyncs", 0))

    @property
    def linear_converged(self) -> bool:
        """True once the linear canceller removes ``LINEAR_CONVERGED_DB`` of the echo, until it
        removes less than ``LINEAR_LOST_DB``: its residual then serves the wake and stop words
        better than AEC3's output (it keeps the talker). Before (the first answer or two after
        start), AEC3's output, which converges much faster, serves them better. The gap keeps
        the user's own words, which lower the measured removal, from switching mid-word."""
        erle = self._linear.erle_db
        if erle >= LINEAR_CONVERGED_DB:
            self._linear_converged = True
        elif erle < LINEAR_LOST_DB:
            self._linear_converged = False
        return self._linear_converged

    @property
    def active(self) -> bool:
        """True while the speaker plays or its echo may still be in the room."""
        return self._quiet_frames < self.tail_frames

    def held(self) -> np.ndarray:
        """The samples waiting for a whole frame (fewer than 160)."""
        return self._pending

    def idle(self, n: int) -> bool:
        """True when the canceller would pass the next ``n`` samples through unchanged (it is
        not running, nothing is held, and the reference there is silence): they are then taken
        as passed, and the caller need not call it for them. False: call it next with ``n``."""
        if self.active or len(self._pending) or self._far is not None:
            return False
        if self.reference.silent(n):
            return True
        self._far = self.reference.read(n)
        return False

    def __call__(self, near: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``near`` (int16, 16 kHz, any length) in; (the microphone, the microphone without
        the echo) out, the same samples: whole frames while it runs, all of them once it
        stops."""
        far_near = self._far if self._far is not None else self.reference.read(len(near))
        self._far = None
        upsets = self._reference_upsets()
        if upsets != self._upsets:
            self._upsets = upsets
            self._since_upset = 0
        if not self.active and not len(self._pending) and not far_near.any():
            self.far = far_near
            self.linear = near
            self.echo_estimates = np.zeros(len(near) // FRAME)
            return near, near
        pending = np.concatenate((self._pending, near)) if len(self._pending) else near
        far_all = np.concatenate((self._far_pending, far_near)) if len(self._pending) else far_near
        usable = len(pending) - len(pending) % FRAME
        self._pending = np.array(pending[usable:], dtype=np.int16)
        self._far_pending = np.array(far_all[usable:], dtype=np.int16)
        mic = pending[:usable]
        far = far_all[:usable]
        # Frame by frame: each decides whether the canceller runs (sound within the tail).
        out = None
        linear = mic.copy()
        estimates = np.zeros(usable // FRAME)
        for start in range(0, usable, FRAME):
            far_frame = far[start : start + FRAME]
            if far_frame.any():
                self._quiet_frames = 0
            elif self._quiet_frames < self.tail_frames:
                self._quiet_frames += 1
            if self.active:
                if out is None:
                    out = mic.copy()
                mic_frame = np.ascontiguousarray(mic[start : start + FRAME])
                out[start : start + FRAME] = self._aec.process(mic_frame, far_frame)
                if far_frame.any():
                    self._sounding_frames += 1
                    if not self._converged:
                        self._measure(mic_frame, out[start : start + FRAME])
                linear[start : start + FRAME], estimate = self._linear(mic_frame, far_frame)
                estimates[start // FRAME] = estimate[0]
                self.frames_cancelled += 1
                self._since_upset += 1
        out = mic if out is None else out
        if not self.active and len(self._pending):  # stopped: what it held goes on unchanged
            mic = np.concatenate((mic, self._pending))
            out = np.concatenate((out, self._pending))
            far = np.concatenate((far, self._far_pending))
            linear = np.concatenate((linear, self._pending))
            self._pending = self._far_pending = np.zeros(0, dtype=np.int16)
        self.far = far
        self.linear = linear
        self.echo_estimates = estimates
        return mic, out


def _energy(frame: np.ndarray) -> float:
    f = frame.astype(np.float64)
    return float(f.dot(f))
