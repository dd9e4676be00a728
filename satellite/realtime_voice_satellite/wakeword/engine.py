"""What a wake-word engine gives the detector: one score per model for each step of audio."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np


class WakeWordError(ValueError):
    """A wake-word model or option that cannot be used; the message names it."""


@dataclass(frozen=True, slots=True)
class ScoreFrame:
    """Scores of every model (in the engine's ``names`` order) for audio up to ``t`` seconds."""

    t: float
    scores: tuple[float, ...]


class WakeWordEngine(Protocol):
    """Streams 16 kHz int16 audio into scores; holds its own state across calls."""

    names: tuple[str, ...]

    def process(self, samples_16k: np.ndarray) -> list[ScoreFrame]: ...

    def reset(self) -> None: ...

    def close(self) -> None: ...


def looks_like_path(model: str | Path) -> bool:
    text = str(model)
    return isinstance(model, Path) or "/" in text or "\\" in text or "." in Path(text).name
