"""Turns through ``RealtimeSession`` against the stand-in, GA and beta, with no event rejected."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator

import pytest

from realtime_voice_core.realtime import (
    AudioDelta,
    AudioDone,
    ConfigurationError,
    FunctionCall,
    InputCommitted,
    InputTranscript,
    OutputTranscript,
    RealtimeSession,
    Reconnected,
    ResponseDone,
    ResponseStarted,
    SessionDescription,
    SessionReplaced,
    SpeechStarted,
    SpeechStopped,
    ToolDefinition,
    Warning,
    cost_usd,
    lookup,
    open_session,
)
from realtime_voice_core.realtime.metrics import RECENT_LATENCIES
from tests.helpers import audio
from tests.realtime_standin import StandinConfig, StandinServer, ToolScript
from tests.realtime_standin.audio import tone
from tests.realtime_standin.testing import TEST_KEY, events_until, settings_for

pytestmark = pytest.mark.usefixtures("socket_enabled")  # loopback only (HA's test plugin)

LIGHTS = ToolDefinition(
    "turn_on_light",
    "Turn on a light in a room.",
    {"type": "object", "properties": {"room": {"type": "string"}}, "required": ["room"]},
)
REPLY = "The kitchen light is on now."
TRANSCRIPT = "Turn on the kitchen light."


@pytest.fixture(params=["ga", "beta"])
def interface(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
async def server() -> AsyncIterator[StandinServer]:
    config = StandinConfig(
        endpoint="both",
        transcript=TRANSCRIPT,
        reply="Hello there.",
        tools=(ToolScript("turn_on_light", {"room": "kitchen"}, REPLY),),
    )
    async with StandinServer(config) as running:
        yield running
        assert running.violations == [], "an event was rejected by the openai types"


async def _open(
    server: StandinServer, interface: str, description: SessionDescription | None = None
) -> RealtimeSession:
    mode = "new" if interface == "ga" else "legacy"
    return await open_session(
        settings_for(server.url, model_selection=mode),
        description or SessionDescription(instructions="Be brief.", turn_detection=None),
    )


def _done(event: object) -> bool:
    return isinstance(event, ResponseDone)


def _speech(ms: int) -> bytes:
    return audio.tone_pcm(ms / 1000, 24_000, 300, 0.3)


async def test_text_turn_audio_transcript_usage_and_cost(
    server: StandinServer, interface: str
) -> None:
    session = await _open(server, interface)
    try:
        assert session.interface == interface
        await session.add_user_text("Hello?")
        await session.create_response()
        events = await events_until(session, _done)
    finally:
        await session.close()
    assert isinstance(events[0], ResponseStarted)
    assert not events[0].out_of_band
    pcm = b"".join(e.pcm for e in events if isinstance(e, AudioDelta))
    assert pcm == tone("Hello there.")
    assert any(isinstance(e, AudioDone) for e in events)
    transcript = [e for e in events if isinstance(e, OutputTranscript)]
    assert "".join(e.text for e in transcript if not e.done) == "Hello there."
    assert transcript[-1].done
    assert transcript[-1].text == "Hello there."
    done = events[-1]
    assert isinstance(done, ResponseDone)
    assert done.status == "completed"
    (sent,) = server.sent_of("response.done")
    raw = sent["response"]["usage"]
    assert done.usage.input_tokens == raw["input_tokens"]
    assert done.usage.output_tokens == raw["output_tokens"]
    assert done.usage.audio_output == raw["output_token_details"]["audio_tokens"]
    info = lookup(session.model)
    assert info is not None
    assert done.cost_usd == pytest.approx(cost_usd(done.usage, info.prices))
    assert done.cost_usd > 0
    assert done.metrics.first_audio_ms is not None
    assert done.metrics.audio_ms == len(pcm) / 48
    assert session.metrics.responses == 1
    assert session.metrics.cost_usd == pytest.approx(done.cost_usd)
    assert session.metrics.connect_ms is not None


async def test_push_to_talk_audio_turn_with_transcript(
    server: StandinServer, interface: str
) -> None:
    session = await _open(server, interface)
    try:
        speech = _speech(600)
        for offset in range(0, len(speech), 960):
            await session.append_audio(speech[offset : offset + 960])
        await session.commit_audio()
        await session.create_response()
        events = await events_until(session, _done)
    finally:
        await session.close()
    committed = [e for e in events if isinstance(e, InputCommitted)]
    transcripts = [e for e in events if isinstance(e, InputTranscript)]
    assert len(committed) == 1
    assert transcripts == [InputTranscript(committed[0].item_id, TRANSCRIPT, True)]
    assert session.metrics.audio_frames_sent == 30
    done = events[-1]
    assert isinstance(done, ResponseDone)
    assert done.usage.audio_input > 0
    assert done.metrics.first_audio_ms is not None
    assert session.metrics.first_audio_ms == [done.metrics.first_audio_ms]


async def test_server_vad_turn_starts_by_itself(server: StandinServer, interface: str) -> None:
    session = await _open(server, interface, SessionDescription(instructions="Be brief."))
    try:
        audio = _speech(500) + bytes(48 * 800)
        for offset in range(0, len(audio), 960):
            await session.append_audio(audio[offset : offset + 960])
        events = await events_until(session, _done)
    finally:
        await session.close()
    kinds = [type(e) for e in events]
    assert kinds.index(SpeechStarted) < kinds.index(SpeechStopped) < kinds.index(InputCommitted)
    assert kinds.index(InputCommitted) < kinds.index(ResponseStarted)
    stopped = next(e for e in events if isinstance(e, SpeechStopped))
    assert 500 <= stopped.audio_end_ms <= 1100
    assert events[-1].status == "completed"
    assert events[-1].metrics.first_audio_ms is not None


async def test_function_call_dispatched_once_then_final_answer(
    server: StandinServer, interface: str
) -> None:
    description = SessionDescription(tools=(LIGHTS,), turn_detection=None)
    session = await _open(server, interface, description)
    try:
        await session.add_user_text("Turn on the kitchen light")
        await session.create_response()
        first = await events_until(session, _done)
        calls = [e for e in first if isinstance(e, FunctionCall)]
        assert len(calls) == 1, "one call must be dispatched exactly once"
        (call,) = calls
        assert call.name == "turn_on_light"
        assert json.loads(call.arguments) == {"room": "kitchen"}
        assert first[-1].metrics.function_calls == 1
        await session.send_function_output(call.call_id, json.dumps({"ok": True}))
        second = await events_until(session, _done)
    finally:
        await session.close()
    final = [e for e in second if isinstance(e, OutputTranscript) and e.done]
    assert [e.text for e in final] == [REPLY]
    assert not any(isinstance(e, FunctionCall) for e in second)
    assert session.metrics.function_calls == 1
    assert session.metrics.function_call_failures == 0
    outputs = [
        e
        for _i, e in server.received
        if e["type"] == "conversation.item.create" and e["item"]["type"] == "function_call_output"
    ]
    assert [o["item"]["call_id"] for o in outputs] == [call.call_id]


async def test_failed_function_output_is_counted(server: StandinServer) -> None:
    session = await _open(server, "ga", SessionDescription(tools=(LIGHTS,), turn_detection=None))
    try:
        await session.add_user_text("Turn on the kitchen light")
        await session.create_response()
        (call,) = [e for e in await events_until(session, _done) if isinstance(e, FunctionCall)]
        with pytest.raises(ConfigurationError, match=call.call_id):
            await session.send_function_output(call.call_id, "not json")
        await session.send_function_output(
            call.call_id, json.dumps({"error": "no such room"}), failed=True
        )
        await events_until(session, _done)
    finally:
        await session.close()
    assert session.metrics.function_call_failures == 1


async def test_out_of_band_announcement_stays_out_of_the_conversation(
    server: StandinServer, interface: str
) -> None:
    session = await _open(server, interface)
    try:
        await session.create_response("Say exactly: The laundry is done.", out_of_band=True)
        events = await events_until(session, _done)
        conversation = server.sessions()[0]["items"]
    finally:
        await session.close()
    assert events[0] == ResponseStarted(events[0].response_id, True)
    done = events[-1]
    assert done.out_of_band
    spoken = [e.text for e in events if isinstance(e, OutputTranscript) and e.done]
    assert spoken == ["The laundry is done."]
    assert conversation == []
    (create,) = server.received_of("response.create")
    assert create["response"]["conversation"] == "none"


async def test_barge_in_cancel_and_truncate(interface: str) -> None:
    config = StandinConfig(
        endpoint="both", reply=" ".join(["word"] * 30), delta_interval=0.01, delta_ms=50
    )
    async with StandinServer(config) as server:
        session = await _open(server, interface)
        try:
            await session.add_user_text("Tell me a long story")
            await session.create_response()
            events = await events_until(
                session, lambda e: isinstance(e, AudioDelta) and e.content_index == 0
            )
            delta = events[-1]
            await session.cancel_response()
            await session.truncate(delta.item_id, 0, 40)
            rest = await events_until(session, _done)
            assert rest[-1].status == "cancelled"
            assert not [e for e in rest if isinstance(e, Warning)]
            (truncated,) = server.sent_of("conversation.item.truncated")
            assert truncated["item_id"] == delta.item_id
            assert truncated["audio_end_ms"] == 40
            # Nothing in progress now, as after most barge-ins (only playback was left): the
            # endpoint's response_cancel_not_active is expected, neither a warning nor a crash.
            await session.cancel_response()
            await asyncio.sleep(0.2)  # the endpoint's error arrives
            # After a drop, the conversation is re-created with only what the user heard.
            server.drop_connections()
            meanwhile = await events_until(session, lambda e: isinstance(e, Reconnected))
            assert not [e for e in meanwhile if isinstance(e, Warning)]
            await session.add_user_text("Go on")
            await session.create_response()
            await events_until(session, _done)
            (state,) = server.sessions()
            heard = [
                part["text"]
                for item in state["items"]
                if item.get("role") == "assistant"
                for part in item["content"]
                if part.get("text")
            ]
            assert len(heard) == 1
            assert 0 < len(heard[0].split()) < 30
            assert config.reply.startswith(heard[0])
        finally:
            await session.close()
        assert server.violations == []


async def test_update_changes_the_session(server: StandinServer, interface: str) -> None:
    session = await _open(server, interface)
    try:
        await session.update(
            SessionDescription(instructions="Speak like a pirate.", tools=(LIGHTS,))
        )
        await session.add_user_text("Turn on the light")  # ordered after the update
        await server.wait_live(1)
        await session.create_response()
        await events_until(session, _done)
        (state,) = server.sessions()
    finally:
        await session.close()
    assert state["instructions"] == "Speak like a pirate."
    assert state["tools"] == ["turn_on_light"]
    assert state["turn_detection"] is not None
    assert state["turn_detection"]["type"] == "server_vad"


async def test_reset_conversation_starts_fresh(server: StandinServer, interface: str) -> None:
    session = await _open(server, interface)
    try:
        await session.add_user_text("Remember the number seven.")
        await session.create_response()
        await events_until(session, _done)
        await session.reset_conversation()
        replaced = await events_until(session, lambda e: isinstance(e, SessionReplaced))
        assert replaced[-1] == SessionReplaced("reset", conversation_kept=False)
        await server.wait_live(1)
        assert server.sessions()[0]["items"] == []
        await session.add_user_text("Hello again.")
        await session.create_response()
        events = await events_until(session, _done)
        assert events[-1].status == "completed"
        assert session.metrics.replacements == 1
    finally:
        await session.close()


async def test_no_secret_in_logs_or_reprs(
    server: StandinServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = settings_for(server.url, model_selection="auto")
    session = await open_session(settings, SessionDescription(turn_detection=None))
    try:
        await session.add_user_text("Hi")
        await session.create_response()
        await events_until(session, _done)
        texts = [repr(settings), repr(session), str(session.metrics.as_dict())]
    finally:
        await session.close()
    client_side = [r for r in caplog.records if not r.name.startswith("tests.realtime_standin")]
    assert any(r.name.startswith("realtime_voice_core") for r in client_side)
    assert any("Authorization" in r.getMessage() for r in client_side), "headers were logged"
    for record in client_side:
        assert TEST_KEY not in record.getMessage()
    for text in texts:
        assert TEST_KEY not in text


async def test_bookkeeping_stays_bounded_over_many_conversations(server: StandinServer) -> None:
    """#12 defect 13: a satellite runs for months; what the session keeps per item, per failed call
    and per response must not grow with use, nor what diagnostics show of it."""
    session = await _open(server, "ga")
    try:
        for _ in range(3 * RECENT_LATENCIES):
            await session.add_user_text("Hello?")
            await session.create_response()
            await events_until(session, _done)
            await session.truncate(server.sessions()[-1]["items"][-1]["id"], 0, 10)
            await session.reset_conversation()  # what the integration does after each conversation
            await events_until(session, lambda e: isinstance(e, SessionReplaced))
        assert session.metrics.responses == 3 * RECENT_LATENCIES
        assert len(session.metrics.first_audio_ms) == RECENT_LATENCIES
        assert len(session.metrics.as_dict()["first_audio_ms"]) == RECENT_LATENCIES
        # Only the items of the conversation since the last reset are remembered.
        assert session.items_remembered <= 2
    finally:
        await session.close()
