"""Usage, cost and latency figures per response and per session."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .registry import Prices, lookup


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens by kind; ``*_cached`` are the cached part of the matching input count."""

    text_input: int = 0
    text_cached: int = 0
    audio_input: int = 0
    audio_cached: int = 0
    text_output: int = 0
    audio_output: int = 0

    @property
    def input_tokens(self) -> int:
        return self.text_input + self.audio_input

    @property
    def output_tokens(self) -> int:
        return self.text_output + self.audio_output

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.text_input + other.text_input,
            self.text_cached + other.text_cached,
            self.audio_input + other.audio_input,
            self.audio_cached + other.audio_cached,
            self.text_output + other.text_output,
            self.audio_output + other.audio_output,
        )

    def as_dict(self) -> dict[str, int]:
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "text_input": self.text_input,
            "text_cached": self.text_cached,
            "audio_input": self.audio_input,
            "audio_cached": self.audio_cached,
            "text_output": self.text_output,
            "audio_output": self.audio_output,
        }

    @classmethod
    def from_response(cls, usage: dict[str, Any] | None) -> Usage:
        """Parse ``response.done.response.usage`` (same shape in GA and beta).

        ``text_tokens``/``audio_tokens`` include the cached ones. When the cached split by kind is
        missing (beta), cached tokens are counted as text first: the cached prefix of a conversation
        starts with the instructions and tools, which are text.
        """
        if not usage:
            return cls()
        details_in = usage.get("input_token_details") or {}
        details_out = usage.get("output_token_details") or {}
        text_in = int(details_in.get("text_tokens") or 0)
        audio_in = int(details_in.get("audio_tokens") or 0)
        cached = int(details_in.get("cached_tokens") or 0)
        cached_details = details_in.get("cached_tokens_details") or {}
        if cached_details:
            text_cached = int(cached_details.get("text_tokens") or 0)
            audio_cached = int(cached_details.get("audio_tokens") or 0)
        else:
            text_cached = min(cached, text_in)
            audio_cached = min(cached - text_cached, audio_in)
        return cls(
            text_input=text_in,
            text_cached=text_cached,
            audio_input=audio_in,
            audio_cached=audio_cached,
            text_output=int(details_out.get("text_tokens") or 0),
            audio_output=int(details_out.get("audio_tokens") or 0),
        )


def cost_usd(usage: Usage, prices: Prices | None) -> float:
    """Cost of ``usage``; cached input tokens are priced as cached. 0.0 for an unknown model."""
    if prices is None:
        return 0.0
    per_token = (
        (usage.text_input - usage.text_cached) * prices.text_input
        + usage.text_cached * prices.text_cached
        + (usage.audio_input - usage.audio_cached) * prices.audio_input
        + usage.audio_cached * prices.audio_cached
        + usage.text_output * prices.text_output
        + usage.audio_output * prices.audio_output
    )
    return per_token / 1_000_000


def cost_for_model(usage: Usage, model: str) -> float:
    info = lookup(model)
    return cost_usd(usage, info.prices if info else None)


@dataclass(frozen=True, slots=True)
class ResponseMetrics:
    response_id: str
    first_audio_ms: float | None  # end of user speech (or request) -> first audio delta
    audio_ms: float  # length of the audio received
    function_calls: int
    duration_ms: float


# How many of the latest first-audio latencies a session keeps (for percentiles and diagnostics): a
# satellite runs for months, so the list must not grow with every answer.
RECENT_LATENCIES = 50


@dataclass(slots=True)
class SessionMetrics:
    """Running totals for one ``RealtimeSession`` (all its connections)."""

    connect_ms: float | None = None  # the first connection, handshake through session.updated
    responses: int = 0
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0
    function_calls: int = 0
    function_call_failures: int = 0
    fallbacks: int = 0
    reconnects: int = 0
    replacements: int = 0
    malformed_events: int = 0
    audio_frames_sent: int = 0
    audio_frames_dropped: int = 0  # appended while no connection was up
    first_audio_ms: list[float] = field(default_factory=list)  # the latest RECENT_LATENCIES

    def add_first_audio(self, ms: float) -> None:
        self.first_audio_ms.append(ms)
        del self.first_audio_ms[:-RECENT_LATENCIES]

    def as_dict(self) -> dict[str, Any]:
        return {
            "connect_ms": self.connect_ms,
            "responses": self.responses,
            "usage": self.usage.as_dict(),
            "cost_usd": self.cost_usd,
            "function_calls": self.function_calls,
            "function_call_failures": self.function_call_failures,
            "fallbacks": self.fallbacks,
            "reconnects": self.reconnects,
            "replacements": self.replacements,
            "malformed_events": self.malformed_events,
            "audio_frames_sent": self.audio_frames_sent,
            "audio_frames_dropped": self.audio_frames_dropped,
            "first_audio_ms": list(self.first_audio_ms),
        }
