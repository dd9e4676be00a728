"""What is known about each Realtime model: interface, voices, prices, context size and retirement.

Unknown model names are allowed (the user may know a newer model than this table); they get the
interface that the selection mode implies and are assumed to offer any voice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

Interface = Literal["ga", "beta"]

GA_VOICES = frozenset(
    {"alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse", "marin", "cedar"}
)
BETA_VOICES = frozenset({"alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse"})


@dataclass(frozen=True, slots=True)
class Prices:
    """USD per 1M tokens."""

    text_input: float
    text_cached: float
    text_output: float
    audio_input: float
    audio_cached: float
    audio_output: float


@dataclass(frozen=True, slots=True)
class ModelInfo:
    name: str
    interface: Interface
    voices: frozenset[str]
    prices: Prices
    context_tokens: int
    shutdown: date | None = None
    successor: str | None = None


# Prices (USD per 1M tokens) and context sizes from OpenAI's model pages as of 2026-11
# (developers.openai.com/api/docs/models/<name>), gpt-realtime's and the preview models' as they were
# when the project first recorded them. Shutdown dates from OpenAI's deprecations page.
_SHUTDOWN_2027_01_20 = date(2027, 1, 20)
MODELS: dict[str, ModelInfo] = {
    info.name: info
    for info in (
        ModelInfo(
            "gpt-realtime",
            "ga",
            GA_VOICES,
            Prices(4.0, 0.40, 16.0, 32.0, 0.40, 64.0),
            32_000,
            shutdown=_SHUTDOWN_2027_01_20,
            successor="gpt-realtime-2.1",
        ),
        ModelInfo(
            "gpt-realtime-2.1", "ga", GA_VOICES, Prices(4.0, 0.40, 24.0, 32.0, 0.40, 64.0), 128_000
        ),
        ModelInfo(
            "gpt-realtime-2", "ga", GA_VOICES, Prices(4.0, 0.40, 24.0, 32.0, 0.40, 64.0), 128_000
        ),
        ModelInfo(
            "gpt-realtime-1.5", "ga", GA_VOICES, Prices(4.0, 0.40, 16.0, 32.0, 0.40, 64.0), 32_000
        ),
        ModelInfo(
            "gpt-realtime-2.1-mini",
            "ga",
            GA_VOICES,
            Prices(0.60, 0.06, 2.40, 10.0, 0.30, 20.0),
            128_000,
        ),
        ModelInfo(
            "gpt-realtime-mini",
            "ga",
            GA_VOICES,
            Prices(0.60, 0.06, 2.40, 10.0, 0.30, 20.0),
            32_000,
            shutdown=_SHUTDOWN_2027_01_20,
            successor="gpt-realtime-2.1-mini",
        ),
        ModelInfo(
            "gpt-4o-realtime-preview",
            "beta",
            BETA_VOICES,
            Prices(5.0, 2.50, 20.0, 40.0, 2.50, 80.0),
            128_000,
            successor="gpt-realtime",
        ),
        ModelInfo(
            "gpt-4o-mini-realtime-preview",
            "beta",
            BETA_VOICES,
            Prices(0.60, 0.30, 2.40, 10.0, 0.30, 20.0),
            128_000,
            successor="gpt-realtime-mini",
        ),
    )
}


# What a new configuration starts on (the integration's config flow, the probe CLI): a GA model with no
# shutdown date, a voice of the GA models and, as the fallback, one that every model has.
DEFAULT_MODEL = "gpt-realtime-2.1"
DEFAULT_LEGACY_MODEL = "gpt-4o-realtime-preview"
DEFAULT_VOICE = "marin"
DEFAULT_VOICE_FALLBACK = "alloy"

# The choices a user is offered, in the table's order: models by interface, voices GA-only first.
GA_MODELS: tuple[str, ...] = tuple(name for name, info in MODELS.items() if info.interface == "ga")
BETA_MODELS: tuple[str, ...] = tuple(
    name for name, info in MODELS.items() if info.interface == "beta"
)
VOICES: tuple[str, ...] = (*sorted(GA_VOICES - BETA_VOICES), *sorted(BETA_VOICES))


def lookup(model: str) -> ModelInfo | None:
    """The entry for ``model``, matching dated snapshots (``gpt-realtime-2025-08-28``) to their family."""
    if model in MODELS:
        return MODELS[model]
    # The longest family name that is a prefix followed by a date wins ("gpt-realtime-mini-2025-..."
    # belongs to gpt-realtime-mini, not gpt-realtime).
    best: ModelInfo | None = None
    for name, info in MODELS.items():
        rest = model.removeprefix(name + "-")
        if rest != model and rest[:4].isdigit() and (best is None or len(name) > len(best.name)):
            best = info
    return best


def interface_of(model: str, default: Interface) -> Interface:
    info = lookup(model)
    return info.interface if info else default


def voices_of(model: str) -> frozenset[str] | None:
    """The voices of a known model, None when the model is not in the table."""
    info = lookup(model)
    return info.voices if info else None
