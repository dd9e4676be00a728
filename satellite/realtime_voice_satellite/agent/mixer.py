"""The output's two layers: the voice (answers, announcements, chimes) over the media stream (music
that Home Assistant's media player sends). Media ducks while the voice plays or the satellite listens,
and comes back after, with a short ramp so that the change does not click."""

from __future__ import annotations

import numpy as np

from .player import Player

DUCK_GAIN = 0.15  # about -16 dB: the music stays audible, speech is clear over it
RAMP_MS = 150


class Mixer:
    """Pulls both players once per output block (any thread), as a Player's ``read`` does."""

    def __init__(self, voice: Player, media: Player, *, duck_gain: float = DUCK_GAIN) -> None:
        self.voice = voice
        self.media = media
        self.duck_gain = duck_gain
        self.listening = False  # set by the agent: duck while the user speaks to the satellite
        self._gain = 1.0
        self._step = 1.0 / max(1, voice.output_rate * RAMP_MS // 1000)

    @property
    def ducked(self) -> bool:
        return self.listening or self.voice.current is not None

    def read(self, frames: int) -> np.ndarray | None:
        voice = self.voice.read(frames)
        media = self.media.read(frames)
        target = self.duck_gain if (voice is not None or self.listening) else 1.0
        if media is None:
            self._gain = target
            return voice
        ramp = self._ramp(target, frames)
        mixed = media.astype(np.float32) * ramp
        if voice is not None:
            mixed += voice
        return np.clip(mixed, -32768, 32767).astype(np.int16)

    def _ramp(self, target: float, frames: int) -> np.ndarray:
        step = self._step if target > self._gain else -self._step
        ramp = self._gain + step * np.arange(1, frames + 1, dtype=np.float32)
        ramp = np.minimum(ramp, target) if step > 0 else np.maximum(ramp, target)
        self._gain = float(ramp[-1])
        return ramp
