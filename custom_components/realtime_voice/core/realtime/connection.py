"""One WebSocket connection to a Realtime endpoint: address, headers, handshake and error mapping."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import socket
import time
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from . import wire
from .errors import (
    AuthenticationError,
    InterfaceUnsupportedError,
    ModelUnavailableError,
    ProtocolError,
    RealtimeConnectionError,
    RealtimeError,
    VoiceUnavailableError,
)
from .registry import Interface
from .settings import RealtimeSettings, SessionDescription

_LOGGER = logging.getLogger(__name__)

# Close codes the service uses (docs/realtime-core.md, "Failures").
CLOSE_AUTH = 3000
CLOSE_POLICY = 4000
_AZURE_HOSTS = (".openai.azure.com", ".cognitiveservices.azure.com", ".services.ai.azure.com")
_MAX_FRAME = 16 * 1024 * 1024


_SECRET_HEADERS = frozenset({"authorization", "api-key", "openai-organization"})
_SECRET_QUERY = re.compile(r"((?:api[-_]?key|key|token|sig)=)[^&\s]+", re.IGNORECASE)


class _RedactSecrets(logging.Filter):
    """websockets logs every handshake header at DEBUG; keep the API key out of the logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 2 and str(args[0]).lower() in _SECRET_HEADERS:
            record.args = (args[0], "[redacted]")
        elif isinstance(args, tuple) and args and isinstance(args[0], str):
            record.args = (_SECRET_QUERY.sub(r"\1[redacted]", args[0]), *args[1:])
        return True


# The websocket library's own log lines go through this logger (and its filter).
WEBSOCKET_LOGGER = logging.getLogger(__name__ + ".websocket")
WEBSOCKET_LOGGER.addFilter(_RedactSecrets())


def endpoint_url(url: str, model: str) -> tuple[str, str]:
    """The URL to connect to and the model it names.

    The URL is taken as given (Azure deployments, proxies); http(s) becomes ws(s), and ``model`` is
    added as a query parameter unless the URL already names one (``model`` or ``deployment``), in
    which case that one is the model in use.
    """
    parts = urlsplit(url)
    scheme = {"https": "wss", "http": "ws"}.get(parts.scheme, parts.scheme)
    query = parse_qsl(parts.query, keep_blank_values=True)
    named = dict(query)
    if "model" in named:
        return urlunsplit(parts._replace(scheme=scheme)), named["model"]
    if "deployment" in named:
        return urlunsplit(parts._replace(scheme=scheme)), named["deployment"]
    query.append(("model", model))
    return urlunsplit(parts._replace(scheme=scheme, query=urlencode(query))), model


def is_azure(url: str) -> bool:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    return host.endswith(_AZURE_HOSTS) or "api-version" in dict(parse_qsl(parts.query))


def auth_headers(settings: RealtimeSettings, interface: Interface) -> dict[str, str]:
    headers = (
        {"api-key": settings.api_key}
        if is_azure(settings.url)
        else {"Authorization": f"Bearer {settings.api_key}"}
    )
    if interface == "beta":
        headers["OpenAI-Beta"] = "realtime=v1"
    return headers


