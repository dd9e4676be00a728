"""Typed errors of the realtime core; each has a stable ``code`` that callers may switch on."""

from __future__ import annotations

from ..errors import CodedError


class RealtimeError(CodedError):
    """Base of every error the realtime core raises."""

    code = "realtime_error"


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
    """Transient: the connection failed, dropped or timed out; trying again later may work.

    ``status``: the HTTP status the endpoint answered the handshake with (a 5xx, a 429), if it
    did; ``dns``: the endpoint's name could not be resolved."""

    code = "connection_failed"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        dns: bool = False,
    ) -> None:
        super().__init__(message, code=code)
        self.status = status
        self.dns = dns


class ProtocolError(RealtimeError):
    """The endpoint reported an error that is none of the above (the server's code is kept)."""

    code = "server_error"


# Why the endpoint cannot serve a conversation now, as a brain's TurnRefused.cause says it (the
# fallback brain then takes the turn; the integration's repair and sensor name it).
UNAVAILABLE_CAUSES = (
    "network",
    "dns",
    "server_error",
    "rate_limited",
    "insufficient_quota",
    "invalid_api_key",
    "model_not_found",
)
_SERVER_CODES = {
    "insufficient_quota": "insufficient_quota",
    "rate_limit_exceeded": "rate_limited",
    "server_error": "server_error",
    "internal_error": "server_error",
}


def unavailable_cause(err: RealtimeError) -> str | None:
    """The cause (one of UNAVAILABLE_CAUSES) when ``err`` says that the endpoint cannot be reached
    or refuses this account or model; None for an error another endpoint would not mend (a bad
    setting, an unknown voice, the session closed by us)."""
    if isinstance(err, AuthenticationError):
        return "invalid_api_key"
    if isinstance(err, ModelUnavailableError):
        return "model_not_found"
    if isinstance(err, RealtimeConnectionError):
        if err.dns:
            return "dns"
        if err.status == 429:
            return "rate_limited"
        if err.status is not None and err.status >= 500:
            return "server_error"
        return "network"
    if isinstance(err, ProtocolError):
        return _SERVER_CODES.get(err.code)
    return None
