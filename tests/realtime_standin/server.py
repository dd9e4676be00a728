"""A stand-in for OpenAI's Realtime service: GA and beta, scripted turns, and the failure modes.

SIMULATION: nothing here talks to OpenAI. It runs on 127.0.0.1 and answers like each kind of
endpoint in docs/realtime-core.md's failure table. Every client event is checked against the ``openai``
package's types (undeclared keys are errors, answered like the service does), and every event it
sends is checked the same way; problems are recorded in ``violations`` so tests can assert none.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import itertools
import json
import logging
import re
import ssl
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

import numpy as np
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from . import audio
from .validation import Interface, Problem, validate

_LOGGER = logging.getLogger(__name__)

GA_MODELS = frozenset(
    {
        "gpt-realtime",
        "gpt-realtime-2025-08-28",
        "gpt-realtime-mini",
        "gpt-realtime-2.1-mini",
        "gpt-realtime-2.1",
        "gpt-realtime-2",
        "gpt-realtime-1.5",
    }
)
BETA_MODELS = frozenset({"gpt-4o-realtime-preview", "gpt-4o-mini-realtime-preview"})
BETA_VOICES = frozenset({"alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse"})
GA_VOICES = BETA_VOICES | {"marin", "cedar"}
Endpoint = Literal["ga", "beta", "both"]

# GA name -> beta name for the events whose names differ
_BETA_NAMES = {
    "response.output_audio.delta": "response.audio.delta",
    "response.output_audio.done": "response.audio.done",
    "response.output_audio_transcript.delta": "response.audio_transcript.delta",
    "response.output_audio_transcript.done": "response.audio_transcript.done",
    "conversation.item.added": "conversation.item.created",
}


class StandinProtocolError(AssertionError):
    """The stand-in was about to send an event that the openai types reject."""


@dataclass(frozen=True, slots=True)
class ToolScript:
    """When the offered tools include ``tool``: call it with ``arguments``, then say ``final``.

    Like a model, it takes the offered tool of that name with or without a namespace: Home Assistant
    names Assist's tools ``HassTurnOn`` up to 2026.5 and ``intent__HassTurnOn`` in 2026.10 and later.
    """

    tool: str
    arguments: dict[str, Any] = field(default_factory=dict)
    final: str = "Done."


def offered_name(tool: str, offered: set[Any]) -> str | None:
    """The offered tool named ``tool``, or ``<namespace>__tool`` when only one such is offered."""
    if tool in offered:
        return tool
    namespaced = [name for name in offered if isinstance(name, str) and name.endswith(f"__{tool}")]
    return namespaced[0] if len(namespaced) == 1 else None


@dataclass(slots=True)
class StandinConfig:
    endpoint: Endpoint = "both"
    api_key: str | None = None  # None accepts any key; else other keys are refused
    auth_failure: Literal["close", "http"] = "close"  # invalid_api_key + close 3000, or HTTP 401
    models: frozenset[str] | None = None  # None: the models of the endpoint kind
    session_seconds: float | None = None  # send session_expired after this long
    transcript: str = "What time is it?"  # what it "hears" in any user audio
    # What it hears in the first user turns, one each (then ``transcript``): a conversation of turns.
    transcripts: tuple[str, ...] = ()
    reply: str = "It is twelve o'clock."
    tools: tuple[ToolScript, ...] = ()
    audio: Literal["tone", "espeak"] = "tone"
    delta_ms: int = 100  # audio per delta
    delta_interval: float = 0.0  # pause between deltas (seconds); >0 to make cancel testable
    garbage: bool = False  # send garbage frames before every response
    vad_threshold: float = 0.02  # RMS (full scale 1.0) above which server VAD hears speech
    first_output_delay: float = 0.0  # the model "thinking" between response.created and its output

    def known_models(self) -> frozenset[str]:
        if self.models is not None:
            return self.models
        return {"ga": GA_MODELS, "beta": BETA_MODELS, "both": GA_MODELS | BETA_MODELS}[
            self.endpoint
        ]


@dataclass(slots=True)
class ConnectionRecord:
    path: str
    model: str | None
    interface: Interface | None
    auth: str  # "bearer" | "api-key" | "none"
    refused: str | None = None  # error code when the connection was refused


@dataclass(slots=True)
class _Vad:
    speaking: bool = False
    silence_ms: int = 0
    start_ms: int = 0
    item_id: str = ""


@dataclass(slots=True, eq=False)
class _Conn:
    ws: ServerConnection
    interface: Interface
    model: str
    voice: str = "alloy"
    instructions: str = ""
    tools: list[dict[str, Any]] = field(default_factory=list)
    turn_detection: dict[str, Any] | None = field(
        default_factory=lambda: {"type": "server_vad", "silence_duration_ms": 500}
    )
    transcription: bool = False
    audio_sent: bool = False
    buffer: bytearray = field(default_factory=bytearray)
    buffer_start_ms: int = 0  # stream time at the start of the buffer
    vad: _Vad = field(default_factory=_Vad)
    items: list[dict[str, Any]] = field(default_factory=list)
    item_audio_ms: dict[str, int] = field(default_factory=dict)
    response: asyncio.Task[None] | None = None  # the one writing to the default conversation
    other_responses: set[asyncio.Task[None]] = field(default_factory=set)
    last_input_tokens: int = 0
    received: list[dict[str, Any]] = field(default_factory=list)


class StandinServer:
    """``async with StandinServer(config) as server: server.url`` (``ws://127.0.0.1:PORT/v1/realtime``)."""

    def __init__(
        self,
        config: StandinConfig | None = None,
        *,
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.config = config or StandinConfig()
        self._port = port
        self._ssl = ssl_context  # wss:// as OpenAI is reached; None: ws://
        self._server: Server | None = None
        self._conns: set[_Conn] = set()
        self._changed = asyncio.Condition()  # notified when a connection comes or goes
        self._ids = itertools.count(1)
        self.violations: list[tuple[str, Interface, str, Problem]] = []
        self.received: list[tuple[Interface, dict[str, Any]]] = []
        self.sent: list[tuple[Interface, dict[str, Any]]] = []  # audio deltas left out
        self.connections: list[ConnectionRecord] = []
        self.responses_done = 0
        self.user_turns = 0  # committed user turns, over all connections
        self._down_until = 0.0  # loop time until which new connections are refused (an outage)

    # -- lifecycle -----------------------------------------------------------------------------

    @property
    def port(self) -> int:
        assert self._server is not None, "not started"
        return self._server.sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        scheme = "ws" if self._ssl is None else "wss"
        return f"{scheme}://127.0.0.1:{self.port}/v1/realtime"

    async def start(self) -> None:
        self._server = await serve(
            self._handle,
            "127.0.0.1",
            self._port,
            process_request=self._process_request,
            max_size=16 * 1024 * 1024,
            compression=None,
            ssl=self._ssl,
            logger=logging.getLogger(__name__ + ".ws"),  # the far end: its logs see the key
        )
        _LOGGER.info("SIMULATION: stand-in Realtime server on %s (%s)", self.url, self.config)

    async def stop(self) -> None:
        if self._server is None:
            return
        for conn in list(self._conns):
            self._cancel_responses(conn)
        self._server.close()
        await self._server.wait_closed()
        self._server = None

    async def __aenter__(self) -> StandinServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- test controls -------------------------------------------------------------------------

    def _violation(self, side: str, interface: Interface, kind: str, problem: Problem) -> None:
        """Record a protocol violation and log it at once, so that a killed process keeps it."""
        self.violations.append((side, interface, kind, problem))
        _LOGGER.warning("protocol violation: %s %s %s %s", side, interface, kind, problem)

    @property
    def client_violations(self) -> list[tuple[str, Interface, str, Problem]]:
        return [v for v in self.violations if v[0] == "client"]

    def drop_connections(self) -> int:
        """Abort every TCP connection (no close frame), like a network failure."""
        conns = list(self._conns)
        for conn in conns:
            conn.ws.transport.abort()
        return len(conns)

    def go_down(self, seconds: float) -> int:
        """An outage: every connection drops (no close frame) and new ones are refused with HTTP
        503, as the service's front end answers when it is unavailable, for ``seconds``."""
        self._down_until = asyncio.get_running_loop().time() + seconds
        return self.drop_connections()

    async def expire_sessions(self) -> None:
        """Send ``session_expired`` and close, like the service at the 60-minute limit."""
        for conn in list(self._conns):
            await self._expire(conn)

    async def send_garbage(self) -> None:
        """Frames a client must survive. Deliberately NOT validated: they are wrong on purpose."""
        for conn in list(self._conns):
            await self._garbage(conn)

    @property
    def live_connections(self) -> int:
        return len(self._conns)

    async def wait_live(self, count: int, within: float = 5.0) -> None:
        """Wait until exactly ``count`` connections are live (closing handshakes take a moment)."""
        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(lambda: len(self._conns) == count)

    def sessions(self) -> list[dict[str, Any]]:
        """A snapshot of each live session's configuration and conversation."""
        return [
            {
                "interface": c.interface,
                "model": c.model,
                "voice": c.voice,
                "instructions": c.instructions,
                "tools": [t.get("name") for t in c.tools],
                "turn_detection": c.turn_detection,
                "items": [dict(i) for i in c.items],
            }
            for c in self._conns
        ]

    def sent_of(self, kind: str) -> list[dict[str, Any]]:
        """Events of a type (GA or beta name) that the stand-in sent."""
        return [event for _interface, event in self.sent if event["type"] == kind]

    def received_of(self, kind: str) -> list[dict[str, Any]]:
        """Valid events of a type (GA or beta name) that the stand-in received."""
        return [event for _interface, event in self.received if event["type"] == kind]

    # -- handshake -----------------------------------------------------------------------------

    def _auth(self, request: Request) -> tuple[str, str | None]:
        bearer = request.headers.get("Authorization", "")
        if bearer.startswith("Bearer "):
            return "bearer", bearer.removeprefix("Bearer ")
        if "api-key" in request.headers:
            return "api-key", request.headers["api-key"]
        return "none", None

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        scheme, key = self._auth(request)
        if asyncio.get_running_loop().time() < self._down_until:
            self.connections.append(ConnectionRecord(request.path, None, None, scheme, "http_503"))
            return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "Service Unavailable\n")
        if (
            self.config.auth_failure == "http"
            and self.config.api_key is not None
            and key != self.config.api_key
        ):
            self.connections.append(ConnectionRecord(request.path, None, None, scheme, "http_401"))
            return connection.respond(HTTPStatus.UNAUTHORIZED, "Incorrect API key provided.\n")
        return None

    async def _refuse(
        self, ws: ServerConnection, interface: Interface, code: str, message: str, close: int
    ) -> None:
        await self._send_raw(
            ws,
            interface,
            self._error_event("invalid_request_error", code, message, None, None),
        )
        await ws.close(close, code)

    async def _handle(self, ws: ServerConnection) -> None:
        request = ws.request
        assert request is not None
        query = dict(parse_qsl(urlsplit(request.path).query))
        model = query.get("model") or query.get("deployment")
        scheme, key = self._auth(request)
        beta_header = request.headers.get("OpenAI-Beta", "") == "realtime=v1"
        interface: Interface = "beta" if beta_header or self.config.endpoint == "beta" else "ga"
        record = ConnectionRecord(request.path, model, interface, scheme)
        self.connections.append(record)
        if self.config.api_key is not None and key != self.config.api_key:
            record.refused = "invalid_api_key"
            await self._refuse(
                ws, interface, "invalid_api_key", "Incorrect API key provided.", 3000
            )
            return
        if beta_header and self.config.endpoint == "ga":
            record.refused = "beta_api_shape_disabled"
            await self._refuse(
                ws,
                interface,
                "beta_api_shape_disabled",
                "The beta Realtime API shape is disabled for this endpoint; use the GA interface.",
                4000,
            )
            return
        if not model or model not in self.config.known_models():
            record.refused = "model_not_found"
            await self._refuse(
                ws,
                interface,
                "model_not_found",
                f"The model '{model}' does not exist or you do not have access to it.",
                4000,
            )
            return
        conn = _Conn(ws, interface, model)
        self._conns.add(conn)
        async with self._changed:
            self._changed.notify_all()
        expiry = (
            asyncio.create_task(self._expire_later(conn, self.config.session_seconds))
            if self.config.session_seconds
            else None
        )
        try:
            await self._send(conn, "session.created", session=self._session_object(conn))
            async for frame in ws:
                await self._on_frame(conn, frame)
        except ConnectionClosed:
            pass
        finally:
            self._conns.discard(conn)
            async with self._changed:
                self._changed.notify_all()
            self._cancel_responses(conn)
            if expiry:
                expiry.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await expiry

    def _cancel_responses(self, conn: _Conn) -> None:
        for task in [conn.response, *conn.other_responses]:
            if task and not task.done():
                task.cancel()

    async def _expire_later(self, conn: _Conn, seconds: float) -> None:
        await asyncio.sleep(seconds)
        await self._expire(conn)

    async def _expire(self, conn: _Conn) -> None:
        with contextlib.suppress(ConnectionClosed):
            await self._send_raw(
                conn.ws,
                conn.interface,
                self._error_event(
                    "invalid_request_error",
                    "session_expired",
                    "Your session hit the maximum duration of 60 minutes.",
                    None,
                    None,
                ),
            )
            await conn.ws.close(1000, "session_expired")

    async def _garbage(self, conn: _Conn) -> None:
        frames: list[str | bytes] = [
            "this is not JSON {",
            b"\x00\x01binary",
            json.dumps({"type": "response.output_audio.delta"}),
            json.dumps({"type": "totally.unknown.event", "event_id": "e_x"}),
            json.dumps(
                {
                    "type": self._name(conn, "response.output_audio.delta"),
                    "event_id": "e_y",
                    "response_id": "r",
                    "item_id": "i",
                    "output_index": 0,
                    "content_index": 0,
                    "delta": "!!not base64!!",
                }
            ),
            json.dumps([1, 2, 3]),
        ]
        with contextlib.suppress(ConnectionClosed):
            for frame in frames:
                await conn.ws.send(frame)

    # -- sending -------------------------------------------------------------------------------

    def _id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids):06d}"

    def _name(self, conn: _Conn, ga_name: str) -> str:
        return _BETA_NAMES.get(ga_name, ga_name) if conn.interface == "beta" else ga_name

    async def _send(self, conn: _Conn, ga_name: str, **fields: Any) -> None:
        event = {"type": self._name(conn, ga_name), "event_id": self._id("event"), **fields}
        await self._send_raw(conn.ws, conn.interface, event)

    async def _send_raw(
        self, ws: ServerConnection, interface: Interface, event: dict[str, Any]
    ) -> None:
        problems = validate(interface, "server", event)
        if problems:
            for problem in problems:
                self._violation("server", interface, event["type"], problem)
            raise StandinProtocolError(
                f"stand-in would send an invalid {event['type']}: {problems}"
            )
        if not event["type"].endswith("audio.delta"):
            self.sent.append((interface, event))
        await ws.send(json.dumps(event))

    def _error_event(
        self, kind: str, code: str, message: str, param: str | None, event_id: str | None
    ) -> dict[str, Any]:
        error: dict[str, Any] = {"type": kind, "code": code, "message": message}
        if param is not None:
            error["param"] = param
        if event_id is not None:
            error["event_id"] = event_id
        return {"type": "error", "event_id": self._id("event"), "error": error}

    async def _error(
        self, conn: _Conn, code: str, message: str, param: str | None = None, event_id: Any = None
    ) -> None:
        await self._send_raw(
            conn.ws,
            conn.interface,
            self._error_event(
                "invalid_request_error",
                code,
                message,
                param,
                event_id if isinstance(event_id, str) else None,
            ),
        )

    # -- session -------------------------------------------------------------------------------

    def _session_object(self, conn: _Conn) -> dict[str, Any]:
        tools = [
            {k: t[k] for k in ("type", "name", "description", "parameters") if k in t}
            for t in conn.tools
        ]
        transcription = {"model": "gpt-4o-mini-transcribe"} if conn.transcription else None
        if conn.interface == "ga":
            return {
                "type": "realtime",
                "model": conn.model,
                "instructions": conn.instructions,
                "output_modalities": ["audio"],
                "audio": {
                    "input": {
                        "format": {"type": "audio/pcm", "rate": 24000},
                        "turn_detection": conn.turn_detection,
                        "transcription": transcription,
                    },
                    "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": conn.voice},
                },
                "tools": tools,
                "tool_choice": "auto",
                "max_output_tokens": "inf",
            }
        return {
            "id": f"sess_{id(conn):x}",
            "modalities": ["audio", "text"],
            "instructions": conn.instructions,
            "voice": conn.voice,
            "input_audio_format": "pcm16",
            "output_audio_format": "pcm16",
            "turn_detection": conn.turn_detection,
            "input_audio_transcription": transcription,
            "tools": tools,
            "tool_choice": "auto",
            "max_response_output_tokens": "inf",
        }

    def _voices(self, conn: _Conn) -> frozenset[str]:
        return BETA_VOICES if "preview" in conn.model else GA_VOICES

    async def _session_update(self, conn: _Conn, event: dict[str, Any]) -> None:
        session = event["session"]
        if conn.interface == "ga":
            if session.get("type") != "realtime":
                await self._error(
                    conn,
                    "invalid_value",
                    "This stand-in serves realtime sessions only.",
                    "session.type",
                    event.get("event_id"),
                )
                return
            audio_in = (session.get("audio") or {}).get("input") or {}
            audio_out = (session.get("audio") or {}).get("output") or {}
            voice, voice_param = audio_out.get("voice"), "session.audio.output.voice"
        else:
            audio_in = {
                k: v
                for k, v in (
                    ("turn_detection", session.get("turn_detection", ...)),
                    ("transcription", session.get("input_audio_transcription", ...)),
                )
                if v is not ...
            }
            voice, voice_param = session.get("voice"), "session.voice"
        if voice is not None:
            if voice not in self._voices(conn):
                await self._error(
                    conn,
                    "invalid_value",
                    f"Invalid value: '{voice}'. Supported values are: "
                    + ", ".join(f"'{v}'" for v in sorted(self._voices(conn)))
                    + ".",
                    voice_param,
                    event.get("event_id"),
                )
                return
            if conn.audio_sent and voice != conn.voice:
                await self._error(
                    conn,
                    "cannot_update_voice",
                    "Cannot update a conversation's voice if assistant audio is present.",
                    voice_param,
                    event.get("event_id"),
                )
                return
            conn.voice = voice
        if "instructions" in session:
            conn.instructions = session["instructions"]
        if "tools" in session:
            conn.tools = list(session["tools"])
        if "turn_detection" in audio_in:
            conn.turn_detection = audio_in["turn_detection"]
        if "transcription" in audio_in:
            conn.transcription = audio_in["transcription"] is not None
        await self._send(conn, "session.updated", session=self._session_object(conn))

    # -- client events -------------------------------------------------------------------------

    async def _on_frame(self, conn: _Conn, frame: str | bytes) -> None:
        try:
            event = json.loads(frame)
        except ValueError:
            await self._error(conn, "invalid_json", "The server could not parse the event as JSON.")
            self._violation(
                "client", conn.interface, "<json>", Problem("invalid_json", None, "not JSON")
            )
            return
        problems = validate(conn.interface, "client", event)
        kind = event.get("type") if isinstance(event, dict) else None
        if problems:
            for problem in problems:
                self._violation("client", conn.interface, str(kind), problem)
            first = problems[0]
            await self._error(
                conn,
                first.code,
                first.message,
                first.param,
                event.get("event_id") if isinstance(event, dict) else None,
            )
            return
        conn.received.append(event)
        self.received.append((conn.interface, event))
        handler = {
            "session.update": self._session_update,
            "input_audio_buffer.append": self._append,
            "input_audio_buffer.commit": self._commit,
            "input_audio_buffer.clear": self._clear,
            "conversation.item.create": self._item_create,
            "conversation.item.truncate": self._truncate,
            "conversation.item.delete": self._delete,
            "response.create": self._response_create,
            "response.cancel": self._response_cancel,
        }.get(kind)  # type: ignore[arg-type]
        if handler is None:
            await self._error(
                conn, "unsupported_event", f"The stand-in does not implement {kind}.", "type"
            )
            return
        await handler(conn, event)

    async def _append(self, conn: _Conn, event: dict[str, Any]) -> None:
        pcm = base64.b64decode(event["audio"])
        conn.buffer += pcm
        td = conn.turn_detection
        if not td:
            return
        # Energy VAD over 20 ms blocks: good enough for synthetic speech followed by silence.
        samples = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2").astype(np.float32) / 32768
        block = 480
        silence_needed = int(td.get("silence_duration_ms") or 500)
        end_ms = conn.buffer_start_ms + len(conn.buffer) // 48
        for offset in range(0, len(samples), block):
            chunk = samples[offset : offset + block]
            rms = float(np.sqrt(np.mean(chunk**2))) if len(chunk) else 0.0
            chunk_ms = len(chunk) * 1000 // 24000
            at_ms = end_ms - (len(samples) - offset) * 1000 // 24000
            if rms >= self.config.vad_threshold:
                conn.vad.silence_ms = 0
                if not conn.vad.speaking:
                    conn.vad.speaking = True
                    conn.vad.start_ms = at_ms
                    conn.vad.item_id = self._id("item")
                    if (
                        td.get("interrupt_response", True)
                        and conn.response
                        and not conn.response.done()
                    ):
                        conn.response.cancel()
                    await self._send(
                        conn,
                        "input_audio_buffer.speech_started",
                        audio_start_ms=at_ms,
                        item_id=conn.vad.item_id,
                    )
            elif conn.vad.speaking:
                conn.vad.silence_ms += chunk_ms
                if conn.vad.silence_ms >= silence_needed:
                    conn.vad.speaking = False
                    conn.vad.silence_ms = 0
                    item_id = conn.vad.item_id
                    await self._send(
                        conn,
                        "input_audio_buffer.speech_stopped",
                        audio_end_ms=at_ms,
                        item_id=item_id,
                    )
                    await self._commit_buffer(conn, item_id)
                    if td.get("create_response", True):
                        await self._start_response(conn, {})

    async def _commit(self, conn: _Conn, event: dict[str, Any]) -> None:
        if len(conn.buffer) < 48 * 100:
            await self._error(
                conn,
                "input_audio_buffer_commit_empty",
                f"Error committing input audio buffer: buffer too small. Expected at least "
                f"100ms of audio, but buffer only has {len(conn.buffer) / 48:.2f}ms of audio.",
                None,
                event.get("event_id"),
            )
            return
        await self._commit_buffer(conn, self._id("item"))

    def _heard(self) -> str:
        turn, self.user_turns = self.user_turns, self.user_turns + 1
        transcripts = self.config.transcripts
        return transcripts[turn] if turn < len(transcripts) else self.config.transcript

    async def _commit_buffer(self, conn: _Conn, item_id: str) -> None:
        audio_ms = len(conn.buffer) // 48
        conn.buffer_start_ms += audio_ms
        conn.buffer.clear()
        previous = conn.items[-1]["id"] if conn.items else None
        await self._send(
            conn, "input_audio_buffer.committed", item_id=item_id, previous_item_id=previous
        )
        item = {
            "id": item_id,
            "object": "realtime.item",
            "type": "message",
            "role": "user",
            "status": "completed",
            "content": [{"type": "input_audio", "transcript": None}],
        }
        conn.item_audio_ms[item_id] = audio_ms
        await self._add_item(conn, item)
        if conn.transcription:
            heard = self._heard()
            item["content"][0]["transcript"] = heard
            await self._send(
                conn,
                "conversation.item.input_audio_transcription.completed",
                item_id=item_id,
                content_index=0,
                transcript=heard,
                usage={"type": "duration", "seconds": audio_ms / 1000},
            )

    async def _clear(self, conn: _Conn, event: dict[str, Any]) -> None:
        conn.buffer_start_ms += len(conn.buffer) // 48
        conn.buffer.clear()
        conn.vad = _Vad()
        await self._send(conn, "input_audio_buffer.cleared")

    async def _add_item(self, conn: _Conn, item: dict[str, Any]) -> None:
        previous = conn.items[-1]["id"] if conn.items else None
        conn.items.append(item)
        await self._send(conn, "conversation.item.added", item=item, previous_item_id=previous)
        if conn.interface == "ga":
            await self._send(conn, "conversation.item.done", item=item, previous_item_id=previous)

    async def _item_create(self, conn: _Conn, event: dict[str, Any]) -> None:
        item = dict(event["item"])
        if "id" in item and any(i["id"] == item["id"] for i in conn.items):
            await self._error(
                conn,
                "item_already_exists",
                f"Item with id '{item['id']}' already exists.",
                "item.id",
                event.get("event_id"),
            )
            return
        if item.get("type") == "function_call_output" and not any(
            i.get("type") == "function_call" and i.get("call_id") == item["call_id"]
            for i in conn.items
        ):
            await self._error(
                conn,
                "invalid_value",
                f"No tool call found for function call output with call_id {item['call_id']}.",
                "item.call_id",
                event.get("event_id"),
            )
            return
        item.setdefault("id", self._id("item"))
        item["object"] = "realtime.item"
        item["status"] = "completed"
        await self._add_item(conn, item)

    def _find(self, conn: _Conn, item_id: str) -> dict[str, Any] | None:
        return next((i for i in conn.items if i["id"] == item_id), None)

    async def _truncate(self, conn: _Conn, event: dict[str, Any]) -> None:
        item = self._find(conn, event["item_id"])
        if item is None or item.get("role") != "assistant":
            await self._error(
                conn,
                "invalid_value",
                f"Assistant message item with id '{event['item_id']}' not found.",
                "item_id",
                event.get("event_id"),
            )
            return
        length = conn.item_audio_ms.get(item["id"], 0)
        if event["audio_end_ms"] > length:
            await self._error(
                conn,
                "invalid_value",
                f"Audio content of {length}ms is shorter than {event['audio_end_ms']}ms.",
                "audio_end_ms",
                event.get("event_id"),
            )
            return
        for part in item.get("content", []):
            part["transcript"] = ""  # the service drops the transcript of a truncated item
        conn.item_audio_ms[item["id"]] = event["audio_end_ms"]
        await self._send(
            conn,
            "conversation.item.truncated",
            item_id=item["id"],
            content_index=event["content_index"],
            audio_end_ms=event["audio_end_ms"],
        )

    async def _delete(self, conn: _Conn, event: dict[str, Any]) -> None:
        item = self._find(conn, event["item_id"])
        if item is None:
            await self._error(
                conn,
                "invalid_value",
                f"Item with item_id '{event['item_id']}' not found.",
                "item_id",
                event.get("event_id"),
            )
            return
        conn.items.remove(item)
        await self._send(conn, "conversation.item.deleted", item_id=item["id"])

    async def _response_create(self, conn: _Conn, event: dict[str, Any]) -> None:
        params = event.get("response") or {}
        if params.get("conversation") != "none" and conn.response and not conn.response.done():
            await self._error(
                conn,
                "conversation_already_has_active_response",
                "Conversation already has an active response in progress.",
                None,
                event.get("event_id"),
            )
            return
        await self._start_response(conn, params)

    async def _start_response(self, conn: _Conn, params: dict[str, Any]) -> None:
        task = asyncio.create_task(self._respond(conn, params))
        task.add_done_callback(self._log_failure)
        if params.get("conversation") == "none":
            conn.other_responses.add(task)
            task.add_done_callback(conn.other_responses.discard)
        else:
            conn.response = task

    @staticmethod
    def _log_failure(task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            _LOGGER.error("Stand-in response failed", exc_info=task.exception())

    async def _response_cancel(self, conn: _Conn, event: dict[str, Any]) -> None:
        if conn.response is None or conn.response.done():
            await self._error(
                conn,
                "response_cancel_not_active",
                "Cancellation failed: no active response found.",
                None,
                event.get("event_id"),
            )
            return
        conn.response.cancel()

    # -- responses -----------------------------------------------------------------------------

    def _choose(self, conn: _Conn, params: dict[str, Any]) -> tuple[str, ToolScript | None]:
        """What to do: ("call", script), ("say", None) with the text in the script slot."""
        offered = {t.get("name") for t in (params.get("tools") or conn.tools)}
        last = conn.items[-1] if conn.items else {}
        for script in self.config.tools:
            name = offered_name(script.tool, offered)
            if name is not None and params.get("conversation") != "none":
                chosen = dataclasses.replace(script, tool=name)
                if last.get("type") == "function_call_output":
                    return "final", chosen
                return "call", chosen
        return "say", None

    def _text_for(self, params: dict[str, Any], action: str, script: ToolScript | None) -> str:
        if action == "final" and script:
            return script.final
        instructions = params.get("instructions") or ""
        match = re.search(r"\bsay\b[^:]*:\s*(.+)", instructions, re.IGNORECASE | re.DOTALL)
        if match and params.get("conversation") == "none":
            return match.group(1).strip().strip("\"'")
        return self.config.reply

    def _usage(self, conn: _Conn, out_text: str, out_audio_ms: int) -> dict[str, Any]:
        """Plausible, deterministic token counts (10 tokens/s of user audio, 20/s of model audio)."""
        text_in = (
            len(conn.instructions) // 4
            + len(json.dumps(conn.tools)) // 4
            + sum(
                len(json.dumps(i.get("content") or i.get("arguments") or i.get("output") or ""))
                // 4
                for i in conn.items
            )
        )
        audio_in = sum(ms // 100 for ms in conn.item_audio_ms.values())
        cached = min(conn.last_input_tokens, text_in + audio_in)
        conn.last_input_tokens = text_in + audio_in
        cached_text = min(cached, text_in)
        cached_audio = cached - cached_text
        out_text_tokens = len(out_text) // 4 + 1
        out_audio = out_audio_ms // 50
        details: dict[str, Any] = {
            "text_tokens": text_in,
            "audio_tokens": audio_in,
            "cached_tokens": cached,
        }
        if conn.interface == "ga":
            details["cached_tokens_details"] = {
                "text_tokens": cached_text,
                "audio_tokens": cached_audio,
            }
        return {
            "total_tokens": text_in + audio_in + out_text_tokens + out_audio,
            "input_tokens": text_in + audio_in,
            "output_tokens": out_text_tokens + out_audio,
            "input_token_details": details,
            "output_token_details": {"text_tokens": out_text_tokens, "audio_tokens": out_audio},
        }

    def _response_object(
        self, conn: _Conn, rid: str, status: str, params: dict[str, Any], **extra: Any
    ) -> dict[str, Any]:
        response: dict[str, Any] = {
            "id": rid,
            "object": "realtime.response",
            "status": status,
            "output": extra.pop("output", []),
            "metadata": params.get("metadata"),
        }
        response["output_modalities" if conn.interface == "ga" else "modalities"] = (
            ["audio"] if conn.interface == "ga" else ["audio", "text"]
        )
        return response | extra

    async def _respond(self, conn: _Conn, params: dict[str, Any]) -> None:
        rid = self._id("resp")
        oob = params.get("conversation") == "none"
        if self.config.garbage:
            await self._garbage(conn)
        await self._send(
            conn,
            "response.created",
            response=self._response_object(conn, rid, "in_progress", params),
        )
        action, script = self._choose(conn, params)
        item_id = self._id("item")
        state = {"text": "", "audio_ms": 0, "item": None}
        try:
            if self.config.first_output_delay:
                await asyncio.sleep(self.config.first_output_delay)
            if action == "call" and script:
                item = await self._emit_call(conn, rid, item_id, script, oob)
            else:
                item = await self._emit_speech(
                    conn,
                    rid,
                    item_id,
                    text=self._text_for(params, action, script),
                    oob=oob,
                    state=state,
                )
            status, output = "completed", [item]
        except asyncio.CancelledError:
            status = "cancelled"
            item = state["item"]
            output = [item] if item else []
            if item:
                item["status"] = "incomplete"
        usage = self._usage(conn, state["text"], state["audio_ms"])
        extra: dict[str, Any] = {"usage": usage, "output": output}
        if status == "cancelled":
            extra["status_details"] = {"type": "cancelled", "reason": "client_cancelled"}
        with contextlib.suppress(ConnectionClosed):
            await self._send(
                conn,
                "response.done",
                response=self._response_object(conn, rid, status, params, **extra),
            )
        self.responses_done += 1

    async def _emit_call(
        self, conn: _Conn, rid: str, item_id: str, script: ToolScript, oob: bool
    ) -> dict[str, Any]:
        call_id = self._id("call")
        arguments = json.dumps(script.arguments)
        item: dict[str, Any] = {
            "id": item_id,
            "object": "realtime.item",
            "type": "function_call",
            "status": "in_progress",
            "call_id": call_id,
            "name": script.tool,
            "arguments": "",
        }
        await self._send(
            conn, "response.output_item.added", response_id=rid, output_index=0, item=item
        )
        if not oob:
            conn.items.append(item)
            await self._send(conn, "conversation.item.added", item=dict(item))
        common = {"response_id": rid, "item_id": item_id, "output_index": 0, "call_id": call_id}
        await self._send(conn, "response.function_call_arguments.delta", delta=arguments, **common)
        await self._send(
            conn,
            "response.function_call_arguments.done",
            arguments=arguments,
            **({"name": script.tool} if conn.interface == "ga" else {}),  # GA only
            **common,
        )
        item["arguments"] = arguments
        item["status"] = "completed"
        await self._send(
            conn, "response.output_item.done", response_id=rid, output_index=0, item=item
        )
        if not oob and conn.interface == "ga":
            await self._send(conn, "conversation.item.done", item=item)
        return item

    async def _emit_speech(
        self, conn: _Conn, rid: str, item_id: str, *, text: str, oob: bool, state: dict[str, Any]
    ) -> dict[str, Any]:
        part_type = "output_audio" if conn.interface == "ga" else "audio"
        item: dict[str, Any] = {
            "id": item_id,
            "object": "realtime.item",
            "type": "message",
            "role": "assistant",
            "status": "in_progress",
            "content": [],
        }
        state["item"] = item
        await self._send(
            conn, "response.output_item.added", response_id=rid, output_index=0, item=item
        )
        if not oob:
            conn.items.append(item)
            await self._send(conn, "conversation.item.added", item=dict(item))
        common = {"response_id": rid, "item_id": item_id, "output_index": 0, "content_index": 0}
        await self._send(
            conn, "response.content_part.added", part={"type": "audio", "transcript": ""}, **common
        )
        pcm = audio.speech(text, self.config.audio)
        words = text.split(" ")
        step = self.config.delta_ms * 48
        chunks = [pcm[i : i + step] for i in range(0, len(pcm), step)]
        item["content"] = [{"type": part_type, "transcript": ""}]
        for index, chunk in enumerate(chunks):
            if index < len(words):
                delta = words[index] + (" " if index < len(words) - 1 else "")
                state["text"] += delta
                await self._send(
                    conn, "response.output_audio_transcript.delta", delta=delta, **common
                )
            await self._send(
                conn,
                "response.output_audio.delta",
                delta=base64.b64encode(chunk).decode(),
                **common,
            )
            state["audio_ms"] += len(chunk) // 48
            conn.item_audio_ms[item_id] = state["audio_ms"]
            conn.audio_sent = True
            if self.config.delta_interval:
                await asyncio.sleep(self.config.delta_interval)
            else:
                await asyncio.sleep(0)
        rest = " ".join(words[len(chunks) :])
        if rest:
            state["text"] += (
                " " if state["text"] and not state["text"].endswith(" ") else ""
            ) + rest
            await self._send(conn, "response.output_audio_transcript.delta", delta=rest, **common)
        await self._send(conn, "response.output_audio.done", **common)
        await self._send(conn, "response.output_audio_transcript.done", transcript=text, **common)
        await self._send(
            conn, "response.content_part.done", part={"type": "audio", "transcript": text}, **common
        )
        item["status"] = "completed"
        item["content"] = [{"type": part_type, "transcript": text}]
        await self._send(
            conn, "response.output_item.done", response_id=rid, output_index=0, item=item
        )
        if not oob and conn.interface == "ga":
            await self._send(conn, "conversation.item.done", item=item)
        return item
