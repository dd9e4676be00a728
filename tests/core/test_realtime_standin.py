"""The stand-in itself: it answers like the service and cannot drift from the openai types."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from realtime_voice_core.realtime import (
    FunctionCall,
    OutputTranscript,
    ResponseDone,
    SessionDescription,
    ToolDefinition,
    open_session,
)
from tests.realtime_standin import StandinConfig, StandinProtocolError, StandinServer
from tests.realtime_standin.testing import TEST_KEY, events_until, settings_for

pytestmark = pytest.mark.usefixtures("socket_enabled")  # loopback only (HA's test plugin)
ROOT = Path(__file__).resolve().parents[2]


async def _recv(ws) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), 5))


async def test_undeclared_keys_are_answered_like_the_service(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with (
        StandinServer(StandinConfig(endpoint="ga")) as server,
        connect(f"{server.url}?model=gpt-realtime") as ws,
    ):
        assert (await _recv(ws))["type"] == "session.created"
        await ws.send(
            json.dumps(
                {
                    "type": "session.update",
                    "event_id": "evt_1",
                    "session": {"type": "realtime", "voice": "marin"},  # voice is nested in GA
                }
            )
        )
        error = await _recv(ws)
        await ws.send(json.dumps({"type": "input_audio_buffer.append"}))
        missing = await _recv(ws)
    assert error["type"] == "error"
    assert error["error"] == {
        "type": "invalid_request_error",
        "code": "unknown_parameter",
        "message": "Unknown parameter: 'session.voice'.",
        "param": "session.voice",
        "event_id": "evt_1",
    }
    assert missing["error"]["code"] == "missing_required_parameter"
    assert missing["error"]["param"] == "audio"
    assert [(v[0], v[3].param) for v in server.violations] == [
        ("client", "session.voice"),
        ("client", "audio"),
    ]
    # each one is logged as it happens, so a stand-in process that is killed loses none
    logged = [r.getMessage() for r in caplog.records if "protocol violation" in r.getMessage()]
    assert len(logged) == 2
    assert "session.voice" in logged[0]


async def test_the_stand_in_refuses_to_send_what_the_types_reject() -> None:
    async with StandinServer() as server, connect(f"{server.url}?model=gpt-realtime") as ws:
        await _recv(ws)
        (conn,) = server._conns
        bogus = {"type": "session.created", "event_id": "e", "session": {"type": "realtime"}}
        bogus["session"]["voice"] = "marin"  # not a GA session field
        with pytest.raises(StandinProtocolError, match=r"session\.voice"):
            await server._send_raw(conn.ws, "ga", bogus)
    assert [(v[0], v[3].code) for v in server.violations] == [("server", "unknown_parameter")]


async def test_refusals_at_connect() -> None:
    async with StandinServer(StandinConfig(api_key="sk-right", auth_failure="http")) as server:
        with pytest.raises(InvalidStatus) as caught:
            await connect(f"{server.url}?model=gpt-realtime")
        assert caught.value.response.status_code == 401
    async with (
        StandinServer(StandinConfig(api_key="sk-right")) as server,
        connect(f"{server.url}?model=gpt-realtime") as ws,
    ):
        assert (await _recv(ws))["error"]["code"] == "invalid_api_key"
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
        assert closed.value.rcvd.code == 3000
    async with StandinServer(StandinConfig(endpoint="ga")) as server:
        headers = {"OpenAI-Beta": "realtime=v1"}
        async with connect(f"{server.url}?model=gpt-realtime", additional_headers=headers) as ws:
            assert (await _recv(ws))["error"]["code"] == "beta_api_shape_disabled"
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
            assert closed.value.rcvd.code == 4000
        async with connect(f"{server.url}?model=gpt-9") as ws:
            assert (await _recv(ws))["error"]["code"] == "model_not_found"


async def test_item_create_delete_and_their_errors_on_beta() -> None:
    headers = {"OpenAI-Beta": "realtime=v1"}
    async with (
        StandinServer(StandinConfig(endpoint="both")) as server,
        connect(f"{server.url}?model=gpt-4o-realtime-preview", additional_headers=headers) as ws,
    ):
        assert (await _recv(ws))["type"] == "session.created"
        item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "a"}]}
        await ws.send(json.dumps({"type": "conversation.item.create", "item": item | {"id": "i1"}}))
        created = await _recv(ws)
        await ws.send(json.dumps({"type": "conversation.item.delete", "item_id": "i1"}))
        deleted = await _recv(ws)
        await ws.send(json.dumps({"type": "conversation.item.delete", "item_id": "i1"}))
        missing = await _recv(ws)
        await ws.send(json.dumps({"type": "response.cancel"}))
        not_active = await _recv(ws)
    assert created["type"] == "conversation.item.created"  # the beta name
    assert created["item"]["id"] == "i1"
    assert deleted == {
        "type": "conversation.item.deleted",
        "event_id": deleted["event_id"],
        "item_id": "i1",
    }
    assert (missing["error"]["code"], missing["error"]["param"]) == ("invalid_value", "item_id")
    assert not_active["error"]["code"] == "response_cancel_not_active"
    assert server.violations == []


async def test_stand_in_as_a_process_with_a_script(tmp_path: Path) -> None:
    script = tmp_path / "script.json"
    script.write_text(
        json.dumps(
            {
                "reply": "unused",
                "tools": [{"tool": "open_door", "arguments": {"door": "front"}, "final": "Open."}],
            }
        )
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.realtime_standin",
        "--port",
        "0",
        "--endpoint",
        "ga",
        "--script",
        str(script),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        assert process.stderr is not None
        url = (await asyncio.wait_for(process.stdout.readline(), 60)).decode().strip()
        assert url.startswith("ws://127.0.0.1:")
        description = SessionDescription(
            tools=(ToolDefinition("open_door", "Open a door."),), turn_detection=None
        )
        session = await open_session(settings_for(url), description)
        try:
            await session.add_user_text("Open the front door")
            await session.create_response()
            first = await events_until(session, lambda e: isinstance(e, ResponseDone))
            (call,) = [e for e in first if isinstance(e, FunctionCall)]
            assert json.loads(call.arguments) == {"door": "front"}
            await session.send_function_output(call.call_id, '{"ok": true}')
            second = await events_until(session, lambda e: isinstance(e, ResponseDone))
        finally:
            await session.close()
        assert [e.text for e in second if isinstance(e, OutputTranscript) and e.done] == ["Open."]
    finally:
        process.terminate()
        _out, err = await asyncio.wait_for(process.communicate(), 30)
    assert "SIMULATION" in err.decode()
    assert "protocol violation" not in err.decode()
    assert TEST_KEY not in err.decode()
