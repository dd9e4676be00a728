"""Pairing a satellite by the code it speaks (issue #25), for the config flow's ``pair`` step.

The exchange itself (SPAKE2 over the TLS link) is the link's (``core/link/pairing.py``); this module
asks the satellite to speak, runs the exchange with the code the user typed, and turns each refusal
into the form's error (strings.json ``config.error``) with its placeholders.
"""

from __future__ import annotations

import logging

from .core.link import LinkCertificateError, LinkConnectionError
from .core.link.pairing import CODE_DIGITS, PairingError, pair, request_code

_LOGGER = logging.getLogger(__name__)

CONF_CODE = "code"

_ERRORS = {
    "wrong_code": "wrong_code",
    "too_many_tries": "too_many_codes",
    "expired": "code_expired",
    "not_pairing": "not_pairing",
    "certificate": "satellite_certificate",
    "protocol": "satellite_cannot_pair",
}


class PairingFlowError(Exception):
    """A refusal as the form shows it: ``error`` (a key of strings.json's errors) and the
    ``tries_left`` placeholder."""

    def __init__(self, error: str, tries_left: int | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.tries_left = tries_left


def typed_code(text: str) -> str | None:
    """The code as typed ("123 456", "123-456" too), or None when it is not 6 digits."""
    code = "".join(c for c in text if c not in " -")
    return code if len(code) == CODE_DIGITS and code.isascii() and code.isdigit() else None


async def async_request_code(host: str, port: int) -> None:
    """Ask the satellite to speak its code now."""
    try:
        await request_code(host, port)
    except PairingError as err:
        raise PairingFlowError(_ERRORS[err.code]) from err
    except LinkCertificateError as err:
        raise PairingFlowError("satellite_certificate") from err
    except LinkConnectionError as err:
        _LOGGER.debug("Asking %s:%s for a pairing code failed: %s", host, port, err)
        raise PairingFlowError("cannot_connect_satellite") from err


async def async_pair(host: str, port: int, typed: str) -> str:
    """The access key both sides derive from the code the user typed."""
    code = typed_code(typed)
    if code is None:
        raise PairingFlowError("invalid_code")
    try:
        return await pair(host, port, code)
    except PairingError as err:
        raise PairingFlowError(_ERRORS[err.code], err.tries_left) from err
    except LinkCertificateError as err:
        _LOGGER.warning("Pairing with %s:%s refused: %s", host, port, err)
        raise PairingFlowError("satellite_certificate") from err
    except LinkConnectionError as err:
        _LOGGER.debug("Pairing with %s:%s failed: %s", host, port, err)
        raise PairingFlowError("cannot_connect_satellite") from err