def redact(url: str) -> str:
    """The URL without its query (which may carry a key on some proxies), for logs."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(query="", fragment=""))


def error_from_server(
    error: wire.ServerError, *, model: str, voice: str, interface: Interface
) -> RealtimeError:
    """Map an ``error`` event to the typed error the compatibility layer acts on."""
    code = error.code or ""
    text = f"{error.message} ({code})" if code else error.message
    if code == "invalid_api_key" or error.type == "authentication_error":
        return AuthenticationError(f"The endpoint refused the API key: {text}")
    if code == "beta_api_shape_disabled":
        return InterfaceUnsupportedError(
            f"The endpoint speaks only the GA interface and refused the beta interface: {text}",
            code="beta_disabled",
        )
    if code in ("model_not_found", "invalid_model"):
        return ModelUnavailableError(
            f"Model {model!r} is not available on this endpoint for this key: {text}"
        )
    if code == "unknown_parameter" and error.param == "session.type":
        return InterfaceUnsupportedError(
            f"The endpoint speaks only the beta interface (it does not know session.type): {text}",
            code="ga_unsupported",
        )
    if code == "invalid_value" and error.param and "voice" in error.param:
        return VoiceUnavailableError(f"Voice {voice!r} not available for model {model!r}: {text}")
    if code == "session_expired":
        return RealtimeConnectionError(f"Session expired: {text}", code="session_expired")
    return ProtocolError(f"The endpoint reported an error: {text}", code=code or error.type)


class RealtimeSocket:
    """The WebSocket to the Realtime endpoint, configured: sends client events and hands raw
    frames to its owner (not the satellite link, core/link)."""

    def __init__(self, ws: ClientConnection, interface: Interface, model: str) -> None:
        self.ws = ws
        self.interface = interface
        self.model = model

    async def send(self, event: dict[str, Any] | str) -> None:
        await self.ws.send(event if isinstance(event, str) else json.dumps(event))

    async def close(self) -> None:
        await self.ws.close()


async def establish(
    settings: RealtimeSettings,
    *,
    model: str,
    interface: Interface,
    description: SessionDescription,
    voice: str,
) -> tuple[RealtimeSocket, float]:
    """Connect, wait for ``session.created``, configure, wait for ``session.updated``.

    Returns the link and the time that took in ms; raises the typed errors of ``errors.py``.
    """
    url, model = endpoint_url(settings.url, model)
    started = time.monotonic()
    try:
        ws = await connect(
            url,
            # None: websockets' default context for wss://; ws:// takes none
            ssl=settings.ssl_context if url.startswith("wss://") else None,
            additional_headers=auth_headers(settings, interface),
            open_timeout=settings.connect_timeout,
            max_size=_MAX_FRAME,
            compression=None,
            ping_interval=20,
            ping_timeout=20,
            logger=WEBSOCKET_LOGGER,
        )
    except InvalidStatus as err:
        status = err.response.status_code
        if status in (401, 403):
            raise AuthenticationError(
                f"The endpoint refused the API key (HTTP {status} at the handshake)"
            ) from None
        raise RealtimeConnectionError(
            f"{redact(url)} answered HTTP {status} at the handshake", status=status
        ) from None
    except (OSError, TimeoutError, InvalidHandshake) as err:
        raise RealtimeConnectionError(
            f"Cannot connect to {redact(url)}: {type(err).__name__}: {err}",
            dns=isinstance(err, socket.gaierror),
        ) from None
    link = RealtimeSocket(ws, interface, model)
    try:
        async with asyncio.timeout(settings.connect_timeout):
            await _until(link, wire.SessionCreated, voice)
            await link.send(wire.session_update(interface, description, voice))
            await _until(link, wire.SessionUpdated, voice)
    except TimeoutError:
        await ws.close()
        raise RealtimeConnectionError(
            f"{redact(url)} did not configure a session within {settings.connect_timeout:g} s"
        ) from None
    except ConnectionClosed as err:  # closed while we sent the session's configuration
        await ws.close()
        raise _closed_error(err, model) from None
    except BaseException:
        await ws.close()
        raise
    return link, (time.monotonic() - started) * 1000


async def _until(link: RealtimeSocket, wanted: type, voice: str) -> None:
    """Read events until one of type ``wanted``; an error event or a close raises."""
    while True:
        try:
            frame = await link.ws.recv()
        except ConnectionClosed as err:
            raise _closed_error(err, link.model) from None
        try:
            facts = wire.parse_server_event(link.interface, json.loads(frame))
        except (ValueError, wire.UnknownEventError) as err:
            _LOGGER.debug("Skipping an unexpected event during the handshake: %s", err)
            continue
        for fact in facts:
            if isinstance(fact, wire.ServerError):
                raise error_from_server(
                    fact, model=link.model, voice=voice, interface=link.interface
                )
            if isinstance(fact, wanted):
                return


def _closed_error(err: ConnectionClosed, model: str) -> RealtimeError:
    code = err.rcvd.code if err.rcvd else None
    reason = err.rcvd.reason if err.rcvd else ""
    if code == CLOSE_AUTH:
        return AuthenticationError(f"The endpoint closed the connection (3000 {reason})")
    if code == CLOSE_POLICY:
        return ProtocolError(
            f"The endpoint closed the connection for model {model!r} (4000 {reason})",
            code="closed_4000",
        )
    return RealtimeConnectionError(f"The connection closed during the handshake ({code} {reason})")
