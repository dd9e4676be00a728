"""The satellite's side of the link: a WebSocket server over TLS that one Home Assistant connects to.

Policy for a second connection: once it has proven the key it is refused (``auth_failed`` with code
``busy``, close code 4002) while the first one is alive. A dead first connection is noticed by the
ping within ``ping_interval + ping_timeout + CLOSE_TIMEOUT`` seconds, after which a new one is
accepted. Connections before authentication are bounded, and failed authentications slow the
address they come from (:mod:`.limits`); nothing a peer sends is logged as an error or with a
traceback, and every line a peer can cause is rate-limited (:mod:`.log_limit`).
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
from collections.abc import Callable
from typing import Protocol

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from . import protocol as p
from .limits import AuthBackoff, ConnectionGate, GatedListener
from .log_limit import RateLimitedLog
from .pairing import PairingError, PairingWindow, derive, finish, satellite_exchange
from .tls import LinkCertificate, server_context

_LOGGER = logging.getLogger(__name__)

# How long a close waits for the peer's close frame: a vanished peer never sends one, so this is
# part of the time a dead link takes to notice (ping_interval + ping_timeout + CLOSE_TIMEOUT).
CLOSE_TIMEOUT = 1.0


class LinkHandler(Protocol):
    """What the agent gives the server: its state and what to do with HA's commands and audio."""

    def link_info(self) -> p.Info: ...

    async def on_command(self, command: p.Command) -> None: ...

    def on_audio(self, pcm: bytes) -> None: ...

    def on_media_audio(self, pcm: bytes) -> None: ...

    def on_connected(self) -> None: ...

    def on_disconnected(self) -> None: ...


