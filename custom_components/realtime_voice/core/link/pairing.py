"""Pairing by a spoken code (docs/link-protocol.md, "Pairing"; docs/security.md).

A satellite in pairing mode speaks a 6-digit code; the user types it into Home Assistant. Both
sides then run SPAKE2 (a password-authenticated key exchange, the ``spake2`` package) over the TLS
link with that code, and derive the access key from SPAKE2's key with HKDF, bound to the
fingerprint of the satellite's certificate. Key confirmation goes both ways: HA proves first, so the
satellite counts a wrong code before it reveals anything, then the satellite proves. A passive
listener learns nothing; an active guesser gets one guess per exchange (SPAKE2 allows no offline
dictionary attack) and :class:`PairingWindow` allows ``MAX_TRIES`` of them per code.

This module holds what both sides share (the derivation, the window the satellite keeps) and HA's
side of the exchange (:func:`request_code`, :func:`pair`); the satellite's side is in server.py.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from spake2 import SPAKE2_A, SPAKE2_B
from spake2.spake2 import SPAKEError
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from . import protocol as p
from .client import LinkCertificateError, LinkConnectionError, LinkError
from .tls import client_context, peer_fingerprint

CODE_DIGITS = 6
# How long pairing mode stays open (after a start without a key, or after --pair).
WINDOW_S = 300.0
# Wrong codes a pairing window allows; then it closes (a new one needs --pair on the satellite).
MAX_TRIES = 3

PairFailure = Literal[
    "wrong_code", "expired", "not_pairing", "too_many_tries", "certificate", "protocol"
]


class PairingError(LinkError):
    """The satellite refused to pair (``code`` says why; ``tries_left`` after a wrong code)."""

    def __init__(self, code: PairFailure, reason: str, tries_left: int | None = None) -> None:
        super().__init__(reason)
        self.code = code
        self.tries_left = tries_left


def new_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def valid_code(code: str) -> bool:
    return len(code) == CODE_DIGITS and code.isascii() and code.isdigit()


# --- what both sides compute --------------------------------------------------------------------


def _identities(protocol: int, certificate: str) -> tuple[bytes, bytes]:
    """SPAKE2's identities: the satellite's is its certificate's fingerprint, so a relay with
    another certificate gets another key (and the confirmations fail)."""
    return (
        f"realtime-voice/{protocol}/pair/home-assistant".encode(),
        f"realtime-voice/{protocol}/pair/satellite/{certificate}".encode(),
    )


def client_exchange(code: str, protocol: int, certificate: str) -> SPAKE2_A:
    return SPAKE2_A(code.encode(), *_identities(protocol, certificate))


def satellite_exchange(code: str, protocol: int, certificate: str) -> SPAKE2_B:
    return SPAKE2_B(code.encode(), *_identities(protocol, certificate))


@dataclass(frozen=True, slots=True)
class PairedKeys:
    """What one SPAKE2 key gives: the access key and the two key confirmations."""

    access_key: str
    client_proof: str
    server_proof: str


def derive(shared: bytes, *, certificate: str, server_nonce: str, client_nonce: str) -> PairedKeys:
    """HKDF-SHA256 over SPAKE2's key, salted with the certificate's fingerprint: 32 bytes of access
    key (43 URL-safe characters) and a key for the confirmations, which bind both nonces."""
    material = HKDF(
        algorithm=hashes.SHA256(),
        length=64,
        salt=bytes.fromhex(certificate),
        info=b"realtime-voice pairing: access key, confirmation key",
    ).derive(shared)
    access_key = base64.urlsafe_b64encode(material[:32]).rstrip(b"=").decode()
    confirm = material[32:]

    def proof(role: str) -> str:
        message = f"{role}:{server_nonce}:{client_nonce}:{certificate}".encode()
        return hmac.new(confirm, message, hashlib.sha256).hexdigest()

    return PairedKeys(access_key, proof("client"), proof("server"))


def finish(exchange: SPAKE2_A | SPAKE2_B, message: str) -> bytes:
    """SPAKE2's key from the peer's message (hex); a malformed one is a ProtocolError."""
    try:
        return bytes(exchange.finish(bytes.fromhex(message)))
    except (SPAKEError, ValueError) as err:
        raise p.ProtocolError(f"pair: not a SPAKE2 message ({err})") from None


# --- the satellite's pairing window -------------------------------------------------------------


class PairingWindow:
    """Whether the satellite pairs now, its code and the tries left (satellite side).

    Opened by the agent (a start without an access key, ``--pair``); closed by a pairing, by
    ``MAX_TRIES`` wrong codes or by its end. ``speak`` says the code (and shows it where that is
    allowed): it is called when Home Assistant asks for a code, never with anything else.
    """

    def __init__(
        self,
        speak: Callable[[str], None],
        *,
        window_s: float = WINDOW_S,
        max_tries: int = MAX_TRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._speak = speak
        self.window_s = window_s
        self.max_tries = max_tries
        self._clock = clock
        self._code: str | None = None
        self._deadline = 0.0
        self.tries_left = 0
        # Why it is closed: None (never opened), "expired", "too_many_tries" or "paired".
        self.closed_by: str | None = None
        # one exchange at a time: parallel guesses would share the tries anyway, but this keeps
        # the count exact
        self.lock = asyncio.Lock()

    def __repr__(self) -> str:  # never show the code
        return f"PairingWindow(open={self.is_open}, tries_left={self.tries_left})"

    @property
    def is_open(self) -> bool:
        if (self._code is not None or self.tries_left) and self._clock() >= self._deadline:
            self._close("expired")
        return self.tries_left > 0

    @property
    def expires_in(self) -> float:
        return max(0.0, self._deadline - self._clock()) if self.is_open else 0.0

    def open(self) -> None:
        """Open (again) for ``window_s`` with a new code and all tries."""
        self._code = new_code()
        self._deadline = self._clock() + self.window_s
        self.tries_left = self.max_tries
        self.closed_by = None

    def close(self) -> None:
        self._close("paired")

    def _close(self, why: str) -> None:
        self._code = None
        self.tries_left = 0
        self.closed_by = why

    def refusal(self) -> PairingError:
        """Why a request is refused now (the window is closed)."""
        if self.closed_by == "expired":
            return PairingError(
                "expired",
                "the pairing code expired (pairing mode is open for "
                f"{self.window_s / 60:g} minutes); start pairing again on the satellite",
            )
        if self.closed_by == "too_many_tries":
            return PairingError(
                "too_many_tries",
                f"{self.max_tries} wrong codes: pairing ended; start it again on the satellite",
            )
        return PairingError("not_pairing", "the satellite is not in pairing mode")

    def say_code(self) -> None:
        """Home Assistant asks for the code: speak it (the same one until the window closes)."""
        if not self.is_open or self._code is None:
            raise self.refusal()
        self._speak(self._code)

    def take_try(self) -> str:
        """One exchange starts: a try is used up now (an abandoned exchange counts as wrong)."""
        if not self.is_open or self._code is None:
            raise self.refusal()
        code = self._code
        self.tries_left -= 1
        return code

    def after_wrong_code(self) -> None:
        if self.tries_left <= 0 and self.closed_by is None:
            self._close("too_many_tries")


# --- Home Assistant's side -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PairingOpen:
    """The satellite spoke its code: how long it is valid and how many tries are left."""

    expires_s: float
    tries_left: int


async def _open(
    host: str, port: int, connect_timeout: float
) -> tuple[ClientConnection, p.Hello, str]:
    shown = f"[{host}]" if ":" in host else host
    uri = f"wss://{shown}:{port}/"
    try:
        connection = await connect(
            uri,
            ssl=client_context(),
            open_timeout=connect_timeout,
            compression=None,
            proxy=None,
            max_size=p.MAX_FRAME_BYTES,
        )
    except Exception as err:  # unreachable, TLS failed, whatever a peer makes the library raise
        raise LinkConnectionError(f"cannot connect to {uri}: {err!r}") from err
    try:
        fingerprint = peer_fingerprint(connection.transport)
        if fingerprint is None:
            raise LinkConnectionError("the link is not encrypted")
        hello = p.parse(await connection.recv(), (p.Hello,))
        assert isinstance(hello, p.Hello)
        if p.negotiate(hello.protocol) is None:
            raise LinkConnectionError(f"satellite speaks protocol {hello.protocol}")
    except BaseException:
        await _close(connection)
        raise
    return connection, hello, fingerprint


async def _close(connection: ClientConnection) -> None:
    with contextlib.suppress(Exception):
        async with asyncio.timeout(1.0):
            await connection.close()
    connection.transport.abort()


def _refused(answer: p.Message) -> PairingError | LinkError:
    if isinstance(answer, p.PairFailed):
        if answer.code == "certificate":
            return LinkCertificateError(answer.reason)
        return PairingError(answer.code, answer.reason, answer.tries_left)
    if isinstance(answer, p.AuthFailed):  # a satellite that does not know pairing
        return PairingError("protocol", answer.reason)
    return LinkConnectionError(f"unexpected {answer.TYPE}")


async def request_code(
    host: str, port: int, *, client_name: str = "Home Assistant", connect_timeout: float = 10.0
) -> PairingOpen:
    """Ask the satellite to speak its pairing code. Raises PairingError (not in pairing mode, ...),
    LinkCertificateError, LinkConnectionError."""
    connection, hello, fingerprint = await _open(host, port, connect_timeout)
    try:
        async with asyncio.timeout(connect_timeout):
            version = p.negotiate(hello.protocol) or p.PROTOCOL_VERSION
            await connection.send(p.PairRequest(version, client_name, fingerprint).to_json())
            answer = p.parse(await connection.recv(), (p.Pairing, p.PairFailed, p.AuthFailed))
    except (TimeoutError, ConnectionClosed, p.ProtocolError) as err:
        raise LinkConnectionError(f"{host}:{port}: pairing request failed: {err!r}") from err
    finally:
        await _close(connection)
    if isinstance(answer, p.Pairing):
        return PairingOpen(answer.expires_s, answer.tries_left)
    raise _refused(answer)


async def pair(
    host: str,
    port: int,
    code: str,
    *,
    client_name: str = "Home Assistant",
    connect_timeout: float = 10.0,
) -> str:
    """Run the exchange with the code the user typed: the new access key. Raises PairingError
    (``wrong_code`` with the tries left, ``too_many_tries``, ``expired``, ``not_pairing``),
    LinkCertificateError (something in between terminates TLS), LinkConnectionError."""
    if not valid_code(code):
        raise ValueError(f"code: expected {CODE_DIGITS} digits")
    connection, hello, fingerprint = await _open(host, port, connect_timeout)
    try:
        async with asyncio.timeout(connect_timeout):
            version = p.negotiate(hello.protocol) or p.PROTOCOL_VERSION
            exchange = client_exchange(code, version, fingerprint)
            nonce = p.new_nonce()
            await connection.send(
                p.Pair(version, exchange.start().hex(), nonce, client_name, fingerprint).to_json()
            )
            answer = p.parse(await connection.recv(), (p.PairReply, p.PairFailed, p.AuthFailed))
            if not isinstance(answer, p.PairReply):
                raise _refused(answer)
            keys = derive(
                finish(exchange, answer.message),
                certificate=fingerprint,
                server_nonce=hello.nonce,
                client_nonce=nonce,
            )
            await connection.send(p.PairConfirm(keys.client_proof).to_json())
            answer = p.parse(await connection.recv(), (p.PairOk, p.PairFailed))
            if not isinstance(answer, p.PairOk):
                raise _refused(answer)
            if not hmac.compare_digest(answer.proof, keys.server_proof):
                raise LinkCertificateError(
                    "the satellite accepted the code but could not prove the key: something "
                    "between Home Assistant and the satellite presents its own certificate"
                )
            return keys.access_key
    except (TimeoutError, ConnectionClosed, p.ProtocolError) as err:
        raise LinkConnectionError(f"{host}:{port}: pairing failed: {err!r}") from err
    finally:
        await _close(connection)
