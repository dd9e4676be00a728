"""Pairing a satellite by the code it speaks (issue #25), for the config flow's ``pair`` step.

The exchange itself (SPAKE2 over the TLS link) is the link's (``core/link/pairing.py``); this module
asks the satellite to speak, runs the exchange with the code the user typed, and turns each refusal
into the form's error (strings.json ``config.error``) with its placeholders.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from .core.link import LinkCertificateError, LinkConnectionError, LinkOutdatedError
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


@contextlib.contextmanager
def _refusals_as_form_errors(what: str) -> Iterator[None]:
    """The link's refusals of ``what`` (asking for a code, pairing) as the form's errors."""
    try:
        yield
    except PairingError as err:
        raise PairingFlowError(_ERRORS[err.code], err.tries_left) from err
    except LinkCertificateError as err:
        _LOGGER.warning("%s refused: %s", what, err)
        raise PairingFlowError("satellite_certificate") from err
    except LinkOutdatedError as err:
        _LOGGER.warning("%s", err)
        raise PairingFlowError("satellite_outdated") from err
    except LinkConnectionError as err:
        _LOGGER.debug("%s failed: %s", what, err)
        raise PairingFlowError("cannot_connect_satellite") from err


async def async_request_code(host: str, port: int) -> None:
    """Ask the satellite to speak its code now."""
    with _refusals_as_form_errors(f"Asking {host}:{port} for a pairing code"):
        await request_code(host, port)


async def async_pair(host: str, port: int, typed: str) -> str:
    """The access key both sides derive from the code the user typed."""
    code = typed_code(typed)
    if code is None:
        raise PairingFlowError("invalid_code")
    with _refusals_as_form_errors(f"Pairing with {host}:{port}"):
        return await pair(host, port, code)
