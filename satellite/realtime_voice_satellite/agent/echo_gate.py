"""The echo gate: the full-duplex stream while the satellite speaks, its own echo kept from the model.

In full duplex (link protocol 4) the microphone goes on to HA while the answer plays, and a brain
that hears the user over its own voice (GPT-Live) stops its answer when it hears speech there.
AEC3 removes most of the echo, but not all of it: before it has converged (the first seconds
after a start, longer in a reverberant room) and where music plays under the answer, its residual
is loud enough for the model to take it for someone talking (docs/performance.md: 1 and 165 such
stops per hour of answers).

The voice barge-in (:mod:`.voice`) already judges every 10 ms frame against the room's learned
residual echo (:attr:`.voice.VoiceBargeIn.echo_only`). The gate uses the same judgement on what is
streamed: a block in which every frame holds nothing above the residual goes attenuated by
``attenuation_db`` (the room's sound, far below anyone talking, and in step: the stream keeps
its timing and keeps flowing, which the model's clock needs); a block with a frame above it goes
whole, and the gate stays open ``hold_ms`` after it so that a word's quieter tail is not cut.
Until the canceller has converged, and for a second after its reference ran dry or was
re-anchored (``ready``: ``EchoCanceller.converged`` and ``steady``), every block is attenuated. The gain moves in a
ramp across a block, never in a step (no click). It runs on the capture worker's thread.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..link.protocol import AUDIO_RATE

ATTENUATION_DB = 40.0
HOLD_MS = 60.0


class EchoGate:
    def __init__(self, *, attenuation_db: float = ATTENUATION_DB, hold_ms: float = HOLD_MS) -> None:
        self.closed_gain = 10 ** (-attenuation_db / 20)
        self.hold = round(hold_ms * AUDIO_RATE / 1000)  # samples
        self.reset()

    def reset(self) -> None:
        """A new answer: the gate starts closed (nothing has been judged of it yet)."""
        self.gain = self.closed_gain
        self._open = 0  # samples the gate stays open without another frame above the echo
        self.attenuated_s = 0.0  # of the answer's stream, attenuated (for the log and the tests)

    def __call__(self, pcm: bytes, echo_only: Sequence[bool], *, ready: bool) -> bytes:
        """``pcm`` (PCM16 24 kHz, one block of the stream) as the gate lets it through;
        ``echo_only``: the voice barge-in's judgement of the block's frames (empty: none was
        made, the gate stays as it was); ``ready``: the canceller has converged and is steady."""
        samples = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2")
        n = len(samples)
        if not ready:
            self._open = 0
        elif echo_only and not all(echo_only):
            self._open = self.hold + n
        target = 1.0 if self._open > 0 else self.closed_gain
        self._open = max(0, self._open - n)
        start, self.gain = self.gain, target
        if target < 1.0:
            self.attenuated_s += n / AUDIO_RATE
        if start == target == 1.0 or not len(samples):
            return pcm
        gains = np.linspace(start, target, len(samples), endpoint=False, dtype=np.float32)
        if start == target:
            gains[:] = target
        out = np.rint(samples.astype(np.float32) * gains).astype("<i2")
        return out.tobytes()
