"""Typed errors of the Live client; each has a stable ``code`` that callers may switch on (the same
style as core/realtime/errors.py)."""

from __future__ import annotations

from ..errors import CodedError


class LiveError(CodedError):
    """Base of every error the Live client raises."""

    code = "live_error"


class LiveConfigurationError(LiveError, ValueError):
    """A setting is invalid (the message names the key and the value)."""

    code = "invalid_configuration"


class LiveAuthenticationError(LiveError):
    """The service refused the API key itself: the user must re-authenticate."""

    code = "invalid_api_key"


class LiveAccessError(LiveError):
    """The key works but has no access to the Live model (``model_not_found`` or HTTP 403): the
    satellite falls back to another brain and a repair says why."""

    code = "model_not_found"


class LiveConnectionError(LiveError):
    """Transient: the connection failed, dropped or timed out; trying again later may work."""

    code = "connection_failed"


class LiveProtocolError(LiveError):
    """The service reported an error that is none of the above (the server's code is kept)."""

    code = "server_error"
