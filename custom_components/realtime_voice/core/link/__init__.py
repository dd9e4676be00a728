"""The link between a satellite and Home Assistant (protocol in docs/link-protocol.md).

One WebSocket over TLS (wss://) per satellite; the satellite is the server (:class:`SatelliteLinkServer`), HA
connects (:class:`SatelliteLinkClient`). Text frames are JSON messages (:mod:`.protocol`), binary
frames are audio, PCM16 LE mono 24 kHz both ways, so HA forwards it to the Realtime API as is.

HA side, in short::

    client = SatelliteLinkClient(host, port, access_key)
    info = await client.connect()          # LinkAuthError, LinkBusyError, LinkConnectionError
    async for event in client.events():    # raises LinkConnectionError when the link dies
        match event:
            case Audio(pcm): ...            # microphone audio while listening
            case protocol.Wake(): ...       # then listen_start, audio..., listen_end
            case protocol.PlaybackStopped(stream_id, played_ms, reason): ...  # truncate
            case protocol.StopWord(): ...   # protocol 2: end the conversation, don't listen
    await client.play_start("resp-1"); await client.play_audio(pcm); await client.play_end("resp-1")

Reconnecting is up to the caller (HA: ``core/backoff.py``).

Both sides run this package: Home Assistant as ``custom_components.realtime_voice.core.link``, the
satellite as ``realtime_voice_satellite.link`` (a symlink in satellite/ that its wheel resolves into
real files). So nothing in here imports from outside it, and imports inside are relative.
"""

from . import keys, protocol
from .client import (
    Audio,
    LinkAuthError,
    LinkBusyError,
    LinkCertificateError,
    LinkConnectionError,
    LinkError,
    LinkEvent,
    LinkOutdatedError,
    SatelliteLinkClient,
)
from .protocol import DEFAULT_PORT, PROTOCOL_VERSION, ZEROCONF_TYPE, ProtocolError
from .server import LinkHandler, SatelliteLinkServer
from .tls import LinkCertificate

__all__ = [
    "DEFAULT_PORT",
    "PROTOCOL_VERSION",
    "ZEROCONF_TYPE",
    "Audio",
    "LinkAuthError",
    "LinkBusyError",
    "LinkCertificate",
    "LinkCertificateError",
    "LinkConnectionError",
    "LinkError",
    "LinkEvent",
    "LinkHandler",
    "LinkOutdatedError",
    "ProtocolError",
    "SatelliteLinkClient",
    "SatelliteLinkServer",
    "keys",
    "protocol",
]