class SatelliteLinkServer:
    """Accepts HA, authenticates it, forwards its commands to ``handler`` and sends events and audio."""

    def __init__(
        self,
        handler: LinkHandler,
        *,
        name: str,
        version: str,
        access_key: str | None,
        certificate: LinkCertificate,
        host: str = "0.0.0.0",
        port: int = p.DEFAULT_PORT,
        ping_interval: float = 3.0,
        ping_timeout: float = 2.0,
        auth_timeout: float = 5.0,
        gate: ConnectionGate | None = None,
        auth_backoff: AuthBackoff | None = None,
        pairing: PairingWindow | None = None,
        on_paired: Callable[[str], None] | None = None,
    ) -> None:
        """``access_key`` None: none yet (only pairing works). ``pairing``: the window a spoken code
        pairs in (None: pairing is off); ``on_paired`` stores a key it made (when it raises, the
        pairing fails)."""
        if access_key == "":
            raise ValueError("access_key: must not be empty")
        self._pairing = pairing
        self._on_paired = on_paired
        self._handler = handler
        self._certificate = certificate
        self.gate = gate or ConnectionGate()
        self.auth_backoff = AuthBackoff() if auth_backoff is None else auth_backoff
        self._log = RateLimitedLog(_LOGGER)
        # HA connecting and leaving: a few lines a minute per address (a reload is two or three)
        self._link_log = RateLimitedLog(_LOGGER, 60.0, level=logging.INFO, burst=6)
        self._name = name
        self._version = version
        self._access_key = access_key
        self._host = host
        self._port = port
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._auth_timeout = auth_timeout
        self._server: Server | None = None
        self._active: ServerConnection | None = None
        # The connected client's link version (the last one's after it left).
        self.protocol = p.PROTOCOL_VERSION

    def __repr__(self) -> str:  # never show the key
        return f"SatelliteLinkServer(name={self._name!r}, host={self._host!r}, port={self.port})"

    @property
    def port(self) -> int:
        """The bound port (useful with port 0)."""
        if self._server is not None:
            for sock in self._server.sockets:
                return int(sock.getsockname()[1])
        return self._port

    @property
    def connected(self) -> bool:
        return self._active is not None

    @property
    def peer(self) -> str | None:
        if self._active is None:
            return None
        return str(self._active.remote_address[0])

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the certificate (the satellite logs it; a user may compare it)."""
        return self._certificate.fingerprint

    async def start(self) -> None:
        listener = GatedListener.bind_to(self._host, self._port, self.gate)
        try:
            self._server = await serve(
                self._serve_connection,
                sock=listener,
                ssl=server_context(self._certificate),
                # TLS handshake and HTTP upgrade each within the time allowed to authenticate
                open_timeout=self._auth_timeout,
                ping_interval=self._ping_interval,
                ping_timeout=self._ping_timeout,
                close_timeout=CLOSE_TIMEOUT,
                compression=None,  # audio does not compress; deflate would only add latency
                max_size=p.MAX_FRAME_BYTES,
            )
        except BaseException:
            listener.close()
            raise
        _LOGGER.info(
            "link listening on %s:%s (TLS, certificate sha256 %s)",
            self._host,
            self.port,
            self.fingerprint,
        )

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close(close_connections=True)
        await self._server.wait_closed()
        self._server = None

    async def send_event(self, message: p.Message) -> bool:
        """Send one event to HA; False when no HA is connected (the event is dropped)."""
        return await self._send(message.to_json())

    async def send_audio(self, pcm: bytes) -> bool:
        """Send one frame of microphone audio (PCM16 LE mono 24 kHz)."""
        return await self._send(pcm)

    async def _send(self, data: str | bytes) -> bool:
        connection = self._active
        if connection is None:
            return False
        try:
            await connection.send(data)
        except ConnectionClosed:
            return False
        return True

    async def _serve_connection(self, connection: ServerConnection) -> None:
        """Whatever the peer does, nothing escapes to websockets (which would log an ERROR with a
        traceback): it is logged once, at most, and the connection closed."""
        remote = connection.remote_address
        peer = str(remote[0]) if remote else "?"
        try:
            await self._serve_authenticated(connection, peer)
        except Exception as err:
            self._log.log(
                f"failed:{peer}",
                "link connection from %s failed: %s: %s",
                peer,
                type(err).__name__,
                err,
            )
            connection.transport.abort()
        finally:
            self.gate.release(remote)

    async def _serve_authenticated(self, connection: ServerConnection, peer: str) -> None:
        version = await self._authenticate(connection, peer)
        if version is None:
            return
        self.gate.release(connection.remote_address)
        self._active = connection
        self.protocol = version
        self._link_log.log(
            f"connected:{peer}",
            "Home Assistant connected from %s (link protocol %d)",
            peer,
            version,
        )
        try:
            await connection.send(self._handler.link_info().to_json())
            self._handler.on_connected()
            async for frame in connection:
                if isinstance(frame, bytes):
                    if len(frame) % 2:  # tagged: the media stream (protocol.MEDIA_AUDIO_TAG)
                        self._handler.on_media_audio(frame[1:])
                    else:
                        self._handler.on_audio(frame)
                    continue
                try:
                    command = p.parse(frame, p.COMMANDS)
                except p.ProtocolError as err:
                    self._log.log(
                        f"malformed:{peer}", "skipping a malformed command from %s: %s", peer, err
                    )
                    await connection.send(p.Error("bad_command", str(err)).to_json())
                    continue
                try:
                    await self._handler.on_command(command)  # type: ignore[arg-type]
                except Exception as err:  # a bug in one command must not drop the link
                    self._log.log(
                        f"command:{command.TYPE}:{type(err).__name__}",
                        "command %s failed",
                        command.TYPE,
                        level=logging.ERROR,
                        exc_info=err,
                    )
                    await connection.send(
                        p.Error("command_failed", f"{command.TYPE}: {err}").to_json()
                    )
        except ConnectionClosed:
            pass
        finally:
            if self._active is connection:
                self._active = None
                self._link_log.log(
                    f"disconnected:{peer}",
                    "Home Assistant at %s disconnected (%s)",
                    peer,
                    connection.close_reason or connection.close_code,
                )
                self._handler.on_disconnected()

    async def _authenticate(self, connection: ServerConnection, peer: str) -> int | None:
        """Hello, then the client's proof; nothing else is sent before it is right.

        Returns the link's protocol version (the client's choice), or None: refused or gone."""
        nonce = p.new_nonce()
        try:
            await connection.send(
                p.Hello(p.PROTOCOL_VERSION, self._name, self._version, nonce).to_json()
            )
            async with asyncio.timeout(self._auth_timeout):
                frame = await connection.recv()
        except TimeoutError:
            await connection.close(p.CLOSE_AUTH_TIMEOUT, "no auth message in time")
            return None
        except ConnectionClosed:
            return None
        try:
            auth = (
                p.parse(frame, (p.Auth, p.PairRequest, p.Pair)) if isinstance(frame, str) else None
            )
            if auth is None:
                raise p.ProtocolError("a binary frame")
        except p.ProtocolError as err:
            await self._refuse(
                connection, peer, "protocol", f"expected auth: {err}", p.CLOSE_PROTOCOL_ERROR
            )
            return None
        if isinstance(auth, p.PairRequest | p.Pair):
            await self._pair(connection, peer, auth, nonce)
            return None
        assert isinstance(auth, p.Auth)
        if auth.protocol not in p.PROTOCOL_VERSIONS:
            await self._refuse(
                connection,
                peer,
                "protocol",
                f"protocol version {auth.protocol} not supported (satellite speaks "
                f"{', '.join(map(str, p.PROTOCOL_VERSIONS))})",
                p.CLOSE_PROTOCOL_ERROR,
            )
            return None
        own = self._certificate.fingerprint
        if auth.certificate is not None and auth.certificate != own:
            await self._refuse(
                connection,
                peer,
                "certificate",
                f"the client sees another certificate (sha256 {auth.certificate[:16]}...) than "
                f"this satellite's ({own[:16]}...): something between them terminates TLS",
                p.CLOSE_CERTIFICATE,
            )
            return None
        # A guess from an address that failed lately waits its turn (limits.AuthBackoff).
        source = _backoff_key(peer)
        if (wait := self.auth_backoff.wait(source)) > 0:
            await asyncio.sleep(wait)
        if self._access_key is None:
            await self._refuse(
                connection,
                peer,
                "invalid_auth",
                "this satellite has no access key yet: pair it (Home Assistant asks for the code "
                "it speaks)",
                p.CLOSE_AUTH_FAILED,
            )
            return None
        if not p.proof_matches(
            self._access_key,
            "client",
            server_nonce=nonce,
            client_nonce=auth.nonce,
            certificate=own,
            proof=auth.proof,
            protocol=auth.protocol,
        ):
            self.auth_backoff.failed(source)
            await self._refuse(
                connection, peer, "invalid_auth", "invalid access key", p.CLOSE_AUTH_FAILED
            )
            return None
        self.auth_backoff.succeeded(source)
        if self._active is not None:
            await self._refuse(
                connection,
                peer,
                "busy",
                f"busy: another Home Assistant is connected (from {self.peer})",
                p.CLOSE_BUSY,
            )
            return None
        try:
            await connection.send(
                p.AuthOk(
                    p.auth_proof(
                        self._access_key,
                        "server",
                        server_nonce=nonce,
                        client_nonce=auth.nonce,
                        certificate=own,
                        protocol=auth.protocol,
                    )
                ).to_json()
            )
        except ConnectionClosed:
            return None
        return auth.protocol

    async def _pair(
        self, connection: ServerConnection, peer: str, message: p.PairRequest | p.Pair, nonce: str
    ) -> None:
        """Speak the code (``pair_request``) or run the exchange (``pair``), then close."""
        own = self._certificate.fingerprint
        if message.protocol not in p.PROTOCOL_VERSIONS:
            await self._refuse_pairing(
                connection,
                peer,
                PairingError("protocol", f"protocol version {message.protocol} not supported"),
                p.CLOSE_PROTOCOL_ERROR,
            )
            return
        if message.certificate != own:
            reason = (
                f"the client sees another certificate (sha256 {message.certificate[:16]}...) than "
                f"this satellite's ({own[:16]}...): something between them terminates TLS"
            )
            await self._refuse_pairing(
                connection, peer, PairingError("certificate", reason), p.CLOSE_CERTIFICATE
            )
            return
        window = self._pairing
        if window is None:
            await self._refuse_pairing(
                connection,
                peer,
                PairingError(
                    "not_pairing", "pairing is off: the access key is set in satellite.yaml"
                ),
                p.CLOSE_AUTH_FAILED,
            )
            return
        if isinstance(message, p.PairRequest):
            try:
                window.say_code()
            except PairingError as err:
                await self._refuse_pairing(connection, peer, err, p.CLOSE_AUTH_FAILED)
                return
            self._link_log.log(f"pairing:{peer}", "pairing: spoke the code for %s", peer)
            await self._send_and_close(
                connection, p.Pairing(round(window.expires_in, 1), window.tries_left)
            )
            return
        source = _backoff_key(peer)
        if (wait := self.auth_backoff.wait(source)) > 0:
            await asyncio.sleep(wait)
        async with window.lock:
            try:
                code = window.take_try()
            except PairingError as err:
                await self._refuse_pairing(connection, peer, err, p.CLOSE_AUTH_FAILED)
                return
            paired = False
            try:
                paired = await self._exchange(connection, peer, message, nonce, code)
            finally:
                if not paired:
                    window.after_wrong_code()
                    self.auth_backoff.failed(source)

    async def _exchange(
        self, connection: ServerConnection, peer: str, message: p.Pair, nonce: str, code: str
    ) -> bool:
        """SPAKE2 and both confirmations; True once the new key is stored and proven."""
        assert self._pairing is not None
        own = self._certificate.fingerprint
        exchange = satellite_exchange(code, message.protocol, own)
        reply = exchange.start().hex()
        try:
            keys = derive(
                finish(exchange, message.message),
                certificate=own,
                server_nonce=nonce,
                client_nonce=message.nonce,
            )
            await connection.send(p.PairReply(reply).to_json())
            async with asyncio.timeout(self._auth_timeout):
                frame = await connection.recv()
            confirm = p.parse(frame, (p.PairConfirm,))
        except (TimeoutError, ConnectionClosed):
            return False
        except p.ProtocolError as err:
            await self._refuse_pairing(
                connection, peer, PairingError("protocol", str(err)), p.CLOSE_PROTOCOL_ERROR
            )
            return False
        assert isinstance(confirm, p.PairConfirm)
        if not hmac.compare_digest(confirm.proof, keys.client_proof):
            tries = self._pairing.tries_left
            error = (
                PairingError("wrong_code", f"wrong code ({tries} tries left)", tries)
                if tries
                else PairingError(
                    "too_many_tries",
                    f"wrong code, the {self._pairing.max_tries}th: pairing ended; start it "
                    "again on the satellite",
                    0,
                )
            )
            await self._refuse_pairing(connection, peer, error, p.CLOSE_AUTH_FAILED)
            return False
        if self._on_paired is not None:
            try:
                self._on_paired(keys.access_key)
            except Exception as err:  # whatever keeps the key from being stored
                self._log.log("store", "pairing: cannot store the access key: %s", err)
                await self._refuse_pairing(
                    connection,
                    peer,
                    PairingError("protocol", "the satellite cannot store the access key"),
                    p.CLOSE_PROTOCOL_ERROR,
                )
                return False
        self._pairing.close()
        self._access_key = keys.access_key
        self._link_log.log(f"paired:{peer}", "paired with Home Assistant at %s", peer)
        await self._send_and_close(connection, p.PairOk(keys.server_proof))
        if (active := self._active) is not None:  # it holds the key that was just replaced
            await active.close(p.CLOSE_AUTH_FAILED, "the satellite was paired again")
        return True

    async def _send_and_close(self, connection: ServerConnection, message: p.Message) -> None:
        try:
            await connection.send(message.to_json())
            await connection.close()
        except ConnectionClosed:
            pass

    async def _refuse_pairing(
        self, connection: ServerConnection, peer: str, error: PairingError, close_code: int
    ) -> None:
        self._log.log(
            f"pair-refused:{peer}:{error.code}", "refused pairing from %s: %s", peer, error
        )
        try:
            await connection.send(p.PairFailed(error.code, str(error), error.tries_left).to_json())
            await connection.close(close_code, str(error)[:120])
        except ConnectionClosed:
            pass

    async def _refuse(
        self, connection: ServerConnection, peer: str, code: str, reason: str, close_code: int
    ) -> None:
        self._log.log(f"refused:{peer}:{code}", "refused link client %s: %s", peer, reason)
        try:
            await connection.send(p.AuthFailed(code, reason).to_json())  # type: ignore[arg-type]
            await connection.close(close_code, reason[:120])
        except ConnectionClosed:
            pass


def _backoff_key(peer: str) -> str:
    """The address failed authentications are counted for: an IPv6 host's /64 (one host may
    hold all of it), else the address."""
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return peer
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:  # a dual-stack listener's IPv4 peer
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)
