"""Checks that the config flows run: a real Realtime connection and a real satellite link.

Both translate the core's typed errors into the flow's translated error keys, so the flows stay free of
protocol details.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.util.ssl import get_default_context

from .const import (
    CONF_API_KEY,
    CONF_AUTO_SELECT_VOICE,
    CONF_LEGACY_MODEL,
    CONF_MODEL,
    CONF_MODEL_SELECTION,
    CONF_URL,
    CONF_VOICE,
    CONF_VOICE_FALLBACK,
    DEFAULT_LEGACY_MODEL,
    DEFAULT_MODEL,
    DEFAULT_MODEL_SELECTION,
    DEFAULT_URL,
    DEFAULT_VOICE,
    DEFAULT_VOICE_FALLBACK,
)
from .core.link import (
    LinkAuthError,
    LinkConnectionError,
    LinkOutdatedError,
    SatelliteLinkClient,
    keys,
    protocol,
)
from .core.realtime import (
    AuthenticationError,
    ConnectionReport,
    InterfaceUnsupportedError,
    ModelUnavailableError,
    RealtimeError,
    RealtimeSettings,
    VoiceUnavailableError,
    check_connection,
)

_LOGGER = logging.getLogger(__name__)


class RealtimeCheckError(Exception):
    """The Realtime check failed; ``translation_key`` names the flow error, ``detail`` says why."""

    def __init__(self, translation_key: str, detail: str) -> None:
        super().__init__(detail)
        self.translation_key = translation_key
        self.detail = detail


class SatelliteUnreachableError(Exception):
    """No satellite answered at that address."""


class InvalidAccessKeyError(Exception):
    """The satellite refused the access key."""


class WeakAccessKeyError(Exception):
    """The access key is too weak to be one the satellite generated; the text says why."""


class SatelliteOutdatedError(Exception):
    """The satellite speaks only the unencrypted link: it must be updated."""


# Most specific first: the flow shows the first that matches.
_ERROR_KEYS: tuple[tuple[type[RealtimeError], str], ...] = (
    (AuthenticationError, "invalid_auth"),
    (ModelUnavailableError, "model_unavailable"),
    (VoiceUnavailableError, "voice_unavailable"),
    (InterfaceUnsupportedError, "interface_unsupported"),
)


def realtime_settings(config: Mapping[str, Any]) -> RealtimeSettings:
    """Build the core's settings from entry data and options merged (options win)."""
    return RealtimeSettings(
        api_key=config[CONF_API_KEY],
        url=config.get(CONF_URL) or DEFAULT_URL,
        model_selection=config.get(CONF_MODEL_SELECTION, DEFAULT_MODEL_SELECTION),
        model=config.get(CONF_MODEL, DEFAULT_MODEL),
        legacy_model=config.get(CONF_LEGACY_MODEL, DEFAULT_LEGACY_MODEL),
        voice=config.get(CONF_VOICE, DEFAULT_VOICE),
        voice_fallback=config.get(CONF_VOICE_FALLBACK, DEFAULT_VOICE_FALLBACK),
        auto_select_voice=config.get(CONF_AUTO_SELECT_VOICE, True),
        # HA's context: made once, not in the event loop; trusts what HA trusts (certifi, or
        # REQUESTS_CA_BUNDLE).
        ssl_context=get_default_context(),
    )


async def async_check_realtime(hass: HomeAssistant, config: Mapping[str, Any]) -> ConnectionReport:
    try:
        return await check_connection(realtime_settings(config))
    except RealtimeError as err:
        for error_type, key in _ERROR_KEYS:
            if isinstance(err, error_type):
                raise RealtimeCheckError(key, str(err)) from err
        raise RealtimeCheckError("cannot_connect", str(err)) from err
    except Exception as err:
        _LOGGER.exception("Unexpected error while checking the Realtime endpoint")
        raise RealtimeCheckError("unknown", type(err).__name__) from err


async def async_check_satellite(host: str, port: int, access_key: str) -> protocol.Info:
    if (why := keys.weakness(access_key)) is not None:
        raise WeakAccessKeyError(f"this access key {why}")  # no connection: nothing to guess from
    client = SatelliteLinkClient(host, port, access_key)
    try:
        return await client.connect()
    except LinkAuthError as err:
        raise InvalidAccessKeyError from err
    except LinkOutdatedError as err:
        _LOGGER.warning("%s", err)
        raise SatelliteOutdatedError(str(err)) from err
    except LinkConnectionError as err:
        raise SatelliteUnreachableError from err
    finally:
        await client.close()
