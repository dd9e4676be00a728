"""The output's two layers: the voice (answers, announcements, chimes) over the media stream (music
that Home Assistant's media player sends). Media ducks while the voice plays or the satellite listens,
and comes back after, with a short ramp so that the change does not click. In full duplex the voice
itself ducks while the user talks over it (``voice_ducked``, set by the agent: states.py's
``DUCK``), so that the brain hears the user over a much quieter echo."""

from __future__ import annotations

import numpy as np

from .player import Player

DUCK_GAIN = 0.15  # about -16 dB: the music stays audible, speech is clear over it
RAMP_MS = 150
# -40 dB: the user, not the answer, is what the microphone hears (at -20 dB AEC3 hid more users
# from the brain than the local stop did: docs/performance.md, "Full duplex")
VOICE_DUCK_GAIN = 0.01
VOICE_DUCK_RAMP_MS = 20  # down at once (the user is talking); back up over RAMP_MS


class Mixer:
    """Pulls both players once per output block (any thread), as a Player's ``read`` does."""

    def __init__(
        self,
        voice: Player,
        media: Player,
        *,
        duck_gain: float = DUCK_GAIN,
        voice_duck_gain: float = VOICE_DUCK_GAIN,
    ) -> None:
        self.voice = voice
        self.media = media
        self.duck_gain = duck_gain
        self.voice_duck_gain = voice_duck_gain
        self.listening = False  # set by the agent: duck while the user speaks to the satellite
        self.voice_ducked = False  # set by the agent: the voice ducks for the user (full duplex)
        self._gain = 1.0
        self._voice_gain = 1.0
        self._step = 1.0 / max(1, voice.output_rate * RAMP_MS // 1000)
        self._down = 1.0 / max(1, voice.output_rate * VOICE_DUCK_RAMP_MS // 1000)

    @property
    def ducked(self) -> bool:
        return self.listening or self.voice.current is not None

    def read(self, frames: int) -> np.ndarray | None:
        voice = self.voice.read(frames)
        media = self.media.read(frames)
        voice_target = self.voice_duck_gain if self.voice_ducked else 1.0
        if voice is not None and (voice_target != 1.0 or self._voice_gain != 1.0):
            down = voice_target < self._voice_gain
            ramp = _ramp(self._voice_gain, voice_target, self._down if down else self._step, frames)
            self._voice_gain = float(ramp[-1])
            voice = np.rint(voice.astype(np.float32) * ramp).astype(np.int16)
        elif voice is None:
            self._voice_gain = voice_target
        target = self.duck_gain if (voice is not None or self.listening) else 1.0
        if media is None:
            self._gain = target
            return voice
        ramp = _ramp(self._gain, target, self._step, frames)
        self._gain = float(ramp[-1])
        mixed = media.astype(np.float32) * ramp
        if voice is not None:
            mixed += voice
        return np.clip(mixed, -32768, 32767).astype(np.int16)


def _ramp(gain: float, target: float, step: float, frames: int) -> np.ndarray:
    """Per sample, from ``gain`` towards ``target`` by ``step`` a sample (then there)."""
    if target < gain:
        step = -step
    ramp = gain + step * np.arange(1, frames + 1, dtype=np.float32)
    return np.minimum(ramp, target) if step > 0 else np.maximum(ramp, target)
