"""What the caller configures: the endpoint settings and the description of a session."""

from __future__ import annotations

import math
import ssl
from dataclasses import dataclass, field
from typing import Any, Literal

from .errors import ConfigurationError
from .registry import DEFAULT_LEGACY_MODEL, DEFAULT_VOICE, DEFAULT_VOICE_FALLBACK

DEFAULT_URL = "wss://api.openai.com/v1/realtime"
ModelSelection = Literal["auto", "new", "legacy"]
MODEL_SELECTIONS: tuple[str, ...] = ("auto", "new", "legacy")


@dataclass(frozen=True, slots=True)
class RealtimeSettings:
    """Endpoint, key, model choice and voice, plus the timing knobs of the resilience layer.

    ``api_key`` never appears in ``repr``; nothing in the core logs it.
    """

    api_key: str = field(repr=False)
    url: str = DEFAULT_URL
    model_selection: ModelSelection = "auto"
    model: str = "gpt-realtime"
    legacy_model: str = DEFAULT_LEGACY_MODEL
    voice: str = DEFAULT_VOICE
    voice_fallback: str = DEFAULT_VOICE_FALLBACK
    auto_select_voice: bool = True
    # TLS for wss:// endpoints. None: Python's default context, whose certificates load when the
    # first connection opens (a blocking read); Home Assistant passes its own, made once at start.
    ssl_context: ssl.SSLContext | None = field(default=None, repr=False, compare=False)
    # Resilience and timing.
    connect_timeout: float = 15.0
    # Replace the session before the service's 60-minute limit (when idle, at the latest at the limit).
    session_max_seconds: float = 55 * 60
    # ... waiting up to this long for a pause in the conversation (55 + 4 min < the 60-min limit).
    replace_idle_grace: float = 4 * 60
    reconnect_initial_delay: float = 0.5
    reconnect_max_delay: float = 30.0
    reconnect_max_attempts: int = 8

    def __post_init__(self) -> None:
        if not isinstance(self.api_key, str) or not self.api_key.strip():
            raise ConfigurationError("api_key: must be a non-empty string", code="missing_api_key")
        if not self.url.startswith(("wss://", "ws://", "https://", "http://")):
            raise ConfigurationError(
                f"url: {self.url!r} is not a ws://, wss://, http:// or https:// address"
            )
        if self.model_selection not in MODEL_SELECTIONS:
            raise ConfigurationError(
                f"model_selection: {self.model_selection!r} is not one of {', '.join(MODEL_SELECTIONS)}"
            )
        for key in ("model", "legacy_model", "voice", "voice_fallback"):
            value = getattr(self, key)
            if not isinstance(value, str) or not value.strip():
                raise ConfigurationError(f"{key}: {value!r} must be a non-empty string")
        for key in (
            "connect_timeout",
            "session_max_seconds",
            "replace_idle_grace",
            "reconnect_initial_delay",
            "reconnect_max_delay",
        ):
            value = getattr(self, key)
            if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
                raise ConfigurationError(f"{key}: {value!r} must be a positive number of seconds")
        if self.reconnect_max_attempts < 1:
            raise ConfigurationError(
                f"reconnect_max_attempts: {self.reconnect_max_attempts!r} must be at least 1"
            )


@dataclass(frozen=True, slots=True)
class ToolDefinition:
    """A function the model may call; ``parameters`` is a JSON schema object."""

    name: str
    description: str
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})

    def __post_init__(self) -> None:
        if not self.name or not all(c.isalnum() or c in "_-" for c in self.name):
            raise ConfigurationError(
                f"tool name: {self.name!r} must be letters, digits, '_' or '-'"
            )
        if not isinstance(self.parameters, dict) or self.parameters.get("type") != "object":
            raise ConfigurationError(
                f"tool {self.name!r} parameters: must be a JSON schema with type 'object'"
            )


@dataclass(frozen=True, slots=True)
class TurnDetection:
    """Server-side voice activity detection; ``SessionDescription.turn_detection=None`` is push-to-talk."""

    kind: Literal["server_vad", "semantic_vad"] = "server_vad"
    threshold: float = 0.5
    prefix_padding_ms: int = 300
    silence_duration_ms: int = 500
    create_response: bool = True
    interrupt_response: bool = True


@dataclass(frozen=True, slots=True)
class SessionDescription:
    """One description of a session; the translation layer renders it as GA or beta ``session.update``."""

    instructions: str = ""
    tools: tuple[ToolDefinition, ...] = ()
    turn_detection: TurnDetection | None = field(default_factory=TurnDetection)
    input_transcription_model: str | None = "gpt-4o-mini-transcribe"
    max_output_tokens: int | None = None  # None: the model's maximum
    temperature: float | None = None  # beta only (0.6-1.2); GA has no temperature
    speed: float | None = None  # 0.25-1.5

    def __post_init__(self) -> None:
        object.__setattr__(self, "tools", tuple(self.tools))
        names = [tool.name for tool in self.tools]
        if len(names) != len(set(names)):
            raise ConfigurationError(f"tools: duplicate tool names in {names}")
        if self.temperature is not None and not 0.6 <= self.temperature <= 1.2:
            raise ConfigurationError(f"temperature: {self.temperature!r} is outside 0.6-1.2")
        if self.speed is not None and not 0.25 <= self.speed <= 1.5:
            raise ConfigurationError(f"speed: {self.speed!r} is outside 0.25-1.5")
        if self.max_output_tokens is not None and not 1 <= self.max_output_tokens <= 4096:
            raise ConfigurationError(
                f"max_output_tokens: {self.max_output_tokens!r} is outside 1-4096"
            )
