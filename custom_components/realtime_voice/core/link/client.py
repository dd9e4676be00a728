"""Home Assistant's side of the link: connects to a satellite, authenticates, yields its events.

Reconnecting is the caller's job (HA's entry set-up); the integration's ``core/backoff.py``
gives the delays.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from . import protocol as p
from .log_limit import RateLimitedLog
from .tls import client_context, peer_fingerprint

_LOGGER = logging.getLogger(__name__)

CLOSE_TIMEOUT = 1.0  # as the server's: part of the time a dead link takes to notice


class LinkError(Exception):
    """Base of the link's errors."""


class LinkConnectionError(LinkError):
    """The satellite cannot be reached, or the link broke."""


class LinkAuthError(LinkError):
    """The access key is wrong (HA's config flow shows ``invalid_auth``)."""


class LinkBusyError(LinkConnectionError):
    """The satellite is already linked to another Home Assistant."""


class LinkOutdatedError(LinkConnectionError):
    """The satellite speaks the unencrypted link (protocol 1 or 2): it must be updated."""


class LinkCertificateError(LinkConnectionError):
    """Something between HA and the satellite presents its own certificate (terminates TLS)."""


@dataclass(frozen=True, slots=True)
class Audio:
    """Microphone audio from the satellite: PCM16 LE mono 24 kHz."""

    pcm: bytes


LinkEvent = p.Event | Audio


async def raise_if_outdated(host: str, port: int, within_s: float) -> None:
    """TLS failed at ``host`` (already bracketed for IPv6): if a satellite of the unencrypted
    protocol answers on plain ws://, raise LinkOutdatedError saying so.

    Only its hello is read; nothing is sent to it (no proof, no key)."""
    try:
        async with (
            asyncio.timeout(within_s),
            connect(
                f"ws://{host}:{port}/",
                compression=None,
                proxy=None,
                max_size=4096,
                close_timeout=CLOSE_TIMEOUT,
            ) as plain,
        ):
            frame = await plain.recv()
        hello = p.parse(frame, (p.Hello,))
    except Exception:  # not an old satellite either: the TLS error stands
        return
    assert isinstance(hello, p.Hello)
    if hello.protocol <= p.LAST_PLAIN_VERSION:
        raise LinkOutdatedError(
            f"the satellite at {host}:{port} speaks the unencrypted link protocol "
            f"{hello.protocol}; update the satellite (this Home Assistant speaks only the "
            f"encrypted protocol {p.PROTOCOL_VERSION})"
        )


