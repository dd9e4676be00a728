"""A satellite reduced to its link: the real SatelliteLinkServer with a handler that behaves like the
agent's protocol side (plays what it receives by reporting playback as the real agent does, streams
audio after a wake word) but has no microphone, DSP or wake-word model. Flow and entity tests use it;
the conversation tests use the real agent on WAV files.
"""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from realtime_voice_satellite.agent.certificate import ensure_certificate
from realtime_voice_satellite.link import LinkCertificate, SatelliteLinkServer, protocol
from realtime_voice_satellite.link.pairing import PairingWindow
from tests.helpers import audio

# As the satellite generates them (keys.new_access_key): 30 URL-safe characters.
ACCESS_KEY = "kJ3pX9-vQ2mW7zR4tY8nB1cF6hL0sD"
# One certificate for every test satellite, made at import (not in HA's event loop); a satellite
# that restarts keeps it, as a real one keeps its state directory.
CERTIFICATE = ensure_certificate(Path(tempfile.mkdtemp(prefix="link-satellite-")), "Kitchen")


@dataclass
class LinkSatellite:
    name: str = "Kitchen"
    satellite_id: str = "kitchen-0001"
    access_key: str | None = ACCESS_KEY  # None: not paired yet
    certificate: LinkCertificate = CERTIFICATE
    info: protocol.Info = field(
        default_factory=lambda: protocol.Info(
            name="Kitchen",
            satellite_id="kitchen-0001",
            version="0.1.0",
            protocol=protocol.PROTOCOL_VERSION,
            wake_words_available=["hey_jarvis", "okay_nabu", "alexa"],
            wake_words_active=["hey_jarvis"],
            threshold=0.5,
            follow_up_s=8.0,
            chime=True,
            muted=False,
            volume=0.8,
            state="idle",
        )
    )
    own_threshold: float = 0.5  # what satellite.yaml would give (configure own_threshold)
    finish_playback: bool = True  # False: playback never ends by itself (for barge-in)
    commands: list[protocol.Message] = field(default_factory=list)
    played: dict[str, bytearray] = field(default_factory=dict)
    _current_stream: str | None = None
    _media_stream: str | None = None
    server: SatelliteLinkServer | None = None
    connected_event: asyncio.Event = field(default_factory=asyncio.Event)
    # HA's ``update``, as the agent answers it (updater.py): "install" reports progress, restarts
    # (the server stops and comes back on its port with the new version); "fail" reports this
    # error; "unknown" answers as a release before updates (the command is not known).
    update_plan: Literal["install", "fail", "unknown"] = "install"
    update_error: str = "the package index has no such version: pip could not install it"
    # set by a test to hold the install after its first report (to see the progress in HA)
    update_hold: asyncio.Event | None = None
    _restart: asyncio.Task[None] | None = None
    # pairing as the agent does it (None: off); the codes it spoke, instead of speaking them
    pairing: PairingWindow | None = None
    spoken: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.info = replace(self.info, name=self.name, satellite_id=self.satellite_id)

    async def start(self, port: int = 0) -> None:
        self.server = SatelliteLinkServer(
            self,
            name=self.name,
            version=self.info.version,
            access_key=self.access_key,
            certificate=self.certificate,
            host="127.0.0.1",
            port=port,
            ping_interval=1.0,
            ping_timeout=1.0,
            pairing=self.pairing,
            on_paired=self._paired,
        )
        await self.server.start()

    def open_pairing(self, **window: float) -> PairingWindow:
        """Pairing mode, as a start without a key or ``--pair`` opens it (before ``start``)."""
        self.pairing = PairingWindow(self.spoken.append, **window)  # type: ignore[arg-type]
        self.pairing.open()
        return self.pairing

    def _paired(self, key: str) -> None:
        self.access_key = key

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop()

    @property
    def port(self) -> int:
        assert self.server is not None
        return self.server.port

    # LinkHandler

    def link_info(self) -> protocol.Info:
        return self.info

    async def on_command(self, command: protocol.Command) -> None:
        self.commands.append(command)
        assert self.server is not None
        match command:
            case protocol.PlayStart(stream_id=stream_id, kind="media"):
                self._media_stream = stream_id  # a layer of its own, under the voice
                self.played[stream_id] = bytearray()
            case protocol.PlayEnd(stream_id=stream_id) if stream_id == self._media_stream:
                if self.finish_playback:
                    self._media_stream = None
                    await self.server.send_event(
                        protocol.PlaybackFinished(
                            stream_id=stream_id, played_ms=len(self.played[stream_id]) // 48
                        )
                    )
            case protocol.StopPlayback(stream_id=stream_id) if (
                stream_id is not None and stream_id == self._media_stream
            ):
                self._media_stream = None
                await self.server.send_event(
                    protocol.PlaybackStopped(
                        stream_id=stream_id,
                        played_ms=len(self.played[stream_id]) // 48,
                        reason="command",
                    )
                )
            case protocol.PlayStart(stream_id=stream_id):
                self._current_stream = stream_id
                self.played[stream_id] = bytearray()
            case protocol.PlayEnd(stream_id=stream_id) if self.finish_playback:
                played_ms = len(self.played.get(stream_id, b"")) // 48
                self._current_stream = None
                await self.server.send_event(
                    protocol.PlaybackFinished(stream_id=stream_id, played_ms=played_ms)
                )
            case protocol.SetMute(muted=muted):
                self.info = replace(self.info, muted=muted, state="muted" if muted else "idle")
                await self.server.send_event(self.info)
            case protocol.SetVolume(volume=volume):
                self.info = replace(self.info, volume=volume)
                await self.server.send_event(self.info)
            case protocol.Configure() as configure:
                changes = {
                    key: value
                    for key, value in (
                        ("wake_words_active", configure.wake_words_active),
                        ("threshold", configure.threshold),
                        ("follow_up_s", configure.follow_up_s),
                        ("chime", configure.chime),
                    )
                    if value is not None
                }
                if configure.own_threshold:
                    changes["threshold"] = self.own_threshold
                self.info = replace(self.info, **changes)
                await self.server.send_event(self.info)
            case protocol.Update(version=version):
                await self._update(version)

    async def _update(self, version: str) -> None:
        assert self.server is not None
        if self.update_plan == "unknown":  # what the server of a release before updates sends
            error = "type: unexpected message type 'update'"
            await self.server.send_event(protocol.Error("bad_command", error))
            return
        await self.server.send_event(protocol.UpdateProgress(version, "installing", 0))
        if self.update_hold is not None:
            await self.update_hold.wait()
        if self.update_plan == "fail":
            await self.server.send_event(
                protocol.UpdateProgress(version, "failed", error=self.update_error)
            )
            return
        for progress in (30, 70, 90):
            await self.server.send_event(protocol.UpdateProgress(version, "installing", progress))
        await self.server.send_event(protocol.UpdateProgress(version, "restarting", 100))
        # the re-exec: this connection's handler is the one running, so not from inside it
        self._restart = asyncio.get_running_loop().create_task(self._restart_as(version))

    async def _restart_as(self, version: str) -> None:
        port = self.port
        await self.stop()
        self.info = replace(self.info, version=version)
        await self.start(port)

    def on_media_audio(self, pcm: bytes) -> None:
        if self._media_stream is not None:
            self.played[self._media_stream].extend(pcm)

    def on_audio(self, pcm: bytes) -> None:
        if self._current_stream is not None:
            self.played[self._current_stream].extend(pcm)

    def on_connected(self) -> None:
        self.connected_event.set()

    def on_disconnected(self) -> None:
        self.connected_event.clear()

    # What the satellite does on its own

    async def say(self, pcm: bytes, *, wake_word: str = "hey_jarvis") -> None:
        """A wake word, then the user's command as 20 ms audio frames, as the agent sends them."""
        assert self.server is not None
        await self.server.send_event(protocol.Wake(model=wake_word, score=0.9, t=1.0))
        await self.server.send_event(protocol.ListenStart(reason="wake"))
        await self.stream(pcm)

    async def stream(self, pcm: bytes) -> None:
        assert self.server is not None
        for start in range(0, len(pcm), protocol.AUDIO_FRAME_BYTES):
            await self.server.send_audio(pcm[start : start + protocol.AUDIO_FRAME_BYTES])

    async def barge_in(self, played_ms: int) -> None:
        """The wake word during playback, as the agent reports it."""
        assert self.server is not None
        await self._interrupt(protocol.BargeIn, "hey_jarvis", 0.95, "barge_in", played_ms)
        await self.server.send_event(protocol.ListenStart(reason="barge_in"))

    async def stop_word(self, played_ms: int) -> str | None:
        """The stop word during playback, as the agent reports it: silence, idle, no listening.
        Returns the stream it stopped."""
        assert self.server is not None
        stream_id = await self._interrupt(protocol.StopWord, "stop", 0.93, "stop_word", played_ms)
        await self.server.send_event(protocol.StateChanged("idle"))
        return stream_id

    async def _interrupt(
        self,
        event: type[protocol.BargeIn] | type[protocol.StopWord],
        model: str,
        score: float,
        reason: Literal["barge_in", "stop_word"],
        played_ms: int,
    ) -> str | None:
        """What the agent sends when something heard during playback stops it."""
        assert self.server is not None
        stream_id = self._current_stream
        self._current_stream = None
        await self.server.send_event(event(model=model, score=score, stream_id=stream_id))
        if stream_id is not None:
            await self.server.send_event(
                protocol.PlaybackStopped(stream_id=stream_id, played_ms=played_ms, reason=reason)
            )
        return stream_id


def tone(seconds: float, level: float = 0.3) -> bytes:
    """Something the stand-in's voice activity detection hears as speech (PCM16 24 kHz)."""
    return audio.tone_pcm(seconds, protocol.AUDIO_RATE, 220, level)


def silence(seconds: float) -> bytes:
    return audio.silence_pcm(seconds, protocol.AUDIO_RATE)
