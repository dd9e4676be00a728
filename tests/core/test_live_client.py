"""The Live client (core/live) against a small in-test Live server whose every event, both ways, is
validated against the openai package's own types (``openai.types.live``), with unknown fields
refused as the service does (the models themselves allow extra fields)."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pydantic
import pytest
from openai.types.live import ClientEvent, ServerEvent
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from realtime_voice_core.live import (
    LiveAccessError,
    LiveAuthenticationError,
    LiveConfigurationError,
    LiveConnectionError,
    LiveProtocolError,
    LiveSession,
    LiveSettings,
    cost_usd,
    open_live_session,
)
from realtime_voice_core.live import events as ev
from realtime_voice_core.live import wire as live_wire

CLIENT = pydantic.TypeAdapter(ClientEvent)
SERVER = pydantic.TypeAdapter(ServerEvent)


def _no_extra(model: Any, where: str) -> None:
    """Unknown fields anywhere in the event are an error (the service refuses them)."""
    if isinstance(model, pydantic.BaseModel):
        assert not model.model_extra, f"{where}: unknown fields {sorted(model.model_extra)}"
        for name in type(model).model_fields:
            _no_extra(getattr(model, name), f"{where}.{name}")
    elif isinstance(model, list):
        for i, item in enumerate(model):
            _no_extra(item, f"{where}[{i}]")


def valid_client_event(data: dict[str, Any]) -> Any:
    event = CLIENT.validate_python(data)
    _no_extra(event, data["type"])
    return event


def server_event(data: dict[str, Any]) -> str:
    _no_extra(SERVER.validate_python(data), data["type"])
    return json.dumps(data)


def started(model: str = "gpt-live-1.1") -> dict[str, Any]:
    return {
        "type": "session.started",
        "event_id": "ev_1",
        "session": {
            "id": "sess_1",
            "expires_at": 1_900_000_000,
            "model": model,
            "status": "active",
            "audio": {"format": {"type": "audio/pcm", "rate": 24000}, "output": {"voice": "marin"}},
            "delegation": {"type": "client"},
        },
    }


def closed(reason: str = "close_requested", seconds: float = 3.0) -> dict[str, Any]:
    session = started()["session"]
    return {
        "type": "session.closed",
        "event_id": "ev_closed",
        "reason": reason,
        "session": session,
        "usage": {"seconds": seconds},
    }


Script = Callable[[ServerConnection, list[Any]], Awaitable[None]]


class LiveServer:
    def __init__(self, script: Script, *, status: int | None = None) -> None:
        self.script = script
        self.status = status
        self.received: list[Any] = []
        self.headers: Headers | None = None
        self.server: Server | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        return f"ws://127.0.0.1:{port}/v1/live/sessions"

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        self.headers = request.headers
        if self.status is not None:
            return connection.respond(self.status, "refused\n")
        return None

    async def _handler(self, ws: ServerConnection) -> None:
        await self.script(ws, self.received)

    async def __aenter__(self) -> LiveServer:
        self.server = await serve(
            self._handler, "127.0.0.1", 0, process_request=self._process_request
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


async def receive(ws: ServerConnection, received: list[Any]) -> Any:
    event = valid_client_event(json.loads(await ws.recv()))
    received.append(event)
    return event


def settings(url: str, **kwargs: Any) -> LiveSettings:
    return LiveSettings(api_key="sk-test", url=url, instructions="Be brief.", **kwargs)


async def conversation_script(ws: ServerConnection, received: list[Any]) -> None:
    start = await receive(ws, received)
    assert start.type == "session.start"
    await ws.send(server_event(started()))
    audio = await receive(ws, received)
    assert audio.type == "session.input_audio.append"
    await ws.send("not json")  # skipped, logged
    await ws.send(json.dumps({"type": "session.output_audio.delta", "delta": 5}))  # malformed
    await ws.send(json.dumps({"type": "session.future.event"}))  # unknown: skipped
    await ws.send(
        server_event(
            {
                "type": "session.input_transcript.delta",
                "event_id": "ev_2",
                "delta": "turn on the light",
                "start_ms": 0,
                "end_ms": 900,
            }
        )
    )
    await ws.send(
        server_event(
            {
                "type": "session.delegation.created",
                "event_id": "ev_3",
                "offset_ms": 950,
                "delegation": {"id": "del_1", "target": "client", "type": "delegation"},
            }
        )
    )
    commentary = await receive(ws, received)
    assert commentary.type == "session.commentary.append"
    await ws.send(
        server_event(
            {
                "type": "session.output_audio.delta",
                "delta": base64.b64encode(b"\x01\x00" * 480).decode(),
            }
        )
    )
    await ws.send(
        server_event(
            {
                "type": "session.output_transcript.delta",
                "event_id": "ev_4",
                "delta": "The light is on.",
                "start_ms": 1000,
                "end_ms": 1800,
            }
        )
    )
    await ws.send(
        server_event(
            {"type": "session.usage.updated", "event_id": "ev_5", "usage": {"seconds": 2.5}}
        )
    )
    await ws.send(server_event({"type": "info", "event_id": "ev_6", "code": "x", "message": "y"}))
    close = await receive(ws, received)
    assert close.type == "session.close"
    await ws.send(server_event(closed(seconds=3.0)))
    await ws.close()


async def test_a_session_from_start_to_close_speaks_the_services_events(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with LiveServer(conversation_script) as server:
        session = await open_live_session(settings(server.url))
        assert session.session_id == "sess_1"
        assert server.headers is not None
        assert server.headers["Authorization"] == "Bearer sk-test"
        start = server.received[0]
        assert start.session.model == "gpt-live-1.1"
        assert start.session.instructions == "Be brief."
        assert start.session.audio.format.type == "audio/pcm"
        assert start.session.audio.format.rate == 24000  # the link's rate: no resampling
        assert start.session.audio.output.voice == "marin"
        assert start.session.delegation.type == "client"

        with caplog.at_level(logging.WARNING):
            await session.append_audio(b"\x02\x00" * 480)
            seen: list[ev.LiveEvent] = []
            async for event in session.events():
                seen.append(event)
                if isinstance(event, ev.DelegationCreated):
                    await session.commentary("The kitchen light is on.", event.delegation_id)
                if isinstance(event, ev.Notice):
                    break
            final = await session.close()
        assert base64.b64decode(server.received[1].audio) == b"\x02\x00" * 480
        assert server.received[2].delegation_id == "del_1"
        assert server.received[2].content == "The kitchen light is on."
        assert seen == [
            ev.InputTranscript("turn on the light", 0, 900),
            ev.DelegationCreated("del_1", 950),
            ev.OutputAudio(b"\x01\x00" * 480),
            ev.OutputTranscript("The light is on.", 1000, 1800),
            ev.UsageUpdated(2.5),
            ev.Notice("x", "y"),
        ]
        assert final == ev.Closed("close_requested", 3.0)
        assert session.usage_seconds == 3.0
        # the malformed ones were logged and skipped
        assert "malformed" in caplog.text
        assert "session.output_audio.delta.delta" in caplog.text


async def test_a_dropped_connection_ends_the_events_with_a_connection_error() -> None:
    async def script(ws: ServerConnection, received: list[Any]) -> None:
        await receive(ws, received)
        await ws.send(server_event(started()))
        await ws.close()

    async with LiveServer(script) as server:
        session = await open_live_session(settings(server.url))
        events = [event async for event in session.events()]
        assert len(events) == 1
        assert isinstance(events[0], ev.Closed)
        assert events[0].reason == "dropped"
        assert isinstance(events[0].error, LiveConnectionError)
        assert not await session.append_audio(b"\x00\x00")  # over: dropped, no exception


def error_script(code: str, kind: str) -> Script:
    async def script(ws: ServerConnection, received: list[Any]) -> None:
        await receive(ws, received)
        await ws.send(
            server_event(
                {
                    "type": "error",
                    "event_id": "ev_err",
                    "error": {"code": code, "message": "refused", "type": kind},
                }
            )
        )
        await ws.close()

    return script


@pytest.mark.parametrize(
    ("script", "status", "error"),
    [
        (error_script("model_not_found", "invalid_request_error"), None, LiveAccessError),
        (None, 403, LiveAccessError),
        (error_script("invalid_api_key", "invalid_request_error"), None, LiveAuthenticationError),
        (None, 401, LiveAuthenticationError),
        (None, 503, LiveConnectionError),
    ],
)
async def test_refusals_are_classified(
    script: Script | None, status: int | None, error: type[Exception]
) -> None:
    async def nothing(ws: ServerConnection, received: list[Any]) -> None:
        await ws.close()

    async with LiveServer(script or nothing, status=status) as server:
        with pytest.raises(error) as raised:
            await open_live_session(settings(server.url))
    assert "sk-test" not in str(raised.value)


async def test_an_unreachable_endpoint_is_a_connection_error() -> None:
    with pytest.raises(LiveConnectionError):
        await open_live_session(settings("ws://127.0.0.1:9/v1/live/sessions", connect_timeout=2))


def test_bad_settings_name_the_key() -> None:
    with pytest.raises(LiveConfigurationError, match="url"):
        LiveSettings(api_key="sk", url="ftp://x")
    with pytest.raises(LiveConfigurationError, match="model"):
        LiveSettings(api_key="sk", model="")
    assert "sk-secret" not in repr(LiveSettings(api_key="sk-secret"))


def test_every_client_event_validates_and_long_context_is_clipped() -> None:
    for event in (
        live_wire.session_start(model="gpt-live-1", instructions="x", voice="cedar"),
        live_wire.input_audio_append(b"\x00\x00"),
        live_wire.commentary_append("x" * 10_000, "del_1"),
        live_wire.thinking_append("working on it", None),
        live_wire.session_close(),
    ):
        valid_client_event(event)
    assert len(live_wire.commentary_append("x" * 10_000, None)["content"]) <= 1600


def test_cost_is_five_cents_per_active_minute() -> None:
    assert cost_usd("gpt-live-1.1", 60.0) == pytest.approx(0.05)
    assert cost_usd("gpt-live-1", 90.0) == pytest.approx(0.075)
    assert cost_usd("gpt-live-9", 60.0) == pytest.approx(0.05)  # unknown: the default's price


def test_more_bad_settings_name_the_key() -> None:
    with pytest.raises(LiveConfigurationError, match="api_key"):
        LiveSettings(api_key="")
    with pytest.raises(LiveConfigurationError, match="voice"):
        LiveSettings(api_key="sk", voice="")
    with pytest.raises(LiveConfigurationError, match=r"connect_timeout.*500"):
        LiveSettings(api_key="sk", connect_timeout=500)


async def test_another_error_at_the_start_keeps_the_services_code() -> None:
    async with LiveServer(error_script("rate_limit_exceeded", "rate_limit_error")) as server:
        with pytest.raises(LiveProtocolError) as raised:
            await open_live_session(settings(server.url))
    assert raised.value.code == "rate_limit_exceeded"
    assert "refused (rate_limit_exceeded)" in str(raised.value)


async def test_the_start_skips_what_it_cannot_read_and_waits_for_session_started() -> None:
    async def script(ws: ServerConnection, received: list[Any]) -> None:
        await receive(ws, received)
        await ws.send("not json")
        await ws.send(b"\x00binary")
        broken = started()
        del broken["session"]["id"]
        await ws.send(json.dumps(broken))  # malformed: skipped
        await ws.send(server_event(started()))
        await ws.wait_closed()

    async with LiveServer(script) as server:
        session = await open_live_session(settings(server.url))
        assert session.session_id == "sess_1"
        await session.ws.close()


@pytest.mark.parametrize(
    ("end", "error", "message"),
    [
        ("close", LiveConnectionError, "closed before the session started (1008 refused)"),
        ("session.closed", LiveProtocolError, "closed the session at its start (content)"),
        ("nothing", LiveConnectionError, "did not start a session within 0.5 s"),
    ],
)
async def test_a_start_that_does_not_come(end: str, error: type[Exception], message: str) -> None:
    async def script(ws: ServerConnection, received: list[Any]) -> None:
        await receive(ws, received)
        if end == "close":
            await ws.close(1008, "refused")
        elif end == "session.closed":
            await ws.send(server_event(closed("content")))
        await ws.wait_closed()

    async with LiveServer(script) as server:
        with pytest.raises(error, match=re.escape(message)):
            await open_live_session(settings(server.url, connect_timeout=0.5))


async def test_close_gives_up_on_a_service_that_does_not_finish() -> None:
    """``session.close`` unanswered: after ``timeout_s`` the connection is dropped and the
    session ends as closed on request, with the usage known so far."""

    async def script(ws: ServerConnection, received: list[Any]) -> None:
        await receive(ws, received)
        await ws.send(server_event(started()))
        await ws.send(
            server_event(
                {"type": "session.usage.updated", "event_id": "ev_u", "usage": {"seconds": 1.5}}
            )
        )
        await ws.send(b"binary")  # skipped, logged
        while True:
            received.append(valid_client_event(json.loads(await ws.recv())))

    async with LiveServer(script) as server:
        session = await open_live_session(settings(server.url))
        assert await session.thinking("HA is working on it.", None)
        first = await anext(session.events())
        assert first == ev.UsageUpdated(1.5)
        final = await session.close(timeout_s=0.3)
    assert final == ev.Closed("close_requested", 1.5)
    assert [event.type for event in server.received[1:]] == [
        "session.thinking.append",
        "session.close",
    ]
    assert not await session.commentary("late", None)  # over: nothing is sent


async def test_an_aborted_connection_ends_the_events_as_dropped() -> None:
    async def script(ws: ServerConnection, received: list[Any]) -> None:
        await receive(ws, received)
        await ws.send(server_event(started()))
        await asyncio.sleep(0.05)
        ws.transport.abort()  # no close frame: a network failure

    async with LiveServer(script) as server:
        session = await open_live_session(settings(server.url))
        events = [event async for event in session.events()]
    assert [(e.reason, type(e.error)) for e in events if isinstance(e, ev.Closed)] == [
        ("dropped", LiveConnectionError)
    ]


async def test_a_send_on_a_connection_that_just_closed_is_false_not_an_error() -> None:
    class ClosedSocket:
        """A connection that closed between the reader's last frame and this send."""

        def __init__(self) -> None:
            self.done = asyncio.Event()

        async def send(self, data: str) -> None:
            raise ConnectionClosed(None, None)

        def __aiter__(self) -> AsyncIterator[str]:
            return self._frames()

        async def _frames(self) -> AsyncIterator[str]:
            await self.done.wait()
            return
            yield ""

    socket = ClosedSocket()
    session = LiveSession(socket, "gpt-live-1.1", "sess_x")  # type: ignore[arg-type]
    assert not await session.append_audio(b"\x00\x00")
    socket.done.set()
    assert isinstance(await anext(session.events()), ev.Closed)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "expected a JSON object, got list"),
        ({"type": 7}, "type: expected a string, got 7"),
        (
            {"type": "session.input_transcript.delta", "delta": "x", "start_ms": "0", "end_ms": 1},
            "session.input_transcript.delta.start_ms: expected an integer, got '0'",
        ),
        (
            {"type": "session.usage.updated", "usage": {"seconds": True}},
            "session.usage.updated.usage.seconds: expected a number, got True",
        ),
        (
            {"type": "session.delegation.created", "delegation": None, "offset_ms": 0},
            "session.delegation.created.delegation: expected an object, got None",
        ),
        (
            {"type": "session.output_audio.delta", "delta": "!!"},
            "session.output_audio.delta.delta: not base64",
        ),
    ],
)
def test_malformed_server_events_name_the_key(data: Any, message: str) -> None:
    with pytest.raises(live_wire.MalformedEventError, match=re.escape(message)):
        live_wire.parse_server_event(data)


def test_errors_and_acknowledgements_mid_session() -> None:
    error = {
        "type": "error",
        "event_id": "ev_e",
        "error": {"code": "invalid_value", "message": "bad", "param": "content", "type": "x"},
    }
    assert live_wire.parse_server_event(error) == ev.ServiceError("invalid_value", "bad", "content")
    ack = {"type": "session.commentary.appended", "event_id": "ev_a", "start_ms": 0, "end_ms": 0}
    assert live_wire.parse_server_event(ack) is None
    with pytest.raises(live_wire.UnknownEventError, match=re.escape("session.future")):
        live_wire.parse_server_event({"type": "session.future"})


@pytest.fixture(autouse=True)
async def _no_leaked_tasks() -> AsyncIterator[None]:
    yield
    await asyncio.sleep(0)
