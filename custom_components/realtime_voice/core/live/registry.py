"""What is known about each Live model: voices and price (billed per active minute, not per token).

Unknown model names are allowed (a newer model than this table); they are priced like the newest.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

# openai.types.live.BuiltInVoice (openai 3.26.0).
VOICES: tuple[str, ...] = (
    "marin",
    "cedar",
    "alloy",
    "ash",
    "ballad",
    "beacon",
    "bossa",
    "cinder",
    "coral",
    "delta",
    "echo",
    "gleam",
    "meridian",
    "quartz",
    "ripple",
    "sage",
    "shimmer",
    "stone",
    "tempo",
    "verse",
    "vesper",
    "willow",
)


@dataclass(frozen=True, slots=True)
class LiveModelInfo:
    name: str
    usd_per_minute: float  # of session audio (usage seconds)
    released: date
    voices: tuple[str, ...] = VOICES


# From OpenAI's model pages as of 2026-11: both are billed $0.05 per active minute.
MODELS: dict[str, LiveModelInfo] = {
    info.name: info
    for info in (
        LiveModelInfo("gpt-live-1.1", 0.05, date(2026, 11, 20)),
        LiveModelInfo("gpt-live-1", 0.05, date(2026, 9, 10)),
    )
}
DEFAULT_MODEL = "gpt-live-1.1"
DEFAULT_VOICE = "marin"
LIVE_MODELS: tuple[str, ...] = tuple(MODELS)


def lookup(model: str) -> LiveModelInfo | None:
    """The entry for ``model``, matching dated snapshots (``gpt-live-1-2026-09-10``) to their family."""
    if model in MODELS:
        return MODELS[model]
    best: LiveModelInfo | None = None
    for name, info in MODELS.items():
        rest = model.removeprefix(name + "-")
        if rest != model and rest[:4].isdigit() and (best is None or len(name) > len(best.name)):
            best = info
    return best


def cost_usd(model: str, seconds: float) -> float:
    """What ``seconds`` of session audio cost on ``model`` (an unknown model: the default's price)."""
    info = lookup(model) or MODELS[DEFAULT_MODEL]
    return seconds / 60.0 * info.usd_per_minute