class SatelliteLinkClient:
    """One connection to one satellite. Iterate :meth:`events` in one task; send commands from any."""

    def __init__(
        self,
        host: str,
        port: int,
        access_key: str,
        *,
        client_name: str = "Home Assistant",
        ping_interval: float = 3.0,
        ping_timeout: float = 2.0,
        connect_timeout: float = 10.0,
    ) -> None:
        self.host = host
        self.port = port
        self._access_key = access_key
        self._client_name = client_name
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._connect_timeout = connect_timeout
        self._connection: ClientConnection | None = None
        self._closing = False
        self.info: p.Info | None = None
        self.hello: p.Hello | None = None
        # The link's version: the lower of the satellite's and this client's (set by connect).
        self.protocol: int | None = None
        # SHA-256 of the certificate the satellite presented (set by connect)
        self.fingerprint: str | None = None
        self._log = RateLimitedLog(_LOGGER)

    def __repr__(self) -> str:  # never show the key
        return f"SatelliteLinkClient(host={self.host!r}, port={self.port})"

    @property
    def connected(self) -> bool:
        return self._connection is not None and not self._closing

    async def connect(self) -> p.Info:
        """Connect over TLS and authenticate both ways; returns the satellite's info.

        Raises LinkAuthError for a wrong key, LinkBusyError when another HA holds the satellite,
        LinkOutdatedError for a satellite without encryption, LinkCertificateError when something in
        between terminates TLS, LinkConnectionError for everything else (unreachable, timeout,
        anything malformed). Nothing else escapes.
        """
        host = f"[{self.host}]" if ":" in self.host else self.host
        uri = f"wss://{host}:{self.port}/"
        try:
            connection = await connect(
                uri,
                ssl=client_context(),
                open_timeout=self._connect_timeout,
                ping_interval=self._ping_interval,
                ping_timeout=self._ping_timeout,
                close_timeout=CLOSE_TIMEOUT,  # a dead peer never answers the close frame either
                compression=None,
                proxy=None,
                max_size=p.MAX_FRAME_BYTES,
            )
        except (TimeoutError, ConnectionRefusedError, InvalidURI) as err:
            raise LinkConnectionError(f"cannot connect to {uri}: {err}") from err
        except (OSError, InvalidHandshake) as err:
            # Something answered but TLS failed (an old satellite answers the ClientHello with an
            # HTTP 400 and closes, or the bytes are not TLS): is it a satellite without encryption?
            await raise_if_outdated(host, self.port, min(self._connect_timeout, 5.0))
            what = "TLS failed: " if isinstance(err, ssl.SSLError) else ""
            raise LinkConnectionError(f"cannot connect to {uri}: {what}{err!r}") from err
        except Exception as err:  # whatever a peer makes the client library raise
            raise LinkConnectionError(f"cannot connect to {uri}: {err!r}") from err
        try:
            async with asyncio.timeout(self._connect_timeout):
                self.info = await self._handshake(connection)
        except TimeoutError as err:
            await self._abort(connection)
            raise LinkConnectionError(f"{uri}: no answer to the handshake in time") from err
        except ConnectionClosed as err:
            raise LinkConnectionError(f"{uri}: closed during the handshake ({err})") from err
        except LinkError:
            await self._abort(connection)
            raise
        except p.ProtocolError as err:
            await self._abort(connection)
            raise LinkConnectionError(f"{uri}: {err}") from err
        except Exception as err:
            await self._abort(connection)
            raise LinkConnectionError(f"{uri}: handshake failed: {err!r}") from err
        self._connection = connection
        self._closing = False
        return self.info

    @staticmethod
    async def _abort(connection: ClientConnection) -> None:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await connection.close()
        connection.transport.abort()

    async def _handshake(self, connection: ClientConnection) -> p.Info:
        fingerprint = peer_fingerprint(connection.transport)
        if fingerprint is None:
            raise LinkConnectionError("the link is not encrypted")
        hello = p.parse(await connection.recv(), (p.Hello,))
        assert isinstance(hello, p.Hello)
        version = p.negotiate(hello.protocol)
        if version is None:
            raise LinkConnectionError(
                f"satellite speaks protocol {hello.protocol}, this client "
                f"{', '.join(map(str, p.PROTOCOL_VERSIONS))}"
            )
        self.hello = hello
        nonce = p.new_nonce()
        proof = p.auth_proof(
            self._access_key,
            "client",
            server_nonce=hello.nonce,
            client_nonce=nonce,
            certificate=fingerprint,
            protocol=version,
        )
        await connection.send(
            p.Auth(version, proof, nonce, self._client_name, fingerprint).to_json()
        )
        answer = p.parse(await connection.recv(), (p.AuthOk, p.AuthFailed))
        if isinstance(answer, p.AuthFailed):
            if answer.code == "invalid_auth":
                raise LinkAuthError(answer.reason)
            if answer.code == "busy":
                raise LinkBusyError(answer.reason)
            if answer.code == "certificate":
                raise LinkCertificateError(answer.reason)
            raise LinkConnectionError(answer.reason)
        assert isinstance(answer, p.AuthOk)
        if not p.proof_matches(
            self._access_key,
            "server",
            server_nonce=hello.nonce,
            client_nonce=nonce,
            certificate=fingerprint,
            proof=answer.proof,
            protocol=version,
        ):
            raise LinkAuthError(
                "the satellite could not prove the access key (or something in between presents "
                "its own certificate)"
            )
        self.protocol = version
        self.fingerprint = fingerprint
        info = p.parse(await connection.recv(), (p.Info,))
        assert isinstance(info, p.Info)
        return info

    async def events(self) -> AsyncIterator[LinkEvent]:
        """Events and audio in the order the satellite sent them.

        Ends when :meth:`close` is called; raises LinkConnectionError when the link breaks
        (including a ping timeout). A malformed event is logged and skipped.
        """
        connection = self._require()
        try:
            async for frame in connection:
                if isinstance(frame, bytes):
                    yield Audio(frame)
                    continue
                try:
                    event = p.parse(frame, p.EVENTS)
                except p.ProtocolError as err:
                    self._log.log(
                        "malformed", "skipping a malformed event from %s: %s", self.host, err
                    )
                    continue
                if isinstance(event, p.Info):
                    self.info = event
                yield event  # type: ignore[misc]
        except ConnectionClosed:
            pass
        if not self._closing:
            self._connection = None
            raise LinkConnectionError(
                f"link to {self.host}:{self.port} closed: "
                f"{connection.close_code} {connection.close_reason or ''}".rstrip()
            )

    async def send(self, command: p.Command) -> None:
        await self._send(command.to_json())

    async def listen(self, timeout_s: float | None = None, *, full_duplex: bool = False) -> None:
        """Stream microphone audio without a wake word (follow-up, start_conversation).
        ``full_duplex``: also while the satellite speaks, until ``stop_listening`` (asked only of
        a satellite of protocol 4 or newer; an older one listens as it always did)."""
        duplex = full_duplex and (self.protocol or 0) >= p.FULL_DUPLEX_VERSION
        await self.send(p.Listen(timeout_s, True if duplex else None))

    async def stop_listening(self) -> None:
        await self.send(p.StopListening())

    async def play_start(self, stream_id: str, kind: p.PlayKind = "response") -> None:
        await self.send(p.PlayStart(stream_id, kind))

    async def play_audio(self, pcm: bytes) -> None:
        """Audio of the open stream: PCM16 LE mono 24 kHz, any length (whole samples)."""
        if len(pcm) % p.AUDIO_SAMPLE_BYTES:
            raise ValueError(f"pcm: {len(pcm)} bytes is not a whole number of 16-bit samples")
        # A frame larger than the peer's limit (MAX_FRAME_BYTES) would close the link (1009).
        for start in range(0, len(pcm), p.MAX_AUDIO_FRAME_BYTES):
            await self._send(pcm[start : start + p.MAX_AUDIO_FRAME_BYTES])

    async def play_media_audio(self, pcm: bytes) -> None:
        """Audio of the open media stream (PCM16 LE mono 24 kHz, whole samples), tagged so that the
        satellite plays it under the voice stream."""
        if len(pcm) % p.AUDIO_SAMPLE_BYTES:
            raise ValueError(f"pcm: {len(pcm)} bytes is not a whole number of 16-bit samples")
        for start in range(0, len(pcm), p.MAX_AUDIO_FRAME_BYTES):
            await self._send(p.MEDIA_AUDIO_TAG + pcm[start : start + p.MAX_AUDIO_FRAME_BYTES])

    async def play_end(self, stream_id: str) -> None:
        await self.send(p.PlayEnd(stream_id))

    async def stop_playback(self, stream_id: str | None = None) -> None:
        await self.send(p.StopPlayback(stream_id))

    async def set_mute(self, muted: bool) -> None:
        await self.send(p.SetMute(muted))

    async def set_volume(self, volume: float) -> None:
        await self.send(p.SetVolume(volume))

    async def configure(
        self,
        *,
        wake_words_active: list[str] | None = None,
        threshold: float | None = None,
        follow_up_s: float | None = None,
        chime: bool | None = None,
        own_threshold: bool | None = None,
    ) -> None:
        if self.protocol is not None and self.protocol < 2:
            own_threshold = None  # protocol 1 satellites have no per-model thresholds to return to
        await self.send(
            p.Configure(wake_words_active, threshold, follow_up_s, chime, own_threshold)
        )

    async def update(self, version: str) -> None:
        """Have the satellite install release ``version`` of itself and restart (it reports
        ``update_progress``; the new version's hello follows when the link comes back)."""
        await self.send(p.Update(version))

    async def close(self) -> None:
        connection = self._connection
        self._closing = True
        if connection is not None:
            await connection.close()
        self._connection = None

    def _require(self) -> ClientConnection:
        if self._connection is None:
            raise LinkConnectionError(f"not connected to {self.host}:{self.port}")
        return self._connection

    async def _send(self, data: str | bytes) -> None:
        try:
            await self._require().send(data)
        except ConnectionClosed as err:
            raise LinkConnectionError(f"link to {self.host}:{self.port} closed: {err}") from err
