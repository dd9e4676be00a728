"""Typed errors of the realtime core; each has a stable ``code`` that callers may switch on."""

from __future__ import annotations


class RealtimeError(Exception):
    """Base of every error the realtime core raises."""

    code = "realtime_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return self.message


class ConfigurationError(RealtimeError, ValueError):
    """A setting is invalid (the message names the key and the value)."""

    code = "invalid_configuration"


class AuthenticationError(RealtimeError):
    """The endpoint refused the API key: no fallback helps, the user must re-authenticate."""

    code = "invalid_api_key"


class ModelUnavailableError(RealtimeError):
    """The model is unknown to the endpoint or not allowed for this key."""

    code = "model_not_found"


class VoiceUnavailableError(RealtimeError):
    """The voice is not offered by the model (and auto-select is off or found nothing)."""

    code = "voice_unavailable"


class InterfaceUnsupportedError(RealtimeError):
    """The endpoint does not speak the interface (GA or beta) that the mode needs."""

    code = "interface_unsupported"


class RealtimeConnectionError(RealtimeError):
    """Transient: the connection failed, dropped or timed out; trying again later may work."""

    code = "connection_failed"


class ProtocolError(RealtimeError):
    """The endpoint reported an error that is none of the above (the server's code is kept)."""

    code = "server_error"
