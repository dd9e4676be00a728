"""A stand-in for OpenAI's GPT-Live service: full duplex, scripted, driven by the input audio clock.

SIMULATION: nothing here talks to OpenAI. It runs on 127.0.0.1 (``/v1/live/sessions``), validates
every client event against ``openai.types.live``'s ``ClientEvent`` and every event it sends against
``ServerEvent`` (undeclared keys are errors, as the service rejects unknown fields), and records
problems in ``violations``.

Time: like the service, a session's clock moves only with input audio. Each 20 ms block of
``session.input_audio.append`` advances the clock, runs the voice activity detector and releases
output audio up to ``output_lead_ms`` ahead of the clock: its voice, and silence (zeros) in between,
as the service streams it (``continuous_output``). A client that stops sending audio stops the
conversation. Everything is deterministic for a given input stream.

Behaviour (the parts of the model a voice client relies on):
- talks when the user stops: speech (RMS above ``vad_threshold``) for ``min_speech_ms``, then
  ``silence_ms`` of silence ends the user's turn; it "hears" the next scripted transcript (it cannot
  recognize speech), sent as ``session.input_transcript.delta`` fragments every 200 ms of speech
  (no event ends a turn, as with the service), and answers ``reply`` (or the next of ``replies``);
- stops when it hears the user over its own voice: while its answer plays on the session timeline,
  ``barge_in_ms`` of input above ``barge_in_threshold`` ends its answer (the rest is never sent) and
  starts a user turn. Echo of its own voice leaking into the microphone interrupts it the same way,
  as with OpenAI; silence or low-level input does not;
- delegates when what it hears is a house request (``delegate_pattern``): it sends
  ``session.delegation.created`` (no task text), waits for ``session.commentary.append`` with that
  delegation id and speaks the commentary's text; ``session.thinking.append`` is silent. A
  delegation the client never answers leaves it silent about it: the session goes on (it listens,
  answers the next turns, reports usage) and nothing waits on it; a late commentary is still
  spoken;
- pauses mid-answer (``pause_ms``): silence in the middle of each answer, no event marking it;
- reports cumulative usage (``session.usage.updated``) every ``usage_interval_ms`` of the clock;
  after ``session.close`` it sends the rest of the answer it is giving (the service drains), a last
  usage and ``session.closed`` (``close_requested``); at its own limit ``max_session_ms`` it sends
  ``session.closed`` with ``expired``; ``close_during`` ends a session on its side once, halfway
  through its first answer or right after its first delegation (``close_reason``).

Audio formats: every ``AudioFormat`` of the types: ``audio/pcm`` at 16 or 24 kHz, ``audio/pcmu`` and
``audio/pcma`` (G.711, g711.py) at 8 kHz, the rate the types' own description gives for G.711 (any
other rate is refused with ``invalid_value`` naming it, as the types take any integer there).

Errors: a client event the types reject gets an ``error`` (``unknown_parameter``,
``missing_required_parameter``, ``invalid_value``) and the session goes on, as a command error does
not close a Live session; an error in ``session.start`` (the startup) gets an ``error`` and no
``session.started``, and the stand-in then closes the WebSocket (code 1008) so that a client waiting
for ``session.started`` is not left hanging (the code is an assumption: OpenAI does not document
what follows a refused start).

Not simulated: Responses delegation (a ``session.start`` asking for ``delegation.type``
``responses`` is refused with ``invalid_value`` naming the key, which the service would accept, and
is not counted in ``client_violations``; ``response.create`` and ``response.item.create`` in a
client-delegation session are the client's mistake, as with the service; ``response.event`` is
never sent). Not simulated and not checked: speech recognition (the transcripts are
scripted), what the model says (scripted replies; tones or espeak), WebRTC, SIP and sideband
connections (their events are only validated), ``store`` and forking, custom voices' sound.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import itertools
import json
import logging
import re
import ssl
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Literal, get_args

import numpy as np
from openai.types.live.built_in_voice import BuiltInVoice
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from tests.realtime_standin import audio
from tests.realtime_standin.validation import Problem

from . import g711
from .validation import validate

_LOGGER = logging.getLogger(__name__)

LIVE_MODELS = frozenset({"gpt-live-1", "gpt-live-1.1"})
LIVE_VOICES = frozenset(get_args(BuiltInVoice))
PATH = "/v1/live/sessions"
BLOCK_MS = 20
G711_RATE = 8000
MAX_APPEND_TOKENS = 500
# A house request: what HA's agent must do, so the model delegates it (the default script).
HOUSE_REQUEST = (
    r"\b(turn|switch|lights?|lamps?|lock|unlock|open|close|thermostat|heating|timer|dim|"
    r"brighten|garage|blinds?|fan)\b"
)
Access = Literal["full", "model_not_found", "http_403"]
CloseReason = Literal["close_requested", "expired", "content", "remote_hangup", "connection_lost"]


class LiveProtocolError(AssertionError):
    """The stand-in was about to send an event that the openai types reject."""


@dataclass(slots=True)
class LiveStandinConfig:
    api_key: str | None = None  # None accepts any key; else other keys are refused
    # a wrong key: an error event invalid_api_key and close 3000, or HTTP 401 at the handshake
    auth_failure: Literal["close", "http"] = "close"
    access: Access = "full"  # a key without Live access: model_not_found or HTTP 403
    models: frozenset[str] = LIVE_MODELS
    transcript: str = "What time is it?"  # what it "hears" in any user turn
    transcripts: tuple[str, ...] = ()  # what it hears in the first user turns, one each
    reply: str = "It is twelve o'clock."  # its answer to what is not a house request
    replies: tuple[str, ...] = ()  # its first such answers, one each (then ``reply``)
    delegate_pattern: str = HOUSE_REQUEST  # heard text matching this (any case) is delegated
    audio: Literal["tone", "espeak"] = "tone"
    vad_threshold: float = 0.02  # RMS (full scale 1.0) above which it hears speech
    min_speech_ms: int = 100  # shorter bursts are noise, not a turn
    silence_ms: int = 500  # silence after speech that ends the user's turn
    barge_in_threshold: float = 0.02  # RMS that counts as the user speaking over its voice
    barge_in_ms: int = 200  # that long over its voice stops its answer
    answer_delay_ms: int = 0  # clock between the end of the user's turn and its first audio
    output_lead_ms: int = 200  # how far ahead of the clock it sends its audio
    # Output audio flows all the time, silence (zeros) between answers, as the service streams it
    # (LiveKit's GPT-Live client: "silence is all zeros"); False: only its answers are sent.
    continuous_output: bool = True
    delta_ms: int = 100  # audio per session.output_audio.delta (a multiple of 20)
    usage_interval_ms: int = 60_000  # session.usage.updated every this much clock
    max_session_ms: int | None = None  # its own limit: session.closed "expired"
    # its answers pause this long in their middle (at a word), as the model does for a breath or
    # a thought; no event marks the pause, the output is silence there
    pause_ms: int = 0
    # the service ends a session on its side, once: halfway through its first answer, or right
    # after its first delegation (before the client's commentary), with ``close_reason``
    close_during: Literal["answer", "delegation"] | None = None
    close_reason: CloseReason = "connection_lost"


@dataclass(slots=True)
class LiveConnectionRecord:
    path: str
    auth: str  # "bearer" | "none" | "other"
    model: str | None = None
    refused: str | None = None  # why the connection or its session.start was refused


@dataclass(slots=True, eq=False)
class _Speech:
    """One answer on the session timeline: ``pcm`` at the session rate, from ``start_ms`` on."""

    text: str
    pcm: bytes
    start_ms: int
    sent: int = 0  # bytes sent
    words_sent: int = 0


@dataclass(slots=True, eq=False)
class _Session:
    ws: ServerConnection
    record: LiveConnectionRecord
    started: bool = False
    closing: bool = False
    ended: bool = False  # session.closed was sent
    id: str = ""
    model: str = ""
    rate: int = 24000
    encoding: str = "audio/pcm"  # or audio/pcmu, audio/pcma (G.711, a byte a sample)
    voice: Any = "marin"
    instructions: str | None = None
    delegation: dict[str, Any] | None = None
    input: list[dict[str, Any]] | None = None
    expires_at: int = 0
    clock_ms: int = 0  # the session's clock: input audio received since session.started
    pending: bytearray = field(default_factory=bytearray)  # input not yet a whole block
    muted: bool = False
    speech_ms: int = 0  # user speech heard in the current turn
    speech_start_ms: int | None = None
    silence_ms: int = 0
    barge_ms: int = 0  # input above the barge-in threshold while it speaks
    heard: str = ""  # the transcript of the current user turn
    words: list[str] | None = None  # its words not yet sent as input transcript fragments
    fragment_start_ms: int = 0
    speaking: _Speech | None = None  # the answer whose audio is being sent
    queue: list[str] = field(default_factory=list)  # texts to speak after the current one
    out_ms: int = 0  # the session timeline up to which output audio has been sent
    talk_until_ms: int = 0  # where its voice ends on the timeline
    delegations: dict[str, bool] = field(default_factory=dict)  # id -> answered
    next_usage_ms: int = 0
    received: list[dict[str, Any]] = field(default_factory=list)


class LiveStandinServer:
    """``async with LiveStandinServer(config) as s: s.url`` (``ws://127.0.0.1:PORT/v1/live/sessions``)."""

    def __init__(
        self,
        config: LiveStandinConfig | None = None,
        *,
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.config = config or LiveStandinConfig()
        self._port = port
        self._ssl = ssl_context  # wss:// as OpenAI is reached; None: ws://
        self._server: Server | None = None
        self._sessions: set[_Session] = set()
        self._changed = asyncio.Condition()  # notified when a connection comes or goes
        self._ids = itertools.count(1)
        self.violations: list[tuple[str, str, Problem]] = []  # (side, event type, problem)
        self.received: list[dict[str, Any]] = []  # valid client events, audio appends left out
        self.sent: list[dict[str, Any]] = []  # events sent, audio deltas left out
        self.connections: list[LiveConnectionRecord] = []
        self.user_turns = 0  # user turns heard, over all sessions
        self.replies_given = 0  # answers to user turns (not delegated), over all sessions
        self.interruptions = 0  # answers stopped by speech over its voice
        self.answers: list[str] = []  # texts it started to speak, in order
        self.scripted_closes = 0  # sessions it closed for ``close_during``

    # -- lifecycle -----------------------------------------------------------------------------

    @property
    def port(self) -> int:
        assert self._server is not None, "not started"
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def base_url(self) -> str:
        """The API base for a client that appends ``/live/sessions`` itself (the openai SDK)."""
        scheme = "ws" if self._ssl is None else "wss"
        return f"{scheme}://127.0.0.1:{self.port}/v1"

    @property
    def url(self) -> str:
        return f"{self.base_url}/live/sessions"

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
        _LOGGER.info("SIMULATION: stand-in GPT-Live server on %s", self.url)

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        await self._server.wait_closed()
        self._server = None

    async def __aenter__(self) -> LiveStandinServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- test controls -------------------------------------------------------------------------

    def _violation(self, side: str, kind: str, problem: Problem) -> None:
        """Record a protocol violation and log it at once, so that a killed process keeps it."""
        self.violations.append((side, kind, problem))
        _LOGGER.warning("protocol violation: %s %s %s", side, kind, problem)

    @property
    def client_violations(self) -> list[tuple[str, str, Problem]]:
        return [v for v in self.violations if v[0] == "client"]

    @property
    def live_connections(self) -> int:
        return len(self._sessions)

    async def wait_live(self, count: int, within: float = 5.0) -> None:
        """Wait until exactly ``count`` connections are open."""
        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(lambda: len(self._sessions) == count)

    def sessions(self) -> list[dict[str, Any]]:
        """A snapshot of each started session: its configuration and clock."""
        return [
            self._resource(s) | {"clock_ms": s.clock_ms, "muted": s.muted}
            for s in self._sessions
            if s.started
        ]

    def sent_of(self, kind: str) -> list[dict[str, Any]]:
        return [event for event in self.sent if event["type"] == kind]

    def received_of(self, kind: str) -> list[dict[str, Any]]:
        return [event for event in self.received if event["type"] == kind]

    async def close_sessions(self, reason: CloseReason = "expired") -> None:
        """End every started session as the service does on its side (``session.closed``)."""
        for session in list(self._sessions):
            if session.started:
                await self._close(session, reason)

    async def send_info(self, code: str, message: str) -> None:
        """An ``info`` notice to every started session (a client must take unknown ones)."""
        for session in list(self._sessions):
            if session.started:
                await self._send(session, "info", code=code, message=message)

    def drop_connections(self) -> int:
        """Abort every TCP connection (no close frame, no ``session.closed``): a network failure."""
        sessions = list(self._sessions)
        for session in sessions:
            session.ws.transport.abort()
        return len(sessions)

    # -- handshake -----------------------------------------------------------------------------

    @staticmethod
    def _auth(request: Request) -> tuple[str, str | None]:
        bearer = request.headers.get("Authorization", "")
        if bearer.startswith("Bearer "):
            return "bearer", bearer.removeprefix("Bearer ")
        return ("other" if bearer else "none"), None

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        scheme, key = self._auth(request)
        path = request.path.partition("?")[0]
        if path != PATH:
            self.connections.append(LiveConnectionRecord(request.path, scheme, refused="http_404"))
            return connection.respond(HTTPStatus.NOT_FOUND, "Not Found\n")
        wrong = self.config.api_key is not None and key != self.config.api_key
        if key is None or (wrong and self.config.auth_failure == "http"):
            self.connections.append(LiveConnectionRecord(request.path, scheme, refused="http_401"))
            return connection.respond(HTTPStatus.UNAUTHORIZED, "Incorrect API key provided.\n")
        if self.config.access == "http_403":
            self.connections.append(LiveConnectionRecord(request.path, scheme, refused="http_403"))
            return connection.respond(
                HTTPStatus.FORBIDDEN, "You do not have access to the Live API.\n"
            )
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        request = ws.request
        assert request is not None
        record = LiveConnectionRecord(request.path, self._auth(request)[0])
        self.connections.append(record)
        session = _Session(ws, record)
        if self.config.api_key is not None and self._auth(request)[1] != self.config.api_key:
            record.refused = "invalid_api_key"
            await self._error(session, "invalid_api_key", "Incorrect API key provided.")
            await ws.close(3000, "invalid_api_key")
            return
        self._sessions.add(session)
        async with self._changed:
            self._changed.notify_all()
        try:
            async for frame in ws:
                await self._on_frame(session, frame)
        except ConnectionClosed:
            pass
        finally:
            self._sessions.discard(session)
            async with self._changed:
                self._changed.notify_all()

    # -- sending -------------------------------------------------------------------------------

    def _id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids):06d}"

    async def _send(self, to: _Session, kind: str, **fields: Any) -> None:
        # Output audio deltas on the primary WebSocket carry no event_id (see OutputAudioDeltaEvent).
        event_id = {} if kind == "session.output_audio.delta" else {"event_id": self._id("event")}
        event = {"type": kind, **event_id, **fields}
        problems = validate("server", event)
        if problems:
            for problem in problems:
                self._violation("server", kind, problem)
            raise LiveProtocolError(f"stand-in would send an invalid {kind}: {problems}")
        if kind != "session.output_audio.delta":
            self.sent.append(event)
        await to.ws.send(json.dumps(event))

    async def _error(
        self,
        session: _Session,
        code: str,
        message: str,
        param: str | None = None,
        client_event_id: Any = None,
    ) -> None:
        error: dict[str, Any] = {"type": "invalid_request_error", "code": code, "message": message}
        if param is not None:
            error["param"] = param
        ids = {"client_event_id": client_event_id} if isinstance(client_event_id, str) else {}
        await self._send(session, "error", error=error | ids, **ids)

    async def _reject(
        self, session: _Session, kind: str, problem: Problem, client_event_id: Any
    ) -> None:
        """A client mistake: recorded as a violation and answered with an ``error``."""
        self._violation("client", kind, problem)
        await self._error(session, problem.code, problem.message, problem.param, client_event_id)

    def _resource(self, session: _Session) -> dict[str, Any]:
        resource: dict[str, Any] = {
            "id": session.id,
            "expires_at": session.expires_at,
            "model": session.model,
            "status": "active",
            "audio": {
                "format": {"type": session.encoding, "rate": session.rate},
                "output": {"voice": session.voice},
            },
            "delegation": session.delegation,
            "instructions": session.instructions,
            "store": False,
        }
        if session.input is not None:
            resource["input"] = session.input
        return resource

    # -- client events -------------------------------------------------------------------------

    async def _on_frame(self, session: _Session, frame: str | bytes) -> None:
        try:
            event = json.loads(frame)
        except ValueError:
            self._violation("client", "<json>", Problem("invalid_json", None, "not JSON"))
            await self._error(session, "invalid_json", "The server could not parse the event.")
            return
        kind = event.get("type") if isinstance(event, dict) else None
        client_event_id = event.get("event_id") if isinstance(event, dict) else None
        problems = validate("client", event)
        if problems:
            for problem in problems:
                self._violation("client", str(kind), problem)
            first = problems[0]
            await self._error(session, first.code, first.message, first.param, client_event_id)
            if kind == "session.start" and not session.started:
                await self._refuse(session, "invalid_session_start")
            return
        if kind != "session.input_audio.append":
            self.received.append(event)
        session.received.append(event)
        if session.closing:
            return
        if kind == "session.start":
            await self._start(session, event)
            return
        if not session.started:
            problem = Problem(
                "session_not_started", "type", "Send session.start and wait for session.started."
            )
            self._violation("client", str(kind), problem)
            await self._error(session, problem.code, problem.message, "type", client_event_id)
            return
        handler = {
            "session.input_audio.append": self._append,
            "session.input_audio.mute": self._mute,
            "session.input_audio.unmute": self._mute,
            "session.instructions.append": self._context_append,
            "session.thinking.append": self._context_append,
            "session.commentary.append": self._context_append,
            "session.update": self._update,
            "session.close": self._close_requested,
        }.get(str(kind))
        if handler is None:  # response.create / response.item.create: Responses delegation
            problem = Problem(
                "invalid_value",
                "type",
                f"{kind} needs Responses delegation; this session delegates to the client.",
            )
            self._violation("client", str(kind), problem)
            await self._error(session, problem.code, problem.message, "type", client_event_id)
            return
        await handler(session, event)

    async def _refuse(self, session: _Session, why: str) -> None:
        session.record.refused = why
        session.closing = True
        await session.ws.close(1008, why)

    async def _start(self, session: _Session, event: dict[str, Any]) -> None:
        eid = event.get("event_id")
        if session.started:
            problem = Problem("session_already_started", None, "The session has started.")
            await self._reject(session, "session.start", problem, eid)
            return
        config = event["session"]
        model = config["model"]
        session.record.model = model
        if self.config.access == "model_not_found" or model not in self.config.models:
            await self._error(
                session,
                "model_not_found",
                f"The model '{model}' does not exist or you do not have access to it.",
                "session.model",
                eid,
            )
            await self._refuse(session, "model_not_found")
            return
        audio_config = config.get("audio") or {}
        audio_format = audio_config.get("format") or {"type": "audio/pcm", "rate": 24000}
        voice = (audio_config.get("output") or {}).get("voice") or "marin"
        delegation = config.get("delegation")
        limit: Problem | None = None  # valid, but not what the stand-in implements
        if audio_format["type"] != "audio/pcm" and audio_format["rate"] != G711_RATE:
            # the types take any integer; their own description: "G.711 audio uses 8000 Hz"
            mistake = Problem(
                "invalid_value",
                "session.audio.format.rate",
                f"Invalid value: {audio_format['rate']}. {audio_format['type']} audio uses "
                f"{G711_RATE} Hz.",
            )
            await self._reject(session, "session.start", mistake, eid)
            await self._refuse(session, mistake.code)
            return
        if delegation is not None and delegation["type"] != "client":
            limit = Problem(
                "invalid_value",
                "session.delegation.type",
                "The stand-in implements client delegation only.",
            )
        if limit is not None:
            await self._error(session, limit.code, limit.message, limit.param, eid)
            await self._refuse(session, limit.code)
            return
        if isinstance(voice, str) and voice not in LIVE_VOICES:
            mistake = Problem(
                "invalid_value",
                "session.audio.output.voice",
                f"Invalid value: '{voice}'. Supported values are: "
                + ", ".join(f"'{v}'" for v in sorted(LIVE_VOICES))
                + ".",
            )
            await self._reject(session, "session.start", mistake, eid)
            await self._refuse(session, mistake.code)
            return
        session.started = True
        session.id = self._id("live_sess")
        session.model = model
        session.rate = audio_format["rate"]
        session.encoding = audio_format["type"]
        session.voice = voice
        session.instructions = config.get("instructions")
        session.delegation = delegation
        session.input = config.get("input")
        session.expires_at = int(time.time()) + 3600
        session.next_usage_ms = self.config.usage_interval_ms
        ids = {"client_event_id": eid} if isinstance(eid, str) else {}
        await self._send(session, "session.started", session=self._resource(session), **ids)

    async def _mute(self, session: _Session, event: dict[str, Any]) -> None:
        session.muted = event["type"].endswith(".mute")
        eid = event.get("event_id")
        ids = {"client_event_id": eid} if isinstance(eid, str) else {}
        await self._send(
            session,
            "session.input_audio.muted" if session.muted else "session.input_audio.unmuted",
            **ids,
        )

    async def _update(self, session: _Session, event: dict[str, Any]) -> None:
        delegation = event["session"].get("delegation")
        if delegation is not None and delegation["type"] != "client":
            problem = Problem(
                "invalid_value",
                "session.delegation.type",
                "The delegation type cannot change after startup.",
            )
            await self._reject(session, "session.update", problem, event.get("event_id"))
            return
        eid = event.get("event_id")
        ids = {"client_event_id": eid} if isinstance(eid, str) else {}
        await self._send(session, "session.updated", session=self._resource(session), **ids)

    async def _context_append(self, session: _Session, event: dict[str, Any]) -> None:
        eid = event.get("event_id")
        kind = event["type"].split(".")[1]  # instructions | thinking | commentary
        content: str = event["content"]
        delegation_id = event["delegation_id"]
        # ~4 characters a token: the stand-in has no tokenizer, the limit is the service's.
        problem = None
        if len(content.encode()) > MAX_APPEND_TOKENS * 4:
            problem = Problem(
                "string_above_max_length",
                "content",
                f"content is longer than {MAX_APPEND_TOKENS} tokens.",
            )
        elif delegation_id is not None and delegation_id not in session.delegations:
            problem = Problem(
                "invalid_value", "delegation_id", f"No client delegation with id '{delegation_id}'."
            )
        if problem is not None:
            self._violation("client", event["type"], problem)
            await self._error(session, problem.code, problem.message, problem.param, eid)
            return
        ids = {"client_event_id": eid} if isinstance(eid, str) else {}
        await self._send(
            session,
            f"session.{kind}.appended",
            start_ms=session.clock_ms,
            end_ms=session.clock_ms,
            **ids,
        )
        if delegation_id is not None:
            session.delegations[delegation_id] = True
        if kind == "commentary":
            self._say(session, content)
        elif kind == "instructions":
            # "Say ...: text" speaks text, as an app asks the model to announce something.
            match = re.search(r"\bsay\b[^:]*:\s*(.+)", content, re.IGNORECASE | re.DOTALL)
            if match:
                self._say(session, match.group(1).strip().strip("\"'"))

    async def _close_requested(self, session: _Session, event: dict[str, Any]) -> None:
        eid = event.get("event_id")
        await self._close(session, "close_requested", eid if isinstance(eid, str) else None)

    async def _close(
        self, session: _Session, reason: CloseReason, client_event_id: str | None = None
    ) -> None:
        if session.closing:
            return
        session.closing = True
        session.queue.clear()
        with contextlib.suppress(ConnectionClosed):
            if reason == "close_requested":
                # The service drains before session.closed: the answer it is giving goes out.
                await self._emit(session, session.talk_until_ms)
            session.speaking = None
            await self._usage(session)
            ids = {"client_event_id": client_event_id} if client_event_id else {}
            await self._send(
                session,
                "session.closed",
                reason=reason,
                session=self._resource(session),
                usage={"seconds": session.clock_ms / 1000},
                **ids,
            )
            session.ended = True
            await session.ws.close(1000, reason)

    # -- the clock: input audio ----------------------------------------------------------------

    async def _append(self, session: _Session, event: dict[str, Any]) -> None:
        try:
            pcm = base64.b64decode(event["audio"], validate=True)
        except (binascii.Error, ValueError):
            problem = Problem("invalid_value", "audio", "audio is not valid base64.")
            self._violation("client", event["type"], problem)
            await self._error(
                session, problem.code, problem.message, "audio", event.get("event_id")
            )
            return
        if session.encoding != "audio/pcm":
            pcm = g711.DECODERS[session.encoding](pcm)
        elif len(pcm) % 2:
            problem = Problem("invalid_value", "audio", "PCM16 audio needs an even byte count.")
            self._violation("client", event["type"], problem)
            await self._error(
                session, problem.code, problem.message, "audio", event.get("event_id")
            )
            return
        session.pending += pcm
        block = session.rate * BLOCK_MS // 1000 * 2
        while len(session.pending) >= block and not session.closing:
            chunk = bytes(session.pending[:block])
            del session.pending[:block]
            samples = np.frombuffer(chunk, dtype="<i2").astype(np.float32) / 32768
            await self._tick(session, float(np.sqrt(np.mean(samples**2))))

    async def _tick(self, session: _Session, rms: float) -> None:
        """One 20 ms block of input: the clock, listening, speaking, usage, limits."""
        session.clock_ms += BLOCK_MS
        if session.muted:
            rms = 0.0
        await self._listen(session, rms)
        await self._emit(session, session.clock_ms + self.config.output_lead_ms)
        if session.closing:
            return
        if session.clock_ms >= session.next_usage_ms:
            session.next_usage_ms += self.config.usage_interval_ms
            await self._usage(session)
        limit = self.config.max_session_ms
        if limit is not None and session.clock_ms >= limit:
            await self._close(session, "expired")

    async def _usage(self, session: _Session) -> None:
        await self._send(
            session, "session.usage.updated", usage={"seconds": session.clock_ms / 1000}
        )

    def _speaking(self, session: _Session) -> bool:
        """Whether its voice is still playing on the session timeline."""
        return session.clock_ms < session.talk_until_ms

    async def _listen(self, session: _Session, rms: float) -> None:
        config = self.config
        if self._speaking(session) and session.speech_start_ms is None:
            # Over its own voice only input above the barge-in threshold counts, and only long
            # enough; then it stops talking and listens (what it already sent stays sent).
            session.barge_ms = (
                session.barge_ms + BLOCK_MS if rms >= config.barge_in_threshold else 0
            )
            if session.barge_ms >= config.barge_in_ms:
                self._stop_talking(session)
                self.interruptions += 1
                # the e2e tests read it in the process's log (self-interruption, barge-in)
                _LOGGER.info(
                    "interrupted: %d ms of speech over its own voice, at %d ms of the session",
                    session.barge_ms,
                    session.clock_ms,
                )
                session.speech_start_ms = session.clock_ms - session.barge_ms
                session.speech_ms = session.barge_ms
                session.silence_ms = 0
                session.barge_ms = 0
                await self._transcribe(session, final=False)
            return
        if rms >= config.vad_threshold:
            if session.speech_start_ms is None:
                session.speech_start_ms = session.clock_ms - BLOCK_MS
                session.speech_ms = 0
            session.speech_ms += BLOCK_MS
            session.silence_ms = 0
            await self._transcribe(session, final=False)
            return
        if session.speech_start_ms is None:
            return
        session.silence_ms += BLOCK_MS
        if session.silence_ms < config.silence_ms:
            return
        heard_ms = session.speech_ms
        session.speech_start_ms = None
        session.silence_ms = 0
        if heard_ms < config.min_speech_ms:
            return  # a click, not a turn
        await self._transcribe(session, final=True)
        await self._user_turn(session)

    async def _scripted_close(self, session: _Session) -> None:
        if self.scripted_closes == 0:
            self.scripted_closes += 1
            _LOGGER.info("closing the session (%s) as scripted", self.config.close_reason)
            await self._close(session, self.config.close_reason)

    def _stop_talking(self, session: _Session) -> None:
        session.speaking = None
        session.queue.clear()
        session.talk_until_ms = session.clock_ms

    def _heard(self) -> str:
        turn, self.user_turns = self.user_turns, self.user_turns + 1
        transcripts = self.config.transcripts
        return transcripts[turn] if turn < len(transcripts) else self.config.transcript

    async def _transcribe(self, session: _Session, *, final: bool) -> None:
        """Stream what it "hears" as the user speaks: a word a fragment every 200 ms of speech
        (the service's fragments come on 200 ms boundaries), the rest when the turn ends."""
        if session.speech_start_ms is None and not final:
            return
        if session.words is None:
            if session.speech_ms < self.config.min_speech_ms:
                return
            session.heard = self._heard()
            session.words = session.heard.split(" ")
            session.fragment_start_ms = session.clock_ms - session.speech_ms
        if not final and session.speech_ms % 200:
            return
        words = session.words
        count = len(words) if final else 1
        said, session.words = words[:count], words[count:]
        if not said:
            return
        end_ms = session.clock_ms - (session.silence_ms if not final else self.config.silence_ms)
        await self._send(
            session,
            "session.input_transcript.delta",
            delta=" ".join(said) + (" " if session.words else ""),
            start_ms=session.fragment_start_ms,
            end_ms=end_ms,
        )
        session.fragment_start_ms = end_ms

    async def _user_turn(self, session: _Session) -> None:
        heard = session.heard
        session.words = None
        if re.search(self.config.delegate_pattern, heard, re.IGNORECASE):
            delegation_id = self._id("deleg")
            session.delegations[delegation_id] = False
            await self._send(
                session,
                "session.delegation.created",
                delegation={"id": delegation_id, "target": "client", "type": "delegation"},
                offset_ms=session.clock_ms,
            )
            if self.config.close_during == "delegation":
                await self._scripted_close(session)
            return  # it speaks when the commentary comes (a delegation never answered: nothing)
        turn, self.replies_given = self.replies_given, self.replies_given + 1
        replies = self.config.replies
        self._say(session, replies[turn] if turn < len(replies) else self.config.reply)

    def _say(self, session: _Session, text: str) -> None:
        if session.speaking is not None:
            session.queue.append(text)
            return
        words = text.split(" ")
        if self.config.pause_ms > 0 and len(words) > 1:
            half = len(words) // 2
            pcm = (
                audio.speech(" ".join(words[:half]), self.config.audio)
                + bytes(audio.RATE * self.config.pause_ms // 1000 * 2)
                + audio.speech(" ".join(words[half:]), self.config.audio)
            )
        else:
            pcm = audio.speech(text, self.config.audio)
        if session.rate != audio.RATE:
            pcm = _resample(pcm, audio.RATE, session.rate)
        # Audio already sent cannot be taken back: it starts where the sent output ends.
        start_ms = max(session.clock_ms + self.config.answer_delay_ms, session.out_ms)
        session.speaking = _Speech(text, pcm, start_ms)
        session.talk_until_ms = start_ms + len(pcm) // 2 * 1000 // session.rate
        self.answers.append(text)

    async def _emit(self, session: _Session, horizon_ms: int) -> None:
        """Send output audio up to ``horizon_ms`` on the session timeline: its voice when it
        speaks, silence (zeros) in between when ``continuous_output``, as the service streams."""
        rate = session.rate
        delta_ms = self.config.delta_ms
        while session.out_ms < horizon_ms and not session.ended:
            speech = session.speaking
            if speech is not None and speech.sent >= len(speech.pcm):
                session.speaking = None
                if session.queue:
                    self._say(session, session.queue.pop(0))
                continue
            if speech is None or speech.start_ms > session.out_ms:
                # silence in deltas aligned to delta_ms on the timeline
                gap = delta_ms - session.out_ms % delta_ms
                if speech is not None:
                    gap = min(gap, speech.start_ms - session.out_ms)
                if not self.config.continuous_output:
                    if speech is None:
                        session.out_ms = max(session.out_ms, session.clock_ms)
                        return
                    session.out_ms += gap
                    continue
                await self._send(
                    session,
                    "session.output_audio.delta",
                    delta=_encode(session, bytes(rate * gap // 1000 * 2)),
                )
                session.out_ms += gap
                continue
            await self._emit_speech(session, speech, delta_ms)

    async def _emit_speech(self, session: _Session, speech: _Speech, delta_ms: int) -> None:
        rate = session.rate
        step = rate * delta_ms // 1000 * 2
        words = speech.text.split(" ")
        chunks = -(-len(speech.pcm) // step)
        per_chunk = max(1, -(-len(words) // chunks))
        chunk = speech.pcm[speech.sent : speech.sent + step]
        start_ms = session.out_ms
        speech.sent += len(chunk)
        session.out_ms += len(chunk) // 2 * 1000 // rate
        said = words[speech.words_sent : speech.words_sent + per_chunk]
        if speech.sent >= len(speech.pcm):
            said = words[speech.words_sent :]
        if said:
            speech.words_sent += len(said)
            done = speech.words_sent >= len(words)
            await self._send(
                session,
                "session.output_transcript.delta",
                delta=" ".join(said) + ("" if done else " "),
                start_ms=start_ms,
                end_ms=session.out_ms,
            )
        await self._send(session, "session.output_audio.delta", delta=_encode(session, chunk))
        limit = len(speech.pcm) // 2
        if self.config.close_during == "answer" and speech.sent >= limit:
            await self._scripted_close(session)


def _encode(session: _Session, pcm: bytes) -> str:
    """Output audio (PCM16 at the session's rate) in the session's format, base64."""
    if session.encoding != "audio/pcm":
        pcm = g711.ENCODERS[session.encoding](pcm)
    return base64.b64encode(pcm).decode()


def _resample(pcm: bytes, rate_in: int, rate_out: int) -> bytes:
    import soxr

    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768
    out = soxr.resample(samples, rate_in, rate_out, quality="HQ")
    return bytes((np.clip(out, -1, 1) * 32767).astype("<i2").tobytes())
